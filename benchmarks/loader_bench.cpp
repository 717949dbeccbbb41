// Loader throughput and memory: streams one epoch of 64x64x3 shards through dataio::Loader
// (block reads, window shuffle, float conversion on the background thread) and reports
// images/s and the process's peak RSS, for a dataset and one ten times larger.
//   bench_loader DIR IMAGES [BATCH]   (DIR is created with synthetic shards when missing)
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "dataio/loader.h"
#include "dataio/manifest.h"

namespace fs = std::filesystem;
using namespace gan::dataio;

namespace {

long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::string(key).size()));
  return -1;
}

void make_shards(const std::string& dir, int64_t n) {
  ShardSetWriter w(dir, {64, 64, 3}, 1, 20000, 64, Recipe{"synthetic", {}, "none"});
  std::vector<uint8_t> img(64 * 64 * 3);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < img.size(); ++k) img[k] = static_cast<uint8_t>((i * 31 + k * 7) & 255);
    int64_t label = i % 10;
    w.add(img.data(), &label);
  }
  w.finish(10);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_loader DIR IMAGES [BATCH]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t n = std::stoll(argv[2]);
  const int64_t batch = argc > 3 ? std::stoll(argv[3]) : 256;
  torch::set_num_threads(1);
  if (!fs::exists(fs::path(dir) / "manifest.json")) make_shards(dir, n);
  Manifest m = Manifest::load(dir);
  LoaderOptions lo;
  lo.sampler = SamplerOptions{1, batch, 0, 1};
  long rss_before = status_kb("VmRSS:");
  std::vector<int64_t> counts;
  for (const auto& s : m.shards) counts.push_back(s.count);
  const int64_t steps = DistributedSampler(counts, m.chunk_images, lo.sampler).steps_per_epoch();
  lo.end_step = steps;
  auto t0 = std::chrono::steady_clock::now();
  double checksum = 0;
  {
    Loader loader(dir, m, lo);
    for (int64_t s = 0; s < steps; ++s) checksum += loader.next().images[0][0][0][0].item<float>();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "{\"images\": %lld, \"batch\": %lld, \"seconds\": %.3f, \"images_per_s\": %.0f, "
      "\"rss_before_mb\": %.1f, \"peak_rss_mb\": %.1f, \"checksum\": %.3f}\n",
      static_cast<long long>(steps * batch), static_cast<long long>(batch), secs,
      steps * batch / secs, rss_before / 1024.0, status_kb("VmHWM:") / 1024.0, checksum);
  return 0;
}
