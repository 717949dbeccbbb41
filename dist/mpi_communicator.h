// Open MPI backend for CPU tensors: blocking and non-blocking (MPI_Iallreduce) collectives,
// the latter moved on by a progress thread while they are in flight.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace gan::dist {

class MpiProgress;

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(World& world);
  ~MpiCommunicator() override;
  std::string name() const override { return "mpi"; }
  int rank() const override;
  int size() const override;
  void allreduce_sum(torch::Tensor& t) override;
  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  void barrier() override;
  void background_progress(bool on) override;

 private:
  World& world_;
  std::unique_ptr<MpiProgress> progress_;  // with more than one rank
};

}  // namespace gan::dist
