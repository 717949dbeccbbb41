// The classic two-player update shared by GAN, DCGAN and LSGAN: one D step on real and
// generated images, then one G step, with the loss family as the only difference.
#pragma once

#include <torch/nn/modules/container/any.h>

#include "models/base.h"

namespace gan::models {

enum class GanLoss {
  // Goodfellow et al. 2014, non-saturating form:
  //   L_D = -E[log D(x)] - E[log(1 - D(G(z)))],  L_G = -E[log D(G(z))]   (D outputs logits)
  kNonSaturating,
  // Mao et al. 2017 (LSGAN, a=0, b=c=1):
  //   L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2],  L_G = 1/2 E[(D(G(z)) - 1)^2]
  kLeastSquares,
};

class AdversarialModel : public ModelBase {
 public:
  AdversarialModel(std::string name, const ModelOptions& opts, dist::Collectives& coll,
                   torch::nn::AnyModule g, torch::nn::AnyModule d, GanLoss loss);
  std::string name() const override { return name_; }
  StepMetrics train_step(const dataio::Batch& batch) override;
  torch::Tensor sample(const torch::Tensor& z) override;

 private:
  torch::Tensor d_loss(const torch::Tensor& real_out, const torch::Tensor& fake_out) const;
  torch::Tensor g_loss(const torch::Tensor& fake_out) const;

  std::string name_;
  torch::nn::AnyModule g_, d_;
  GanLoss loss_;
};

}  // namespace gan::models
