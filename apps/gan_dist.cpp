// gan_dist: trains a GAN data-parallel over MPI ranks. Parses and validates options (from the
// command line or a TOML/INI file), then hands over to the Trainer. `gan_dist --check` runs
// the same parsing and validation without MPI or training, for launchers to call first.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <iostream>

#include "core/errors.h"
#include "core/program.h"
#include "dist/agreement.h"
#include "dist/cuda_device.h"
#include "dist/world.h"
#include "train/cli.h"
#include "train/trainer.h"

using gan::UsageError;

namespace {

// The options of `gan_dist --check`. They are not configurable: they stay out of --config
// files and out of the resolved config that ranks compare and checkpoints record.
struct CheckOptions {
  bool check = false;
  int world_size = 1;
  bool no_path_check = false;
};

void define_options(CLI::App& app, gan::train::TrainOptions& o, CheckOptions& c) {
  gan::train::define_train_options(app, o);
  app.set_version_flag("--version", "gan_dist (" + gan::dist::build_flavour() + ")");
  const char* group = "Checking a command without running it";
  auto* check = app.add_flag("--check", c.check,
                             "parse and validate the command line, print ok or the error (exit "
                             "code as a real run), and exit: no MPI, no training")
                    ->configurable(false)
                    ->group(group);
  app.add_option("--world-size", c.world_size,
                 "with --check: the number of ranks the run will have (default 1)")
      ->check(CLI::PositiveNumber)
      ->needs(check)
      ->configurable(false)
      ->group(group);
  app.add_flag("--no-path-check", c.no_path_check,
               "with --check: leave out the rules on file-system paths (--data and its "
               "manifest, --out, --eval-classifier), for paths that exist only where the job "
               "runs; prints what was left out")
      ->needs(check)
      ->configurable(false)
      ->group(group);
}

enum class Parsed { run, help, version };

// Parses the command line and applies the rules; the world size comes from `ranks` in a real
// run and from --world-size under --check.
Parsed parse_and_validate(CLI::App& app, gan::train::TrainOptions& o, const CheckOptions& c,
                          int argc, char** argv, int ranks, bool is_root,
                          std::vector<std::string>* unchecked) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    return Parsed::help;
  } catch (const CLI::CallForVersion&) {
    return Parsed::version;
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
  gan::train::resolve_train_options(app, o);
  gan::train::CheckScope scope;
  scope.world_size = c.check ? c.world_size : ranks;
  scope.warn = is_root;
  scope.check_paths = !(c.check && c.no_path_check);
  scope.unchecked = unchecked;
  gan::train::validate_train_options(o, scope);
  return Parsed::run;
}

// --check is a plain flag that no config file can set, so a look at argv decides before
// MPI_Init whether MPI is needed at all.
bool wants_check(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--check") == 0) return true;
  return false;
}

// `gan_dist --check ...`: stdout gets "ok" and nothing else, so launchers can rely on it;
// errors and warnings go to stderr.
int check_only(int argc, char** argv) {
  return gan::guarded_main("gan_dist", [&]() -> int {
    gan::train::TrainOptions o;
    CheckOptions c;
    CLI::App app{"gan_dist: data-parallel GAN training over MPI ranks"};
    define_options(app, o, c);
    std::vector<std::string> unchecked;
    switch (parse_and_validate(app, o, c, argc, argv, 1, true, &unchecked)) {
      case Parsed::help:
        std::cout << app.help();
        return 0;
      case Parsed::version:
        std::cout << "gan_dist (" << gan::dist::build_flavour() << ")\n";
        return 0;
      case Parsed::run:
        break;
    }
    if (!unchecked.empty()) {
      std::string list;
      for (const auto& u : unchecked) list += (list.empty() ? "" : "; ") + u;
      spdlog::warn(
          "--no-path-check: not checked here: {}. gan_dist checks them when the run starts", list);
    }
    std::cout << "ok" << std::endl;
    return 0;
  });
}

}  // namespace

// True when the command line asks for a GPU (a --config file is not looked at here).
bool wants_cuda(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device=cuda" ||
        (a == "--device" && i + 1 < argc && std::string(argv[i + 1]) == "cuda"))
      return true;
  }
  return false;
}

int main(int argc, char** argv) {
  gan::init_logging("gan_dist");
  if (wants_check(argc, argv)) return check_only(argc, argv);
  // The GPU is chosen before MPI_Init, where a CUDA-aware MPI would otherwise open a context
  // on GPU 0 for every rank of the host.
  if (wants_cuda(argc, argv)) gan::dist::preselect_cuda_device_from_env();
  gan::dist::World world(&argc, &argv);
  return gan::guarded_main(
      "gan_dist",
      [&]() -> int {
        gan::train::TrainOptions o;
        CheckOptions c;
        CLI::App app{"gan_dist: data-parallel GAN training over MPI ranks"};
        define_options(app, o, c);
        Parsed parsed = Parsed::run;
        gan::dist::all_or_none(world, [&] {
          parsed =
              parse_and_validate(app, o, c, argc, argv, world.size(), world.is_root(), nullptr);
        });
        if (parsed == Parsed::help) {
          if (world.is_root()) std::cout << app.help();
          return 0;
        }
        if (parsed == Parsed::version) {
          if (world.is_root()) std::cout << "gan_dist (" << gan::dist::build_flavour() << ")\n";
          return 0;
        }
        o.config_text = app.config_to_str(/*default_also=*/true, /*write_description=*/false);
        gan::set_blas_threads(o.threads);
        gan::train::Trainer trainer(o, world);
        return trainer.run();
      },
      world.place());
}
