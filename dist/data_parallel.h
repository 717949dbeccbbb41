// The Collectives a model sees in a distributed run: a Reducer per module it steps, tensor
// reductions over a Communicator, and a tally of time spent waiting on communication.
#pragma once

#include <map>
#include <memory>

#include "dist/collectives.h"
#include "dist/reducer.h"

namespace gan::dist {

class DataParallel final : public Collectives {
 public:
  explicit DataParallel(Communicator& comm, ReducerOptions opts = {});
  int rank() const override { return comm_.rank(); }
  int world_size() const override { return comm_.size(); }
  void expect_grads(torch::nn::Module& module) override;
  // Backward of loss / world_size: the reducer's sum over ranks is then the average, with no
  // extra pass over the gradients (which costs as much as a third of an all-reduce here).
  void backward(const torch::Tensor& loss) override;
  void sync_grads(torch::nn::Module& module) override;
  torch::Tensor allreduce_sum(const torch::Tensor& t) override;

  // Parameters and buffers of `module` from rank 0, so every replica starts identical.
  void broadcast_module(torch::nn::Module& module);
  // Buffers only (BatchNorm running statistics), which each rank updates from its own batch.
  void broadcast_buffers(torch::nn::Module& module);

  // Seconds spent inside collectives since the last call (then reset).
  double take_comm_seconds();

 private:
  Communicator& comm_;
  ReducerOptions opts_;
  std::map<const torch::nn::Module*, std::unique_ptr<Reducer>> reducers_;
  double comm_seconds_ = 0.0;
  Reducer& reducer(torch::nn::Module& module);
};

}  // namespace gan::dist
