#include "models/nets.h"

#include <torch/torch.h>

#include "core/errors.h"

namespace gan::models {
namespace nn = torch::nn;

int64_t upsampling_stages(int64_t size, int64_t* base) {
  *base = size == 28 ? 7 : 4;
  int64_t stages = 0;
  for (int64_t s = *base; s < size; s *= 2) ++stages;
  if (size != 28 && size != 32 && size != 64)
    throw UsageError("DCGAN nets support 28, 32 and 64 pixel images, not " + std::to_string(size));
  return stages;
}

DcganGeneratorImpl::DcganGeneratorImpl(const ConvNetSpec& spec) {
  int64_t stages = upsampling_stages(spec.size, &base_);
  top_ = spec.width << (stages - 1);
  project_ = register_module(
      "project", nn::Linear(nn::LinearOptions(spec.in_features, top_ * base_ * base_)
                                .bias(!spec.batch_norm)));
  if (spec.batch_norm) body_->push_back(nn::BatchNorm2d(top_));
  body_->push_back(nn::ReLU());
  int64_t ch = top_;
  for (int64_t s = 0; s + 1 < stages; ++s) {
    body_->push_back(nn::ConvTranspose2d(
        nn::ConvTranspose2dOptions(ch, ch / 2, 4).stride(2).padding(1).bias(!spec.batch_norm)));
    if (spec.batch_norm) body_->push_back(nn::BatchNorm2d(ch / 2));
    body_->push_back(nn::ReLU());
    ch /= 2;
  }
  body_->push_back(
      nn::ConvTranspose2d(nn::ConvTranspose2dOptions(ch, spec.channels, 4).stride(2).padding(1)));
  body_->push_back(nn::Tanh());
  register_module("body", body_);
}

torch::Tensor DcganGeneratorImpl::forward(const torch::Tensor& z) {
  return body_->forward(project_->forward(z).view({-1, top_, base_, base_}));
}

DcganDiscriminatorImpl::DcganDiscriminatorImpl(const ConvNetSpec& spec, int64_t outputs) {
  int64_t base = 0;
  int64_t stages = upsampling_stages(spec.size, &base);
  int64_t ch = spec.width;
  trunk_->push_back(nn::Conv2d(nn::Conv2dOptions(spec.channels, ch, 4).stride(2).padding(1)));
  trunk_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
  for (int64_t s = 1; s < stages; ++s) {
    trunk_->push_back(nn::Conv2d(
        nn::Conv2dOptions(ch, ch * 2, 4).stride(2).padding(1).bias(!spec.batch_norm)));
    if (spec.batch_norm) trunk_->push_back(nn::BatchNorm2d(ch * 2));
    trunk_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    ch *= 2;
  }
  trunk_->push_back(nn::Flatten());
  features_ = ch * base * base;
  register_module("trunk", trunk_);
  head_ = register_module("head", nn::Linear(features_, outputs));
}

torch::Tensor DcganDiscriminatorImpl::features(const torch::Tensor& x) {
  return trunk_->forward(x);
}

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& x) {
  return head_->forward(features(x));
}

void init_weights(torch::nn::Module& module, const std::string& init) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    const std::string kind = m->name();
    bool is_norm = kind.find("BatchNorm") != std::string::npos;
    bool is_weighted = kind.find("Conv") != std::string::npos || kind.find("Linear") != std::string::npos;
    if (!is_norm && !is_weighted) continue;
    for (auto& p : m->named_parameters(/*recurse=*/false)) {
      auto& t = p.value();
      if (p.key() == "bias") {
        t.zero_();
      } else if (is_norm) {
        t.normal_(1.0, 0.02);
      } else if (init == "normal") {
        t.normal_(0.0, 0.02);
      } else if (init == "xavier") {
        torch::nn::init::xavier_normal_(t);
      } else if (init == "kaiming") {
        torch::nn::init::kaiming_normal_(t, 0.2, torch::kFanIn, torch::kLeakyReLU);
      } else {
        throw UsageError("--init must be normal, xavier or kaiming, not " + init);
      }
    }
  }
}

}  // namespace gan::models
