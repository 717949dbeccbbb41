// The Collectives a model sees in a distributed run: a Reducer per module it steps, tensor
// reductions over a Communicator, host-number reductions over the World's MPI, and a tally of
// time spent waiting on communication (device time on a GPU, see DeviceTimer).
#pragma once

#include <atomic>
#include <map>
#include <memory>

#include "dist/collectives.h"
#include "dist/device_timer.h"
#include "dist/reducer.h"

namespace gan::dist {

class DataParallel final : public Collectives {
 public:
  // `world` carries the host reductions; it is the job `comm` spans (same ranks).
  DataParallel(Communicator& comm, World& world, ReducerOptions opts = {});
  int rank() const override { return comm_.rank(); }
  int world_size() const override { return comm_.size(); }
  void expect_grads(torch::nn::Module& module) override;
  // Backward of loss / world_size: the reducer's sum over ranks is then the average, with no
  // extra pass over the gradients (which costs as much as a third of an all-reduce here).
  void backward(const torch::Tensor& loss) override;
  void sync_grads(torch::nn::Module& module) override;
  torch::Tensor allreduce_sum(const torch::Tensor& t) override;
  std::vector<double> allreduce_host_sum(std::vector<double> v) override;

  // Parameters and buffers of `module` from rank 0, so every replica starts identical.
  void broadcast_module(torch::nn::Module& module);
  // Buffers only (BatchNorm running statistics), which each rank updates from its own batch.
  // One broadcast per dtype (the buffers flattened into one tensor), not one per buffer.
  void broadcast_buffers(torch::nn::Module& module);

  // Seconds spent inside collectives since the last call (then reset). On a CUDA device the
  // time the compute stream spent in them, read back without blocking: an interval the GPU
  // has not finished yet counts in a later call (all of them, waiting, with wait = true).
  double take_comm_seconds(bool wait = false);
  // The part of those seconds spent inside backward (SyncBatchNorm's all-reduces): the model's
  // backward timer holds it too, so a step's phases subtract it from backward once.
  double take_comm_in_backward_seconds(bool wait = false);
  // Gradient all-reduces issued so far, as message size in bytes -> count: what the
  // reducers actually send, for a benchmark's cost model (benchmarks/netem/). At one rank,
  // where nothing is sent, what more ranks would send (the same buckets).
  // Counted per module as it syncs; sized only when asked (not on a step's path).
  std::map<int64_t, int64_t> gradient_messages() const;

 private:
  Communicator& comm_;
  World& world_;
  ReducerOptions opts_;
  struct Synced {
    std::unique_ptr<Reducer> reducer;
    int64_t syncs = 0;  // sync_grads calls that sent its buckets (world size > 1)
  };
  std::map<const torch::nn::Module*, Synced> reducers_;
  DeviceTimer comm_timer_;
  DeviceTimer comm_in_backward_timer_;
  std::atomic<bool> in_backward_{false};  // read by autograd's threads (SyncBatchNorm)
  Reducer& reducer(torch::nn::Module& module);
  // Rank 0's values of `tensors` to every rank, one broadcast per (dtype, device) group.
  void broadcast_grouped(const std::vector<torch::Tensor>& tensors);
};

}  // namespace gan::dist
