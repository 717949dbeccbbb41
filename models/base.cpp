#include "models/base.h"

#include <torch/torch.h>

#include <cmath>

#include "core/errors.h"
#include "dist/reducer.h"
#include "dist/watchdog.h"

namespace gan::models {

ModelBase::ModelBase(const ModelOptions& opts, dist::Collectives& coll)
    : opts_(opts),
      coll_(coll),
      gen_(at::detail::createCPUGenerator(opts.seed ^ 0x6e6f697365ULL)),
      device_(opts.device) {
  if (opts_.global_batch % coll_.world_size() != 0)
    throw UsageError("global batch does not divide over the ranks");
}

void ModelBase::add_part(const std::string& name, std::shared_ptr<torch::nn::Module> module,
                         std::unique_ptr<torch::optim::Optimizer> optimizer) {
  double lr = optimizer ? optimizer->param_groups().at(0).options().get_lr() : 0.0;
  parts_.push_back({name, std::move(module), std::move(optimizer), lr});
}

torch::nn::Module& ModelBase::part(const std::string& name) {
  for (auto& p : parts_)
    if (p.name == name) return *p.module;
  throw std::logic_error("no model part " + name);
}

std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> ModelBase::modules() {
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> out;
  for (auto& p : parts_) out.emplace_back(p.name, p.module);
  return out;
}

void ModelBase::update(const std::string& name, const torch::Tensor& loss) {
  for (auto& p : parts_) {
    if (p.name != name) continue;
    // Names this part's gradient all-reduces in a collective-timeout message.
    dist::watchdog::Label label(name + " step");
    dist::zero_grads(*p.module);  // in place: gradients may be views of reducer buckets
    coll_.expect_grads(*p.module);
    {
      dist::DeviceTimer::Scope timed(backward_timer_, device_);
      coll_.backward(loss);
    }
    coll_.sync_grads(*p.module);  // timed by the collectives (communication)
    {
      dist::DeviceTimer::Scope timed(optimizer_timer_, device_);
      p.optimizer->step();
    }
    return;
  }
  throw std::logic_error("no model part " + name);
}

torch::Tensor ModelBase::noise(int64_t n, torch::Generator& gen) const {
  if (opts_.noise == Noise::kUniform) return torch::rand({n, opts_.z_dim}, gen) * 2 - 1;
  return torch::randn({n, opts_.z_dim}, gen);
}

torch::Tensor ModelBase::batch_draw(
    int64_t local_batch, const std::function<torch::Tensor(int64_t, torch::Generator&)>& draw) {
  // Drawn on the CPU generator whatever the device, so every rank and every device type
  // sees the same numbers.
  torch::Tensor all = draw(opts_.global_batch, gen_);
  return all.narrow(0, coll_.rank() * local_batch, local_batch)
      .contiguous()
      .to(torch::Device(opts_.device));
}

torch::Tensor ModelBase::code_grid(int64_t rows, int64_t cols, torch::Generator& gen,
                                   const std::function<torch::Tensor(int64_t row)>& code) {
  torch::Tensor z = torch::randn({cols, opts_.z_dim}, gen);
  std::vector<torch::Tensor> in;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) in.push_back(torch::cat({z[c], code(r)}));
  return sample(torch::stack(in));
}

torch::Tensor ModelBase::batch_noise(int64_t local_batch) {
  return batch_draw(local_batch, [this](int64_t n, torch::Generator& g) { return noise(n, g); });
}

std::unique_ptr<torch::optim::Optimizer> ModelBase::optimizer(torch::nn::Module& m,
                                                              double lr) const {
  if (opts_.optimizer == OptimizerKind::kRmsProp)
    return std::make_unique<torch::optim::RMSprop>(m.parameters(),
                                                   torch::optim::RMSpropOptions(lr));
  return std::make_unique<torch::optim::Adam>(
      m.parameters(), torch::optim::AdamOptions(lr).betas({opts_.beta1, opts_.beta2}));
}

void ModelBase::apply_lr_schedule(int64_t step) {
  if (opts_.lr_halve_every <= 0) return;
  const double scale = std::ldexp(1.0, -static_cast<int>(step / opts_.lr_halve_every));
  for (auto& p : parts_)
    if (p.optimizer)
      for (auto& g : p.optimizer->param_groups()) g.options().set_lr(p.base_lr * scale);
}

ConvNetSpec g_spec(const ModelOptions& o, dist::Collectives& coll, int64_t in_features) {
  ConvNetSpec s{o.image_h, o.channels, o.g_width, o.norm != Norm::kNone, in_features};
  if (o.norm == Norm::kSync) s.sync_bn = &coll;
  return s;
}

ConvNetSpec d_spec(const ModelOptions& o, dist::Collectives& coll, int64_t extra_channels) {
  ConvNetSpec s = g_spec(o, coll, 0);
  s.channels += extra_channels;
  s.width = o.d_width;
  s.spectral_norm = o.spectral_norm;
  return s;
}

void ModelBase::save_state(torch::serialize::OutputArchive& ar) {
  for (auto& p : parts_) {
    if (!p.optimizer) continue;
    torch::serialize::OutputArchive sub;
    p.optimizer->save(sub);
    ar.write("optim." + p.name, sub);
  }
  ar.write("noise_rng", gen_.get_state());
  save_extra(ar);
}

void ModelBase::load_state(torch::serialize::InputArchive& ar) {
  for (auto& p : parts_) {
    if (!p.optimizer) continue;
    torch::serialize::InputArchive sub;
    ar.read("optim." + p.name, sub);
    p.optimizer->load(sub);
  }
  torch::Tensor state;
  ar.read("noise_rng", state);
  gen_.set_state(state.to(torch::kCPU));  // the archive may have mapped it to a GPU
  load_extra(ar);
}

PhaseTimes ModelBase::take_phase_times(bool wait) {
  PhaseTimes t;
  t.backward_s = backward_timer_.take_seconds(wait);
  t.optimizer_s = optimizer_timer_.take_seconds(wait);
  return t;
}

Frozen::Frozen(torch::nn::Module& m) {
  for (auto& p : m.parameters())
    if (p.requires_grad()) {
      p.set_requires_grad(false);
      params_.push_back(p);
    }
}

Frozen::~Frozen() {
  for (auto& p : params_) p.set_requires_grad(true);
}

}  // namespace gan::models
