// The whole of what a model may ask of the distributed runtime: average the gradients of the
// module it is about to step, and reduce tensors it computed from batch statistics.
#pragma once

#include <torch/nn/module.h>

#include <vector>

namespace gan::dist {

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Announces that the next backward produces the gradients of `module` that sync_grads will
  // average, so their all-reduce can start while backward is still running.
  virtual void expect_grads(torch::nn::Module& module) {}
  // backward(loss) then sync_grads(module) leave in `module`'s gradients the average over
  // ranks of each rank's d loss / d parameter. How the work is split between the two is the
  // implementation's business (DataParallel scales the loss, so that the sum is the mean).
  virtual void backward(const torch::Tensor& loss) { loss.backward(); }
  virtual void sync_grads(torch::nn::Module& module) = 0;
  // Sum / mean of `t` over all ranks; every rank gets the same bits.
  virtual torch::Tensor allreduce_sum(const torch::Tensor& t) = 0;
  torch::Tensor allreduce_mean(const torch::Tensor& t) { return allreduce_sum(t) / world_size(); }
  // Element-wise sums over all ranks of host numbers (not tensors: these never touch a
  // device, whatever the backend); every rank gets the same bits.
  virtual std::vector<double> allreduce_host_sum(std::vector<double> v) = 0;
};

// A world of one: what unit tests and single-process tools hand to a model.
class LocalCollectives final : public Collectives {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void sync_grads(torch::nn::Module&) override {}
  torch::Tensor allreduce_sum(const torch::Tensor& t) override { return t.clone(); }
  std::vector<double> allreduce_host_sum(std::vector<double> v) override { return v; }
};

}  // namespace gan::dist
