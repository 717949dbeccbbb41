// A checkpoint's state.pt (a LibTorch archive: modules, optimizer state, noise generator, RNG)
// restored into the model it was written from, as gan_dist --resume and gan_eval do with
// CheckpointStore::load. meta.json is written to match each input (its checksum of state.pt
// and the seed's digests), so the archive itself is what gets fuzzed: the checksum normally
// stops a damaged file before LibTorch reads it. The model is rebuilt, as gan_eval does, from
// the config recorded in the seed checkpoint (corpus/checkpoint_meta, 28x28x1 data).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/sha256.h"
#include "dist/collectives.h"
#include "models/model.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/checkpoint.h"
#include "train/cli.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Fixture {
  json seed_meta;
  gan::dist::LocalCollectives coll;
  std::unique_ptr<gan::models::Model> model;
  fs::path folder;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture x;
    std::ifstream in(fs::path(GAN_FUZZ_DIR) / "corpus/checkpoint_meta/dcgan-w1-step2.json");
    x.seed_meta = json::parse(in);
    return x;
  }();
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto& f = fixture();
  auto opts = gan::train::options_from_config(f.seed_meta.at("config").get<std::string>());
  auto& mo = opts.model_opts;
  mo.image_h = mo.image_w = 28;
  mo.channels = 1;
  mo.global_batch = opts.batch_size;
  f.model = gan::models::make_model(opts.model, mo, f.coll);
  f.folder = fs::path(gan::fuzz::scratch_dir()) / "checkpoints" / "step-0000002";
  fs::create_directories(f.folder);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& f = fixture();
  gan::fuzz::write_file((f.folder / "state.pt").string(), data, size);
  gan::Sha256 sum;
  sum.update(data, size);
  json meta = {{"format_version", 1},
               {"step", 2},
               {"epoch", 1},
               {"world_size", 1},
               {"config", f.seed_meta.at("config")},
               {"digests", f.seed_meta.at("digests")},
               {"files", {{"state.pt", sum.hex()}}}};
  gan::fuzz::write_file((f.folder / "meta.json").string(), meta.dump());
  // CheckpointError (exit 5) is the documented answer to an unusable checkpoint.
  try {
    gan::train::CheckpointStore(f.folder.parent_path().string(), 3)
        .load(f.folder.string(), *f.model);
  } catch (const gan::CheckpointError&) {
  }
  return 0;
}
