// InfoGAN: Chen, Duan, Houthooft, Schulman, Sutskever, Abbeel, "InfoGAN: Interpretable
// Representation Learning by Information Maximizing GANs", NeurIPS 2016. G gets z plus a
// categorical code c_cat (one-hot, uniform over K) and continuous codes c_con ~ U(-1, 1); a
// head Q on D's trunk predicts them. With the variational bound on I(c; G(z, c)):
//   L_D = L_D^GAN + lambda_cat * CE(Q_cat(x~), c_cat) + lambda_con * ||Q_con(x~) - c_con||^2
//   L_G = L_G^GAN + lambda_cat * CE(Q_cat(x~), c_cat) + lambda_con * ||Q_con(x~) - c_con||^2
// (x~ = G(z, c); a fixed-variance Gaussian for c_con, so its log-likelihood is a squared error).
// Q is trained in the D step on detached fakes and G in the G step, with D and Q frozen.
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace F = torch::nn::functional;
namespace {

// D's trunk with two heads: the real/fake logit and Q's code predictions.
class InfoDiscriminatorImpl : public torch::nn::Module {
 public:
  InfoDiscriminatorImpl(const ConvNetSpec& spec, int64_t codes) : d(spec, 1) {
    register_module("d", d);
    q = register_module("q", torch::nn::Linear(d->feature_size(), codes));
  }
  // Logits; the codes Q predicts for the same images go to *q_out.
  torch::Tensor forward(const torch::Tensor& x, torch::Tensor* q_out) {
    torch::Tensor f = d->features(x);
    *q_out = q->forward(f);
    return d->head(f);
  }
  DcganDiscriminator d;
  torch::nn::Linear q{nullptr};
};
TORCH_MODULE(InfoDiscriminator);

class Infogan : public AdversarialModel {
 public:
  Infogan(const ModelOptions& o, dist::Collectives& c, DcganGenerator g, InfoDiscriminator d)
      : AdversarialModel("infogan", o, c, torch::nn::AnyModule(g), torch::nn::AnyModule(d),
                         GanLoss::kNonSaturating),
        info_d_(d),
        k_cat_(o.int_param("info-cat")),
        n_con_(o.int_param("info-con")),
        lambda_cat_(o.param("lambda-cat")),
        lambda_con_(o.param("lambda-con")) {}

  // [z | one-hot c_cat | c_con]
  torch::Tensor noise(int64_t n, torch::Generator& gen) const override {
    torch::Tensor z = ModelBase::noise(n, gen);
    torch::Tensor cat = torch::randint(k_cat_, {n}, gen, torch::kLong);
    torch::Tensor con = torch::rand({n, n_con_}, gen) * 2 - 1;
    return torch::cat({z, torch::one_hot(cat, k_cat_).to(torch::kFloat), con}, 1);
  }

  // A row per category; then per continuous code, rows of categories and columns of that
  // code from -2 to 2 (past the training range of +-1).
  std::vector<Picture> pictures(torch::Generator& gen) override {
    const int64_t cols = 10, k = k_cat_, n_con = n_con_;
    auto category = [&](int64_t r) {
      return torch::one_hot(torch::tensor(r), k).to(torch::kFloat);
    };
    std::vector<Picture> out{{"infogan-categories.png",
                              code_grid(k, cols, gen,
                                        [&](int64_t r) {
                                          return torch::cat({category(r), torch::zeros({n_con})});
                                        }),
                              cols}};
    for (int64_t j = 0; j < n_con; ++j) {
      torch::Tensor z = torch::randn({opts_.z_dim}, gen);
      std::vector<torch::Tensor> in;
      for (int64_t r = 0; r < k; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          torch::Tensor con = torch::zeros({n_con});
          con[j] = -2.0 + 4.0 * c / (cols - 1);
          in.push_back(torch::cat({z, category(r), con}));
        }
      out.push_back(
          {"infogan-continuous-" + std::to_string(j) + ".png", sample(torch::stack(in)), cols});
    }
    return out;
  }

 protected:
  torch::Tensor fake_condition(const torch::Tensor& g_in) override {
    return g_in.narrow(1, opts_.z_dim, k_cat_ + n_con_);
  }
  // The codes are not shown to D; Q's prediction for the last images seen is kept for the loss.
  torch::Tensor discriminate(const torch::Tensor& x, const torch::Tensor& codes) override {
    torch::Tensor q;
    torch::Tensor out = info_d_->forward(x, &q);
    if (codes.defined()) last_q_ = q;
    return out;
  }
  torch::Tensor d_loss(const DInputs& in, StepMetrics& m) override {
    return AdversarialModel::d_loss(in, m) + info_loss(in.fake_cond, m);
  }
  torch::Tensor g_loss(const GInputs& in, StepMetrics& m) override {
    StepMetrics unused;  // the D step already logged the information terms
    return AdversarialModel::g_loss(in, m) + info_loss(fake_condition(in.g_in), unused);
  }

 private:
  torch::Tensor info_loss(const torch::Tensor& codes, StepMetrics& m) {
    const int64_t k = k_cat_;
    torch::Tensor target = codes.narrow(1, 0, k).argmax(1);
    torch::Tensor ce = F::cross_entropy(last_q_.narrow(1, 0, k), target);
    torch::Tensor mse =
        (last_q_.narrow(1, k, n_con_) - codes.narrow(1, k, n_con_)).pow(2).sum(1).mean();
    m.add("info_cat_ce", ce.item<double>());
    m.add("info_con_mse", mse.item<double>());
    m.add("info_cat_acc",
          (last_q_.narrow(1, 0, k).argmax(1) == target).to(torch::kDouble).mean().item<double>());
    return lambda_cat_ * ce + lambda_con_ * mse;
  }

  InfoDiscriminator info_d_;
  const int64_t k_cat_, n_con_;  // categories of the categorical code; continuous codes
  const double lambda_cat_, lambda_con_;
  torch::Tensor last_q_;
};

std::unique_ptr<Model> make_infogan(const ModelOptions& o, dist::Collectives& coll) {
  const int64_t codes = o.int_param("info-cat") + o.int_param("info-con");
  DcganGenerator g(g_spec(o, coll, o.z_dim + codes));
  InfoDiscriminator d(d_spec(o, coll), codes);
  init_weights(*g, o.init);
  init_weights(*d, o.init);
  return std::make_unique<Infogan>(o, coll, g, d);
}

}  // namespace

ModelInfo infogan_model() {
  return {
      "infogan",
      make_infogan,
      {ModelParam::whole_number("info-cat", "categories of the categorical code", 10, 2, 1000),
       ModelParam::whole_number("info-con", "number of continuous codes, U(-1, 1)", 2, 1, 100),
       ModelParam::non_negative("lambda-cat", "weight of the categorical information term", 1.0),
       ModelParam::non_negative("lambda-con", "weight of the continuous information term", 0.1)},
      {}};
}

}  // namespace gan::models
