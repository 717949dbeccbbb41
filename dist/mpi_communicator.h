// Open MPI backend for CPU tensors: blocking and non-blocking (MPI_Iallreduce) collectives.
#pragma once

#include "dist/communicator.h"

namespace gan::dist {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(World& world);
  std::string name() const override { return "mpi"; }
  int rank() const override;
  int size() const override;
  void allreduce_sum(torch::Tensor& t) override;
  std::unique_ptr<Work> allreduce_sum_async(torch::Tensor& t) override;
  void broadcast(torch::Tensor& t, int root) override;
  torch::Tensor allgather(const torch::Tensor& t) override;
  void barrier() override;

 private:
  World& world_;
};

}  // namespace gan::dist
