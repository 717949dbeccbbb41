// gan_dist --config FILE (TOML or INI, read by CLI11): parsed exactly as gan_dist's main does,
// then the model defaults resolved and the config written back (OUT/config.toml, and the text
// every checkpoint records). That text must parse again through options_from_config, which is
// how gan_eval rebuilds a run; the input itself also goes through options_from_config.
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "tests/fuzz/fuzz_util.h"
#include "train/cli.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = gan::fuzz::scratch_dir() + "/config.toml";
  gan::fuzz::write_file(path, data, size);
  std::string recorded;
  try {
    gan::train::TrainOptions o;
    CLI::App app{"gan_dist"};
    gan::train::define_train_options(app, o);
    app.set_version_flag("--version", "gan_dist (fuzz)");
    std::vector<std::string> args = {path, "--config"};  // CLI11 takes them last to first
    bool parsed = true;
    try {
      app.parse(args);
    } catch (const CLI::CallForHelp&) {
      parsed = false;
    } catch (const CLI::CallForVersion&) {
      parsed = false;
    } catch (const CLI::ParseError& e) {
      throw gan::UsageError(e.what());  // what gan_dist does: exit 2
    }
    if (parsed) {
      gan::train::resolve_train_options(app, o);
      recorded = app.config_to_str(/*default_also=*/true, /*write_description=*/false);
    }
  } catch (const gan::UsageError&) {
  }
  if (!recorded.empty()) {
    // A config gan_dist accepted and recorded must be readable by gan_eval: no UsageError.
    gan::train::options_from_config(recorded);
  }
  try {
    gan::train::options_from_config(std::string(reinterpret_cast<const char*>(data), size));
  } catch (const gan::UsageError&) {
  }
  return 0;
}
