// A trained run brought back from a checkpoint: the model rebuilt from the config the
// checkpoint records (and the image shape it records, so no data is needed to sample), its
// state restored, the generator's moving average swapped in when asked. gan_eval scores,
// samples and draws from it.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "dataio/manifest.h"
#include "dist/collectives.h"
#include "models/model.h"
#include "train/options.h"

namespace gan::train {

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
