#include "train/ema.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "core/sha256.h"

namespace gan::train {

double EmaSchedule::beta(int64_t images_seen, int64_t batch) const {
  if (half_life_images <= 0) return decay;
  double half_life = half_life_images;
  if (rampup > 0) half_life = std::min(half_life, rampup * static_cast<double>(images_seen));
  return std::pow(0.5, static_cast<double>(batch) / std::max(half_life, 1e-8));
}

ModuleEma::ModuleEma(torch::nn::Module& module, EmaSchedule schedule, int64_t batch)
    : module_(module), schedule_(schedule), batch_(batch) {
  torch::NoGradGuard no_grad;
  for (const auto& p : module.named_parameters()) {
    names_.push_back(p.key());
    params_.push_back(p.value());
    average_.push_back(p.value().detach().clone());
  }
  for (const auto& b : module.named_buffers()) buffers_.emplace_back(b.key(), b.value());
}

void ModuleEma::update(int64_t images_seen) {
  torch::NoGradGuard no_grad;
  const double beta = schedule_.beta(images_seen, batch_);
  // lerp_(w, 1 - beta) is a + (1 - beta) * (w - a): one kernel per tensor, same on every rank.
  for (size_t i = 0; i < params_.size(); ++i) average_[i].lerp_(params_[i].detach(), 1.0 - beta);
}

std::string ModuleEma::digest() const {
  Sha256 h;
  auto feed = [&](const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(name.data(), name.size());
    h.update(c.data_ptr(), c.numel() * c.element_size());
  };
  for (size_t i = 0; i < average_.size(); ++i) feed(names_[i], average_[i]);
  for (const auto& [name, b] : buffers_) feed(name, b);  // as module_digest: buffers last
  return h.hex();
}

void ModuleEma::save(torch::serialize::OutputArchive& ar) const {
  for (size_t i = 0; i < average_.size(); ++i) ar.write("ema." + names_[i], average_[i]);
}

void ModuleEma::load(torch::serialize::InputArchive& ar) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < average_.size(); ++i) {
    torch::Tensor t;
    ar.read("ema." + names_[i], t);
    average_[i].copy_(t);
  }
}

void ModuleEma::copy_into_module() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(average_[i]);
}

ModuleEma::Applied::Applied(ModuleEma* ema) : ema_(ema) {
  if (ema_) swap();
}

ModuleEma::Applied::~Applied() {
  if (ema_) swap();
}

void ModuleEma::Applied::swap() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < ema_->params_.size(); ++i) {
    torch::Tensor raw = ema_->params_[i].detach().clone();
    ema_->params_[i].copy_(ema_->average_[i]);
    ema_->average_[i].copy_(raw);
  }
}

}  // namespace gan::train
