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
