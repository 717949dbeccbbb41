// gan_prep idx end to end: the same preparation job as gan_prep celeba (tests/dataio_image),
// so it gives the same shards on any number of ranks, resumes from its sidecars, refuses a
// folder made with other arguments, and computes the manifest's statistics from exact sums.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "dataio/idx.h"
#include "tests/e2e/harness.h"

namespace fs = std::filesystem;
using namespace gan::test;

namespace {

const std::string kImages = std::string(GAN_FMNIST_DIR) + "/t10k-images-idx3-ubyte.gz";
const std::string kLabels = std::string(GAN_FMNIST_DIR) + "/t10k-labels-idx1-ubyte.gz";

// By default 10,000 images in shards of 3,000: four shards, the last one short.
std::string idx_args(const std::string& out, int shard_size = 3000) {
  return "idx --shard-size " + std::to_string(shard_size) + " --images " + kImages + " --labels " +
         kLabels + " --out " + out;
}

void flip_byte(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(fs::file_size(path) / 2));
  const char c = static_cast<char>(f.peek());
  f.seekp(static_cast<std::streamoff>(fs::file_size(path) / 2));
  f.put(static_cast<char>(c ^ 0x01));
}

}  // namespace

TEST(PrepIdx, SameShardsOnAnyRanksResumableAndExactStatistics) {
  const auto one = fresh_dir("prep_idx_np1"), two = fresh_dir("prep_idx_np2");
  auto a = run(gan_prep(idx_args(one)));
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run(std::string(GAN_MPIEXEC) + " -np 2 --oversubscribe --bind-to none " +
               gan_prep(idx_args(two)));
  ASSERT_EQ(b.code, 0) << b.output;
  const auto m = read_json(one + "/manifest.json");
  EXPECT_EQ(m, read_json(two + "/manifest.json"));  // shards, hashes and statistics
  ASSERT_EQ(m["shards"].size(), 4u) << m.dump();
  EXPECT_EQ(m["shards"][3]["count"], 1000);
  EXPECT_EQ(m["num_classes"], 10);
  const auto report = read_json(one + "/prep-report.json");
  EXPECT_EQ(report["tool"], "gan_prep idx");
  EXPECT_EQ(report["written"], 10000);
  EXPECT_EQ(report["skipped"], 0);

  // The statistics: the mean and std of every pixel in [0, 1], as computed here in doubles.
  const auto images = gan::dataio::read_idx_images(kImages);
  double sum = 0, sum_sq = 0;
  for (uint8_t v : images.pixels) sum += v / 255.0, sum_sq += (v / 255.0) * (v / 255.0);
  const double n = static_cast<double>(images.pixels.size()), mean = sum / n;
  EXPECT_NEAR(m["mean"][0].get<double>(), mean, 1e-9);
  EXPECT_NEAR(m["std"][0].get<double>(), std::sqrt(sum_sq / n - mean * mean), 1e-9);

  // Resume: a lost shard and a damaged one are made again, the others kept as verified, and
  // the folder ends as it was.
  fs::remove(one + "/shard-00002.h5");
  flip_byte(one + "/shard-00001.h5");
  fs::remove(one + "/manifest.json");
  auto c = run(gan_prep(idx_args(one)));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("shard-00000.h5: kept (verified)"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("shard-00001.h5: 3000 images"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("shard-00002.h5: 3000 images"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("shard-00003.h5: kept (verified)"), std::string::npos) << c.output;
  EXPECT_EQ(read_json(one + "/manifest.json"), m);
  EXPECT_EQ(run(gan_prep("verify " + one)).code, 0);

  // Other arguments over the same folder: refused unless --force.
  auto d = run(gan_prep(idx_args(one, 2000)));
  EXPECT_EQ(d.code, 2) << d.output;
  EXPECT_NE(d.output.find("made with other arguments"), std::string::npos) << d.output;
  auto e = run(gan_prep(idx_args(one, 2000) + " --force"));
  ASSERT_EQ(e.code, 0) << e.output;
  EXPECT_EQ(read_json(one + "/manifest.json")["shards"].size(), 5u);

  // Ranks that read different files (copies that differ between nodes) stop together, exit 4;
  // a file only one rank cannot read stops all of them with its error (exit 3), naming it.
  const auto bad = fresh_dir("prep_idx_bad");
  fs::create_directories(bad);
  std::ofstream(bad + "/garbage-idx3-ubyte") << "not an IDX file";
  const auto per_rank = [&](const std::string& rank1_images) {
    return std::string(GAN_MPIEXEC) + " -np 2 --oversubscribe --bind-to none sh -c 'f=" + kImages +
           "; [ \"$OMPI_COMM_WORLD_RANK\" = 1 ] && f=" + rank1_images + "; exec " + GAN_PREP_BIN +
           " idx --images \"$f\" --out " + bad + "/out'";
  };
  auto f = run(per_rank(std::string(GAN_FMNIST_DIR) + "/train-images-idx3-ubyte.gz"));
  EXPECT_EQ(f.code, 4) << f.output;
  EXPECT_NE(f.output.find("rank 1 read other data than rank 0"), std::string::npos) << f.output;
  auto g = run(per_rank(bad + "/garbage-idx3-ubyte"));
  EXPECT_EQ(g.code, 3) << g.output;
  EXPECT_NE(g.output.find("rank 1: " + bad + "/garbage-idx3-ubyte"), std::string::npos) << g.output;
  EXPECT_FALSE(fs::exists(bad + "/out/manifest.json"));
}
