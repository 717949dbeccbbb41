// gan_eval: quality of a trained generator. Scores a checkpoint in the feature space of a
// feature network, the project's own classifier or any TorchScript module with metadata
// (FD, KID, precision/recall; under mpirun each rank computes its share of the features and
// they are all-gathered; the real images' features are cached next to the data), trains that
// classifier (integer classes or binary attributes), writes generated images as a shard, and
// draws the model-specific pictures (cGAN class rows, InfoGAN traversals, VAE
// reconstructions).
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/checked_io.h"
#include "core/errors.h"
#include "core/program.h"
#include "dataio/loader.h"
#include "dataio/manifest.h"
#include "dist/agreement.h"
#include "dist/collectives.h"
#include "dist/mpi_communicator.h"
#include "dist/world.h"
#include "eval/classifier.h"
#include "eval/distributed.h"
#include "eval/feature_net.h"
#include "eval/frechet.h"
#include "eval/kid.h"
#include "eval/npy.h"
#include "eval/reference_stats.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/png.h"
#include "train/restore.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

using gan::train::restore_run;
using gan::train::RestoredRun;

// --weights: the generator's average where the run kept one (auto), or insist on it or not.
std::string g_weights = "auto";

void write_json(const std::string& path, const nlohmann::json& j) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  gan::write_file_atomic(path, j.dump(2) + "\n");
}

// What `gan_eval --checkpoint` computes and where it writes it.
struct ScoreOptions {
  std::string checkpoint, data, classifier, features, out_json, dump_features;
  int64_t n = 10000, k = 3;
  uint64_t seed = 1234;
  gan::eval::KidOptions kid;
  bool cache = true;
};

void log_root(const gan::dist::World& world, const std::string& s) {
  if (world.is_root()) spdlog::info("{}", s);
}

int score(gan::dist::World& world, const ScoreOptions& o) {
  std::unique_ptr<RestoredRun> run;
  std::unique_ptr<gan::eval::FeatureNet> net;
  gan::dist::all_or_none(world, [&] {
    run = restore_run(o.checkpoint, o.data, g_weights);
    if (!o.features.empty() && !o.classifier.empty())
      throw UsageError("give --features or --classifier, not both");
    if (!o.features.empty()) {
      net = gan::eval::load_torchscript_features(o.features);
    } else {
      std::string cls = o.classifier.empty() ? run->opts.eval_classifier : o.classifier;
      if (cls.empty())
        throw UsageError(
            "give --features F.pt (a TorchScript feature network) or --classifier F.pt (made "
            "by gan_eval train-classifier)");
      net = gan::eval::load_classifier_features(cls);
    }
    if (o.n < o.k + 2) throw UsageError("--n must exceed k + 1");
    if (std::min(o.n, run->manifest().total) < 2) throw UsageError("KID needs at least 2 images");
  });
  const int64_t n_real = std::min(o.n, run->manifest().total);
  gan::dist::MpiCommunicator comm(world);
  nlohmann::json cache_report;
  gan::eval::ReferenceStats ref =
      gan::eval::reference_stats(world, comm, run->data, run->manifest(), *net, n_real, o.cache,
                                 cache_report, [&](const std::string& s) { log_root(world, s); });
  // Every rank generates its rows of one noise draw for the whole set: the same images at
  // any world size.
  torch::Tensor f_fake = gan::eval::gathered_features(
      comm, *net,
      [&](int64_t first, int64_t n) {
        return gan::train::generate(*run->model, o.n, first, n, o.seed);
      },
      o.n);
  if (!world.is_root()) return 0;

  if (!o.dump_features.empty()) {
    fs::create_directories(o.dump_features);
    gan::eval::write_npy((fs::path(o.dump_features) / "fake.npy").string(), f_fake);
    gan::eval::write_npy((fs::path(o.dump_features) / "real.npy").string(), ref.features);
  }
  gan::eval::KidOptions ko = o.kid;
  ko.seed = o.seed;
  const nlohmann::json scores = gan::eval::fd_and_kid(f_fake, ref, ko);
  auto pr = gan::eval::precision_recall(ref.features, f_fake, o.k);
  nlohmann::json j{{"checkpoint", run->folder},
                   {"weights", run->weights},
                   {"model", run->opts.model},
                   {"step", gan::train::CheckpointStore::read_meta(run->folder).step},
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
  std::cout << j.dump() << std::endl;
  write_json(o.out_json.empty() ? (fs::path(run->folder) / "eval.json").string() : o.out_json, j);
  return 0;
}

int write_samples(const std::string& checkpoint, const std::string& data, int64_t n, uint64_t seed,
                  const std::string& out) {
  auto run = restore_run(checkpoint, data, g_weights);
  torch::Tensor images =
      gan::train::to_uint8_nhwc(gan::train::generate(*run->model, n, 0, n, seed));
  gan::dataio::Recipe recipe;
  recipe.source = "gan_eval:" + run->opts.model;
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  gan::dataio::ShardWriter w(out, run->shape, 0, std::min<int64_t>(n, 64), recipe);
  w.append(images.data_ptr<uint8_t>(), nullptr, n);
  w.close();
  spdlog::info("wrote {} images of {} to {}", n, run->opts.model, out);
  return 0;
}

// A sample grid for all models, the model's own pictures (models::Model::pictures), and
// real/reconstruction row pairs for the models that reconstruct.
int pictures(const std::string& checkpoint, const std::string& data, uint64_t seed,
             const std::string& out_dir) {
  auto run = restore_run(checkpoint, data, g_weights);
  auto& m = *run->model;
  torch::NoGradGuard no_grad;
  fs::create_directories(out_dir);
  auto put = [&](const std::string& name, const torch::Tensor& images, int64_t cols) {
    gan::train::write_grid_png((fs::path(out_dir) / name).string(), images.clamp(-1, 1), cols);
    std::cout << (fs::path(out_dir) / name).string() << std::endl;
  };
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  put("samples.png", m.sample(m.noise(64, gen)), 8);
  for (const auto& p : m.pictures(gen)) put(p.name, p.images, p.cols);
  // Reconstructions, for the models that have them (a probe on one blank image asks), are
  // of real images: only then is the data read.
  if (m.reconstruct(torch::zeros({1, run->shape.c, run->shape.h, run->shape.w})).defined()) {
    if (!(run->manifest().shape == run->shape))
      throw gan::DataError(run->data + ": its images are not the shape the run trained on");
    auto pixels = gan::dataio::read_image_range(run->data, run->manifest(), 0, 32);
    torch::Tensor real = gan::dataio::to_float_nchw(pixels.data(), 32, run->shape);
    torch::Tensor rec = m.reconstruct(real);
    // Rows alternate: 8 real images, then their reconstructions.
    std::vector<torch::Tensor> rows;
    for (int64_t i = 0; i < 32; i += 8) {
      rows.push_back(real.narrow(0, i, 8));
      rows.push_back(rec.narrow(0, i, 8));
    }
    put("reconstructions.png", torch::cat(rows), 8);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  gan::init_logging("gan_eval");
  gan::dist::World world(&argc, &argv);
  return gan::guarded_main(
      "gan_eval",
      [&]() -> int {
        CLI::App app{
            "gan_eval: FD, KID and precision/recall of a checkpoint in a feature network's "
            "space (run under mpirun to split the work), and its helpers"};
        app.require_subcommand(0, 1);
        ScoreOptions so;
        uint64_t seed = 1234;
        app.add_option("--checkpoint", so.checkpoint,
                       "checkpoint folder, or a run folder (newest checkpoint)");
        app.add_option("--data", so.data, "real images (default: the run's --data)");
        app.add_option("--classifier", so.classifier,
                       "feature network: the project classifier (default: the run's "
                       "--eval-classifier)");
        app.add_option("--features", so.features,
                       "feature network: a TorchScript file carrying gan_features.json (e.g. from "
                       "scripts/export-fid-inception.py)");
        app.add_option("--n", so.n, "generated images (and real ones, at most the data's size)")
            ->check(CLI::Range(int64_t(5), int64_t(10000000)))
            ->capture_default_str();
        app.add_option("--k", so.k, "neighbours for precision/recall")
            ->check(CLI::Range(1, 100))
            ->capture_default_str();
        app.add_option("--kid-subsets", so.kid.subsets, "KID: number of random subsets")
            ->check(CLI::Range(int64_t(2), int64_t(100000)))
            ->capture_default_str();
        app.add_option("--kid-subset-size", so.kid.subset_size,
                       "KID: images per subset (at most the generated and the real count)")
            ->check(CLI::Range(int64_t(2), int64_t(10000000)))
            ->capture_default_str();
        bool no_cache = false;
        app.add_flag("--no-cache", no_cache,
                     "neither read nor write DATA/feature-stats (the real images' features)");
        app.add_option("--dump-features", so.dump_features,
                       "also write the generated and real features as DIR/fake.npy, DIR/real.npy");
        app.add_option("--seed", so.seed, "noise seed (also chooses the KID subsets)")
            ->capture_default_str();
        app.add_option("--out", so.out_json, "JSON result (default: CHECKPOINT/eval.json)");
        const char* weights_help =
            "generator weights: auto (its moving average if the run kept one), ema, or raw";
        const auto weights_check = CLI::IsMember({"auto", "ema", "raw"});
        app.add_option("--weights", g_weights, weights_help)
            ->check(weights_check)
            ->capture_default_str();

        auto* tc = app.add_subcommand(
            "train-classifier",
            "train the feature classifier on labelled shards (integer classes, or "
            "binary attributes such as CelebA's: one sigmoid each)");
        gan::eval::ClassifierTrainOptions co;
        std::string cls_out;
        tc->add_option("--data", co.data, "labelled training shards")->required();
        tc->add_option("--test-data", co.test_data,
                       "held-out shards (default: the last --holdout of --data)");
        tc->add_option("--holdout", co.holdout, "held-out fraction without --test-data")
            ->capture_default_str();
        tc->add_option("--epochs", co.epochs, "epochs")
            ->check(CLI::PositiveNumber)
            ->capture_default_str();
        tc->add_option("--batch-size", co.batch_size, "images per step")
            ->check(CLI::PositiveNumber)
            ->capture_default_str();
        tc->add_option("--max-images", co.max_images,
                       "use at most this many training images (0: all)")
            ->capture_default_str();
        tc->add_option("--seed", co.seed, "seed")->capture_default_str();
        tc->add_option("--out", cls_out, "classifier file to write")->required();

        auto* sc = app.add_subcommand("sample", "write generated images as an HDF5 shard");
        std::string s_ckpt, s_out, s_data;
        int64_t s_n = 1000;
        sc->add_option("--checkpoint", s_ckpt, "checkpoint or run folder")->required();
        sc->add_option("--data", s_data,
                       "data the run used (default: its --data); only checkpoints written before "
                       "they recorded the image shape need it");
        sc->add_option("--n", s_n, "images")->check(CLI::PositiveNumber)->capture_default_str();
        sc->add_option("--seed", seed, "noise seed")->capture_default_str();
        sc->add_option("--out", s_out, "shard file (.h5)")->required();
        sc->add_option("--weights", g_weights, weights_help)
            ->check(weights_check)
            ->capture_default_str();

        auto* pc =
            app.add_subcommand("pictures", "sample grid plus the model's own pictures (PNG)");
        std::string p_ckpt, p_out, p_data;
        pc->add_option("--checkpoint", p_ckpt, "checkpoint or run folder")->required();
        pc->add_option("--data", p_data, "real images (default: the run's --data)");
        pc->add_option("--seed", seed, "noise seed")->capture_default_str();
        pc->add_option("--out", p_out, "folder for the PNGs")->required();
        pc->add_option("--weights", g_weights, weights_help)
            ->check(weights_check)
            ->capture_default_str();

        try {
          app.parse(argc, argv);
        } catch (const CLI::CallForHelp&) {
          if (world.is_root()) std::cout << app.help();
          return 0;
        } catch (const CLI::ParseError& e) {
          throw UsageError(e.what());
        }
        gan::set_blas_threads(1);
        torch::set_num_threads(1);
        if (tc->parsed()) {
          if (!world.is_root()) return 0;
          auto r = gan::eval::train_classifier(co, cls_out,
                                               [](const std::string& s) { spdlog::info("{}", s); });
          nlohmann::json j{{"classifier", cls_out},        {"train_images", r.train_images},
                           {"test_images", r.test_images}, {"test_accuracy", r.test_accuracy},
                           {"multi_label", r.multi_label}, {"seconds", r.seconds}};
          if (r.multi_label) {
            j["majority_baseline"] = r.majority_baseline;
            nlohmann::json per = nlohmann::json::object();
            for (size_t i = 0; i < r.attribute_accuracy.size(); ++i)
              per[i < r.attribute_names.size() ? r.attribute_names[i] : std::to_string(i)] =
                  r.attribute_accuracy[i];
            j["attribute_accuracy"] = per;
          }
          write_json(cls_out + ".json", j);
          std::cout << j.dump() << std::endl;
          return 0;
        }
        if (sc->parsed())
          return world.is_root() ? write_samples(s_ckpt, s_data, s_n, seed, s_out) : 0;
        if (pc->parsed()) return world.is_root() ? pictures(p_ckpt, p_data, seed, p_out) : 0;
        if (so.checkpoint.empty())
          throw UsageError("give --checkpoint DIR (or a subcommand; see --help)");
        so.cache = !no_cache;
        return score(world, so);
      },
      world.place());
}
