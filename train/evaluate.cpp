#include "train/evaluate.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "core/checked_io.h"
#include "core/errors.h"
#include "dataio/loader.h"
#include "dataio/shard.h"
#include "dist/agreement.h"
#include "dist/mpi_communicator.h"
#include "eval/distributed.h"
#include "eval/feature_net.h"
#include "eval/frechet.h"
#include "eval/npy.h"
#include "eval/reference_stats.h"
#include "train/checkpoint.h"
#include "train/png.h"
#include "train/restore.h"

namespace gan::train {

namespace fs = std::filesystem;

namespace {

void make_parent(const std::string& path) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
}

}  // namespace

nlohmann::json score_checkpoint(dist::World& world, const ScoreOptions& o) {
  std::unique_ptr<RestoredRun> run;
  std::unique_ptr<eval::FeatureNet> net;
  dist::all_or_none(world, [&] {
    run = restore_run(o.checkpoint, o.data, o.weights);
    if (!o.features.empty() && !o.classifier.empty())
      throw UsageError("give --features or --classifier, not both");
    if (!o.features.empty()) {
      net = eval::load_torchscript_features(o.features);
    } else {
      std::string cls = o.classifier.empty() ? run->opts.eval_classifier : o.classifier;
      if (cls.empty())
        throw UsageError(
            "give --features F.pt (a TorchScript feature network) or --classifier F.pt (made "
            "by gan_eval train-classifier)");
      net = eval::load_classifier_features(cls);
    }
    if (o.n < o.k + 2) throw UsageError("--n must exceed k + 1");
    if (std::min(o.n, run->manifest().total) < 2) throw UsageError("KID needs at least 2 images");
  });
  const int64_t n_real = std::min(o.n, run->manifest().total);
  dist::MpiCommunicator comm(world);
  nlohmann::json cache_report;
  eval::ReferenceStats ref =
      eval::reference_stats(world, comm, run->data, run->manifest(), *net, n_real, o.cache,
                            cache_report, [&](const std::string& s) {
                              if (world.is_root()) spdlog::info("{}", s);
                            });
  // Every rank generates its rows of one noise draw for the whole set: the same images at
  // any world size.
  torch::Tensor f_fake = eval::gathered_features(
      comm, *net,
      [&](int64_t first, int64_t n) { return generate(*run->model, o.n, first, n, o.seed); }, o.n);
  if (!world.is_root()) return nlohmann::json::object();

  if (!o.dump_features.empty()) {
    fs::create_directories(o.dump_features);
    eval::write_npy((fs::path(o.dump_features) / "fake.npy").string(), f_fake);
    eval::write_npy((fs::path(o.dump_features) / "real.npy").string(), ref.features);
  }
  eval::KidOptions ko = o.kid;
  ko.seed = o.seed;
  const nlohmann::json scores = eval::fd_and_kid(f_fake, ref, ko);
  auto pr = eval::precision_recall(ref.features, f_fake, o.k);
  nlohmann::json j{{"checkpoint", run->folder},
                   {"weights", run->weights},
                   {"model", run->opts.model},
                   {"step", CheckpointStore::read_meta(run->folder).step},
                   {"generated", o.n},
                   {"real", n_real},
                   {"features",
                    {{"kind", net->kind()},
                     {"name", net->name()},
                     {"file", net->path()},
                     {"sha256", net->id()},
                     {"dim", net->dim()}}},
                   {"precision", pr.precision},
                   {"recall", pr.recall},
                   {"k", o.k},
                   {"reference", cache_report},
                   {"ranks", world.size()},
                   {"seed", o.seed}};
  j.update(scores);
  const std::string out =
      o.out_json.empty() ? (fs::path(run->folder) / "eval.json").string() : o.out_json;
  make_parent(out);
  write_file_atomic(out, j.dump(2) + "\n");
  return j;
}

void write_samples(const std::string& checkpoint, const std::string& data,
                   const std::string& weights, int64_t n, uint64_t seed, const std::string& out) {
  auto run = restore_run(checkpoint, data, weights);
  torch::Tensor images = to_uint8_nhwc(generate(*run->model, n, 0, n, seed));
  dataio::Recipe recipe;
  recipe.source = "gan_eval:" + run->opts.model;
  make_parent(out);
  dataio::ShardWriter w(out, run->shape, 0, std::min<int64_t>(n, 64), recipe);
  w.append(images.data_ptr<uint8_t>(), nullptr, n);
  w.close();
  spdlog::info("wrote {} images of {} to {}", n, run->opts.model, out);
}

std::vector<std::string> draw_pictures(const std::string& checkpoint, const std::string& data,
                                       const std::string& weights, uint64_t seed,
                                       const std::string& out_dir) {
  auto run = restore_run(checkpoint, data, weights);
  auto& m = *run->model;
  torch::NoGradGuard no_grad;
  fs::create_directories(out_dir);
  std::vector<std::string> written;
  auto put = [&](const std::string& name, const torch::Tensor& images, int64_t cols) {
    written.push_back((fs::path(out_dir) / name).string());
    write_grid_png(written.back(), images.clamp(-1, 1), cols);
  };
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  put("samples.png", m.sample(m.noise(64, gen)), 8);
  for (const auto& p : m.pictures(gen)) put(p.name, p.images, p.cols);
  // Reconstructions, for the models that have them (a probe on one blank image asks), are
  // of real images: only then is the data read.
  if (m.reconstruct(torch::zeros({1, run->shape.c, run->shape.h, run->shape.w})).defined()) {
    if (!(run->manifest().shape == run->shape))
      throw DataError(run->data + ": its images are not the shape the run trained on");
    auto pixels = dataio::read_image_range(run->data, run->manifest(), 0, 32);
    torch::Tensor real = dataio::to_float_nchw(pixels.data(), 32, run->shape);
    torch::Tensor rec = m.reconstruct(real);
    // Rows alternate: 8 real images, then their reconstructions.
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < 32; i += 8) {
      rows.push_back(real.narrow(0, i, 8));
      rows.push_back(rec.narrow(0, i, 8));
    }
    put("reconstructions.png", torch::cat(rows), 8);
  }
  return written;
}

}  // namespace gan::train
