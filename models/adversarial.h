// The two-player update shared by every GAN of the zoo: n critic/D steps (each on its own slice
// of the real batch), then one G step. Models differ in the loss family and in hooks: how D
// sees a condition (cGAN), an auxiliary head (InfoGAN), what happens after a D step (WGAN's
// clipping, BEGAN's k_t), or a whole different D (EBGAN's and BEGAN's autoencoders).
#pragma once

#include <torch/nn/modules/container/any.h>

#include <utility>

#include "models/base.h"

namespace gan::models {

enum class GanLoss {
  // Goodfellow et al. 2014, non-saturating form, one-sided smoothing s (Salimans et al. 2016):
  //   L_D = -E[(1-s) log D(x) + s log(1 - D(x))] - E[log(1 - D(G(z)))],  L_G = -E[log D(G(z))]
  //   (D outputs logits)
  kNonSaturating,
  // Mao et al. 2017 (LSGAN, a=0, b=c=1):
  //   L_D = 1/2 E[(D(x) - (1-s))^2] + 1/2 E[D(G(z))^2],  L_G = 1/2 E[(D(G(z)) - 1)^2]
  kLeastSquares,
  // Arjovsky et al. 2017 (WGAN), D is a critic with unbounded output:
  //   L_D = E[D(G(z))] - E[D(x)],  L_G = -E[D(G(z))]
  kWasserstein,
};

// Both networks of the DCGAN family built from the options, initialised. G takes z_dim +
// g_extra_in inputs; D sees channels + d_extra_channels and has d_outputs logits.
struct DcganPair {
  torch::nn::AnyModule g, d;
};
DcganPair make_dcgan_pair(const ModelOptions& o, const ConvNetSpec& g, const ConvNetSpec& d,
                          int64_t d_outputs = 1);

// Settings more than one model declares, defined once: critic steps per G step (WGAN,
// WGAN-GP) and the autoencoder's bottleneck size (EBGAN, BEGAN).
ModelParam critic_steps_param();
ModelParam bottleneck_param();

class AdversarialModel;
// A plain DCGAN-family model: the shared DCGAN nets from the options with loss `loss`.
std::unique_ptr<Model> make_dcgan_family(const std::string& name, GanLoss loss,
                                         const ModelOptions& o, dist::Collectives& coll);

class AdversarialModel : public ModelBase {
 public:
  // d_steps: D (critic) updates per G update; each takes 1/d_steps of the rank's real batch.
  AdversarialModel(std::string name, const ModelOptions& opts, dist::Collectives& coll,
                   torch::nn::AnyModule g, torch::nn::AnyModule d, GanLoss loss,
                   int64_t d_steps = 1);
  std::string name() const override { return name_; }
  StepMetrics train_step(const dataio::Batch& batch) override;
  torch::Tensor sample(const torch::Tensor& z) override;

 protected:
  struct DInputs {
    torch::Tensor real, fake;            // fake is detached from G
    torch::Tensor real_cond, fake_cond;  // undefined for unconditional models
    torch::Tensor real_out, fake_out;    // what discriminate() returned
  };
  struct GInputs {
    torch::Tensor g_in, fake, fake_out;
  };

  // D's output for images x under condition `cond`; the default ignores the condition.
  virtual torch::Tensor discriminate(const torch::Tensor& x, const torch::Tensor& cond);
  // Condition of the real images (e.g. one-hot labels) and of G's input row-for-row.
  virtual torch::Tensor real_condition(const dataio::Batch&) { return {}; }
  virtual torch::Tensor fake_condition(const torch::Tensor& /*g_in*/) { return {}; }
  virtual torch::Tensor d_loss(const DInputs& in, StepMetrics& m);
  virtual torch::Tensor g_loss(const GInputs& in, StepMetrics& m);
  // After each D optimizer step (WGAN clips weights here, BEGAN updates k_t).
  virtual void after_d_step(StepMetrics&) {}

  torch::nn::AnyModule g_, d_;
  GanLoss loss_;

 private:
  std::string name_;
  int64_t d_steps_;
};

}  // namespace gan::models
