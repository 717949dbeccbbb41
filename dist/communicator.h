// Tensor collectives behind one interface, so the reducer and the trainer do not care
// whether bytes move over Open MPI (CPU tensors) or NCCL (CUDA tensors).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>

#include "core/names.h"

namespace gan::dist {

class World;

// Handle of an operation in flight; wait() returns once the result is in the tensor.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
  // Lets the operation progress without blocking; true once it is complete.
  virtual bool test() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In-place sums over all ranks. The tensor must be contiguous and stay alive until wait().
  virtual void allreduce_sum(torch::Tensor& t) = 0;
  virtual std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) = 0;
  virtual void broadcast(torch::Tensor& t, int root) = 0;
  // Concatenation along a new leading dimension of every rank's tensor (same shape everywhere).
  virtual torch::Tensor allgather(const torch::Tensor& t) = 0;
  virtual void barrier() = 0;
  // On while the caller computes (backward) with async operations in flight: a backend that
  // needs the host to move them on (MPI) does it on its own thread meanwhile. NCCL's run on
  // the GPU and need nothing.
  virtual void background_progress(bool) {}
  // True when allreduce_sum leaves the same bits on every rank by construction (NCCL's
  // reduce-then-broadcast schedules), so callers need no broadcast of rank 0's result.
  // MPI makes no such promise.
  virtual bool identical_sums() const { return false; }
};

// "MPI_Bcast of 1024 Float (4 KiB)": how a collective is named in watchdog messages.
std::string describe_collective(const char* op, const torch::Tensor& t);

// kAuto: NCCL for CUDA devices when built with it, else MPI.
enum class Backend { kAuto, kMpi, kNccl };
inline const Names<Backend> kBackendNames{
    {"auto", Backend::kAuto}, {"mpi", Backend::kMpi}, {"nccl", Backend::kNccl}};

// `check_order` wraps it in OrderCheckedCommunicator (a debugging aid; it costs a round trip).
std::unique_ptr<Communicator> make_communicator(Backend backend, World& world,
                                                const torch::Device& device,
                                                bool check_order = false);

// Debug decorator: before every collective all ranks compare a signature (sequence number,
// operation, element count, dtype). A mismatch, which would otherwise hang or silently mix
// buffers, becomes a DistError naming the collective and what each rank issued.
class OrderCheckedCommunicator final : public Communicator {
 public:
  OrderCheckedCommunicator(std::unique_ptr<Communicator> inner, World& world);
  std::string name() const override { return inner_->name() + "+order-check"; }
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  void allreduce_sum(torch::Tensor& t) override;
  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  void barrier() override;
  void background_progress(bool on) override { inner_->background_progress(on); }
  bool identical_sums() const override { return inner_->identical_sums(); }

 private:
  void check(int op, const torch::Tensor& t);
  std::unique_ptr<Communicator> inner_;
  World& world_;
  int64_t seq_ = 0;
};

}  // namespace gan::dist
