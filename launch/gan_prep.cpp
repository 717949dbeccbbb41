// gan_prep: packs datasets into HDF5 shards with a manifest (`idx`), and checks shard
// folders byte for byte (`verify`).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "core/errors.h"
#include "dataio/idx.h"
#include "dataio/manifest.h"
#include "launch/entry.h"
#include "launch/prep_celeba.h"

namespace fs = std::filesystem;
using namespace gan;

namespace {

struct IdxArgs {
  std::string images, labels, out;
  int64_t shard_size = 20000;
  int64_t chunk = 64;
  bool force = false;
};

int run_idx(const IdxArgs& a) {
  if (fs::exists(fs::path(a.out) / "manifest.json") && !a.force)
    throw UsageError("--out " + a.out + " already holds a dataset (use --force to replace it)");
  auto images = dataio::read_idx_images(a.images);
  std::vector<int64_t> labels;
  if (!a.labels.empty()) {
    labels = dataio::read_idx_labels(a.labels);
    if (static_cast<int64_t>(labels.size()) != images.count)
      throw DataError(a.labels + " has " + std::to_string(labels.size()) + " labels for " +
                      std::to_string(images.count) + " images in " + a.images);
  }
  dataio::Recipe recipe{"idx:" + fs::path(a.images).filename().string(), {0, 0, 0, 0}, "none"};
  dataio::ShardSetWriter w(a.out, {images.rows, images.cols, 1}, labels.empty() ? 0 : 1,
                           a.shard_size, a.chunk, recipe);
  const int64_t bytes = images.rows * images.cols;
  for (int64_t i = 0; i < images.count; ++i)
    w.add(images.pixels.data() + i * bytes, labels.empty() ? nullptr : &labels[i]);
  int64_t classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  auto m = w.finish(classes);
  std::cout << "wrote " << m.total << " images " << m.shape.h << "x" << m.shape.w << "x"
            << m.shape.c << " in " << m.shards.size() << " shard(s) to " << a.out << "\n";
  return 0;
}

int run_verify(const std::string& dir) {
  auto m = dataio::Manifest::load(dir);
  auto problems = dataio::verify_shards(dir, m, /*read_all=*/true);
  for (const auto& p : problems)
    std::cerr << "gan_prep verify: " << p.shard << ": " << p.reason << "\n";
  if (!problems.empty())
    throw DataError(std::to_string(problems.size()) + " bad shard(s) in " + dir + ", first " +
                    problems[0].shard);
  std::cout << "ok: " << m.shards.size() << " shard(s), " << m.total << " images verified in "
            << dir << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return launch::guarded_main("gan_prep", nullptr, [&]() -> int {
    CLI::App app{"gan_prep: datasets to verified HDF5 shards"};
    app.require_subcommand(1);
    IdxArgs idx;
    auto* c_idx = app.add_subcommand("idx", "pack MNIST-style IDX files (.gz or plain)");
    c_idx->add_option("--images", idx.images, "IDX image file")
        ->required()
        ->check(CLI::ExistingFile);
    c_idx->add_option("--labels", idx.labels, "IDX label file")->check(CLI::ExistingFile);
    c_idx->add_option("--out", idx.out, "output folder")->required();
    c_idx->add_option("--shard-size", idx.shard_size, "images per shard")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c_idx->add_option("--chunk", idx.chunk, "images per HDF5 chunk (the loader's read block)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    c_idx->add_flag("--force", idx.force, "replace an existing dataset in --out");
    launch::CelebaArgs celeba;
    auto* c_celeba = app.add_subcommand(
        "celeba",
        "pack a folder of face images (CelebA: img_align_celeba/ + lists), cropped and "
        "resized; runs under mpirun too");
    launch::add_celeba_options(c_celeba, &celeba);
    std::string verify_dir;
    auto* c_verify = app.add_subcommand("verify", "re-hash and read every shard of a folder");
    c_verify->add_option("dir", verify_dir, "shard folder")->required();
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::cout << app.help();
      return 0;
    } catch (const CLI::ParseError& e) {
      throw UsageError(e.what());
    }
    if (*c_idx) return run_idx(idx);
    if (*c_celeba) return launch::run_celeba(celeba, &argc, &argv);
    return run_verify(verify_dir);
  });
}
