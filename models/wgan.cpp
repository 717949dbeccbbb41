// WGAN: Arjovsky, Chintala, Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017.
// A critic without sigmoid estimates W(P_r, P_g) under a Lipschitz bound kept by clipping
// every critic weight to [-c, c] after each critic step (Algorithm 1: RMSProp, lr 5e-5,
// n_critic = 5, c = 0.01; wgan_model() below declares these):
//   L_critic = E[D(G(z))] - E[D(x)],  L_G = -E[D(G(z))]
// Each of the n_critic steps takes its own 1/n_critic slice of the rank's real batch.
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class Wgan : public AdversarialModel {
 public:
  Wgan(const ModelOptions& o, dist::Collectives& c, DcganPair nets)
      : AdversarialModel("wgan", o, c, nets.g, nets.d, GanLoss::kWasserstein,
                         o.int_param("n-critic")),
        clip_(o.param("clip")) {}

 protected:
  void after_d_step(StepMetrics& m) override {
    torch::NoGradGuard no_grad;
    // Clip all, then one reduction on the device and one transfer to the host per critic step
    // (not one per parameter). The max is exact, so the value is the per-parameter one.
    std::vector<torch::Tensor> maxima;
    for (auto& p : d_.ptr()->parameters()) {
      p.clamp_(-clip_, clip_);
      maxima.push_back(p.abs().max());
    }
    const double max_abs = maxima.empty() ? 0.0 : torch::stack(maxima).max().item<double>();
    // The largest |w| after clipping, over every critic step: the bound the test checks.
    m.add("max_critic_abs_weight", max_abs);
  }

 private:
  const double clip_;
};

std::unique_ptr<Model> make_wgan(const ModelOptions& o, dist::Collectives& coll) {
  auto nets = make_dcgan_pair(o, g_spec(o, coll, o.z_dim), d_spec(o, coll));
  return std::make_unique<Wgan>(o, coll, nets);
}

}  // namespace

ModelInfo wgan_model() {
  return {"wgan",
          make_wgan,
          {critic_steps_param(),
           ModelParam::positive("clip", "critic weights are clipped to [-clip, clip]", 0.01)},
          {{"optimizer", "rmsprop"}, {"lr", "5e-05"}}};
}

}  // namespace gan::models
