#include "models/adversarial.h"

#include <torch/torch.h>

#include <algorithm>

#include "core/errors.h"

namespace gan::models {
namespace F = torch::nn::functional;

namespace {

// Metrics of several D steps folded into one value each: "max_*" keeps the maximum (a bound
// must hold at every step), everything else the mean.
class MetricFold {
 public:
  void add(const StepMetrics& m) {
    for (const auto& [k, v] : m.values) {
      auto it =
          // k captured by name: clang < 16 cannot capture a structured binding implicitly.
          std::find_if(rows_.begin(), rows_.end(),
                       [&, &k = k](const auto& r) { return r.name == k; });
      if (it == rows_.end()) {
        rows_.push_back({k, v, 1});
      } else {
        it->value = k.rfind("max_", 0) == 0 ? std::max(it->value, v) : it->value + v;
        ++it->count;
      }
    }
  }
  void write(StepMetrics& out) const {
    for (const auto& r : rows_)
      out.add(r.name, r.name.rfind("max_", 0) == 0 ? r.value : r.value / r.count);
  }

 private:
  struct Row {
    std::string name;
    double value;
    int count;
  };
  std::vector<Row> rows_;
};

}  // namespace

ModelParam critic_steps_param() {
  return ModelParam::whole_number("n-critic", "critic steps per G step", 5, 1);
}

ModelParam bottleneck_param() {
  return ModelParam::whole_number("hidden", "autoencoder bottleneck size", 64, 1);
}

DcganPair make_dcgan_pair(const ModelOptions& o, const ConvNetSpec& g, const ConvNetSpec& d,
                          int64_t d_outputs) {
  DcganGenerator gen(g);
  DcganDiscriminator disc(d, d_outputs);
  init_weights(*gen, o.init);
  init_weights(*disc, o.init);
  return {torch::nn::AnyModule(gen), torch::nn::AnyModule(disc)};
}

std::unique_ptr<Model> make_dcgan_family(const std::string& name, GanLoss loss,
                                         const ModelOptions& o, dist::Collectives& coll) {
  auto nets = make_dcgan_pair(o, g_spec(o, coll, o.z_dim), d_spec(o, coll));
  return std::make_unique<AdversarialModel>(name, o, coll, nets.g, nets.d, loss);
}

AdversarialModel::AdversarialModel(std::string name, const ModelOptions& opts,
                                   dist::Collectives& coll, torch::nn::AnyModule g,
                                   torch::nn::AnyModule d, GanLoss loss, int64_t d_steps)
    : ModelBase(opts, coll),
      g_(std::move(g)),
      d_(std::move(d)),
      loss_(loss),
      name_(std::move(name)),
      d_steps_(d_steps) {
  if (d_steps_ < 1) throw UsageError("--n-critic must be at least 1");
  add_part("G", g_.ptr(), optimizer(*g_.ptr(), opts.lr_g));
  add_part("D", d_.ptr(), optimizer(*d_.ptr(), opts.lr_d));
}

torch::Tensor AdversarialModel::discriminate(const torch::Tensor& x, const torch::Tensor&) {
  return d_.forward(x);
}

torch::Tensor AdversarialModel::d_loss(const DInputs& in, StepMetrics& m) {
  const auto& r = in.real_out;
  const auto& f = in.fake_out;
  const double target = 1.0 - opts_.label_smoothing;
  switch (loss_) {
    case GanLoss::kLeastSquares:
      m.add("d_real", r.mean().item<double>());
      m.add("d_fake", f.mean().item<double>());
      return 0.5 * ((r - target).pow(2).mean() + f.pow(2).mean());
    case GanLoss::kWasserstein: {
      torch::Tensor loss = f.mean() - r.mean();
      m.add("wasserstein", -loss.item<double>());  // the critic's estimate of W(P_r, P_g)
      return loss;
    }
    case GanLoss::kNonSaturating:
      break;
  }
  m.add("d_real", torch::sigmoid(r).mean().item<double>());
  m.add("d_fake", torch::sigmoid(f).mean().item<double>());
  return F::binary_cross_entropy_with_logits(r, torch::full_like(r, target)) +
         F::binary_cross_entropy_with_logits(f, torch::zeros_like(f));
}

torch::Tensor AdversarialModel::g_loss(const GInputs& in, StepMetrics&) {
  const auto& f = in.fake_out;
  switch (loss_) {
    case GanLoss::kLeastSquares:
      return 0.5 * (f - 1).pow(2).mean();
    case GanLoss::kWasserstein:
      return -f.mean();
    case GanLoss::kNonSaturating:
      break;
  }
  return F::binary_cross_entropy_with_logits(f, torch::ones_like(f));
}

StepMetrics AdversarialModel::train_step(const dataio::Batch& batch) {
  apply_lr_schedule(batch.step);
  const auto& real = batch.images;
  const int64_t b = real.size(0), slice = b / d_steps_;
  if (slice < 1)
    throw UsageError("the per-rank batch (" + std::to_string(b) + ") is smaller than --n-critic (" +
                     std::to_string(d_steps_) + "): each critic step needs its own real images");
  const torch::Tensor real_cond = real_condition(batch);

  // Each D step consumes a fresh slice of the real batch and fresh noise (the rest of the
  // batch, b - d_steps * slice images, is not used). With one D step, G's step reuses its fake.
  torch::Tensor g_in, fake;
  MetricFold fold;
  int64_t d_updates = 0;  // counted, not assumed: the metric tests the loop
  for (int64_t i = 0; i < d_steps_; ++i) {
    DInputs in;
    in.real = d_steps_ == 1 ? real : real.narrow(0, i * slice, slice);
    if (real_cond.defined())
      in.real_cond = d_steps_ == 1 ? real_cond : real_cond.narrow(0, i * slice, slice);
    g_in = batch_noise(slice);
    if (d_steps_ == 1) {
      fake = g_.forward(g_in);
    } else {
      torch::NoGradGuard no_grad;  // G's graph is not needed for a critic step
      fake = g_.forward(g_in);
    }
    in.fake = fake.detach();
    in.fake_cond = fake_condition(g_in);
    in.real_out = discriminate(in.real, in.real_cond);
    in.fake_out = discriminate(in.fake, in.fake_cond);
    StepMetrics dm;
    torch::Tensor loss_d = d_loss(in, dm);
    update("D", loss_d);
    ++d_updates;
    dm.add("loss_d", loss_d.item<double>());
    after_d_step(dm);
    fold.add(dm);
  }

  if (d_steps_ > 1) {
    g_in = batch_noise(b);
    fake = g_.forward(g_in);
  }
  StepMetrics m;
  torch::Tensor loss_g;
  {
    Frozen frozen(*d_.ptr());
    GInputs gi{g_in, fake, discriminate(fake, fake_condition(g_in))};
    loss_g = g_loss(gi, m);
    update("G", loss_g);
  }
  m.add("loss_g", loss_g.item<double>());
  fold.write(m);
  m.add("d_steps", double(d_updates));
  return m;
}

torch::Tensor AdversarialModel::sample(const torch::Tensor& z) { return g_.forward(z); }

}  // namespace gan::models
