// LSGAN: Mao, Li, Xie, Lau, Wang, Smolley, "Least Squares Generative Adversarial Networks",
// ICCV 2017. DCGAN nets with least-squares targets (a = 0, b = c = 1):
//   L_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2],  L_G = 1/2 E[(D(G(z)) - 1)^2]
#include <torch/torch.h>

#include "models/adversarial.h"
#include "models/registry.h"

namespace gan::models {

namespace {

std::unique_ptr<Model> make_lsgan(const ModelOptions& o, dist::Collectives& coll) {
  return make_dcgan_family("lsgan", GanLoss::kLeastSquares, o, coll);
}

}  // namespace

ModelInfo lsgan_model() { return {"lsgan", make_lsgan, {}, {}}; }

}  // namespace gan::models
