// DCGAN: Radford, Metz, Chintala, "Unsupervised Representation Learning with Deep
// Convolutional Generative Adversarial Networks", ICLR 2016. The shared DCGAN nets trained
// with the non-saturating loss (see adversarial.h for the equations).
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/nets.h"
#include "models/registry.h"

namespace gan::models {

std::unique_ptr<Model> make_dcgan(const ModelOptions& o, dist::Collectives& coll) {
  ConvNetSpec g{o.image_h, o.channels, o.g_width, o.norm == "batch", o.z_dim};
  ConvNetSpec d{o.image_h, o.channels, o.d_width, o.norm == "batch", 0};
  DcganGenerator gen(g);
  DcganDiscriminator disc(d, 1);
  init_weights(*gen, o.init);
  init_weights(*disc, o.init);
  return std::make_unique<AdversarialModel>("dcgan", o, coll, torch::nn::AnyModule(gen),
                                            torch::nn::AnyModule(disc), GanLoss::kNonSaturating);
}
}  // namespace gan::models
