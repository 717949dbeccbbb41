// Shared building blocks: the DCGAN generator and discriminator for 28, 32 and 64 pixels and
// the initialisers, so every model is made of the same parts.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <string>

namespace gan::models {

struct ConvNetSpec {
  int64_t size = 28;       // image height = width: 28, 32 or 64
  int64_t channels = 1;
  int64_t width = 64;      // channels of the widest-resolution conv layer
  bool batch_norm = true;
  int64_t in_features = 100;  // generator input (noise plus any codes)
};

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
  torch::Tensor features(const torch::Tensor& x);  // [b, feature_size()]
  torch::Tensor forward(const torch::Tensor& x);   // [b, outputs]
  int64_t feature_size() const { return features_; }

 private:
  int64_t features_;
  torch::nn::Sequential trunk_;
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(DcganDiscriminator);

// init: "normal" (N(0, 0.02) as in DCGAN; batchnorm weights N(1, 0.02)), "xavier", "kaiming".
void init_weights(torch::nn::Module& module, const std::string& init);

// Number of stride-2 stages between the base resolution (7 for 28 px, else 4) and `size`.
int64_t upsampling_stages(int64_t size, int64_t* base);

}  // namespace gan::models
