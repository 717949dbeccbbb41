// DCGAN: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
// Convolutional Generative Adversarial Networks", ICLR 2016. The shared DCGAN nets trained
// with the non-saturating loss:
//   L_D = -E[log D(x)] - E[log(1 - D(G(z)))],  L_G = -E[log D(G(z))]
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {

std::unique_ptr<Model> make_dcgan(const ModelOptions& o, dist::Collectives& coll) {
  auto nets = make_dcgan_pair(o, g_spec(o, coll, o.z_dim), d_spec(o, coll));
  return std::make_unique<AdversarialModel>("dcgan", o, coll, nets.g, nets.d,
                                            GanLoss::kNonSaturating);
}

}  // namespace gan::models
