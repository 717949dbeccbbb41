#include "models/nets.h"

#include <torch/torch.h>

#include "core/errors.h"
#include "dist/sync_batchnorm.h"

namespace gan::models {
namespace nn = torch::nn;
namespace F = torch::nn::functional;

int64_t upsampling_stages(int64_t size, int64_t* base) {
  *base = size == 28 ? 7 : 4;
  int64_t stages = 0;
  for (int64_t s = *base; s < size; s *= 2) ++stages;
  if (size != 28 && size != 32 && size != 64)
    throw UsageError("DCGAN nets support 28, 32 and 64 pixel images, not " + std::to_string(size));
  return stages;
}

SpectralLayerImpl::SpectralLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                     int64_t padding, bool with_bias)
    : stride_(stride), padding_(padding) {
  weight = register_parameter(
      "weight", kernel > 0 ? torch::empty({out, in, kernel, kernel}) : torch::empty({out, in}));
  nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}));
  u = register_buffer("u", F::normalize(torch::randn({out}), F::NormalizeFuncOptions().dim(0)));
}

torch::Tensor SpectralLayerImpl::normalized_weight() {
  torch::Tensor w = weight.flatten(1);  // [out, in * k * k]
  auto unit = F::NormalizeFuncOptions().dim(0).eps(1e-12);
  torch::Tensor u_now, v;
  {
    torch::NoGradGuard no_grad;
    // One power-iteration step per training forward; u converges over training (as in the paper).
    v = F::normalize(torch::mv(w.t(), u), unit);
    if (is_training()) {
      u.copy_(F::normalize(torch::mv(w, v), unit));
      v = F::normalize(torch::mv(w.t(), u), unit);
    }
    // A copy: the next forward updates u in place while this graph still needs its value.
    u_now = u.clone();
  }
  // sigma = u^T W v, differentiated through W only (u and v are constants, as in the paper).
  torch::Tensor sigma = torch::dot(u_now, torch::mv(w, v));
  return weight / sigma;
}

torch::Tensor SpectralLayerImpl::forward(const torch::Tensor& x) {
  torch::Tensor w = normalized_weight();
  if (w.dim() == 2) return F::linear(x, w, bias);
  return F::conv2d(x, w, F::Conv2dFuncOptions().bias(bias).stride(stride_).padding(padding_));
}

nn::AnyModule weighted_layer(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                             int64_t padding, bool bias, bool sn) {
  if (sn) return nn::AnyModule(SpectralLayer(in, out, kernel, stride, padding, bias));
  if (kernel == 0) return nn::AnyModule(nn::Linear(nn::LinearOptions(in, out).bias(bias)));
  return nn::AnyModule(
      nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias)));
}

nn::AnyModule norm_layer(const ConvNetSpec& spec, int64_t channels) {
  if (spec.sync_bn) return nn::AnyModule(dist::SyncBatchNorm2d(channels, spec.sync_bn));
  return nn::AnyModule(nn::BatchNorm2d(channels));
}

DcganGeneratorImpl::DcganGeneratorImpl(const ConvNetSpec& spec) {
  int64_t stages = upsampling_stages(spec.size, &base_);
  top_ = spec.width << (stages - 1);
  project_ = register_module(
      "project",
      nn::Linear(nn::LinearOptions(spec.in_features, top_ * base_ * base_).bias(!spec.batch_norm)));
  if (spec.batch_norm) body_->push_back(norm_layer(spec, top_));
  body_->push_back(nn::ReLU());
  int64_t ch = top_;
  for (int64_t s = 0; s + 1 < stages; ++s) {
    body_->push_back(nn::ConvTranspose2d(
        nn::ConvTranspose2dOptions(ch, ch / 2, 4).stride(2).padding(1).bias(!spec.batch_norm)));
    if (spec.batch_norm) body_->push_back(norm_layer(spec, ch / 2));
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
  const bool sn = spec.spectral_norm;
  trunk_->push_back(weighted_layer(spec.channels, ch, 4, 2, 1, true, sn));
  trunk_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
  for (int64_t s = 1; s < stages; ++s) {
    trunk_->push_back(weighted_layer(ch, ch * 2, 4, 2, 1, !spec.batch_norm, sn));
    if (spec.batch_norm) trunk_->push_back(norm_layer(spec, ch * 2));
    trunk_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    ch *= 2;
  }
  trunk_->push_back(nn::Flatten());
  features_ = ch * base * base;
  register_module("trunk", trunk_);
  head_ = weighted_layer(features_, outputs, 0, 1, 0, true, sn);
  register_module("head", head_.ptr());
}

torch::Tensor DcganDiscriminatorImpl::features(const torch::Tensor& x) {
  return trunk_->forward(x);
}

torch::Tensor DcganDiscriminatorImpl::head(const torch::Tensor& f) { return head_.forward(f); }

torch::Tensor DcganDiscriminatorImpl::forward(const torch::Tensor& x) { return head(features(x)); }

MlpImpl::MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out, bool tanh_out,
                 std::vector<int64_t> out_shape, bool sn)
    : out_shape_(std::move(out_shape)) {
  int64_t width = in;
  for (int64_t h : hidden) {
    body_->push_back(weighted_layer(width, h, 0, 1, 0, true, sn));
    body_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2)));
    width = h;
  }
  body_->push_back(weighted_layer(width, out, 0, 1, 0, true, sn));
  if (tanh_out) body_->push_back(nn::Tanh());
  register_module("body", body_);
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = body_->forward(x.flatten(1));
  if (out_shape_.empty()) return y;
  std::vector<int64_t> shape{x.size(0)};
  shape.insert(shape.end(), out_shape_.begin(), out_shape_.end());
  return y.view(shape);
}

namespace {

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1));
}

}  // namespace

BeganEncoderImpl::BeganEncoderImpl(const ConvNetSpec& spec, int64_t hidden) {
  int64_t base = 0;
  const int64_t stages = upsampling_stages(spec.size, &base), n = spec.width;
  body_->push_back(conv3x3(spec.channels, n));
  body_->push_back(nn::ELU());
  for (int64_t s = 0; s < stages; ++s) {
    // Filters grow linearly with depth (n, 2n, 3n, ...); a strided conv halves the size.
    body_->push_back(conv3x3(n * (s + 1), n * (s + 1)));
    body_->push_back(nn::ELU());
    body_->push_back(conv3x3(n * (s + 1), n * (s + 2), 2));
    body_->push_back(nn::ELU());
  }
  body_->push_back(conv3x3(n * (stages + 1), n * (stages + 1)));
  body_->push_back(nn::ELU());
  body_->push_back(nn::Flatten());
  body_->push_back(nn::Linear(n * (stages + 1) * base * base, hidden));
  register_module("body", body_);
}

torch::Tensor BeganEncoderImpl::forward(const torch::Tensor& x) { return body_->forward(x); }

BeganDecoderImpl::BeganDecoderImpl(const ConvNetSpec& spec) : width_(spec.width) {
  const int64_t stages = upsampling_stages(spec.size, &base_), n = spec.width;
  project_ = register_module("project", nn::Linear(spec.in_features, n * base_ * base_));
  for (int64_t s = 0; s <= stages; ++s) {
    body_->push_back(conv3x3(n, n));
    body_->push_back(nn::ELU());
    body_->push_back(conv3x3(n, n));
    body_->push_back(nn::ELU());
    if (s < stages)
      body_->push_back(nn::Upsample(
          nn::UpsampleOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest)));
  }
  body_->push_back(conv3x3(n, spec.channels));
  register_module("body", body_);
}

torch::Tensor BeganDecoderImpl::forward(const torch::Tensor& h) {
  return body_->forward(project_->forward(h).view({-1, width_, base_, base_}));
}

AutoEncoderImpl::AutoEncoderImpl(nn::AnyModule encoder, nn::AnyModule decoder)
    : encoder_(std::move(encoder)), decoder_(std::move(decoder)) {
  register_module("encoder", encoder_.ptr());
  register_module("decoder", decoder_.ptr());
}

void init_weights(torch::nn::Module& module, Init init) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    const bool is_norm = m->name().find("BatchNorm") != std::string::npos;
    for (auto& p : m->named_parameters(/*recurse=*/false)) {
      auto& t = p.value();
      if (p.key() == "bias") {
        t.zero_();
      } else if (is_norm) {
        t.normal_(1.0, 0.02);
      } else if (t.dim() < 2) {
        continue;
      } else if (init == Init::kNormal) {
        t.normal_(0.0, 0.02);
      } else if (init == Init::kXavier) {
        torch::nn::init::xavier_normal_(t);
      } else {
        torch::nn::init::kaiming_normal_(t, 0.2, torch::kFanIn, torch::kLeakyReLU);
      }
    }
  }
}

}  // namespace gan::models
