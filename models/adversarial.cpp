#include "models/adversarial.h"

#include <torch/torch.h>

namespace gan::models {
namespace F = torch::nn::functional;

AdversarialModel::AdversarialModel(std::string name, const ModelOptions& opts,
                                   dist::Collectives& coll, torch::nn::AnyModule g,
                                   torch::nn::AnyModule d, GanLoss loss)
    : ModelBase(opts, coll), name_(std::move(name)), g_(std::move(g)), d_(std::move(d)),
      loss_(loss) {
  add_part("G", g_.ptr(), adam(*g_.ptr(), opts.lr_g));
  add_part("D", d_.ptr(), adam(*d_.ptr(), opts.lr_d));
}

torch::Tensor AdversarialModel::d_loss(const torch::Tensor& real_out,
                                       const torch::Tensor& fake_out) const {
  if (loss_ == GanLoss::kLeastSquares)
    return 0.5 * ((real_out - 1).pow(2).mean() + fake_out.pow(2).mean());
  return F::binary_cross_entropy_with_logits(real_out, torch::ones_like(real_out)) +
         F::binary_cross_entropy_with_logits(fake_out, torch::zeros_like(fake_out));
}

torch::Tensor AdversarialModel::g_loss(const torch::Tensor& fake_out) const {
  if (loss_ == GanLoss::kLeastSquares) return 0.5 * (fake_out - 1).pow(2).mean();
  return F::binary_cross_entropy_with_logits(fake_out, torch::ones_like(fake_out));
}

StepMetrics AdversarialModel::train_step(const dataio::Batch& batch) {
  const auto& real = batch.images;
  const int64_t b = real.size(0);
  torch::Tensor fake = g_.forward(batch_noise(b));

  torch::Tensor real_out = d_.forward(real);
  torch::Tensor fake_out = d_.forward(fake.detach());
  torch::Tensor loss_d = d_loss(real_out, fake_out);
  update("D", loss_d);

  torch::Tensor loss_g;
  {
    Frozen frozen(*d_.ptr());
    loss_g = g_loss(d_.forward(fake));
    update("G", loss_g);
  }

  StepMetrics m;
  m.add("loss_d", loss_d.item<double>());
  m.add("loss_g", loss_g.item<double>());
  bool logits = loss_ == GanLoss::kNonSaturating;
  m.add("d_real", (logits ? torch::sigmoid(real_out) : real_out).mean().item<double>());
  m.add("d_fake", (logits ? torch::sigmoid(fake_out) : fake_out).mean().item<double>());
  return m;
}

torch::Tensor AdversarialModel::sample(const torch::Tensor& z) { return g_.forward(z); }

}  // namespace gan::models
