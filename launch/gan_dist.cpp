// gan_dist: trains a GAN data-parallel over MPI ranks. Parses and validates options (from the
// command line or a TOML/INI file), then hands over to the Trainer. `gan_dist --check` runs
// the same parsing and validation without MPI or training, for launchers to call first.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "core/errors.h"
#include "dataio/manifest.h"
#include "dist/agreement.h"
#include "dist/cuda_device.h"
#include "dist/world.h"
#include "launch/entry.h"
#include "launch/train_cli.h"
#include "models/model.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

// The options of `gan_dist --check`. They are not configurable: they stay out of --config
// files and out of the resolved config that ranks compare and checkpoints record.
struct CheckOptions {
  bool check = false;
  int world_size = 1;
  bool no_path_check = false;
};

// What the rules are applied against. A real run: its world and every path. --check: the world
// size the launcher will start, and paths only when they can be seen from where it runs.
struct Scope {
  int world_size = 1;
  bool warn = true;  // print warnings (rank 0 of a real run)
  bool check_paths = true;
  std::vector<std::string>* unchecked = nullptr;  // with !check_paths: the rules left out
};

// Every rule a command line is held to before training starts. A real run and --check call
// this one function, so the two cannot drift apart.
void validate(const gan::train::TrainOptions& o, const Scope& scope) {
  const int world_size = scope.world_size;
  if (o.steps == 0 && o.epochs == 0) throw UsageError("give --steps N or --epochs N");
  if (o.g_ema > 0 && o.g_ema_kimg > 0)
    throw UsageError("--g-ema and --g-ema-kimg both set the average's rate: give one");
  if (o.g_ema_rampup > 0 && o.g_ema_kimg == 0)
    throw UsageError("--g-ema-rampup caps a half-life: it needs --g-ema-kimg");
  // Device and backend: NCCL moves CUDA tensors only, the MPI backend host tensors only.
  if (o.device == "cpu" && o.backend == "nccl")
    throw UsageError("--backend nccl needs --device cuda (NCCL moves GPU tensors only)");
  if (o.device == "cuda" && o.backend == "mpi")
    throw UsageError(
        "--device cuda needs --backend nccl or auto (the MPI backend moves host "
        "tensors only)");
  if (o.device == "cuda" && !gan::dist::built_with_cuda())
    throw UsageError("--device cuda: this gan_dist was built with " + gan::dist::build_flavour() +
                     " (build the CUDA flavour: scripts/build.sh --cuda)");
  if (o.batch_size % world_size != 0)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + " does not divide over " +
                     std::to_string(world_size) + " ranks");
  if (!o.eval_features.empty() && !o.eval_classifier.empty())
    throw UsageError("give --eval-features or --eval-classifier, not both");
  // WGAN's critic steps each take their own slice of the rank's batch: at many ranks the
  // default batch leaves a critic step one image per rank.
  const auto& m = o.model_opts;
  if ((o.model == "wgan" || o.model == "wgan-gp") && m.n_critic > 1) {
    const int64_t local = o.batch_size / world_size, slice = local / m.n_critic;
    const std::string numbers = "--batch-size " + std::to_string(o.batch_size) + " over " +
                                std::to_string(world_size) + " ranks is " + std::to_string(local) +
                                " images per rank, split over --n-critic " +
                                std::to_string(m.n_critic) + " critic steps";
    if (slice < 1)
      throw UsageError(numbers +
                       ": no image left for a critic step (raise --batch-size to at least " +
                       std::to_string(int64_t(m.n_critic) * world_size) + ")");
    if (slice < 8 && scope.warn)
      spdlog::warn(
          "{}: {} real image(s) per critic step per rank ({} of {} unused); the "
          "critic's estimate is that noisy (--batch-size {} gives 8)",
          numbers, slice, local - slice * m.n_critic, local, int64_t(8) * m.n_critic * world_size);
  }

  // File-system paths last: a check on a submit host that cannot see the cluster's paths
  // (--no-path-check) has applied every other rule by now.
  if (!scope.check_paths) {
    if (scope.unchecked) {
      scope.unchecked->push_back("--data " + o.data +
                                 " (a folder holding a readable manifest.json)");
      // --out without its value: a sweep's tasks differ only there, and the warning is then
      // one line for all of them.
      scope.unchecked->push_back("--out (holds no checkpoints unless --resume)");
      if (!o.eval_classifier.empty())
        scope.unchecked->push_back("--eval-classifier " + o.eval_classifier + " (a file)");
      if (!o.eval_features.empty())
        scope.unchecked->push_back("--eval-features " + o.eval_features + " (a file)");
    }
    return;
  }
  if (!fs::is_directory(o.data))
    throw UsageError("--data " + o.data + ": no such folder (make one with gan_prep)");
  // The loader the Trainer uses: a missing or unreadable manifest is exit 3 naming it.
  gan::dataio::Manifest::load(o.data);
  if (!o.eval_classifier.empty() && !fs::is_regular_file(o.eval_classifier))
    throw UsageError("--eval-classifier " + o.eval_classifier +
                     ": no such file (make one with gan_eval train-classifier)");
  if (!o.eval_features.empty() && !fs::is_regular_file(o.eval_features))
    throw UsageError("--eval-features " + o.eval_features +
                     ": no such file (a TorchScript network with gan_features.json; see "
                     "scripts/export-fid-inception.py)");
  if (!o.resume && fs::is_directory(fs::path(o.out) / "checkpoints") &&
      !fs::is_empty(fs::path(o.out) / "checkpoints"))
    throw UsageError("--out " + o.out +
                     " already holds checkpoints: pass --resume to continue it, or choose "
                     "another folder");
}

void define_options(CLI::App& app, gan::train::TrainOptions& o, CheckOptions& c) {
  gan::launch::define_train_options(app, o);
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

// Parses the command line and applies `validate`; the world size comes from `ranks` in a real
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
  gan::launch::resolve_train_options(app, o);
  Scope scope;
  scope.world_size = c.check ? c.world_size : ranks;
  scope.warn = is_root;
  scope.check_paths = !(c.check && c.no_path_check);
  scope.unchecked = unchecked;
  validate(o, scope);
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
  auto logger = spdlog::stderr_color_mt("gan_dist");
  logger->set_pattern("gan_dist: %l: %v");
  spdlog::set_default_logger(logger);
  return gan::launch::guarded_main("gan_dist", nullptr, [&]() -> int {
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
  if (wants_check(argc, argv)) return check_only(argc, argv);
  // The GPU is chosen before MPI_Init, where a CUDA-aware MPI would otherwise open a context
  // on GPU 0 for every rank of the host.
  if (wants_cuda(argc, argv)) gan::dist::preselect_cuda_device_from_env();
  gan::dist::World world(&argc, &argv);
  return gan::launch::guarded_main("gan_dist", &world, [&]() -> int {
    gan::train::TrainOptions o;
    CheckOptions c;
    CLI::App app{"gan_dist: data-parallel GAN training over MPI ranks"};
    define_options(app, o, c);
    Parsed parsed = Parsed::run;
    gan::dist::all_or_none(world, [&] {
      parsed = parse_and_validate(app, o, c, argc, argv, world.size(), world.is_root(), nullptr);
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
    gan::launch::set_blas_threads(o.threads);
    gan::train::Trainer trainer(o, world);
    return trainer.run();
  });
}
