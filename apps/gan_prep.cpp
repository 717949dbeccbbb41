// gan_prep: packs datasets into HDF5 shards with a manifest (`idx`: MNIST-style IDX files;
// `celeba`: a folder of face images; both under mpirun too), and checks shard folders byte for
// byte (`verify`). The jobs are dataio/prep_job.h; this file holds their options.
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/errors.h"
#include "core/program.h"
#include "dataio/prep_job.h"
#include "dist/agreement.h"
#include "dist/world.h"

namespace {

// The preparation job's ranks are the MPI world's (a world of one without mpirun).
class WorldGroup : public gan::dataio::PrepGroup {
 public:
  explicit WorldGroup(const gan::dist::World& world) : world_(world) {}
  int rank() const override { return world_.rank(); }
  int size() const override { return world_.size(); }
  void barrier() const override { world_.barrier(); }
  std::vector<std::string> allgather(const std::string& value) const override {
    return world_.allgather(value);
  }
  std::string broadcast(const std::string& value) const override {
    return world_.broadcast(value, 0);
  }
  void on_root(const std::function<void()>& fn) const override {
    gan::dist::all_or_none(world_, [&] {
      if (world_.is_root()) fn();
    });
  }
  void on_every_rank(const std::function<void()>& fn) const override {
    gan::dist::all_or_none(world_, fn);
  }

 private:
  const gan::dist::World& world_;
};

// --shard-size and --chunk, which both jobs take.
void add_shard_layout(CLI::App* c, int64_t* shard_size, int64_t* chunk, const char* shard_help) {
  c->add_option("--shard-size", *shard_size, shard_help)
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--chunk", *chunk, "images per HDF5 chunk (the loader's read block)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

void add_idx_options(CLI::App* c, gan::dataio::IdxPrepArgs* a) {
  c->add_option("--images", a->images, "IDX image file")->required()->check(CLI::ExistingFile);
  c->add_option("--labels", a->labels, "IDX label file")->check(CLI::ExistingFile);
  c->add_option("--out", a->out, "output folder")->required();
  add_shard_layout(c, &a->shard_size, &a->chunk, "images per shard");
  c->add_flag("--force", a->force,
              "replace what --out holds (without it, a folder made by the same command is "
              "resumed: verified shards are kept)");
}

void add_celeba_options(CLI::App* c, gan::dataio::ImagePrepArgs* a) {
  c->add_option("--src", a->src, "folder of images (img_align_celeba/ or any)")
      ->required()
      ->check(CLI::ExistingDirectory);
  c->add_option("--attr", a->attr,
                "list_attr_celeba.txt (40 attributes as int64 0/1 labels): a file, none, or auto "
                "(looked for in --src, its parent and grandparent, each also in Anno/ and Eval/)")
      ->capture_default_str();
  c->add_option("--partition", a->partition,
                "list_eval_partition.txt: a file, none, or auto (looked for as with --attr)")
      ->capture_default_str();
  c->add_option("--split", a->split, "all | train | valid | test (needs the partition list)")
      ->check(CLI::IsMember({"all", "train", "valid", "test"}))
      ->capture_default_str();
  c->add_option("--out", a->out, "output folder")->required();
  auto* crop =
      c->add_option("--crop", a->crop, "centre square side (108, 128, ...), 'full', or y,x,h,w")
          ->capture_default_str();
  c->add_option("--crop-box", a->crop_box,
                "explicit box y,x,h,w in full-resolution, EXIF-oriented pixels")
      ->excludes(crop);
  c->add_option("--size", a->size, "output side in pixels")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  c->add_option("--filter", a->filter, "area | bilinear | lanczos")->capture_default_str();
  c->add_option("--small", a->small, "images smaller than the crop: upscale | skip")
      ->capture_default_str();
  c->add_flag("--no-dct-scaling", a->no_dct_scaling, "always decode JPEGs at full size");
  c->add_option("--jpeg-tail", a->jpeg_tail,
                "JPEG rows below the crop: decode (to EOI: any corruption fails the file) | "
                "scan (structure only: ~10% faster, a cut file still fails)")
      ->check(CLI::IsMember({"decode", "scan"}))
      ->capture_default_str();
  add_shard_layout(c, &a->shard_size, &a->chunk, "source files per shard");
  c->add_option("--threads", a->threads, "decoding threads per rank")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  c->add_flag("--allow-skips", a->allow_skips, "exit 0 even when some files were skipped");
  c->add_flag("--force", a->force, "replace whatever --out holds instead of resuming");
}
}  // namespace

int main(int argc, char** argv) {
  gan::init_logging("gan_prep");
  CLI::App app{"gan_prep: datasets to verified HDF5 shards"};
  app.require_subcommand(1);
  gan::dataio::IdxPrepArgs idx;
  auto* c_idx =
      app.add_subcommand("idx", "pack MNIST-style IDX files (.gz or plain); runs under mpirun too");
  add_idx_options(c_idx, &idx);
  gan::dataio::ImagePrepArgs images;
  auto* c_celeba = app.add_subcommand(
      "celeba",
      "pack a folder of face images (CelebA: img_align_celeba/ + lists), cropped and resized; "
      "runs under mpirun too");
  add_celeba_options(c_celeba, &images);
  std::string verify_dir;
  auto* c_verify = app.add_subcommand("verify", "re-hash and read every shard of a folder");
  c_verify->add_option("dir", verify_dir, "shard folder")->required();
  return gan::guarded_main("gan_prep", [&]() -> int {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::cout << app.help();
      return gan::kExitOk;
    } catch (const CLI::ParseError& e) {
      throw gan::UsageError(e.what());
    }
    if (*c_verify) return gan::dataio::verify_dataset(verify_dir);
    // The preparation jobs run on one rank or many: MPI starts here, once the options are
    // known, and a rank that fails alone aborts the job.
    gan::dist::World world(&argc, &argv);
    WorldGroup group(world);
    return gan::guarded_main(
        "gan_prep",
        [&] {
          return *c_idx ? gan::dataio::prepare_idx(idx, group)
                        : gan::dataio::prepare_images(images, group);
        },
        world.place());
  });
}
