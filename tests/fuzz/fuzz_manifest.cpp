// manifest.json of a shard folder, read the way gan_prep verify and gan_dist read it: load,
// re-hash and read every shard it names; then, when that passed, what the loader does with
// it: the sampler over its counts and a read of every image and label through the block
// reader. The folder holds three real shards written by gan_prep (data/shards: two 4x4x1 with
// one label from Fashion-MNIST pixels, one 4x4x3 with 40 CelebA-style attributes), so a
// manifest that names them with the right checksums gets through to the reads.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/errors.h"
#include "dataio/loader.h"
#include "dataio/manifest.h"
#include "dataio/sampler.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const fs::path dir = fs::path(gan::fuzz::scratch_dir()) / "data";
  fs::create_directories(dir);
  for (const auto& e : fs::directory_iterator(fs::path(GAN_FUZZ_DIR) / "data/shards"))
    fs::copy_file(e.path(), dir / e.path().filename(), fs::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = gan::fuzz::scratch_dir() + "/data";
  gan::fuzz::write_file(dir + "/manifest.json", data, size);
  // DataError (exit 3) and UsageError (exit 2) are the documented answers.
  try {
    const auto m = gan::dataio::Manifest::load(dir);
    if (!gan::dataio::verify_shards(dir, m, /*read_all=*/true).empty()) return 0;
    std::vector<int64_t> counts;
    for (const auto& e : m.shards) counts.push_back(e.count);
    gan::dataio::SamplerOptions so;
    so.global_batch = 2;
    gan::dataio::DistributedSampler sampler(counts, m.chunk_images, so);
    for (int64_t step = 0; step < 2 * sampler.steps_per_epoch(); ++step) sampler.indices(step);
    std::vector<int64_t> labels;
    gan::dataio::read_image_range(dir, m, 0, m.total, &labels);
  } catch (const gan::Error&) {
  }
  return 0;
}
