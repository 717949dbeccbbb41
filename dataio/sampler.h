// The order in which a run sees its images: epoch-seeded shuffle of blocks (contiguous runs
// of images, so reads stay sequential), then of images within windows of blocks.
//
// Two ways to share an epoch among ranks, each image at most once per epoch in both:
//   Invariant (default)  one order for the whole run, independent of the world size: global
//                        batch s is the same images whether one rank or eight take it, each
//                        rank taking its contiguous share. Every rank touches nearly every
//                        block of a window, so each rank reads about the whole dataset per
//                        epoch (shared per node through the page cache).
//   Sharded              the epoch's shuffled blocks are dealt to the ranks (each to the rank
//                        holding the fewest images so far), and each rank walks its own blocks
//                        in windows: a rank reads about 1/N of the data, for datasets larger
//                        than a node's memory. Gives up world-size invariance (np=N no longer
//                        equals np=1 bit for bit) and drops up to about one block per rank
//                        per epoch, so that every rank takes the same number of steps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/names.h"

namespace gan::dataio {

enum class Sampling { Invariant, Sharded };

struct SamplerOptions {
  uint64_t seed = 0;
  int64_t global_batch = 64;
  int rank = 0;
  int world_size = 1;
  int64_t window_blocks = 16;  // images are shuffled among this many blocks
  Sampling sampling = Sampling::Invariant;
};

inline const Names<Sampling> kSamplingNames{{"invariant", Sampling::Invariant},
                                            {"sharded", Sampling::Sharded}};

class DistributedSampler {
 public:
  // `shard_counts`: images per shard; blocks never straddle shards.
  DistributedSampler(const std::vector<int64_t>& shard_counts, int64_t block_images,
                     SamplerOptions opts);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t local_batch() const { return opts_.global_batch / opts_.world_size; }
  int64_t epoch_of(int64_t step) const { return step / steps_per_epoch_; }
  // Global image indices (concatenation order of the shards) this rank reads at `step`.
  std::vector<int64_t> indices(int64_t step);
  // The image at position `pos` of epoch `epoch`'s order as this rank walks it (the whole
  // dataset's order when invariant, this rank's blocks when sharded).
  int64_t image_at(int64_t epoch, int64_t pos);

 private:
  struct Block {
    int64_t first, count;
  };
  void prepare_epoch(int64_t epoch);
  void prepare_window(int64_t window);

  SamplerOptions opts_;
  std::vector<Block> blocks_;
  int64_t total_ = 0;
  int64_t steps_per_epoch_ = 0;
  int64_t epoch_ = -1, window_ = -1;
  std::vector<size_t> block_order_;    // the blocks this rank walks this epoch, in order
  std::vector<int64_t> window_start_;  // position where each window begins
  std::vector<int64_t> window_images_;
};

// Deterministic 64-bit mixing (splitmix64): the same stream on every platform and library,
// which std::shuffle does not promise.
uint64_t mix64(uint64_t x);

}  // namespace gan::dataio
