// The feature-network side of gan_eval: metadata parsing, the image conversion against
// PyTorch's own F.interpolate run in Python, .npy files read by numpy's rules, and the cache
// of real-image statistics (stale and damaged files are refused, not used).
#include "eval/feature_net.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "eval/npy.h"
#include "eval/reference_stats.h"

namespace fs = std::filesystem;
using namespace gan;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/gan_eval_test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no UsageError)";
}

bool python_has_torch() {
  return std::system(GAN_TEST_PYTHON " -c 'import torch, numpy' > /dev/null 2>&1") == 0;
}

}  // namespace

TEST(FeatureSpec, ParsesRangeAndMeanStd) {
  auto s = eval::parse_input_spec(
      R"({"input_size": [299, 280], "channels": 3, "input_range": [0, 255], "feature_dim": 2048,
          "name": "x"})",
      "net.pt");
  EXPECT_EQ(s.height, 299);
  EXPECT_EQ(s.width, 280);
  EXPECT_EQ(s.feature_dim, 2048);
  EXPECT_EQ(s.resize, "bilinear");
  EXPECT_EQ(s.name, "x");
  // -1 -> 0 and 1 -> 255
  EXPECT_DOUBLE_EQ(-1 * s.scale[0] + s.shift[0], 0);
  EXPECT_DOUBLE_EQ(1 * s.scale[2] + s.shift[2], 255);
  auto t = eval::parse_input_spec(
      R"({"input_size": [8, 8], "channels": 3, "mean": [0.5, 0.25, 0], "std": [0.5, 0.25, 2],
          "feature_dim": 4, "resize": "none"})",
      "net.pt");
  // x = 0 is 0.5 in [0, 1]: (0.5 - mean) / std per channel
  EXPECT_DOUBLE_EQ(t.shift[0], 0.0);
  EXPECT_DOUBLE_EQ(t.shift[1], 1.0);
  EXPECT_DOUBLE_EQ(t.shift[2], 0.25);
  EXPECT_DOUBLE_EQ(t.scale[1], 2.0);
}

TEST(FeatureSpec, InvalidMetadataIsAUsageErrorNamingFileAndField) {
  const std::string base = R"("input_size": [8, 8], "channels": 3, "feature_dim": 4)";
  struct Case {
    std::string json, field;
  };
  for (const Case& c : std::vector<Case>{
           {"[1, 2]", "not a JSON object"},
           {"{" + base + "}", "input_range"},
           {"{" + base + R"(, "input_range": [1, -1]})", "lo < hi"},
           {"{" + base + R"(, "input_range": [0, 1], "mean": [0.5], "std": [1]})", "either"},
           {"{" + base + R"(, "mean": [0.5, 0.5], "std": [1]})", "\"mean\""},
           {"{" + base + R"(, "mean": [0.5], "std": [0]})", "\"std\""},
           {R"({"input_size": [8], "channels": 3, "feature_dim": 4, "input_range": [0, 1]})",
            "input_size"},
           {R"({"input_size": [8, 8], "channels": 2, "feature_dim": 4, "input_range": [0, 1]})",
            "channels"},
           {R"({"input_size": [8, 8], "channels": 3, "input_range": [0, 1]})", "feature_dim"},
           {"{" + base + R"(, "input_range": [0, 1], "resize": "bicubic"})", "resize"},
           {"{" + base + R"(, "input_range": "wide"})", "input_range"},
           {"{not json", "invalid"}}) {
    std::string msg = message_of([&] { eval::parse_input_spec(c.json, "/x/net.pt"); });
    EXPECT_NE(msg.find("/x/net.pt: gan_features.json"), std::string::npos) << c.json << ": " << msg;
    EXPECT_NE(msg.find(c.field), std::string::npos) << c.json << ": " << msg;
  }
}

TEST(FeatureSpec, ConversionEqualsPythonInterpolate) {
  if (!python_has_torch()) GTEST_SKIP() << GAN_TEST_PYTHON " has no torch/numpy";
  TempDir d;
  torch::manual_seed(5);
  struct Case {
    int64_t channels, h, w;
    std::string meta, args;
  };
  const std::vector<Case> cases{
      {3, 299, 299, R"("input_range": [-1, 1])", "range -1 1"},
      {1, 299, 299, R"("input_range": [0, 255])", "range 0 255"},
      {3, 64, 40, R"("mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225])",
       "meanstd 0.485 0.456 0.406 0.229 0.224 0.225"},
      {1, 17, 17, R"("input_range": [0, 1])", "range 0 1"}};  // downsampling
  for (const auto& c : cases) {
    auto spec = eval::parse_input_spec(R"({"input_size": [)" + std::to_string(c.h) + ", " +
                                           std::to_string(c.w) + R"(], "channels": 3, )" + c.meta +
                                           R"(, "feature_dim": 1})",
                                       "net.pt");
    auto images = torch::rand({1, c.channels, 28, 28}) * 2 - 1;
    eval::write_npy(d / "in.npy", images);
    const std::string cmd = std::string(GAN_TEST_PYTHON) + " " + GAN_EVAL_TEST_DIR +
                            "/interpolate_reference.py " + d / "in.npy" + " " + d / "out.npy" +
                            " " + std::to_string(c.h) + " " + std::to_string(c.w) + " " + c.args;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto expected = eval::read_npy(d / "out.npy");
    auto got = eval::prepare_input(images, spec);
    ASSERT_EQ(got.sizes(), expected.sizes()) << c.args;
    const double scale = expected.abs().max().item<double>();
    // Float32 rounding only: the reference is Debian's PyTorch 1.13, and the CUDA flavour's
    // LibTorch 2.x bilinear kernel rounds differently (measured up to 2.4e-6 of the range, a
    // few ulp); a wrong convention is off by more than 1e-3 of it (below).
    EXPECT_LT((got - expected).abs().max().item<double>(), 2e-5 * scale) << c.args;
    // Not trivially equal: align_corners = true would give other values.
    auto corners = torch::nn::functional::interpolate(
        c.channels == 1 ? images.expand({-1, 3, -1, -1}).contiguous() : images,
        torch::nn::functional::InterpolateFuncOptions()
            .size(std::vector<int64_t>{c.h, c.w})
            .mode(torch::kBilinear)
            .align_corners(true));
    auto mapped = corners * torch::tensor(spec.scale).to(torch::kFloat).view({1, 3, 1, 1}) +
                  torch::tensor(spec.shift).to(torch::kFloat).view({1, 3, 1, 1});
    EXPECT_GT((mapped - expected).abs().max().item<double>(), 1e-3 * scale) << c.args;
  }
}

TEST(FeatureSpec, RefusesWhatItCannotConvert) {
  auto gray = eval::parse_input_spec(
      R"({"input_size": [8, 8], "channels": 1, "input_range": [-1, 1], "feature_dim": 1})", "n");
  EXPECT_THROW(eval::prepare_input(torch::zeros({1, 3, 8, 8}), gray), UsageError);
  auto fixed = eval::parse_input_spec(
      R"({"input_size": [8, 8], "channels": 3, "input_range": [-1, 1], "feature_dim": 1,
          "resize": "none"})",
      "n");
  EXPECT_THROW(eval::prepare_input(torch::zeros({1, 3, 9, 8}), fixed), UsageError);
  EXPECT_EQ(eval::prepare_input(torch::zeros({2, 1, 8, 8}), fixed).sizes(),
            torch::IntArrayRef({2, 3, 8, 8}));
}

TEST(Npy, RoundTripAndNumpyReadsIt) {
  TempDir d;
  auto a = torch::randn({5, 3});
  auto b = torch::arange(7, torch::kLong);
  auto c = torch::randn({2, 2}, torch::kDouble);
  eval::write_npy(d / "a.npy", a);
  eval::write_npy(d / "b.npy", b);
  eval::write_npy(d / "c.npy", c);
  EXPECT_TRUE(torch::equal(eval::read_npy(d / "a.npy"), a));
  EXPECT_TRUE(torch::equal(eval::read_npy(d / "b.npy"), b));
  EXPECT_TRUE(torch::equal(eval::read_npy(d / "c.npy"), c));
  std::ofstream(d / "bad.npy") << "not npy";
  EXPECT_THROW(eval::read_npy(d / "bad.npy"), DataError);
  if (!python_has_torch()) GTEST_SKIP() << "numpy not available";
  // numpy's own reader: the values and shapes written above.
  const std::string cmd =
      std::string(GAN_TEST_PYTHON) + " -c \"import numpy as np, sys; d=sys.argv[1]; " +
      "a=np.load(d+'/a.npy'); b=np.load(d+'/b.npy'); " +
      "assert a.shape==(5,3) and a.dtype==np.float32 and b.tolist()==list(range(7)), (a, b); " +
      "assert abs(float(a[4,2]) - " + std::to_string(a[4][2].item<double>()) + ") < 1e-5\" " +
      d.path.string();
  EXPECT_EQ(std::system(cmd.c_str()), 0);
}

TEST(ReferenceStats, CachedStatsAreCheckedBeforeUse) {
  TempDir d;
  torch::manual_seed(6);
  auto features = torch::randn({40, 6});
  eval::ReferenceStats stats{features, eval::fit_gaussian(features)};
  eval::ReferenceKey key{std::string(64, 'a'), std::string(64, 'b'), 40};
  const std::string path = eval::reference_cache_path(d.path.string(), key);
  EXPECT_EQ(fs::path(path).filename(), "aaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-n40.pt");
  std::string why;
  EXPECT_FALSE(eval::load_reference_stats(path, key, &why));
  EXPECT_EQ(why, "no cache file");

  eval::save_reference_stats(path, key, stats);
  auto back = eval::load_reference_stats(path, key, &why);
  ASSERT_TRUE(back) << why;
  EXPECT_TRUE(torch::equal(back->features, features));
  EXPECT_TRUE(torch::equal(back->gaussian.mean, stats.gaussian.mean));
  EXPECT_TRUE(torch::equal(back->gaussian.cov, stats.gaussian.cov));

  // Another network, other data or another count: not this cache, even under this name.
  for (auto other : {eval::ReferenceKey{std::string(64, 'c'), key.data_id, 40},
                     eval::ReferenceKey{key.feature_id, std::string(64, 'c'), 40},
                     eval::ReferenceKey{key.feature_id, key.data_id, 41}}) {
    EXPECT_FALSE(eval::load_reference_stats(path, other, &why));
    EXPECT_NE(why.find("another"), std::string::npos) << why;
  }

  // Every damaged copy is refused: a byte flipped anywhere in the file, or the file cut.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int refused = 0, tried = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += std::max<size_t>(1, bytes.size() / 97)) {
    std::string damaged = bytes;
    damaged[pos] = static_cast<char>(damaged[pos] ^ 0x5a);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
    auto s = eval::load_reference_stats(path, key, &why);
    ++tried;
    // A flip in bytes no reader looks at (zip padding, unused headers) leaves the contents
    // intact: then they must be exactly the original.
    if (!s)
      ++refused;
    else
      EXPECT_TRUE(torch::equal(s->features, features)) << "flip at " << pos;
  }
  EXPECT_GT(refused, tried / 2);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(eval::load_reference_stats(path, key, &why));
  EXPECT_NE(why.find("unreadable"), std::string::npos) << why;
}
