#include "dist/nccl_communicator.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>

#include "core/errors.h"
#include "dist/mpi_check.h"
#include "dist/watchdog.h"
#include "dist/world.h"

#ifndef GAN_TORCH_CUDA
#error "the NCCL backend needs a CUDA LibTorch (cmake/TorchCuda.cmake)"
#endif

namespace gan::dist {
namespace {

void cuda_check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) throw DistError(std::string(what) + " failed: " + cudaGetErrorString(rc));
}

void nccl_check(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) throw DistError(std::string(what) + " failed: " + ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat:
      return ncclFloat32;
    case torch::kDouble:
      return ncclFloat64;
    case torch::kHalf:
      return ncclFloat16;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    default:
      throw DistError("NCCL backend: unsupported dtype");
  }
}

// A CUDA event shared by a Work and the watchdog, destroyed by whichever lets go last.
using SharedEvent = std::shared_ptr<std::remove_pointer_t<cudaEvent_t>>;

class NcclWork final : public Work {
 public:
  // `done` fires on the communication stream when the collective has finished. The watchdog
  // keeps its own reference and polls it until then, also after this Work is gone (a Work
  // ends as soon as its wait is queued on the compute stream, long before the GPU runs it).
  NcclWork(torch::Tensor t, SharedEvent done, cudaStream_t compute, int device, std::string what)
      : tensor_(std::move(t)), done_(std::move(done)), compute_(compute) {
    watchdog::begin(std::move(what), [e = done_, device] {
      cudaSetDevice(device);  // this rank's GPU, not a context on GPU 0 for the watchdog thread
      return cudaEventQuery(e.get()) == cudaSuccess;
    });
  }
  // Orders later compute after the collective without blocking the host.
  void wait() override {
    cuda_check(cudaStreamWaitEvent(compute_, done_.get(), 0), "cudaStreamWaitEvent");
  }
  bool test() override { return cudaEventQuery(done_.get()) == cudaSuccess; }

 private:
  torch::Tensor tensor_;  // alive until the collective that writes it is over
  SharedEvent done_;
  cudaStream_t compute_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(World& world, const torch::Device& device) : world_(world) {
    // Every rank first sets up its own GPU; then all agree that every rank succeeded before
    // any enters ncclCommInitRank (a rank failing alone would leave the others waiting in
    // MPI_Bcast or in NCCL's initialisation forever).
    ncclUniqueId id{};
    std::string failure;
    try {
      if (!device.is_cuda() || !device.has_index())
        throw DistError("the NCCL backend needs a selected CUDA device (--device cuda)");
      device_ = device.index();
      cuda_check(cudaSetDevice(device_), "cudaSetDevice");
      cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
      if (world.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    } catch (const std::exception& e) {
      failure = e.what();
    }
    const auto failures = world.allgather(failure);
    for (int r = 0; r < world.size(); ++r)
      if (!failures[r].empty())
        throw DistError("NCCL set-up failed on rank " + std::to_string(r) + ": " + failures[r],
                        /*collective=*/true);
    {
      watchdog::Scope w("MPI_Bcast of the NCCL unique id");
      auto lock = mpi_lock();
      mpi_check(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD),
                "MPI_Bcast of the NCCL unique id");
    }
    {
      watchdog::Scope w("ncclCommInitRank");
      ncclComm_t comm = nullptr;
      nccl_check(ncclCommInitRank(&comm, world.size(), id, world.rank()), "ncclCommInitRank");
      comm_ = comm;
    }
    // Asynchronous NCCL errors (a peer gone, a network failure) end the job through the
    // watchdog; on any fatal path the communicator is aborted, never destroyed (destroy waits
    // for peers that may never come).
    health_id_ = watchdog::add_health_check([comm = comm_.load()]() -> std::optional<std::string> {
      ncclResult_t state = ncclSuccess;
      if (ncclCommGetAsyncError(comm, &state) != ncclSuccess) return std::nullopt;
      if (state == ncclSuccess || state == ncclInProgress) return std::nullopt;
      return std::string("NCCL: ") + ncclGetErrorString(state);
    });
    abort_id_ = watchdog::add_abort_hook([this](const std::string&) { abort(); });
  }

  ~NcclCommunicator() override {
    watchdog::remove(abort_id_);
    watchdog::remove(health_id_);  // polls the communicator, which goes now
    if (std::uncaught_exceptions() > 0) {
      // An error is unwinding this rank; peers may be inside a collective with it.
      watchdog::Scope w("ncclCommAbort");
      abort();
    } else if (ncclComm_t comm = comm_.exchange(nullptr)) {
      watchdog::Scope w("NCCL teardown (stream synchronize, ncclCommDestroy)");
      cudaStreamSynchronize(stream_);
      ncclCommDestroy(comm);
    }
    if (stream_) cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "nccl"; }
  int rank() const override { return world_.rank(); }
  int size() const override { return world_.size(); }
  // NCCL's all-reduce leaves the same bits on every rank.
  bool identical_sums() const override { return true; }

  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    require_here(t);
    order_after_compute();
    nccl_check(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), ncclSum,
                             comm_.load(), stream_),
               "ncclAllReduce");
    return finish(t, describe_collective("ncclAllReduce", t));
  }
  void allreduce_sum(torch::Tensor& t) override { allreduce_sum_async(t)->wait(); }

  void broadcast(torch::Tensor& t, int root) override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    require_here(t);
    order_after_compute();
    nccl_check(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), root,
                             comm_.load(), stream_),
               "ncclBroadcast");
    finish(t, describe_collective("ncclBroadcast", t))->wait();
  }

  torch::Tensor allgather(const torch::Tensor& t) override {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(device_));
    torch::Tensor src = t.contiguous();
    require_here(src);
    std::vector<int64_t> shape{world_.size()};
    for (auto d : src.sizes()) shape.push_back(d);
    torch::Tensor out = torch::empty(shape, src.options());
    order_after_compute();
    nccl_check(ncclAllGather(src.data_ptr(), out.data_ptr(), src.numel(), nccl_type(src),
                             comm_.load(), stream_),
               "ncclAllGather");
    finish(out, describe_collective("ncclAllGather", src))->wait();
    return out;
  }

  void barrier() override {
    {
      watchdog::Scope w("cudaStreamSynchronize of the NCCL stream");
      cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    }
    world_.barrier();
  }

 private:
  void require_here(const torch::Tensor& t) const {
    if (!t.device().is_cuda())
      throw DistError("the NCCL backend needs CUDA tensors; got a " +
                      std::string(c10::DeviceTypeName(t.device().type())) +
                      " tensor (host scalars go through allreduce_host_sum)");
    if (t.device().index() != device_)
      throw DistError("tensor on cuda:" + std::to_string(t.device().index()) +
                      ", this rank's GPU is cuda:" + std::to_string(device_));
    if (!t.is_contiguous()) throw DistError("the NCCL backend needs contiguous tensors");
  }
  // The stream LibTorch computes on for this rank's device.
  cudaStream_t compute_stream() const {
    return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
  }
  // The collective must see everything the compute stream wrote before it was issued.
  void order_after_compute() {
    cudaEvent_t ready;
    cuda_check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(ready, compute_stream()), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);  // safe: destruction waits for nothing, the wait is enqueued
  }
  std::unique_ptr<Work> finish(const torch::Tensor& t, std::string what) {
    cudaEvent_t raw;
    cuda_check(cudaEventCreateWithFlags(&raw, cudaEventDisableTiming), "cudaEventCreate");
    SharedEvent done(raw, [](cudaEvent_t e) { cudaEventDestroy(e); });
    cuda_check(cudaEventRecord(raw, stream_), "cudaEventRecord");
    return std::make_unique<NcclWork>(t, std::move(done), compute_stream(), device_,
                                      std::move(what));
  }
  // Ends the communicator without waiting for peers (the fatal paths).
  // Once: the watchdog's hook and an unwinding destructor may both get here.
  void abort() {
    if (ncclComm_t comm = comm_.exchange(nullptr)) ncclCommAbort(comm);
  }

  World& world_;
  int device_ = 0;
  cudaStream_t stream_{};
  std::atomic<ncclComm_t> comm_{nullptr};
  uint64_t health_id_ = 0, abort_id_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(World& world, const torch::Device& device) {
  return std::make_unique<NcclCommunicator>(world, device);
}

}  // namespace gan::dist
