// BEGAN: Berthelot, Schumm, Metz, "BEGAN: Boundary Equilibrium Generative Adversarial
// Networks", arXiv:1703.10717, 2017. D is an autoencoder (3x3 conv + ELU, nearest upsampling,
// bottleneck h); L(v) = mean |v - D(v)| (L1, as means). With k_0 = 0:
//   L_D = L(x) - k_t L(G(z)),  L_G = L(G(z))
//   k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)
//   M_global = L(x) + |gamma L(x) - L(G(z))|
// k_t steers training, so it is computed from the GLOBAL means: one all-reduce per step of
// the host numbers [L_real * b, L_fake * b, b], whose result (rank 0's bits) every rank
// applies identically.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class Began : public AdversarialModel {
 public:
  Began(const ModelOptions& o, dist::Collectives& c, BeganDecoder g, AutoEncoder d)
      : AdversarialModel("began", o, c, torch::nn::AnyModule(g), torch::nn::AnyModule(d),
                         GanLoss::kNonSaturating),
        gamma_(o.param("gamma")),
        lambda_k_(o.param("lambda-k")) {}

 protected:
  torch::Tensor discriminate(const torch::Tensor& x, const torch::Tensor&) override {
    return (d_.forward(x) - x).abs().flatten(1).mean(1);
  }
  torch::Tensor d_loss(const DInputs& in, StepMetrics& m) override {
    torch::Tensor l_real = in.real_out.mean(), l_fake = in.fake_out.mean();
    // Both to the host in one transfer (one sync on a GPU); float -> double is exact, so the
    // values are those of two item<double>() calls.
    torch::Tensor both =
        torch::stack({l_real.detach(), l_fake.detach()}).to(torch::kCPU).to(torch::kDouble);
    l_real_ = both[0].item<double>();
    l_fake_ = both[1].item<double>();
    batch_ = in.real.size(0);
    m.add("l_real", l_real_);
    m.add("l_fake", l_fake_);
    return l_real - k_ * l_fake;
  }
  torch::Tensor g_loss(const GInputs& in, StepMetrics&) override { return in.fake_out.mean(); }

  void after_d_step(StepMetrics& m) override {
    const double b = static_cast<double>(batch_);
    const std::vector<double> s = coll_.allreduce_host_sum({l_real_ * b, l_fake_ * b, b});
    const double l_real = s[0] / s[2], l_fake = s[1] / s[2];
    const double balance = gamma_ * l_real - l_fake;
    k_ = std::clamp(k_ + lambda_k_ * balance, 0.0, 1.0);
    m.add("k_t", k_);
    m.add("m_global", l_real + std::abs(balance));
    m.add("l_real_global", l_real);
    m.add("l_fake_global", l_fake);
  }

  void save_extra(torch::serialize::OutputArchive& ar) override {
    ar.write("began_k", torch::tensor({k_}, torch::kDouble));
  }
  void load_extra(torch::serialize::InputArchive& ar) override {
    torch::Tensor k;
    ar.read("began_k", k);
    k_ = k.item<double>();
  }

 private:
  const double gamma_, lambda_k_;
  double k_ = 0.0;
  double l_real_ = 0, l_fake_ = 0;
  int64_t batch_ = 0;
};

std::unique_ptr<Model> make_began(const ModelOptions& o, dist::Collectives& coll) {
  ConvNetSpec g{o.image_h, o.channels, o.g_width, false, o.z_dim};
  ConvNetSpec enc{o.image_h, o.channels, o.d_width, false, 0};
  const int64_t hidden = o.int_param("hidden");
  ConvNetSpec dec{o.image_h, o.channels, o.d_width, false, hidden};
  BeganDecoder gen(g);
  AutoEncoder d(torch::nn::AnyModule(BeganEncoder(enc, hidden)),
                torch::nn::AnyModule(BeganDecoder(dec)));
  init_weights(*gen, o.init);
  init_weights(*d, o.init);
  return std::make_unique<Began>(o, coll, gen, d);
}

}  // namespace

ModelInfo began_model() {
  return {"began",
          make_began,
          {bottleneck_param(), ModelParam::in_range("gamma", "diversity ratio gamma", 0.75, 0, 1),
           ModelParam::non_negative("lambda-k", "learning rate of k_t", 0.001)},
          {{"lr", "0.0001"}}};
}

}  // namespace gan::models
