// The sampler's contract: every image exactly once per epoch across ranks, the same global
// batches whatever the world size, a different order each epoch, reproducible from the seed.
#include "dataio/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/errors.h"

using gan::dataio::DistributedSampler;
using gan::dataio::SamplerOptions;

namespace {

const std::vector<int64_t> kShards{1000, 700, 301};  // uneven, with partial blocks

std::vector<int64_t> global_batch(int world, int64_t step, int64_t batch = 60) {
  std::vector<int64_t> out;
  for (int r = 0; r < world; ++r) {
    DistributedSampler s(kShards, 64, SamplerOptions{7, batch, r, world, 4});
    auto idx = s.indices(step);
    out.insert(out.end(), idx.begin(), idx.end());
  }
  return out;
}

}  // namespace

TEST(Sampler, EveryImageOncePerEpochAcrossRanks) {
  const int world = 3;
  const int64_t batch = 60, total = 2001;
  std::vector<int> seen(total, 0);
  DistributedSampler probe(kShards, 64, SamplerOptions{7, batch, 0, world, 4});
  const int64_t steps = probe.steps_per_epoch();
  EXPECT_EQ(steps, total / batch);
  for (int r = 0; r < world; ++r) {
    DistributedSampler s(kShards, 64, SamplerOptions{7, batch, r, world, 4});
    for (int64_t st = 0; st < steps; ++st)
      for (auto i : s.indices(st)) ++seen[i];
  }
  int64_t once = std::count(seen.begin(), seen.end(), 1);
  int64_t never = std::count(seen.begin(), seen.end(), 0);
  EXPECT_EQ(once, steps * batch);           // no image twice
  EXPECT_EQ(never, total - steps * batch);  // only the dropped remainder is missing
}

TEST(Sampler, GlobalBatchIndependentOfWorldSize) {
  for (int64_t step : {0, 5, 40}) {
    auto one = global_batch(1, step), two = global_batch(2, step), three = global_batch(3, step);
    EXPECT_EQ(one, two) << "step " << step;
    EXPECT_EQ(one, three) << "step " << step;
  }
}

TEST(Sampler, EpochsDifferAndSeedReproduces) {
  DistributedSampler a(kShards, 64, SamplerOptions{7, 60, 0, 1, 4});
  DistributedSampler b(kShards, 64, SamplerOptions{7, 60, 0, 1, 4});
  DistributedSampler c(kShards, 64, SamplerOptions{8, 60, 0, 1, 4});
  const int64_t spe = a.steps_per_epoch();
  EXPECT_EQ(a.indices(3), b.indices(3));
  EXPECT_NE(a.indices(3), c.indices(3));
  EXPECT_NE(a.indices(3), a.indices(3 + spe));  // next epoch, another order
  // Shuffled within windows, not just block order: a batch spans several blocks.
  std::set<int64_t> blocks;
  for (auto i : a.indices(0)) blocks.insert(i / 64);
  EXPECT_GT(blocks.size(), 2u);
}

TEST(Sampler, BatchMustDivideAndFit) {
  EXPECT_THROW(DistributedSampler(kShards, 64, SamplerOptions{0, 61, 0, 2, 4}), gan::UsageError);
  EXPECT_THROW(DistributedSampler(kShards, 64, SamplerOptions{0, 4000, 0, 1, 4}), gan::UsageError);
}

namespace {

SamplerOptions sharded(int rank, int world, int64_t batch = 60, uint64_t seed = 7) {
  SamplerOptions o{seed, batch, rank, world, 4};
  o.sampling = gan::dataio::Sampling::Sharded;
  return o;
}

}  // namespace

// Sharded sampling: every image at most once per epoch across ranks, each rank within its own
// blocks (whole blocks, about 1/N of them), the same step count everywhere, and a fresh deal
// each epoch. Only the drop-last remainder (under one block and one batch per rank) is missing.
TEST(ShardedSampler, EveryImageAtMostOncePerEpochFromTheRanksOwnBlocks) {
  const int64_t total = 2001, block = 64;
  const int64_t blocks_total = (1000 + 63) / 64 + (700 + 63) / 64 + (301 + 63) / 64;
  for (int world : {1, 2, 3, 4}) {
    const int64_t batch = 12 * world;
    DistributedSampler probe(kShards, block, sharded(0, world, batch));
    const int64_t steps = probe.steps_per_epoch();
    EXPECT_GE(steps * batch, total - world * (block + batch)) << world << " ranks";
    for (int64_t epoch : {0, 1}) {
      std::vector<int> seen(total, 0);
      std::vector<std::set<int64_t>> blocks_of(world);
      for (int r = 0; r < world; ++r) {
        DistributedSampler s(kShards, block, sharded(r, world, batch));
        ASSERT_EQ(s.steps_per_epoch(), steps);
        for (int64_t st = epoch * steps; st < (epoch + 1) * steps; ++st)
          for (auto i : s.indices(st)) {
            ++seen[i];
            // Blocks never straddle shards: shard starts 0, 1000, 1700.
            const int64_t start = i < 1000 ? 0 : i < 1700 ? 1000 : 1700;
            blocks_of[r].insert(start * 1000 + (i - start) / block);
          }
      }
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), steps * batch) << world << " ranks";
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 0), total - steps * batch);
      size_t touched = 0;
      for (int r = 0; r < world; ++r) {
        // A rank reads about 1/N of the blocks: its share, give or take one block.
        EXPECT_LE(blocks_of[r].size(), blocks_total / world + 2) << "rank " << r;
        touched += blocks_of[r].size();
        for (int q = 0; q < r; ++q)
          for (auto b : blocks_of[r]) EXPECT_EQ(blocks_of[q].count(b), 0u) << "block shared";
      }
      EXPECT_GE(touched + world, static_cast<size_t>(blocks_total));
    }
  }
}

TEST(ShardedSampler, NewDealEachEpochAndSeedReproduces) {
  DistributedSampler a(kShards, 64, sharded(1, 3)), b(kShards, 64, sharded(1, 3));
  DistributedSampler c(kShards, 64, sharded(1, 3, 60, 8));
  const int64_t spe = a.steps_per_epoch();
  EXPECT_EQ(a.indices(2), b.indices(2));
  EXPECT_NE(a.indices(2), c.indices(2));
  std::set<int64_t> first, second;
  for (int64_t st = 0; st < spe; ++st)
    for (auto i : a.indices(st)) first.insert(i);
  for (int64_t st = spe; st < 2 * spe; ++st)
    for (auto i : a.indices(st)) second.insert(i);
  EXPECT_NE(first, second);  // the rank holds other blocks next epoch
}

TEST(ShardedSampler, NamesItsModesAndRefusesTooFewImages) {
  EXPECT_EQ(*gan::value_of(gan::dataio::kSamplingNames, "sharded"), gan::dataio::Sampling::Sharded);
  EXPECT_EQ(gan::name_of(gan::dataio::kSamplingNames, gan::dataio::Sampling::Invariant),
            "invariant");
  EXPECT_EQ(gan::value_of(gan::dataio::kSamplingNames, "random"), nullptr);
  // Too few images for the ranks once up to a block each may be dropped (200 images, 4 ranks
  // of 16: invariant sampling takes 3 steps, sharded could not promise one on every rank).
  EXPECT_THROW(DistributedSampler({200}, 64, sharded(0, 4, 64)), gan::UsageError);
  EXPECT_EQ(DistributedSampler({200}, 64, SamplerOptions{7, 64, 0, 4, 4}).steps_per_epoch(), 3);
}
