#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <climits>

#include "core/errors.h"
#include "dist/world.h"

#ifdef GAN_WITH_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace gan::dist {
namespace {

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return MPI_FLOAT;
    case torch::kDouble: return MPI_DOUBLE;
    case torch::kInt64: return MPI_INT64_T;
    case torch::kInt32: return MPI_INT32_T;
    case torch::kUInt8: return MPI_UINT8_T;
    default:
      throw DistError(std::string("MPI backend: unsupported dtype ") +
                      std::string(c10::toString(t.scalar_type())));
  }
}

int checked_count(const torch::Tensor& t) {
  if (!t.device().is_cpu()) throw DistError("MPI backend needs CPU tensors (use --backend nccl)");
  if (!t.is_contiguous()) throw DistError("MPI backend needs contiguous tensors");
  if (t.numel() > INT_MAX) throw DistError("tensor too large for one MPI call");
  return static_cast<int>(t.numel());
}

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    throw DistError(std::string(what) + " failed: " + std::string(msg, len));
  }
}

class MpiWork final : public Work {
 public:
  MpiWork(torch::Tensor t, MPI_Request req) : tensor_(std::move(t)), req_(req) {}
  ~MpiWork() override {
    if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE);
  }
  void wait() override { check(MPI_Wait(&req_, MPI_STATUS_IGNORE), "MPI_Wait"); }

 private:
  torch::Tensor tensor_;  // keeps the buffer alive while MPI owns it
  MPI_Request req_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(World& world) : world_(world) {}
int MpiCommunicator::rank() const { return world_.rank(); }
int MpiCommunicator::size() const { return world_.size(); }

void MpiCommunicator::allreduce_sum(torch::Tensor& t) {
  int n = checked_count(t);
  if (world_.size() == 1 || n == 0) return;
  check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), n, mpi_type(t), MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
}

std::unique_ptr<Work> MpiCommunicator::allreduce_sum_async(torch::Tensor& t) {
  int n = checked_count(t);
  MPI_Request req = MPI_REQUEST_NULL;
  if (world_.size() > 1 && n > 0) {
    check(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), n, mpi_type(t), MPI_SUM, MPI_COMM_WORLD,
                         &req),
          "MPI_Iallreduce");
  }
  return std::make_unique<MpiWork>(t, req);
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  int n = checked_count(t);
  if (world_.size() == 1 || n == 0) return;
  check(MPI_Bcast(t.data_ptr(), n, mpi_type(t), root, MPI_COMM_WORLD), "MPI_Bcast");
}

torch::Tensor MpiCommunicator::allgather(const torch::Tensor& t) {
  torch::Tensor src = t.contiguous();
  int n = checked_count(src);
  std::vector<int64_t> shape{world_.size()};
  for (auto d : src.sizes()) shape.push_back(d);
  torch::Tensor out = torch::empty(shape, src.options());
  check(MPI_Allgather(src.data_ptr(), n, mpi_type(src), out.data_ptr(), n, mpi_type(src),
                      MPI_COMM_WORLD),
        "MPI_Allgather");
  return out;
}

void MpiCommunicator::barrier() { world_.barrier(); }

std::unique_ptr<Communicator> make_communicator(const std::string& backend, World& world,
                                                const torch::Device& device) {
  bool want_nccl = backend == "nccl" || (backend == "auto" && device.is_cuda());
  if (!want_nccl) return std::make_unique<MpiCommunicator>(world);
#ifdef GAN_WITH_NCCL
  return make_nccl_communicator(world, device);
#else
  throw UsageError("--backend nccl: this build has no NCCL support (GAN_WITH_NCCL=OFF)");
#endif
}

}  // namespace gan::dist
