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
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/checked_io.h"
#include "core/errors.h"
#include "core/program.h"
#include "dist/world.h"
#include "eval/classifier.h"
#include "train/evaluate.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

void write_json(const std::string& path, const nlohmann::json& j) {
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
  gan::write_file_atomic(path, j.dump(2) + "\n");
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
        gan::train::ScoreOptions so;
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
        app.add_option("--weights", so.weights, weights_help)
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
        sc->add_option("--weights", so.weights, weights_help)
            ->check(weights_check)
            ->capture_default_str();

        auto* pc =
            app.add_subcommand("pictures", "sample grid plus the model's own pictures (PNG)");
        std::string p_ckpt, p_out, p_data;
        pc->add_option("--checkpoint", p_ckpt, "checkpoint or run folder")->required();
        pc->add_option("--data", p_data, "real images (default: the run's --data)");
        pc->add_option("--seed", seed, "noise seed")->capture_default_str();
        pc->add_option("--out", p_out, "folder for the PNGs")->required();
        pc->add_option("--weights", so.weights, weights_help)
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
        if (sc->parsed()) {
          if (world.is_root())
            gan::train::write_samples(s_ckpt, s_data, so.weights, s_n, seed, s_out);
          return 0;
        }
        if (pc->parsed()) {
          if (world.is_root())
            for (const auto& path :
                 gan::train::draw_pictures(p_ckpt, p_data, so.weights, seed, p_out))
              std::cout << path << std::endl;
          return 0;
        }
        if (so.checkpoint.empty())
          throw UsageError("give --checkpoint DIR (or a subcommand; see --help)");
        so.cache = !no_cache;
        const nlohmann::json scores = gan::train::score_checkpoint(world, so);
        if (world.is_root()) std::cout << scores.dump() << std::endl;
        return 0;
      },
      world.place());
}
