// EBGAN: Zhao, Mathieu, LeCun, "Energy-based Generative Adversarial Network", ICLR 2017.
// D is an autoencoder (the DCGAN conv trunk as encoder, the DCGAN generator as decoder) whose
// energy is the reconstruction error D(x) = mean over pixels of (Dec(Enc(x)) - x)^2. With
// margin m and the pull-away term on the encoder's codes S of a generated batch of N:
//   L_D = D(x) + [m - D(G(z))]^+
//   L_G = D(G(z)) + lambda_pt * f_PT(S),  f_PT = 1/(N(N-1)) sum_{i != j} (S_i.S_j / |S_i||S_j|)^2
// f_PT is a statistic of each rank's own part of the batch (it pushes apart codes on a rank).
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class Ebgan : public AdversarialModel {
 public:
  Ebgan(const ModelOptions& o, dist::Collectives& c, DcganGenerator g, AutoEncoder d)
      : AdversarialModel("ebgan", o, c, torch::nn::AnyModule(g), torch::nn::AnyModule(d),
                         GanLoss::kNonSaturating),
        ae_(d),
        margin_(o.param("margin")),
        pt_weight_(o.param("pt-weight")) {}

 protected:
  // Per-image energy; the codes of the last batch are kept for the pull-away term.
  torch::Tensor discriminate(const torch::Tensor& x, const torch::Tensor&) override {
    last_code_ = ae_->encode(x);
    return (ae_->decode(last_code_) - x).pow(2).flatten(1).mean(1);
  }
  torch::Tensor d_loss(const DInputs& in, StepMetrics& m) override {
    torch::Tensor e_real = in.real_out.mean(), e_fake = in.fake_out.mean();
    m.add("energy_real", e_real.item<double>());
    m.add("energy_fake", e_fake.item<double>());
    return e_real + (margin_ - in.fake_out).clamp_min(0).mean();
  }
  torch::Tensor g_loss(const GInputs& in, StepMetrics& m) override {
    torch::Tensor loss = in.fake_out.mean();
    if (pt_weight_ > 0 && last_code_.size(0) > 1) {
      torch::Tensor s = torch::nn::functional::normalize(
          last_code_.flatten(1), torch::nn::functional::NormalizeFuncOptions().dim(1));
      const double n = static_cast<double>(s.size(0));
      torch::Tensor pt = (torch::mm(s, s.t()).pow(2).sum() - n) / (n * (n - 1));
      m.add("pull_away", pt.item<double>());
      loss = loss + pt_weight_ * pt;
    }
    return loss;
  }

 private:
  AutoEncoder ae_;
  const double margin_, pt_weight_;
  torch::Tensor last_code_;
};

std::unique_ptr<Model> make_ebgan(const ModelOptions& o, dist::Collectives& coll) {
  DcganGenerator g(g_spec(o, coll, o.z_dim));
  const int64_t hidden = o.int_param("hidden");
  ConvNetSpec dec = g_spec(o, coll, hidden);
  dec.width = o.d_width;
  AutoEncoder d(torch::nn::AnyModule(DcganDiscriminator(d_spec(o, coll), hidden)),
                torch::nn::AnyModule(DcganGenerator(dec)));
  init_weights(*g, o.init);
  init_weights(*d, o.init);
  return std::make_unique<Ebgan>(o, coll, g, d);
}

}  // namespace

ModelInfo ebgan_model() {
  return {"ebgan",
          make_ebgan,
          {bottleneck_param(), ModelParam::positive("margin", "energy margin m", 1.0),
           ModelParam::non_negative("pt-weight", "pull-away term weight (0: off)", 0.1)},
          {{"lr", "0.0002"}}};
}

}  // namespace gan::models
