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

const char* const kWeightsHelp =
    "generator weights: auto (its moving average if the run kept one), ema, or raw";

// Every subcommand's options, filled by the parse.
struct Command {
  gan::train::ScoreOptions score;  // the top-level command; --weights serves every subcommand
  bool no_cache = false;
  gan::eval::ClassifierTrainOptions classifier;
  std::string classifier_out;
  std::string checkpoint, data, out;  // sample, pictures
  int64_t n = 1000;                   // sample
  uint64_t seed = 1234;               // sample, pictures
};

void add_weights(CLI::App& app, Command& c) {
  app.add_option("--weights", c.score.weights, kWeightsHelp)
      ->check(CLI::IsMember({"auto", "ema", "raw"}))
      ->capture_default_str();
}

void define_score(CLI::App& app, Command& c) {
  auto& so = c.score;
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
  app.add_flag("--no-cache", c.no_cache,
               "neither read nor write DATA/feature-stats (the real images' features)");
  app.add_option("--dump-features", so.dump_features,
                 "also write the generated and real features as DIR/fake.npy, DIR/real.npy");
  app.add_option("--seed", so.seed, "noise seed (also chooses the KID subsets)")
      ->capture_default_str();
  app.add_option("--out", so.out_json, "JSON result (default: CHECKPOINT/eval.json)");
  add_weights(app, c);
}

CLI::App* define_train_classifier(CLI::App& app, Command& c) {
  auto* tc = app.add_subcommand("train-classifier",
                                "train the feature classifier on labelled shards (integer "
                                "classes, or binary attributes such as CelebA's: one sigmoid "
                                "each)");
  auto& co = c.classifier;
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
  tc->add_option("--max-images", co.max_images, "use at most this many training images (0: all)")
      ->capture_default_str();
  tc->add_option("--seed", co.seed, "seed")->capture_default_str();
  tc->add_option("--out", c.classifier_out, "classifier file to write")->required();
  return tc;
}

CLI::App* define_sample(CLI::App& app, Command& c) {
  auto* sc = app.add_subcommand("sample", "write generated images as an HDF5 shard");
  sc->add_option("--checkpoint", c.checkpoint, "checkpoint or run folder")->required();
  sc->add_option("--data", c.data,
                 "data the run used (default: its --data); only checkpoints written before "
                 "they recorded the image shape need it");
  sc->add_option("--n", c.n, "images")->check(CLI::PositiveNumber)->capture_default_str();
  sc->add_option("--seed", c.seed, "noise seed")->capture_default_str();
  sc->add_option("--out", c.out, "shard file (.h5)")->required();
  add_weights(*sc, c);
  return sc;
}

CLI::App* define_pictures(CLI::App& app, Command& c) {
  auto* pc = app.add_subcommand("pictures", "sample grid plus the model's own pictures (PNG)");
  pc->add_option("--checkpoint", c.checkpoint, "checkpoint or run folder")->required();
  pc->add_option("--data", c.data, "real images (default: the run's --data)");
  pc->add_option("--seed", c.seed, "noise seed")->capture_default_str();
  pc->add_option("--out", c.out, "folder for the PNGs")->required();
  add_weights(*pc, c);
  return pc;
}

// The classifier's report: printed, and written next to it as FILE.json.
void train_classifier(const Command& c) {
  auto r = gan::eval::train_classifier(c.classifier, c.classifier_out,
                                       [](const std::string& s) { spdlog::info("{}", s); });
  nlohmann::json j{{"classifier", c.classifier_out}, {"train_images", r.train_images},
                   {"test_images", r.test_images},   {"test_accuracy", r.test_accuracy},
                   {"multi_label", r.multi_label},   {"seconds", r.seconds}};
  if (r.multi_label) {
    j["majority_baseline"] = r.majority_baseline;
    nlohmann::json per = nlohmann::json::object();
    for (size_t i = 0; i < r.attribute_accuracy.size(); ++i)
      per[i < r.attribute_names.size() ? r.attribute_names[i] : std::to_string(i)] =
          r.attribute_accuracy[i];
    j["attribute_accuracy"] = per;
  }
  const std::string report = c.classifier_out + ".json";
  if (fs::path(report).has_parent_path()) fs::create_directories(fs::path(report).parent_path());
  gan::write_file_atomic(report, j.dump(2) + "\n");
  std::cout << j.dump() << std::endl;
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
        Command c;
        define_score(app, c);
        auto* classifier = define_train_classifier(app, c);
        auto* sample = define_sample(app, c);
        auto* pictures = define_pictures(app, c);
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
        // The helpers run on rank 0; scoring splits its work over every rank.
        if (classifier->parsed() || sample->parsed() || pictures->parsed()) {
          if (!world.is_root()) return 0;
          if (classifier->parsed()) train_classifier(c);
          if (sample->parsed())
            gan::train::write_samples(c.checkpoint, c.data, c.score.weights, c.n, c.seed, c.out);
          if (pictures->parsed())
            for (const auto& path :
                 gan::train::draw_pictures(c.checkpoint, c.data, c.score.weights, c.seed, c.out))
              std::cout << path << std::endl;
          return 0;
        }
        if (c.score.checkpoint.empty())
          throw UsageError("give --checkpoint DIR (or a subcommand; see --help)");
        c.score.cache = !c.no_cache;
        const nlohmann::json scores = gan::train::score_checkpoint(world, c.score);
        if (world.is_root()) std::cout << scores.dump() << std::endl;
        return 0;
      },
      world.place());
}
