// Everything a training run is configured by, as parsed from the command line or a config
// file, plus the resolved config text that ranks compare and checkpoints record.
#pragma once

#include <cstdint>
#include <string>

#include "core/names.h"
#include "dataio/sampler.h"
#include "dist/reducer.h"
#include "models/model.h"

namespace gan::train {

// --overlap: start bucket all-reduces during backward (train/trainer.h: resolve_overlap).
enum class Overlap { kAuto, kOn, kOff };
inline const Names<Overlap> kOverlapNames{
    {"auto", Overlap::kAuto}, {"true", Overlap::kOn}, {"false", Overlap::kOff}};
// --sample-weights: G's weights for sample grids and evaluation when an average is kept.
enum class SampleWeights { kEma, kRaw };
inline const Names<SampleWeights> kSampleWeightsNames{{"ema", SampleWeights::kEma},
                                                      {"raw", SampleWeights::kRaw}};

struct TrainOptions {
  std::string model = "dcgan";
  std::string data;
  std::string out;
  int64_t steps = 0;  // total steps; 0 means use epochs
  int64_t epochs = 0;
  int64_t batch_size = 64;  // global
  int threads = 1;
  int64_t log_every = 10;
  int64_t sample_every = 100;
  int64_t checkpoint_every = 0;  // 0: only at the end
  int keep_checkpoints = 3;
  int64_t replica_check_every = 50;
  int64_t sample_count = 64;
  int64_t eval_images = 512;
  bool resume = false;
  dist::Backend backend = dist::Backend::kAuto;
  bool check_collectives = false;  // debug: compare every collective's signature across ranks
  double bucket_mb = 25.0;
  // auto: on for CUDA devices, and on the CPU when this host's ranks x threads leave a core
  // free for MPI's progress; with every core computing, overlap only costs (benchmarks/).
  Overlap overlap = Overlap::kAuto;
  dist::Compression grad_compress = dist::Compression::kNone;
  // How ranks share an epoch (dataio/sampler.h).
  dataio::Sampling sampling = dataio::Sampling::Invariant;
  std::string device = "cpu";
  // Deterministic cuDNN and cuBLAS, cuDNN benchmark and TF32 off (GPU runs repeat bitwise).
  bool deterministic = false;
  // A collective in flight longer than this ends the job with exit 4 (0: never).
  double collective_timeout = 300;
  // Scoring during training: FD and KID of eval_images generated images against as many real
  // ones, in the features of a TorchScript network or of the project classifier, every
  // eval_every steps (0: at the sample steps), spread over the ranks.
  std::string eval_features;
  std::string eval_classifier;
  int64_t eval_every = 0;
  bool debug_trace = false;  // per-rank raw metrics, every step
  // At the end, measure the communicator's all-reduce curve into OUT/allreduce.csv
  // (dist/comm_curve.h), for the scaling report.
  bool comm_curve = false;
  bool tensorboard = true;  // rank 0 writes TensorBoard event files under OUT/tb/
  // The generator's moving average (train/ema.h): a constant decay, or a half-life in
  // thousands of images with a ramp-up; 0 turns each off. Sample grids and evaluation use the
  // average when there is one, unless sample_weights is kRaw.
  double g_ema = 0;
  double g_ema_kimg = 0;
  double g_ema_rampup = 0;
  SampleWeights sample_weights = SampleWeights::kEma;
  models::ModelOptions model_opts;
  std::string config_text;  // the resolved options as "key = value" lines
};

}  // namespace gan::train
