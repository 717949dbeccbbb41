// WGAN-GP: Gulrajani, Ahmed, Arjovsky, Dumoulin, Courville, "Improved Training of Wasserstein
// GANs", NeurIPS 2017. The Lipschitz bound as a penalty on the critic's gradient norm at
// random interpolates x^ = e x + (1 - e) G(z), e ~ U(0, 1) (Algorithm 1: Adam(1e-4, 0, 0.9),
// n_critic = 5, lambda = 10; wgan_gp_model() below declares these):
//   L_critic = E[D(G(z))] - E[D(x)] + lambda E[(||grad_x^ D(x^)||_2 - 1)^2],  L_G = -E[D(G(z))]
// The penalty is per sample, so the critic has no batchnorm (as the paper advises). It is
// computed locally on each rank by double backward; only parameter gradients are all-reduced.
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class WganGp : public AdversarialModel {
 public:
  WganGp(const ModelOptions& o, dist::Collectives& c, DcganPair nets)
      : AdversarialModel("wgan-gp", o, c, nets.g, nets.d, GanLoss::kWasserstein,
                         o.int_param("n-critic")),
        gp_lambda_(o.param("gp-lambda")) {}

 protected:
  torch::Tensor d_loss(const DInputs& in, StepMetrics& m) override {
    const int64_t b = in.real.size(0);
    // e is drawn for the global batch like the noise, so it does not depend on the world size.
    torch::Tensor e = batch_draw(b, [](int64_t n, torch::Generator& g) {
      return torch::rand({n, 1, 1, 1}, g);
    });
    torch::Tensor mix = (e * in.real + (1 - e) * in.fake).detach().requires_grad_(true);
    torch::Tensor out = d_.forward(mix);
    torch::Tensor grad = torch::autograd::grad({out.sum()}, {mix}, /*grad_outputs=*/{},
                                               /*retain_graph=*/true, /*create_graph=*/true)[0];
    torch::Tensor norm = grad.flatten(1).norm(2, 1);
    torch::Tensor penalty = (norm - 1).pow(2).mean();
    m.add("gradient_penalty", penalty.item<double>());
    m.add("grad_norm", norm.mean().item<double>());
    return AdversarialModel::d_loss(in, m) + gp_lambda_ * penalty;
  }

 private:
  const double gp_lambda_;
};

std::unique_ptr<Model> make_wgan_gp(const ModelOptions& o, dist::Collectives& coll) {
  ConvNetSpec critic = d_spec(o, coll);
  critic.batch_norm = false;
  critic.sync_bn = nullptr;
  auto nets = make_dcgan_pair(o, g_spec(o, coll, o.z_dim), critic);
  return std::make_unique<WganGp>(o, coll, nets);
}

}  // namespace

ModelInfo wgan_gp_model() {
  return {
      "wgan-gp",
      make_wgan_gp,
      {critic_steps_param(), ModelParam::non_negative("gp-lambda", "gradient penalty weight", 10)},
      {{"lr", "0.0001"}, {"beta1", "0"}, {"beta2", "0.9"}}};
}

}  // namespace gan::models
