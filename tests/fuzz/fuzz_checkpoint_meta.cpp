// Checkpoint meta.json as gan_dist --resume and gan_eval read it: CheckpointStore::read_meta
// (which re-hashes the files it lists), the newest-valid search over the checkpoints folder,
// then the recorded config through options_from_config (gan_eval rebuilds the run from it).
// The checkpoint folder holds the real state.pt of the seed (corpus/checkpoint_state), so the
// seed's checksums hold.
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/errors.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/checkpoint.h"
#include "train/cli.h"

namespace fs = std::filesystem;

namespace {

const fs::path& checkpoints() {
  static const fs::path dir = fs::path(gan::fuzz::scratch_dir()) / "run" / "checkpoints";
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const fs::path folder = checkpoints() / "step-0000002";
  fs::create_directories(folder);
  fs::copy_file(fs::path(GAN_FUZZ_DIR) / "corpus/checkpoint_state/dcgan-w1-step2.pt",
                folder / "state.pt", fs::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string folder = (checkpoints() / "step-0000002").string();
  gan::fuzz::write_file(folder + "/meta.json", data, size);
  // CheckpointError (exit 5) and UsageError (exit 2) are the documented answers.
  try {
    const auto meta = gan::train::CheckpointStore::read_meta(folder);
    gan::train::options_from_config(meta.config);
  } catch (const gan::Error&) {
  }
  // The resume path: a rejected checkpoint is skipped with its reason, never thrown.
  std::vector<std::string> rejected;
  gan::train::CheckpointStore(checkpoints().string(), 3).latest_valid(&rejected);
  return 0;
}
