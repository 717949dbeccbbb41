// Checkpoints: exact restore, keep-last-K, a corrupt newest checkpoint skipped for the
// previous one, and the restore shared by --resume and gan_eval.
#include "train/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/sha256.h"
#include "dist/digest.h"
#include "train/restore.h"

namespace fs = std::filesystem;
using namespace gan;

namespace {

std::unique_ptr<models::Model> tiny_dcgan(dist::Collectives& c, uint64_t seed) {
  models::ModelOptions o;
  o.global_batch = 8;
  o.g_width = 8;
  o.d_width = 8;
  o.z_dim = 16;
  o.seed = seed;
  torch::manual_seed(seed);
  return models::make_model("dcgan", o, c);
}

dataio::Batch fake_batch() {
  dataio::Batch b;
  b.images = torch::rand({8, 1, 28, 28}) * 2 - 1;
  return b;
}

train::CheckpointMeta meta_of(models::Model& m, int64_t step) {
  train::CheckpointMeta meta{step, 0, 1, "seed = 1\n", {}, {}};
  for (auto& [n, mod] : m.modules()) meta.digests[n] = dist::module_digest(*mod);
  return meta;
}

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("gan_ckpt_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  dist::LocalCollectives coll_;
};

}  // namespace

TEST_F(CheckpointTest, RestoresAndContinuesBitwise) {
  auto a = tiny_dcgan(coll_, 1);
  torch::manual_seed(5);
  auto batch1 = fake_batch(), batch2 = fake_batch();
  a->train_step(batch1);
  train::CheckpointStore store(dir_.string(), 3);
  store.save(meta_of(*a, 1), *a);
  a->train_step(batch2);
  std::string expected = dist::module_digest(*a->modules()[0].second);

  auto b = tiny_dcgan(coll_, 99);  // other init, replaced by the checkpoint
  auto meta = store.load((dir_ / "step-0000001").string(), *b);
  EXPECT_EQ(meta.step, 1);
  b->train_step(batch2);  // optimizer moments and noise stream must have been restored
  EXPECT_EQ(dist::module_digest(*b->modules()[0].second), expected);
}

TEST_F(CheckpointTest, KeepsLastKAndSkipsCorruptNewest) {
  auto a = tiny_dcgan(coll_, 1);
  train::CheckpointStore store(dir_.string(), 2);
  for (int64_t s : {10, 20, 30}) store.save(meta_of(*a, s), *a);
  EXPECT_FALSE(fs::exists(dir_ / "step-0000010"));
  EXPECT_TRUE(fs::exists(dir_ / "step-0000020"));
  {
    std::fstream f(dir_ / "step-0000030" / "state.pt",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x5a');
  }
  std::vector<std::string> rejected;
  auto best = store.latest_valid(&rejected);
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(fs::path(*best).filename(), "step-0000020");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_NE(rejected[0].find("step-0000030"), std::string::npos);
  EXPECT_NE(rejected[0].find("checksum"), std::string::npos);
  EXPECT_THROW(store.load((dir_ / "step-0000030").string(), *a), CheckpointError);
}

TEST_F(CheckpointTest, NoTempFoldersLeftBehind) {
  auto a = tiny_dcgan(coll_, 1);
  train::CheckpointStore store(dir_.string(), 2);
  store.save(meta_of(*a, 1), *a);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos);
}

// The image shape a model was built for travels with the checkpoint (gan_eval rebuilds the
// model from it without the data); a meta.json without it reads as unknown.
TEST_F(CheckpointTest, RecordsTheDataShape) {
  auto a = tiny_dcgan(coll_, 1);
  train::CheckpointStore store(dir_.string(), 3);
  auto meta = meta_of(*a, 1);
  meta.data = {28, 28, 1, 10};
  const auto with = store.save(meta, *a);
  const auto back = train::CheckpointStore::read_meta(with);
  EXPECT_TRUE(back.data.known());
  EXPECT_EQ(back.data.h, 28);
  EXPECT_EQ(back.data.w, 28);
  EXPECT_EQ(back.data.c, 1);
  EXPECT_EQ(back.data.classes, 10);
  const auto without = store.save(meta_of(*a, 2), *a);
  EXPECT_FALSE(train::CheckpointStore::read_meta(without).data.known());
}

// Each way a newest checkpoint can be damaged on disk: it is named with the reason, and the
// previous one is chosen.
struct Damage {
  const char* name;
  const char* reason;  // expected in the rejection message
  void (*apply)(const fs::path& folder);
};

void flip_byte(const fs::path& file, std::streamoff at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(at);
  char c = static_cast<char>(f.get());
  f.seekp(at);
  f.put(static_cast<char>(c ^ 0x01));
}

// The offset of the last digit of `"step": N` in meta.json: changing it still parses.
std::streamoff step_digit(const fs::path& meta) {
  std::ifstream in(meta);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("\"step\": ");
  return static_cast<std::streamoff>(text.find_first_of(",\n", at) - 1);
}

// Rewrites meta.json with `change` applied and its own checksum made to hold again, as a writer
// with a bug (rather than a damaged disk) would leave it: what read_meta then checks is the
// content.
void reseal_meta(const fs::path& folder, void (*change)(nlohmann::json&)) {
  auto j = nlohmann::json::parse(std::ifstream(folder / "meta.json"));
  change(j);
  j.erase("meta_sha256");
  const std::string canonical = j.dump();  // as CheckpointStore's meta_checksum
  Sha256 sum;
  sum.update(canonical.data(), canonical.size());
  j["meta_sha256"] = sum.hex();
  std::ofstream(folder / "meta.json") << j.dump(2);
}

const Damage kDamages[] = {
    {"TruncatedArchive", "state.pt does not match its checksum",
     [](const fs::path& d) { fs::resize_file(d / "state.pt", fs::file_size(d / "state.pt") / 2); }},
    {"FlippedArchiveByte", "state.pt does not match its checksum",
     [](const fs::path& d) { flip_byte(d / "state.pt", 100); }},
    {"FlippedMetaDigitStillParses", "meta.json does not match its checksum",
     [](const fs::path& d) { flip_byte(d / "meta.json", step_digit(d / "meta.json")); }},
    {"UnparsableMeta", "meta.json is unreadable",
     [](const fs::path& d) { flip_byte(d / "meta.json", 0); }},  // '{' becomes 'z'
    {"MissingArchive", "state.pt is missing",
     [](const fs::path& d) { fs::remove(d / "state.pt"); }},
    {"MissingMeta", "no meta.json", [](const fs::path& d) { fs::remove(d / "meta.json"); }},
    // nlohmann's get<int64_t> of a float that does not fit is undefined behaviour.
    {"StepAFloatBeyondInt64", "meta.json step is not an integer",
     [](const fs::path& d) { reseal_meta(d, [](nlohmann::json& j) { j["step"] = 1e21; }); }},
    {"WorldSizeBeyondInt", "meta.json world_size 4294967296 is out of range",
     [](const fs::path& d) {
       reseal_meta(d, [](nlohmann::json& j) { j["world_size"] = int64_t{1} << 32; });
     }},
    {"FileOutsideTheFolder", "meta.json names a file '/dev/zero' outside it",
     [](const fs::path& d) {
       reseal_meta(d, [](nlohmann::json& j) { j["files"]["/dev/zero"] = "0"; });
     }},
    {"FileNameTooLong", "cannot be read",
     [](const fs::path& d) {
       reseal_meta(d, [](nlohmann::json& j) { j["files"][std::string(300, 'x')] = "0"; });
     }},
    {"ImageShapeOutOfRange", "meta.json c 0 is out of range",
     [](const fs::path& d) {
       reseal_meta(d, [](nlohmann::json& j) {
         j["data"] = {{"h", 28}, {"w", 28}, {"c", 0}, {"classes", 10}};
       });
     }},
    {"ImageShapeNotAnObject", "meta.json is unreadable",
     [](const fs::path& d) { reseal_meta(d, [](nlohmann::json& j) { j["data"] = 28; }); }},
    {"ArchiveNotHashed", "meta.json has no checksum of state.pt",
     [](const fs::path& d) {
       reseal_meta(d, [](nlohmann::json& j) { j["files"] = nlohmann::json::object(); });
     }},
};

class CheckpointDamage : public CheckpointTest, public ::testing::WithParamInterface<Damage> {};

TEST_P(CheckpointDamage, NewestIsNamedAndThePreviousUsed) {
  auto a = tiny_dcgan(coll_, 1);
  train::CheckpointStore store(dir_.string(), 3);
  for (int64_t s : {10, 20}) store.save(meta_of(*a, s), *a);
  const fs::path newest = dir_ / "step-0000020";
  ASSERT_TRUE(store.latest_valid(nullptr).has_value());
  EXPECT_EQ(fs::path(*store.latest_valid(nullptr)).filename(), "step-0000020");  // intact: newest
  GetParam().apply(newest);
  std::vector<std::string> rejected;
  auto best = store.latest_valid(&rejected);
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(fs::path(*best).filename(), "step-0000010");
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_NE(rejected[0].find("step-0000020"), std::string::npos) << rejected[0];
  EXPECT_NE(rejected[0].find(GetParam().reason), std::string::npos) << rejected[0];
  EXPECT_THROW(store.load(newest.string(), *a), CheckpointError);
  auto b = tiny_dcgan(coll_, 99);
  EXPECT_EQ(store.load(*best, *b).step, 10);
}

INSTANTIATE_TEST_SUITE_P(Kinds, CheckpointDamage, ::testing::ValuesIn(kDamages),
                         [](const auto& info) { return std::string(info.param.name); });

// One restore for `--resume` and gan_eval: restore_checkpoint brings back the networks and the
// generator's moving average, and refuses an average whose digest is not the recorded one
// (gan_eval used to sample from it without checking).
TEST_F(CheckpointTest, OneRestoreBringsBackTheGeneratorsAverageAndChecksIt) {
  train::TrainOptions o;
  o.g_ema = 0.9;
  o.batch_size = 8;
  auto a = tiny_dcgan(coll_, 1);
  auto average = train::make_generator_ema(o, *a);
  ASSERT_NE(average, nullptr);
  EXPECT_EQ(train::ema_digest_key(*a), "G_ema");
  torch::manual_seed(5);
  for (int i = 0; i < 2; ++i) {
    auto batch = fake_batch();
    a->train_step(batch);
    average->update(8 * (i + 1));
  }
  auto meta = meta_of(*a, 2);
  meta.digests["G_ema"] = average->digest();
  train::CheckpointStore store(dir_.string(), 3);
  const std::string folder =
      store.save(meta, *a, [&](torch::serialize::OutputArchive& ar) { average->save(ar); });

  auto b = tiny_dcgan(coll_, 99);
  auto restored = train::make_generator_ema(o, *b);
  EXPECT_EQ(train::restore_checkpoint(folder, *b, restored.get()).step, 2);
  EXPECT_EQ(restored->digest(), average->digest());
  EXPECT_EQ(dist::module_digest(*train::generator_of(*b).second),
            dist::module_digest(*train::generator_of(*a).second));
  EXPECT_NE(restored->digest(), dist::module_digest(*train::generator_of(*b).second));

  reseal_meta(folder, [](nlohmann::json& j) {
    j["digests"]["G_ema"] = std::string(64, '0');
    j["digest_g_ema"] = std::string(64, '0');
  });
  auto c = tiny_dcgan(coll_, 99);
  auto other = train::make_generator_ema(o, *c);
  try {
    train::restore_checkpoint(folder, *c, other.get());
    ADD_FAILURE() << "an average with the wrong digest was restored";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("the generator's average does not match its digest"),
              std::string::npos)
        << e.what();
  }
  // A run that kept no average: the networks alone.
  auto d = tiny_dcgan(coll_, 99);
  EXPECT_EQ(train::make_generator_ema(train::TrainOptions{}, *d), nullptr);
}
