// GAN: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014. MLP generator and
// discriminator, D outputs a logit; the non-saturating G loss of the paper's section 3:
//   L_D = -E[log sigmoid(D(x))] - E[log(1 - sigmoid(D(G(z))))],  L_G = -E[log sigmoid(D(G(z)))]
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {

namespace {

std::unique_ptr<Model> make_gan(const ModelOptions& o, dist::Collectives& coll) {
  const int64_t pixels = o.channels * o.image_h * o.image_w;
  // Widths scale with --g-width/--d-width (64 gives 256-512 hidden units, as in the paper's MNIST
  // nets).
  using Sizes = std::vector<int64_t>;
  Mlp g(o.z_dim, Sizes{4 * o.g_width, 8 * o.g_width}, pixels, /*tanh_out=*/true,
        Sizes{o.channels, o.image_h, o.image_w});
  Mlp d(pixels, Sizes{8 * o.d_width, 4 * o.d_width}, 1, /*tanh_out=*/false, Sizes{},
        o.spectral_norm);
  init_weights(*g, o.init);
  init_weights(*d, o.init);
  return std::make_unique<AdversarialModel>("gan", o, coll, torch::nn::AnyModule(g),
                                            torch::nn::AnyModule(d), GanLoss::kNonSaturating);
}

}  // namespace

ModelInfo gan_model() { return {"gan", make_gan, {}, {}}; }

}  // namespace gan::models
