// The order in which a run sees its images: epoch-seeded shuffle of blocks (contiguous runs
// of images, so reads stay sequential), then of images within windows of blocks. The order
// depends only on seed, epoch and dataset, never on the world size: global batch s is the
// same images whether one rank or eight take it, and each rank takes its contiguous share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gan::dataio {

struct SamplerOptions {
  uint64_t seed = 0;
  int64_t global_batch = 64;
  int rank = 0;
  int world_size = 1;
  int64_t window_blocks = 16;  // images are shuffled among this many blocks
};

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
  // The image at position `pos` of epoch `epoch`'s order.
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
  std::vector<size_t> block_order_;
  std::vector<int64_t> window_start_;  // position where each window begins
  std::vector<int64_t> window_images_;
};

// Deterministic 64-bit mixing (splitmix64): the same stream on every platform and library,
// which std::shuffle does not promise.
uint64_t mix64(uint64_t x);

}  // namespace gan::dataio
