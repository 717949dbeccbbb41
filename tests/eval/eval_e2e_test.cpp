// gan_eval with a TorchScript feature network, end to end: a stand-in network exported by
// scripts/export-fid-inception.py scores a trained checkpoint (FD and KID with its standard
// error), the real images' statistics are cached next to the data and reused (identical
// numbers), a damaged cache is recomputed, numpy agrees with FD and KID on the dumped
// features, two ranks give the single-process result, and broken networks exit 2 naming
// the file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/sha256.h"
#include "tests/e2e/harness.h"

namespace fs = std::filesystem;
using namespace gan::test;

namespace {

const std::string kEval = GAN_EVAL_BIN;
std::string stand_in() { return std::string(GAN_TESTDATA) + "/stand-in-features.pt"; }
std::string checkpoint() { return GAN_EVAL_CHECKPOINT; }

// A private copy of the Fashion-MNIST test shards (manifest and shards only, no cache other
// tests may have left there): the cache is written into the data folder.
std::string copy_of_data(const std::string& dir) {
  const std::string data = dir + "/data";
  fs::create_directories(data);
  for (const auto& e : fs::directory_iterator(testdata()))
    if (e.is_regular_file()) fs::copy(e.path(), fs::path(data) / e.path().filename());
  return data;
}

struct Scored {
  Result result;
  nlohmann::json json;
};

Scored score(const std::string& data, const std::string& out_json, const std::string& extra,
             int np = 1) {
  const std::string prefix = np == 1 ? kEval
                                     : std::string(GAN_MPIEXEC) + " -np " + std::to_string(np) +
                                           " --oversubscribe --bind-to none " + kEval;
  Scored s;
  s.result = run(prefix + " --checkpoint " + checkpoint() + " --data " + data + " --out " +
                 out_json + " " + extra);
  if (s.result.code == 0) s.json = read_json(out_json);
  return s;
}

struct FileId {
  ino_t inode = 0;
  struct timespec mtime {};
};
FileId file_id(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return {st.st_ino, st.st_mtim};
}

void flip_byte(const std::string& path, double where) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(0, std::ios::end);
  const auto pos = static_cast<std::streamoff>(double(f.tellg()) * where);
  f.seekg(pos);
  char c = 0;
  f.get(c);
  f.seekp(pos);
  f.put(static_cast<char>(c ^ 0x21));
}

const char* const kArgs = " --n 600 --kid-subset-size 200";

}  // namespace

TEST(EvalFeatures, TorchScriptNetworkScoresAndCachesTheRealStatistics) {
  const std::string dir = fresh_dir("eval_features_cache");
  const std::string data = copy_of_data(dir);
  const std::string net = " --features " + stand_in();

  auto first = score(data, dir + "/e1.json", net + kArgs);
  ASSERT_EQ(first.result.code, 0) << first.result.output;
  const auto& j = first.json;
  EXPECT_EQ(j["features"]["kind"], "torchscript");
  EXPECT_EQ(j["features"]["sha256"], gan::sha256_file(stand_in()));
  EXPECT_EQ(j["features"]["dim"], 64);
  EXPECT_GT(j["fd"].get<double>(), 0);
  EXPECT_GT(j["kid"].get<double>(), 0);
  EXPECT_GT(j["kid_std_error"].get<double>(), 0);
  EXPECT_LT(j["kid_std_error"].get<double>(), j["kid"].get<double>());
  EXPECT_EQ(j["kid_subsets"], 100);
  EXPECT_EQ(j["kid_subset_size"], 200);
  EXPECT_EQ(j["reference"]["from_cache"], false);
  const std::string cache = j["reference"]["cache"];
  EXPECT_EQ(fs::path(cache).parent_path(), fs::path(data) / "feature-stats");
  EXPECT_NE(cache.find("-n600.pt"), std::string::npos);
  ASSERT_TRUE(fs::exists(cache));
  const FileId written = file_id(cache);

  // Second run: read from the cache (said so), not rewritten, the same numbers exactly.
  auto second = score(data, dir + "/e2.json", net + kArgs);
  ASSERT_EQ(second.result.code, 0) << second.result.output;
  EXPECT_NE(second.result.output.find("cached in " + cache), std::string::npos)
      << second.result.output;
  EXPECT_EQ(second.json["reference"]["from_cache"], true);
  const FileId reused = file_id(cache);
  EXPECT_EQ(reused.inode, written.inode);
  EXPECT_EQ(reused.mtime.tv_nsec, written.mtime.tv_nsec);
  for (const char* key : {"fd", "kid", "kid_std_error", "precision", "recall"})
    EXPECT_EQ(second.json[key], j[key]) << key;

  // A damaged cache (a byte flipped in the tensor data near the end) is recomputed, named,
  // and replaced by a good one.
  flip_byte(cache, 0.6);
  auto third = score(data, dir + "/e3.json", net + kArgs);
  ASSERT_EQ(third.result.code, 0) << third.result.output;
  EXPECT_NE(third.result.output.find("computing (" + cache), std::string::npos)
      << third.result.output;
  EXPECT_EQ(third.json["reference"]["from_cache"], false);
  for (const char* key : {"fd", "kid", "kid_std_error"}) EXPECT_EQ(third.json[key], j[key]) << key;
  EXPECT_NE(file_id(cache).inode, written.inode);  // rewritten (temporary renamed over it)
  auto fourth = score(data, dir + "/e4.json", net + kArgs);
  ASSERT_EQ(fourth.result.code, 0) << fourth.result.output;
  EXPECT_EQ(fourth.json["reference"]["from_cache"], true);

  // Another image count is another cache file; --no-cache neither reads nor writes.
  auto other_n = score(data, dir + "/e5.json", net + " --n 500 --no-cache");
  ASSERT_EQ(other_n.result.code, 0) << other_n.result.output;
  EXPECT_TRUE(other_n.json["reference"]["cache"].is_null());
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(cache).parent_path()),
                          fs::directory_iterator{}),
            1);
}

TEST(EvalFeatures, DataFolderThatCannotTakeTheCacheStillScores) {
  const std::string dir = fresh_dir("eval_features_unwritable");
  const std::string data = copy_of_data(dir);
  // feature-stats is a file, so the folder cannot be made (root ignores permission bits).
  std::ofstream(data + "/feature-stats") << "in the way\n";
  auto s = score(data, dir + "/e.json", " --features " + stand_in() + kArgs);
  ASSERT_EQ(s.result.code, 0) << s.result.output;
  EXPECT_NE(s.result.output.find("reference features not cached"), std::string::npos)
      << s.result.output;
  EXPECT_TRUE(s.json["reference"]["cache"].is_null());
  EXPECT_GT(s.json["fd"].get<double>(), 0);
}

TEST(EvalFeatures, NumpyAgreesOnFdAndKid) {
  const std::string dir = fresh_dir("eval_features_numpy");
  const std::string data = copy_of_data(dir);
  // Whole sets as the only subset (m = n): KID is exactly the unbiased MMD^2 of both sets.
  auto exact = score(data, dir + "/exact.json",
                     " --features " + stand_in() + " --n 400 --kid-subset-size 400" +
                         " --dump-features " + dir + "/exact");
  ASSERT_EQ(exact.result.code, 0) << exact.result.output;
  auto check = run(std::string(GAN_TEST_PYTHON) + " " + GAN_EVAL_TEST_DIR + "/check_fd_kid.py " +
                   dir + "/exact " + dir + "/exact.json exact");
  EXPECT_EQ(check.code, 0) << check.output;
  // Subsets of 100 of 400: numpy's own subsets agree within the standard errors.
  auto sub = score(data, dir + "/sub.json",
                   " --features " + stand_in() + " --n 400 --kid-subset-size 100" +
                       " --dump-features " + dir + "/sub");
  ASSERT_EQ(sub.result.code, 0) << sub.result.output;
  check = run(std::string(GAN_TEST_PYTHON) + " " + GAN_EVAL_TEST_DIR + "/check_fd_kid.py " + dir +
              "/sub " + dir + "/sub.json subsets");
  EXPECT_EQ(check.code, 0) << check.output;
  // The project classifier is a feature network too: same outputs, its own dimension.
  auto cls = score(data, dir + "/cls.json",
                   " --classifier " + std::string(GAN_TESTDATA) + "/classifier.pt --n 400" +
                       " --kid-subset-size 400 --dump-features " + dir + "/cls");
  ASSERT_EQ(cls.result.code, 0) << cls.result.output;
  EXPECT_EQ(cls.json["features"]["kind"], "classifier");
  EXPECT_EQ(cls.json["features"]["dim"], 128);
  check = run(std::string(GAN_TEST_PYTHON) + " " + GAN_EVAL_TEST_DIR + "/check_fd_kid.py " + dir +
              "/cls " + dir + "/cls.json exact");
  EXPECT_EQ(check.code, 0) << check.output;
}

TEST(EvalFeatures, TwoRanksGiveTheSingleProcessResult) {
  const std::string dir = fresh_dir("eval_features_np2");
  const std::string data = copy_of_data(dir);
  const std::string args = " --features " + stand_in() + " --n 501" + " --kid-subset-size 200";
  auto one = score(data, dir + "/np1.json", args + " --no-cache");
  ASSERT_EQ(one.result.code, 0) << one.result.output;
  // Two ranks compute the real features (each its share) and rank 0 writes the cache.
  auto two = score(data, dir + "/np2.json", args, 2);
  ASSERT_EQ(two.result.code, 0) << two.result.output;
  EXPECT_EQ(two.json["ranks"], 2);
  EXPECT_EQ(two.json["reference"]["from_cache"], false);
  for (const char* key : {"fd", "kid"})
    EXPECT_NEAR(two.json[key].get<double>(), one.json[key].get<double>(),
                1e-6 * std::abs(one.json[key].get<double>()))
        << key;
  EXPECT_EQ(two.json["generated"], 501);
  // and two ranks read it back.
  auto again = score(data, dir + "/np2b.json", args, 2);
  ASSERT_EQ(again.result.code, 0) << again.result.output;
  EXPECT_EQ(again.json["reference"]["from_cache"], true);
  EXPECT_EQ(again.json["kid"], two.json["kid"]);
}

TEST(EvalFeatures, BrokenNetworksExit2NamingTheFile) {
  const std::string dir = fresh_dir("eval_features_bad");
  auto made =
      run(std::string(GAN_TEST_PYTHON) + " " + GAN_EVAL_TEST_DIR + "/make_bad_features.py " + dir);
  ASSERT_EQ(made.code, 0) << made.output;
  const std::string data = testdata();
  for (const auto& [file, says] : std::vector<std::pair<std::string, std::string>>{
           {"no-metadata.pt", "has no gan_features.json"},
           {"not-json.pt", "gan_features.json is invalid"},
           {"no-feature-dim.pt", "has no \"feature_dim\""},
           {"four-d-output.pt", "returns [2, 8, 1, 1]"},
           {"wrong-dim.pt", "promises [N, 10]"},
           {"not-torchscript.pt", "is not a TorchScript file"},
           {"missing.pt", "cannot be opened"}}) {
    auto r = run(kEval + " --checkpoint " + checkpoint() + " --n 100 --no-cache --features " + dir +
                 "/" + file + " --out " + dir + "/x.json");
    EXPECT_EQ(r.code, 2) << file << ": " << r.output;
    EXPECT_NE(r.output.find(dir + "/" + file), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(says), std::string::npos) << r.output;
  }
  // The well-formed module from the same script works (the refusals above are its faults).
  auto good = run(kEval + " --checkpoint " + checkpoint() + " --n 100 --no-cache --features " +
                  dir + "/good.pt --out " + dir + "/good.json");
  EXPECT_EQ(good.code, 0) << good.output;
  auto both = run(kEval + " --checkpoint " + checkpoint() + " --n 100 --features " + dir +
                  "/good.pt --classifier " + std::string(GAN_TESTDATA) + "/classifier.pt");
  EXPECT_EQ(both.code, 2) << both.output;
}
