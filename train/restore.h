// Bringing a run back from a checkpoint. One function, restore_checkpoint, puts a checkpoint's
// state into a built model for both users: `gan_dist --resume` (into the distributed replica
// the trainer built) and gan_eval (into restore_run's local model, rebuilt from the config and
// image shape the checkpoint records, so no data is needed to sample).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "dataio/manifest.h"
#include "dist/collectives.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/options.h"

namespace gan::train {

// The network that makes images: G, or the one network of a model without a G (the VAE).
std::pair<std::string, std::shared_ptr<torch::nn::Module>> generator_of(models::Model& model);

// The generator's moving average the options ask for (--g-ema, --g-ema-kimg), or null.
std::unique_ptr<ModuleEma> make_generator_ema(const TrainOptions& o, models::Model& model);

// The key of the average's digest in a checkpoint's meta.json ("G_ema").
std::string ema_digest_key(models::Model& model);

// Restores checkpoint `folder` into `model` (networks, optimizers, RNG streams) and into `ema`
// when not null, and returns its meta. CheckpointError when a file is missing or corrupt, or a
// network's or the average's digest does not match after loading.
CheckpointMeta restore_checkpoint(const std::string& folder, models::Model& model, ModuleEma* ema);

struct RestoredRun {
  TrainOptions opts;
  std::string data;         // the training data: --data, or the path the run recorded
  bool data_given = false;  // --data, rather than the path the run recorded
  dataio::ImageShape shape;
  std::string folder;   // the checkpoint folder
  std::string weights;  // "ema" (the generator's average) or "raw"
  dist::LocalCollectives coll;
  std::unique_ptr<models::Model> model;

  // The training data, read on first use: scores and reconstructions need its images;
  // sampling needs only the shape the checkpoint records, so it works anywhere.
  const dataio::Manifest& manifest();

 private:
  std::optional<dataio::Manifest> manifest_;
};

// `path` is a checkpoint folder (holds meta.json) or a run folder (its newest valid
// checkpoint); `data` replaces the recorded data folder when not empty. `weights`: auto (the
// generator's average when the run kept one), ema (insist on it) or raw.
std::unique_ptr<RestoredRun> restore_run(const std::string& path, const std::string& data,
                                         const std::string& weights);

// Generated images [n, C, H, W] in [-1, 1]: rows [first, first + n) of one noise draw of
// `total` from `seed`, so any split of the rows over ranks gives the same images.
torch::Tensor generate(models::Model& model, int64_t total, int64_t first, int64_t n,
                       uint64_t seed);

// [-1, 1] NCHW floats to 0-255 NHWC bytes, the shards' layout.
torch::Tensor to_uint8_nhwc(const torch::Tensor& x);

}  // namespace gan::train
