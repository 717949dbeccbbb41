#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#ifdef GAN_TORCH_CUDA
#include <c10/cuda/CUDAStream.h>
#endif

#include "core/errors.h"
#include "dist/mpi_check.h"
#include "dist/world.h"

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

void require_cuda(const torch::Tensor& t) {
  if (!t.device().is_cuda()) throw DistError("NCCL backend needs CUDA tensors (use --backend mpi)");
  if (!t.is_contiguous()) throw DistError("NCCL backend needs contiguous tensors");
}

// The stream the model computes on: PyTorch's current stream when LibTorch has CUDA, else the
// legacy default stream (a CPU-only LibTorch launches no kernels of its own).
cudaStream_t compute_stream() {
#ifdef GAN_TORCH_CUDA
  return c10::cuda::getCurrentCUDAStream().stream();
#else
  return cudaStreamLegacy;
#endif
}

class NcclWork final : public Work {
 public:
  NcclWork(torch::Tensor t, cudaEvent_t done) : tensor_(std::move(t)), done_(done) {}
  ~NcclWork() override { cudaEventDestroy(done_); }
  // Orders later compute after the collective without blocking the host.
  void wait() override {
    cuda_check(cudaStreamWaitEvent(compute_stream(), done_, 0), "cudaStreamWaitEvent");
  }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }

 private:
  torch::Tensor tensor_;
  cudaEvent_t done_;
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(World& world, const torch::Device& device) : world_(world) {
    int count = 0;
    cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    if (count == 0) throw DistError("--backend nccl: no CUDA device on " + world.host());
    device_ = device.has_index() ? device.index() : world.device_for_rank(count);
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");
    cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    ncclUniqueId id;
    if (world.rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    {
      auto lock = mpi_lock();
      mpi_check(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD),
                "MPI_Bcast of the NCCL unique id");
    }
    nccl_check(ncclCommInitRank(&comm_, world.size(), id, world.rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  std::string name() const override { return "nccl"; }
  int rank() const override { return world_.rank(); }
  int size() const override { return world_.size(); }

  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) override {
    require_cuda(t);
    order_after_compute();
    nccl_check(
        ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), ncclSum, comm_, stream_),
        "ncclAllReduce");
    return finish(t);
  }
  void allreduce_sum(torch::Tensor& t) override { allreduce_sum_async(t)->wait(); }

  void broadcast(torch::Tensor& t, int root) override {
    require_cuda(t);
    order_after_compute();
    nccl_check(
        ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t), root, comm_, stream_),
        "ncclBroadcast");
    finish(t)->wait();
  }

  torch::Tensor allgather(const torch::Tensor& t) override {
    torch::Tensor src = t.contiguous();
    require_cuda(src);
    std::vector<int64_t> shape{world_.size()};
    for (auto d : src.sizes()) shape.push_back(d);
    torch::Tensor out = torch::empty(shape, src.options());
    order_after_compute();
    nccl_check(
        ncclAllGather(src.data_ptr(), out.data_ptr(), src.numel(), nccl_type(src), comm_, stream_),
        "ncclAllGather");
    finish(out)->wait();
    return out;
  }

  void barrier() override {
    cuda_check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    world_.barrier();
  }

 private:
  // The collective must see everything the compute stream wrote before it was issued.
  void order_after_compute() {
    cudaEvent_t ready;
    cuda_check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(ready, compute_stream()), "cudaEventRecord");
    cuda_check(cudaStreamWaitEvent(stream_, ready, 0), "cudaStreamWaitEvent");
    cudaEventDestroy(ready);  // safe: destruction waits for nothing, the wait is enqueued
  }
  std::unique_ptr<Work> finish(const torch::Tensor& t) {
    cudaEvent_t done;
    cuda_check(cudaEventCreateWithFlags(&done, cudaEventDisableTiming), "cudaEventCreate");
    cuda_check(cudaEventRecord(done, stream_), "cudaEventRecord");
    return std::make_unique<NcclWork>(t, done);
  }

  World& world_;
  int device_ = 0;
  cudaStream_t stream_{};
  ncclComm_t comm_{};
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(World& world, const torch::Device& device) {
  return std::make_unique<NcclCommunicator>(world, device);
}

}  // namespace gan::dist
