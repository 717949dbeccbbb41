// gan_dist: trains a GAN data-parallel over MPI ranks. Parses and validates options (from the
// command line or a TOML/INI file), then hands over to the Trainer.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "core/errors.h"
#include "dist/agreement.h"
#include "dist/world.h"
#include "launch/entry.h"
#include "models/model.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

void define_options(CLI::App& app, gan::train::TrainOptions& o) {
  auto& m = o.model_opts;
  app.set_config("--config", "", "read options from a TOML or INI file");
  app.add_option("--model", o.model, "model to train")
      ->check(CLI::IsMember(gan::models::model_names()))
      ->capture_default_str();
  app.add_option("--data", o.data, "folder of HDF5 shards made by gan_prep")->required();
  app.add_option("--out", o.out, "run folder (metrics, samples, checkpoints, logs)")->required();
  auto* steps = app.add_option("--steps", o.steps, "total optimisation steps")
                    ->check(CLI::PositiveNumber);
  auto* epochs = app.add_option("--epochs", o.epochs, "train for this many epochs")
                     ->check(CLI::PositiveNumber);
  steps->excludes(epochs);
  app.add_option("--batch-size", o.batch_size, "GLOBAL batch size, split evenly over ranks")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lr", m.lr_g, "learning rate of G and D")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lr-d", m.lr_d, "learning rate of D (default: --lr)")->check(CLI::PositiveNumber);
  app.add_option("--beta1", m.beta1, "Adam beta1")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--beta2", m.beta2, "Adam beta2")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--seed", m.seed, "seed of initialisation, noise and data order")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "intra-op threads per rank")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--z-dim", m.z_dim, "noise dimension")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--g-width", m.g_width, "base channels of G")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--d-width", m.d_width, "base channels of D")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--norm", m.norm, "normalisation in G and D")
      ->check(CLI::IsMember({"batch", "none"}))
      ->capture_default_str();
  app.add_option("--init", m.init, "weight initialisation")
      ->check(CLI::IsMember({"normal", "xavier", "kaiming"}))
      ->capture_default_str();
  app.add_option("--noise", m.noise, "noise distribution: N(0,1) or U(-1,1)")
      ->check(CLI::IsMember({"normal", "uniform"}))
      ->capture_default_str();
  app.add_option("--log-every", o.log_every, "steps per metrics line")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--sample-every", o.sample_every, "steps per sample grid (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--checkpoint-every", o.checkpoint_every, "steps per checkpoint (0: at the end)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--keep-checkpoints", o.keep_checkpoints, "checkpoints kept")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--replica-check-every", o.replica_check_every,
                 "steps between cross-rank parameter digest checks (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--sample-count", o.sample_count, "images in a sample grid")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  app.add_option("--eval-images", o.eval_images, "images compared at each sample step")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  app.add_option("--backend", o.backend, "collective backend")
      ->check(CLI::IsMember({"auto", "mpi", "nccl"}))
      ->capture_default_str();
  app.add_option("--device", o.device, "cpu, or cuda (one GPU per local rank, from local rank)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_option("--bucket-mb", o.bucket_mb, "gradient bucket cap, MB")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--overlap", o.overlap, "start bucket all-reduces during backward")
      ->capture_default_str();
  app.add_option("--grad-compress", o.grad_compress, "gradients travel as fp16/bf16 (fp32 sums)")
      ->check(CLI::IsMember({"none", "fp16", "bf16"}))
      ->capture_default_str();
  app.add_flag("--check-collectives", o.check_collectives,
               "debug: compare every collective across ranks and name a mismatch");
  app.add_flag("--resume", o.resume, "continue from the newest valid checkpoint under --out");
}

void validate(const gan::train::TrainOptions& o, int world_size) {
  if (o.steps == 0 && o.epochs == 0) throw UsageError("give --steps N or --epochs N");
  if (!fs::is_directory(o.data))
    throw UsageError("--data " + o.data + ": no such folder (make one with gan_prep)");
  if (o.batch_size % world_size != 0)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + " does not divide over " +
                     std::to_string(world_size) + " ranks");
  if (!o.resume && fs::is_directory(fs::path(o.out) / "checkpoints") &&
      !fs::is_empty(fs::path(o.out) / "checkpoints"))
    throw UsageError("--out " + o.out +
                     " already holds checkpoints: pass --resume to continue it, or choose "
                     "another folder");
}

}  // namespace

int main(int argc, char** argv) {
  gan::dist::World world(&argc, &argv);
  return gan::launch::guarded_main("gan_dist", &world, [&]() -> int {
    gan::train::TrainOptions o;
    CLI::App app{"gan_dist: data-parallel GAN training over MPI ranks"};
    define_options(app, o);
    bool help = false;
    gan::dist::all_or_none(world, [&] {
      try {
        app.parse(argc, argv);
      } catch (const CLI::CallForHelp&) {
        help = true;
        return;
      } catch (const CLI::ParseError& e) {
        throw UsageError(e.what());
      }
      // Record the resolved value, so config.toml and the rank agreement see it.
      if (app.count("--lr-d") == 0) app.get_option("--lr-d")->default_val(o.model_opts.lr_g);
      validate(o, world.size());
    });
    if (help) {
      if (world.is_root()) std::cout << app.help();
      return 0;
    }
    o.config_text = app.config_to_str(/*default_also=*/true, /*write_description=*/false);
    gan::launch::set_blas_threads(o.threads);
    gan::train::Trainer trainer(o, world);
    return trainer.run();
  });
}
