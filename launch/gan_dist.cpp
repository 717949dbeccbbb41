// gan_dist: trains a GAN data-parallel over MPI ranks. Parses and validates options (from the
// command line or a TOML/INI file), then hands over to the Trainer.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "core/errors.h"
#include "dist/agreement.h"
#include "dist/world.h"
#include "launch/entry.h"
#include "launch/train_cli.h"
#include "models/model.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

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
    gan::launch::define_train_options(app, o);
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
      gan::launch::resolve_train_options(app, o);
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
