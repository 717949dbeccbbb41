#include "dataio/sampler.h"

#include <algorithm>

#include "core/errors.h"

namespace gan::dataio {

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {

template <typename T>
void shuffle(std::vector<T>& v, uint64_t seed) {
  uint64_t state = seed;
  for (size_t i = v.size(); i > 1; --i) {
    state = mix64(state);
    size_t j = static_cast<size_t>(state % i);
    std::swap(v[i - 1], v[j]);
  }
}

}  // namespace

DistributedSampler::DistributedSampler(const std::vector<int64_t>& shard_counts,
                                       int64_t block_images, SamplerOptions opts)
    : opts_(opts) {
  if (block_images <= 0) throw DataError("block size must be positive");
  for (int64_t count : shard_counts) {
    for (int64_t s = 0; s < count; s += block_images)
      blocks_.push_back({total_ + s, std::min(block_images, count - s)});
    total_ += count;
  }
  if (opts_.global_batch % opts_.world_size != 0)
    throw UsageError("--batch-size " + std::to_string(opts_.global_batch) +
                     " does not divide over " + std::to_string(opts_.world_size) + " ranks");
  if (opts_.sampling == Sampling::Invariant) {
    steps_per_epoch_ = total_ / opts_.global_batch;
  } else {
    // Dealing each block to the rank with the fewest images keeps the ranks within one block
    // of each other, so the least-loaded rank holds at least (total - (N-1) * block) / N
    // images in every epoch: a step count that is the same for all ranks and all epochs.
    int64_t largest = 0;
    for (const auto& b : blocks_) largest = std::max(largest, b.count);
    const int64_t least = (total_ - (opts_.world_size - 1) * largest) / opts_.world_size;
    steps_per_epoch_ = std::max<int64_t>(least, 0) / local_batch();
  }
  if (steps_per_epoch_ == 0)
    throw UsageError("--batch-size " + std::to_string(opts_.global_batch) +
                     " is larger than the dataset (" + std::to_string(total_) + " images" +
                     (opts_.sampling == Sampling::Sharded
                          ? ", less up to one block of " + std::to_string(block_images) +
                                " per rank with --sampling sharded)"
                          : ")"));
}

void DistributedSampler::prepare_epoch(int64_t epoch) {
  if (epoch == epoch_) return;
  epoch_ = epoch;
  window_ = -1;
  block_order_.resize(blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) block_order_[i] = i;
  shuffle(block_order_, mix64(opts_.seed ^ mix64(static_cast<uint64_t>(epoch) + 1)));
  if (opts_.sampling == Sampling::Sharded) {
    // Deal the shuffled blocks: each goes to the rank holding the fewest images (the lowest
    // rank on a tie); every rank computes the same deal and keeps its own hand, in order.
    std::vector<int64_t> held(static_cast<size_t>(opts_.world_size), 0);
    std::vector<size_t> mine;
    for (size_t b : block_order_) {
      const auto to = std::min_element(held.begin(), held.end()) - held.begin();
      held[static_cast<size_t>(to)] += blocks_[b].count;
      if (to == opts_.rank) mine.push_back(b);
    }
    block_order_ = std::move(mine);
  }
  window_start_.clear();
  int64_t pos = 0;
  for (size_t b = 0; b < block_order_.size(); ++b) {
    if (b % opts_.window_blocks == 0) window_start_.push_back(pos);
    pos += blocks_[block_order_[b]].count;
  }
  window_start_.push_back(pos);
}

void DistributedSampler::prepare_window(int64_t window) {
  if (window == window_) return;
  window_ = window;
  window_images_.clear();
  size_t first = static_cast<size_t>(window * opts_.window_blocks);
  size_t last = std::min(block_order_.size(), first + static_cast<size_t>(opts_.window_blocks));
  for (size_t b = first; b < last; ++b) {
    const auto& blk = blocks_[block_order_[b]];
    for (int64_t i = 0; i < blk.count; ++i) window_images_.push_back(blk.first + i);
  }
  shuffle(window_images_, mix64(mix64(opts_.seed + 0x51ed) ^ mix64(epoch_ * 1000003 + window)));
}

int64_t DistributedSampler::image_at(int64_t epoch, int64_t pos) {
  prepare_epoch(epoch);
  auto it = std::upper_bound(window_start_.begin(), window_start_.end(), pos);
  int64_t window = static_cast<int64_t>(it - window_start_.begin()) - 1;
  prepare_window(window);
  return window_images_[static_cast<size_t>(pos - window_start_[window])];
}

std::vector<int64_t> DistributedSampler::indices(int64_t step) {
  const int64_t epoch = step / steps_per_epoch_;
  const int64_t b = local_batch();
  const int64_t base = opts_.sampling == Sampling::Invariant
                           ? (step % steps_per_epoch_) * opts_.global_batch + opts_.rank * b
                           : (step % steps_per_epoch_) * b;
  std::vector<int64_t> out(b);
  for (int64_t j = 0; j < b; ++j) out[j] = image_at(epoch, base + j);
  return out;
}

}  // namespace gan::dataio
