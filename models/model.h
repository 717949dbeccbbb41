// The one interface every model implements, the options they are built from, and the
// registry that maps `--model NAME` to a constructor.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/names.h"
#include "dataio/batch.h"
#include "dist/collectives.h"

namespace gan::models {

enum class Norm { kBatch, kSync, kNone };  // sync: SyncBatchNorm, statistics over all ranks
enum class Init { kNormal, kXavier, kKaiming };
enum class Noise { kNormal, kUniform };  // N(0, 1) or U(-1, 1)
enum class OptimizerKind { kAdam, kRmsProp };
inline const Names<Norm> kNormNames{
    {"batch", Norm::kBatch}, {"sync", Norm::kSync}, {"none", Norm::kNone}};
inline const Names<Init> kInitNames{
    {"normal", Init::kNormal}, {"xavier", Init::kXavier}, {"kaiming", Init::kKaiming}};
inline const Names<Noise> kNoiseNames{{"normal", Noise::kNormal}, {"uniform", Noise::kUniform}};
inline const Names<OptimizerKind> kOptimizerNames{{"adam", OptimizerKind::kAdam},
                                                  {"rmsprop", OptimizerKind::kRmsProp}};

struct ModelOptions {
  int64_t image_h = 28, image_w = 28, channels = 1;
  int64_t num_classes = 0;    // from the data's labels; 0 when unlabelled
  int64_t global_batch = 64;  // noise is drawn for the global batch, so any world size agrees
  int64_t z_dim = 100;
  int64_t g_width = 64, d_width = 64;  // base channel counts
  Norm norm = Norm::kBatch;
  Init init = Init::kNormal;
  Noise noise = Noise::kNormal;
  double lr_g = 2e-4, lr_d = 2e-4;
  double beta1 = 0.5, beta2 = 0.999;
  OptimizerKind optimizer = OptimizerKind::kAdam;
  int64_t lr_halve_every = 0;  // halve every learning rate each N steps (0: constant)
  bool spectral_norm = false;  // in D
  double label_smoothing = 0;  // one-sided: D's target for real images is 1 - s
  // The settings a model declares for itself (ModelInfo::params), by option name without
  // "--", e.g. "n-critic". make_model fills in the declared value of any not given here.
  std::map<std::string, double> params;
  uint64_t seed = 0;
  std::string device = "cpu";  // where the networks live; random draws stay on the CPU

  // A declared setting (std::logic_error if the model did not declare it), and one declared as
  // a whole number.
  double param(const std::string& key) const;
  int64_t int_param(const std::string& key) const;
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

// A setting a model reads beyond the shared options, declared next to the model's code. The
// command line offers each as --KEY (shared by the models that declare the same key), checks
// its range, records it in config.toml, and hands it over in ModelOptions::params.
struct ModelParam {
  static constexpr double kNoLimit = 1e300;
  std::string key;   // option name without "--"
  std::string help;  // what it is, without the model's name
  double value;      // the default: the model's paper's value
  double lo = 0;     // accepted: lo <= v <= hi (lo < v when lo_open)
  double hi = kNoLimit;
  bool lo_open = false;
  bool whole = false;  // whole numbers only (read with ModelOptions::int_param)

  static ModelParam non_negative(std::string key, std::string help, double value);
  static ModelParam positive(std::string key, std::string help, double value);
  static ModelParam in_range(std::string key, std::string help, double value, double lo, double hi);
  static ModelParam whole_number(std::string key, std::string help, double value, double lo,
                                 double hi = kNoLimit);
};

using ModelFactory = std::unique_ptr<Model> (*)(const ModelOptions&, dist::Collectives&);

// Everything the rest of the program knows of one model, defined in the model's file.
struct ModelInfo {
  std::string name;  // --model NAME
  ModelFactory make;
  std::vector<ModelParam> params;
  // Shared options the model's paper sets differently, as (option without "--", value), e.g.
  // WGAN's RMSProp at 5e-5; the CLI applies those the user did not set, so the config stays
  // resolved.
  std::vector<std::pair<std::string, std::string>> defaults;

  const ModelParam* find_param(const std::string& key) const;
};

// Every model, in the registry's order (models/registry.cpp).
const std::vector<ModelInfo>& model_infos();
const ModelInfo& model_info(const std::string& name);  // UsageError naming the known ones
std::vector<std::string> model_names();
std::unique_ptr<Model> make_model(const std::string& name, const ModelOptions& opts,
                                  dist::Collectives& coll);

}  // namespace gan::models
