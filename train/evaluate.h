// What gan_eval does with a trained run, as library calls: score a checkpoint (FD, KID,
// precision/recall over all ranks), write generated images as a shard, draw its pictures.
// They live in train/, not eval/, because they rebuild the model from a checkpoint
// (train/restore.h); eval/ holds the feature networks and metrics they compose.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/world.h"
#include "eval/kid.h"

namespace gan::train {

// `gan_eval --checkpoint`: what it computes and where it writes it.
struct ScoreOptions {
  std::string checkpoint;        // checkpoint folder, or a run folder (its newest checkpoint)
  std::string data;              // real images (default: the run's --data)
  std::string classifier;        // feature network: the project classifier (default: the run's)
  std::string features;          // or a TorchScript feature network with gan_features.json
  std::string out_json;          // default: CHECKPOINT/eval.json
  std::string dump_features;     // also write the features as DIR/fake.npy and DIR/real.npy
  std::string weights = "auto";  // auto | ema | raw (train/restore.h)
  int64_t n = 10000, k = 3;
  uint64_t seed = 1234;
  eval::KidOptions kid;
  bool cache = true;  // read and write DATA/feature-stats
};

// Every rank computes its share of the features; rank 0 returns the scores (also written to
// the JSON file), the other ranks an empty object.
nlohmann::json score_checkpoint(dist::World& world, const ScoreOptions& o);

// `n` generated images as one HDF5 shard at `out`.
void write_samples(const std::string& checkpoint, const std::string& data,
                   const std::string& weights, int64_t n, uint64_t seed, const std::string& out);

// A sample grid, the model's own pictures (models::Model::pictures) and, for the models that
// reconstruct, real/reconstruction row pairs, as PNGs in `out_dir`; returns their paths.
std::vector<std::string> draw_pictures(const std::string& checkpoint, const std::string& data,
                                       const std::string& weights, uint64_t seed,
                                       const std::string& out_dir);

}  // namespace gan::train
