// cGAN: Mirza, Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, 2014.
// G gets z concatenated with a one-hot class y; D gets the image with y as K constant extra
// channels. Non-saturating losses on the conditional distributions:
//   L_D = -E[log D(x|y)] - E[log(1 - D(G(z|y)|y))],  L_G = -E[log D(G(z|y)|y)]
#include <torch/torch.h>

#include "core/errors.h"
#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {
namespace {

class Cgan : public AdversarialModel {
 public:
  Cgan(const ModelOptions& o, dist::Collectives& c, DcganPair nets)
      : AdversarialModel("cgan", o, c, nets.g, nets.d, GanLoss::kNonSaturating) {}

  // z followed by one-hot classes that cycle 0, 1, ..., K-1 down the rows: every global batch
  // is class-balanced, and a sample grid of K columns shows one class per column.
  torch::Tensor noise(int64_t n, torch::Generator& gen) const override {
    torch::Tensor y = torch::arange(n, torch::kLong).remainder(opts_.num_classes);
    return torch::cat({ModelBase::noise(n, gen), one_hot(y)}, 1);
  }

  // One row per class.
  std::vector<Picture> pictures(torch::Generator& gen) override {
    const int64_t cols = 10;
    return {{"class-rows.png",
             code_grid(opts_.num_classes, cols, gen,
                       [&](int64_t r) { return one_hot(torch::tensor(r)); }),
             cols}};
  }

 protected:
  torch::Tensor real_condition(const dataio::Batch& b) override {
    if (!b.labels.defined() || b.labels.dim() != 1)
      throw DataError("cgan needs one integer class label per image");
    return one_hot(b.labels);
  }
  torch::Tensor fake_condition(const torch::Tensor& g_in) override {
    return g_in.narrow(1, opts_.z_dim, opts_.num_classes);
  }
  torch::Tensor discriminate(const torch::Tensor& x, const torch::Tensor& y) override {
    auto planes = y.view({y.size(0), y.size(1), 1, 1}).expand({-1, -1, x.size(2), x.size(3)});
    return d_.forward(torch::cat({x, planes}, 1));
  }

 private:
  torch::Tensor one_hot(const torch::Tensor& y) const {
    return torch::one_hot(y, opts_.num_classes).to(torch::kFloat);
  }
};

std::unique_ptr<Model> make_cgan(const ModelOptions& o, dist::Collectives& coll) {
  if (o.num_classes < 2)
    throw UsageError("cgan needs labelled data (the manifest's num_classes is " +
                     std::to_string(o.num_classes) + ")");
  auto nets =
      make_dcgan_pair(o, g_spec(o, coll, o.z_dim + o.num_classes), d_spec(o, coll, o.num_classes));
  return std::make_unique<Cgan>(o, coll, nets);
}

}  // namespace

ModelInfo cgan_model() { return {"cgan", make_cgan, {}, {}}; }

}  // namespace gan::models
