// The one interface every model implements, the options they are built from, and the
// registry that maps `--model NAME` to a constructor.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dataio/batch.h"
#include "dist/collectives.h"

namespace gan::models {

struct ModelOptions {
  int64_t image_h = 28, image_w = 28, channels = 1;
  int64_t num_classes = 0;    // from the data's labels; 0 when unlabelled
  int64_t global_batch = 64;  // noise is drawn for the global batch, so any world size agrees
  int64_t z_dim = 100;
  int64_t g_width = 64, d_width = 64;  // base channel counts
  std::string norm = "batch";          // batch | sync (SyncBatchNorm over ranks) | none
  std::string init = "normal";         // normal | xavier | kaiming
  std::string noise = "normal";        // normal | uniform
  double lr_g = 2e-4, lr_d = 2e-4;
  double beta1 = 0.5, beta2 = 0.999;
  std::string optimizer = "adam";  // adam | rmsprop
  int64_t lr_halve_every = 0;      // halve every learning rate each N steps (0: constant)
  bool spectral_norm = false;      // in D
  double label_smoothing = 0;      // one-sided: D's target for real images is 1 - s
  int64_t n_critic = 5;            // WGAN, WGAN-GP: critic steps per G step
  double clip = 0.01;              // WGAN: critic weights clipped to [-clip, clip]
  double gp_lambda = 10;           // WGAN-GP: gradient penalty weight
  int64_t hidden = 64;             // EBGAN, BEGAN: autoencoder bottleneck size
  double margin = 1.0;             // EBGAN: energy margin m
  double pt_weight = 0.1;          // EBGAN: pull-away term weight (0: off)
  double gamma = 0.75;             // BEGAN: diversity ratio
  double lambda_k = 0.001;         // BEGAN: k_t learning rate
  int64_t info_cat = 10;           // InfoGAN: categories of the categorical code
  int64_t info_con = 2;            // InfoGAN: continuous codes, U(-1, 1)
  double lambda_cat = 1.0, lambda_con = 0.1;  // InfoGAN: mutual-information weights
  uint64_t seed = 0;
  std::string device = "cpu";  // where the networks live; random draws stay on the CPU
};

// Per-rank means of what a step measured; the trainer reduces them over ranks.
struct StepMetrics {
  std::vector<std::pair<std::string, double>> values;
  void add(const std::string& name, double v) { values.emplace_back(name, v); }
};

// Seconds a model spent in backward and in optimizer steps since the last call; the trainer
// derives the forward time from the step time less these and the exposed communication.
struct PhaseTimes {
  double backward_s = 0;
  double optimizer_s = 0;
};

// A picture a model draws of itself for `gan_eval pictures`: images [N, C, H, W] in [-1, 1],
// `cols` to a row, written as NAME (a PNG file name).
struct Picture {
  std::string name;
  torch::Tensor images;
  int64_t cols = 10;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string name() const = 0;
  // One full update (all D and G steps) on this rank's share of a global batch.
  virtual StepMetrics train_step(const dataio::Batch& batch) = 0;
  // Images in [-1, 1], NCHW, from noise `z` (and class labels for conditional models).
  virtual torch::Tensor sample(const torch::Tensor& z) = 0;
  // Autoencoding models (VAE): x decoded from its code; undefined for the others.
  virtual torch::Tensor reconstruct(const torch::Tensor& /*x*/) { return {}; }
  // The pictures that show what this model learned beyond a sample grid (cGAN: a row per
  // class; InfoGAN: its codes), drawn from `gen`; none for most models. Call under
  // torch::NoGradGuard.
  virtual std::vector<Picture> pictures(torch::Generator& /*gen*/) { return {}; }
  // Noise for `n` images drawn from `gen`, in the model's noise distribution.
  virtual torch::Tensor noise(int64_t n, torch::Generator& gen) const = 0;
  // The replicated networks, by name: broadcast at start, digested, checkpointed.
  virtual std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules() = 0;
  // Everything beyond module parameters that a bitwise resume needs (optimizers, RNG, k_t).
  virtual void save_state(torch::serialize::OutputArchive& ar) = 0;
  virtual void load_state(torch::serialize::InputArchive& ar) = 0;
  virtual PhaseTimes take_phase_times(bool wait = false) { return {}; }
};

std::unique_ptr<Model> make_model(const std::string& name, const ModelOptions& opts,
                                  dist::Collectives& coll);
std::vector<std::string> model_names();
// The model's own defaults as (command-line option without "--", value) pairs, e.g. WGAN's
// RMSProp at 5e-5; the CLI applies those the user did not set, so the config stays resolved.
std::vector<std::pair<std::string, std::string>> model_defaults(const std::string& name);

}  // namespace gan::models
