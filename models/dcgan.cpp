// DCGAN: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
// Convolutional Generative Adversarial Networks", ICLR 2016. The shared DCGAN nets trained
// with the non-saturating loss:
//   L_D = -E[log D(x)] - E[log(1 - D(G(z)))],  L_G = -E[log D(G(z))]
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {

namespace {

std::unique_ptr<Model> make_dcgan(const ModelOptions& o, dist::Collectives& coll) {
  return make_dcgan_family("dcgan", GanLoss::kNonSaturating, o, coll);
}

}  // namespace

ModelInfo dcgan_model() { return {"dcgan", make_dcgan, {}, {}}; }

}  // namespace gan::models
