// gan_dist: trains a GAN data-parallel over MPI ranks. Parses and validates options (from the
// command line or a TOML/INI file), then hands over to the Trainer.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "core/errors.h"
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

void validate(const gan::train::TrainOptions& o, const gan::dist::World& world) {
  const int world_size = world.size();
  if (o.steps == 0 && o.epochs == 0) throw UsageError("give --steps N or --epochs N");
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
  if (!fs::is_directory(o.data))
    throw UsageError("--data " + o.data + ": no such folder (make one with gan_prep)");
  if (o.batch_size % world_size != 0)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + " does not divide over " +
                     std::to_string(world_size) + " ranks");
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
    if (slice < 8 && world.is_root())
      spdlog::warn(
          "{}: {} real image(s) per critic step per rank ({} of {} unused); the "
          "critic's estimate is that noisy (--batch-size {} gives 8)",
          numbers, slice, local - slice * m.n_critic, local, int64_t(8) * m.n_critic * world_size);
  }
  if (!o.resume && fs::is_directory(fs::path(o.out) / "checkpoints") &&
      !fs::is_empty(fs::path(o.out) / "checkpoints"))
    throw UsageError("--out " + o.out +
                     " already holds checkpoints: pass --resume to continue it, or choose "
                     "another folder");
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
  // The GPU is chosen before MPI_Init, where a CUDA-aware MPI would otherwise open a context
  // on GPU 0 for every rank of the host.
  if (wants_cuda(argc, argv)) gan::dist::preselect_cuda_device_from_env();
  gan::dist::World world(&argc, &argv);
  return gan::launch::guarded_main("gan_dist", &world, [&]() -> int {
    gan::train::TrainOptions o;
    CLI::App app{"gan_dist: data-parallel GAN training over MPI ranks"};
    gan::launch::define_train_options(app, o);
    app.set_version_flag("--version", "gan_dist (" + gan::dist::build_flavour() + ")");
    bool help = false, version = false;
    gan::dist::all_or_none(world, [&] {
      try {
        app.parse(argc, argv);
      } catch (const CLI::CallForHelp&) {
        help = true;
        return;
      } catch (const CLI::CallForVersion&) {
        version = true;
        return;
      } catch (const CLI::ParseError& e) {
        throw UsageError(e.what());
      }
      gan::launch::resolve_train_options(app, o);
      validate(o, world);
    });
    if (help) {
      if (world.is_root()) std::cout << app.help();
      return 0;
    }
    if (version) {
      if (world.is_root()) std::cout << "gan_dist (" << gan::dist::build_flavour() << ")\n";
      return 0;
    }
    o.config_text = app.config_to_str(/*default_also=*/true, /*write_description=*/false);
    gan::launch::set_blas_threads(o.threads);
    gan::train::Trainer trainer(o, world);
    return trainer.run();
  });
}
