// Shared building blocks: the DCGAN generator and discriminator for 28, 32 and 64 pixels, the
// BEGAN encoder/decoder, MLPs, an autoencoder wrapper, spectral norm and the initialisers, so
// every model is made of the same parts.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

#include "models/model.h"

namespace gan::dist {
class Collectives;
}

namespace gan::models {

struct ConvNetSpec {
  int64_t size = 28;  // image height = width: 28, 32 or 64
  int64_t channels = 1;
  int64_t width = 64;  // channels of the widest-resolution conv layer
  bool batch_norm = true;
  int64_t in_features = 100;  // generator input (noise plus any codes)
  // With batch_norm: statistics of the global batch over these collectives (SyncBatchNorm).
  dist::Collectives* sync_bn = nullptr;
  bool spectral_norm = false;  // discriminators only: every conv/linear weight W / sigma(W)
};

// Miyato et al. 2018, "Spectral Normalization for GANs": the layer uses W / sigma(W), sigma
// estimated by one power iteration per training forward. u is a buffer so broadcasts,
// digests and checkpoints carry it. Weight [out, in, k, k] is a conv, [out, in] a linear.
class SpectralLayerImpl : public torch::nn::Module {
 public:
  SpectralLayerImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                    bool bias);  // kernel 0: linear
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor normalized_weight();
  torch::Tensor weight, bias, u;

 private:
  int64_t stride_, padding_;
};
TORCH_MODULE(SpectralLayer);

// Conv2d (kernel > 0) or Linear (kernel 0), spectrally normalised when `sn`.
torch::nn::AnyModule weighted_layer(int64_t in, int64_t out, int64_t kernel, int64_t stride,
                                    int64_t padding, bool bias, bool sn);
// BatchNorm2d, or SyncBatchNorm2d when spec.sync_bn is set.
torch::nn::AnyModule norm_layer(const ConvNetSpec& spec, int64_t channels);

// Radford et al. 2016 (DCGAN): project and reshape, then stride-2 transposed convolutions,
// batchnorm and ReLU, Tanh at the output. No pooling, no fully connected hidden layers.
class DcganGeneratorImpl : public torch::nn::Module {
 public:
  explicit DcganGeneratorImpl(const ConvNetSpec& spec);
  torch::Tensor forward(const torch::Tensor& z);

 private:
  int64_t base_, top_;
  torch::nn::Linear project_{nullptr};
  torch::nn::Sequential body_;
};
TORCH_MODULE(DcganGenerator);

// Stride-2 convolutions with LeakyReLU(0.2) and batchnorm (none on the first layer); a trunk
// that ends in features, plus a linear head with `outputs` logits.
class DcganDiscriminatorImpl : public torch::nn::Module {
 public:
  DcganDiscriminatorImpl(const ConvNetSpec& spec, int64_t outputs);
  torch::Tensor features(const torch::Tensor& x);     // [b, feature_size()]
  torch::Tensor head(const torch::Tensor& features);  // [b, outputs]
  torch::Tensor forward(const torch::Tensor& x);      // [b, outputs]
  int64_t feature_size() const { return features_; }

 private:
  int64_t features_;
  torch::nn::Sequential trunk_;
  torch::nn::AnyModule head_;
};
TORCH_MODULE(DcganDiscriminator);

// A multilayer perceptron on flattened input: Linear + LeakyReLU(0.2) per hidden layer, then
// a linear output, Tanh'd when `tanh_out`; reshaped to `out_shape` when that is given.
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in, const std::vector<int64_t>& hidden, int64_t out, bool tanh_out,
          std::vector<int64_t> out_shape = {}, bool sn = false);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential body_;
  std::vector<int64_t> out_shape_;
};
TORCH_MODULE(Mlp);

// Berthelot et al. 2017 (BEGAN) blocks: 3x3 convolutions with ELU, n, 2n, 3n... filters, a
// stride-2 conv to go down and nearest-neighbour upsampling to go up, an h-dim bottleneck.
class BeganEncoderImpl : public torch::nn::Module {
 public:
  BeganEncoderImpl(const ConvNetSpec& spec, int64_t hidden);  // spec.width = n
  torch::Tensor forward(const torch::Tensor& x);              // [b, hidden]

 private:
  torch::nn::Sequential body_;
};
TORCH_MODULE(BeganEncoder);

class BeganDecoderImpl : public torch::nn::Module {
 public:
  explicit BeganDecoderImpl(const ConvNetSpec& spec);  // input spec.in_features; no output squash
  torch::Tensor forward(const torch::Tensor& h);

 private:
  int64_t base_, width_;
  torch::nn::Linear project_{nullptr};
  torch::nn::Sequential body_;
};
TORCH_MODULE(BeganDecoder);

// An encoder and a decoder as one network (EBGAN's and BEGAN's D, the VAE).
class AutoEncoderImpl : public torch::nn::Module {
 public:
  AutoEncoderImpl(torch::nn::AnyModule encoder, torch::nn::AnyModule decoder);
  torch::Tensor encode(const torch::Tensor& x) { return encoder_.forward(x); }
  torch::Tensor decode(const torch::Tensor& h) { return decoder_.forward(h); }
  torch::Tensor forward(const torch::Tensor& x) { return decode(encode(x)); }

 private:
  torch::nn::AnyModule encoder_, decoder_;
};
TORCH_MODULE(AutoEncoder);

// kNormal: N(0, 0.02) as in DCGAN (batchnorm weights N(1, 0.02)); kXavier, kKaiming: the
// normal variants.
// Applies to every weight of rank >= 2 (conv, linear, spectral layers); biases are zeroed.
void init_weights(torch::nn::Module& module, Init init);

// Number of stride-2 stages between the base resolution (7 for 28 px, else 4) and `size`.
int64_t upsampling_stages(int64_t size, int64_t* base);

}  // namespace gan::models
