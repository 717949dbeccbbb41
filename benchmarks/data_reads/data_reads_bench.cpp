// Bytes each rank reads from the shards in one epoch, by sampling mode and world size: runs
// the real dataio::Loader of every rank of an N-rank job in this one process (dataio knows
// ranks only as numbers), one rank after the other, and counts the loader's block reads.
// Also the distinct bytes all N ranks touch together (one node: what the page cache holds),
// from the same sampler the loader follows. CSV on stdout; benchmarks/data_reads/run.py plots.
//   bench_data_reads DIR BATCH RANKS...
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "dataio/loader.h"
#include "dataio/manifest.h"

using namespace gan::dataio;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_data_reads DIR BATCH RANKS...\n");
    return 2;
  }
  torch::set_num_threads(1);
  const std::string dir = argv[1];
  const int64_t batch = std::stoll(argv[2]);
  const Manifest m = Manifest::load(dir);
  std::vector<int64_t> counts, starts;
  for (const auto& s : m.shards) {
    starts.push_back(starts.empty() ? 0 : starts.back() + counts.back());
    counts.push_back(s.count);
  }
  const double per_image = static_cast<double>(m.shape.bytes() + 8 * m.label_dims);
  const double dataset_mb = per_image * static_cast<double>(m.total) / 1e6;
  std::printf("sampling,ranks,rank,steps,images,read_mb,dataset_mb,node_distinct_mb\n");
  for (Sampling mode : {Sampling::Invariant, Sampling::Sharded}) {
    for (int i = 3; i < argc; ++i) {
      const int world = std::stoi(argv[i]);
      std::set<std::pair<size_t, int64_t>> node_blocks;  // (shard, block) any rank touched
      std::vector<std::string> rows;
      for (int r = 0; r < world; ++r) {
        LoaderOptions lo;
        lo.sampler = SamplerOptions{1, batch, r, world};
        lo.sampler.sampling = mode;
        DistributedSampler sampler(counts, m.chunk_images, lo.sampler);
        lo.end_step = sampler.steps_per_epoch();
        Loader loader(dir, m, lo);
        for (int64_t step = 0; step < lo.end_step; ++step) {
          loader.next();
          for (int64_t g : sampler.indices(step)) {
            size_t s = std::upper_bound(starts.begin(), starts.end(), g) - starts.begin() - 1;
            node_blocks.insert({s, (g - starts[s]) / m.chunk_images});
          }
        }
        char row[160];
        std::snprintf(row, sizeof row, "%s,%d,%d,%lld,%lld,%.3f,%.3f,",
                      gan::name_of(kSamplingNames, mode).c_str(), world, r,
                      static_cast<long long>(lo.end_step),
                      static_cast<long long>(lo.end_step * batch / world),
                      static_cast<double>(loader.bytes_read()) / 1e6, dataset_mb);
        rows.push_back(row);
      }
      double distinct = 0;
      for (const auto& [s, b] : node_blocks)
        distinct += per_image *
                    static_cast<double>(std::min(m.chunk_images, counts[s] - b * m.chunk_images));
      for (const auto& row : rows) std::printf("%s%.3f\n", row.c_str(), distinct / 1e6);
      std::fflush(stdout);
    }
  }
  return 0;
}
