// BatchNorm whose batch statistics are those of the GLOBAL batch: per-channel sum, sum of
// squares and count are all-reduced in forward and the two gradient sums in backward, so a
// BN network trains the same at any world size.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "dist/collectives.h"

namespace gan::dist {

class SyncBatchNorm2dImpl : public torch::nn::Module {
 public:
  // `coll` must outlive the module; null means a world of one (plain BatchNorm).
  SyncBatchNorm2dImpl(int64_t num_features, Collectives* coll, double eps = 1e-5,
                      double momentum = 0.1);
  torch::Tensor forward(const torch::Tensor& x);  // x: [N, C, H, W]

  torch::Tensor weight, bias, running_mean, running_var;

 private:
  Collectives* coll_;
  LocalCollectives local_;
  double eps_, momentum_;
};
TORCH_MODULE(SyncBatchNorm2d);

// Training-mode batch norm over the union of every rank's `x` (exposed for tests). The
// statistics stay on x's device, the count too (a 0-dim double tensor): nothing is read back
// to the host, so a GPU forward does not wait for the all-reduce.
torch::Tensor sync_batch_norm(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias, Collectives& coll, double eps,
                              torch::Tensor* global_mean = nullptr,
                              torch::Tensor* global_var = nullptr,
                              torch::Tensor* global_count = nullptr);

}  // namespace gan::dist
