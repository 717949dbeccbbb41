// gan_eval: quality of a trained generator. Scores a checkpoint in the feature space of a
// feature network, the project's own classifier or any TorchScript module with metadata
// (FD, KID, precision/recall; under mpirun each rank computes its share of the features and
// they are all-gathered; the real images' features are cached next to the data), trains that
// classifier (integer classes or binary attributes), writes generated images as a shard, and
// draws the model-specific pictures (cGAN class rows, InfoGAN traversals, VAE
// reconstructions).
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/checked_io.h"
#include "core/errors.h"
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
#include "launch/entry.h"
#include "launch/train_cli.h"
#include "models/model.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/png.h"

namespace fs = std::filesystem;
using gan::UsageError;

namespace {

// --weights: the generator's average where the run kept one (auto), or insist on it or not.
std::string g_weights = "auto";

// A trained model rebuilt from a checkpoint's recorded config and restored from its state.
struct LoadedRun {
  gan::train::TrainOptions opts;
  std::string data;
  bool data_given = false;  // --data, rather than the path the run recorded
  gan::dataio::ImageShape shape;
  std::string folder;   // the checkpoint folder
  std::string weights;  // "ema" (the generator's average) or "raw"
  gan::dist::LocalCollectives coll;
  std::unique_ptr<gan::models::Model> model;

  // The training data, read on first use: scores and reconstructions need its images;
  // sampling needs only the shape the checkpoint records, so it works anywhere.
  const gan::dataio::Manifest& manifest() {
    if (!manifest_) {
      if (!data_given && !fs::is_directory(data))
        throw gan::DataError(
            "the run's data folder " + data +
            (fs::path(data).is_relative() ? " (relative to where it trained)" : "") +
            " does not exist here: give it with --data");
      manifest_ = gan::dataio::Manifest::load(data);
    }
    return *manifest_;
  }

 private:
  std::optional<gan::dataio::Manifest> manifest_;
};

// `path` is a checkpoint folder (holds meta.json) or a run folder (its newest valid checkpoint).
std::unique_ptr<LoadedRun> load_run(const std::string& path, const std::string& data_override) {
  auto run = std::make_unique<LoadedRun>();
  std::string folder = path;
  if (!fs::exists(fs::path(path) / "meta.json")) {
    gan::train::CheckpointStore runs((fs::path(path) / "checkpoints").string(), 1 << 20);
    std::vector<std::string> rejected;
    auto latest = runs.latest_valid(&rejected);
    if (!latest) throw gan::CheckpointError("--checkpoint " + path + ": no valid checkpoint there");
    folder = *latest;
  }
  auto meta = gan::train::CheckpointStore::read_meta(folder);
  run->opts = gan::launch::options_from_config(meta.config);
  run->data = data_override.empty() ? run->opts.data : data_override;
  run->data_given = !data_override.empty();
  // The model is built for the data's shape: recorded in the checkpoint (older ones: read
  // from the data's manifest).
  gan::train::DataShape shape = meta.data;
  if (!shape.known()) {
    const auto& m = run->manifest();
    shape = {m.shape.h, m.shape.w, m.shape.c, m.num_classes};
  }
  run->shape = {shape.h, shape.w, shape.c};
  auto& mo = run->opts.model_opts;
  mo.image_h = shape.h;
  mo.image_w = shape.w;
  mo.channels = shape.c;
  mo.num_classes = shape.classes;
  mo.global_batch = run->opts.batch_size;
  run->model = gan::models::make_model(run->opts.model, mo, run->coll);
  // The generator's moving average, when the run kept one, replaces its raw weights.
  const gan::train::EmaSchedule ema{run->opts.g_ema, run->opts.g_ema_kimg * 1000,
                                    run->opts.g_ema_rampup};
  if (g_weights == "ema" && !ema.enabled())
    throw UsageError("--weights ema: " + folder + " was trained without --g-ema or --g-ema-kimg");
  run->weights = ema.enabled() && g_weights != "raw" ? "ema" : "raw";
  std::unique_ptr<gan::train::ModuleEma> average;
  if (ema.enabled()) {
    auto mods = run->model->modules();
    auto it = std::find_if(mods.begin(), mods.end(), [](auto& m) { return m.first == "G"; });
    auto& generator = it != mods.end() ? *it->second : *mods.front().second;
    average = std::make_unique<gan::train::ModuleEma>(generator, ema, run->opts.batch_size);
  }
  gan::train::CheckpointStore(fs::path(folder).parent_path().string(), 1 << 20)
      .load(folder, *run->model, [&](torch::serialize::InputArchive& ar) {
        if (average) average->load(ar);
      });
  if (average && run->weights == "ema") average->copy_into_module();
  for (auto& [name, m] : run->model->modules()) m->eval();
  run->folder = folder;
  return run;
}

// Generated images [n, C, H, W] in [-1, 1], rows [first, first + n) of a noise draw for `total`.
torch::Tensor generate(gan::models::Model& model, int64_t total, int64_t first, int64_t n,
                       uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  torch::Tensor z = model.noise(total, gen).narrow(0, first, n);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < n; i += 256)
    out.push_back(model.sample(z.narrow(0, i, std::min<int64_t>(256, n - i))).clamp(-1, 1));
  return torch::cat(out);
}

torch::Tensor to_uint8_nhwc(const torch::Tensor& x) {
  return ((x + 1) * 127.5)
      .round()
      .clamp(0, 255)
      .to(torch::kUInt8)
      .permute({0, 2, 3, 1})
      .contiguous();
}

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
  if (world.is_root()) std::cerr << "gan_eval: " << s << std::endl;
}

int score(gan::dist::World& world, const ScoreOptions& o) {
  std::unique_ptr<LoadedRun> run;
  std::unique_ptr<gan::eval::FeatureNet> net;
  gan::dist::all_or_none(world, [&] {
    run = load_run(o.checkpoint, o.data);
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
      [&](int64_t first, int64_t n) { return generate(*run->model, o.n, first, n, o.seed); }, o.n);
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
  auto run = load_run(checkpoint, data);
  torch::Tensor images = to_uint8_nhwc(generate(*run->model, n, 0, n, seed));
  gan::dataio::Recipe recipe;
  recipe.source = "gan_eval:" + run->opts.model;
  if (fs::path(out).has_parent_path()) fs::create_directories(fs::path(out).parent_path());
  gan::dataio::ShardWriter w(out, run->shape, 0, std::min<int64_t>(n, 64), recipe);
  w.append(images.data_ptr<uint8_t>(), nullptr, n);
  w.close();
  std::cout << "wrote " << n << " images of " << run->opts.model << " to " << out << std::endl;
  return 0;
}

// Model-specific pictures: cGAN one row per class, InfoGAN a row per category and traversals
// of each continuous code, VAE real/reconstruction row pairs; a plain sample grid for all.
int pictures(const std::string& checkpoint, const std::string& data, uint64_t seed,
             const std::string& out_dir) {
  auto run = load_run(checkpoint, data);
  auto& m = *run->model;
  const auto& o = run->opts.model_opts;
  torch::NoGradGuard no_grad;
  fs::create_directories(out_dir);
  auto put = [&](const std::string& name, const torch::Tensor& images, int64_t cols) {
    gan::train::write_grid_png((fs::path(out_dir) / name).string(), images.clamp(-1, 1), cols);
    std::cout << (fs::path(out_dir) / name).string() << std::endl;
  };
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  put("samples.png", m.sample(m.noise(64, gen)), 8);

  const int64_t cols = 10;
  // Noise rows share z down each column, so a column shows one z under every code.
  auto codes_grid = [&](int64_t rows, const std::function<torch::Tensor(int64_t, int64_t)>& code) {
    torch::Tensor z = torch::randn({cols, o.z_dim}, gen);
    std::vector<torch::Tensor> in;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) in.push_back(torch::cat({z[c], code(r, c)}));
    return m.sample(torch::stack(in));
  };
  if (run->opts.model == "cgan") {
    put("class-rows.png",
        codes_grid(o.num_classes,
                   [&](int64_t r, int64_t) {
                     return torch::one_hot(torch::tensor(r), o.num_classes).to(torch::kFloat);
                   }),
        cols);
  }
  if (run->opts.model == "infogan") {
    put("infogan-categories.png",
        codes_grid(o.info_cat,
                   [&](int64_t r, int64_t) {
                     return torch::cat(
                         {torch::one_hot(torch::tensor(r), o.info_cat).to(torch::kFloat),
                          torch::zeros({o.info_con})});
                   }),
        cols);
    for (int64_t j = 0; j < o.info_con; ++j) {
      // Rows: categories; columns: c_con[j] from -2 to 2 (past the training range of +-1).
      torch::Tensor z = torch::randn({o.z_dim}, gen);
      std::vector<torch::Tensor> in;
      for (int64_t r = 0; r < o.info_cat; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          torch::Tensor con = torch::zeros({o.info_con});
          con[j] = -2.0 + 4.0 * c / (cols - 1);
          in.push_back(
              torch::cat({z, torch::one_hot(torch::tensor(r), o.info_cat).to(torch::kFloat), con}));
        }
      put("infogan-continuous-" + std::to_string(j) + ".png", m.sample(torch::stack(in)), cols);
    }
  }
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
  gan::dist::World world(&argc, &argv);
  return gan::launch::guarded_main("gan_eval", &world, [&]() -> int {
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

    auto* tc =
        app.add_subcommand("train-classifier",
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
    tc->add_option("--max-images", co.max_images, "use at most this many training images (0: all)")
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

    auto* pc = app.add_subcommand("pictures", "sample grid plus the model's own pictures (PNG)");
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
    gan::launch::set_blas_threads(1);
    torch::set_num_threads(1);
    if (tc->parsed()) {
      if (!world.is_root()) return 0;
      auto r = gan::eval::train_classifier(
          co, cls_out, [](const std::string& s) { std::cerr << "gan_eval: " << s << std::endl; });
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
    if (sc->parsed()) return world.is_root() ? write_samples(s_ckpt, s_data, s_n, seed, s_out) : 0;
    if (pc->parsed()) return world.is_root() ? pictures(p_ckpt, p_data, seed, p_out) : 0;
    if (so.checkpoint.empty())
      throw UsageError("give --checkpoint DIR (or a subcommand; see --help)");
    so.cache = !no_cache;
    return score(world, so);
  });
}
