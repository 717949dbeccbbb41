#include "train/cli.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "dataio/manifest.h"
#include "dist/cuda_device.h"
#include "models/model.h"

namespace gan::train {

namespace fs = std::filesystem;

namespace {

// An accepted range as --help and errors write it: "[1, inf)", "(0, 1]".
std::string range_text(double lo, bool lo_open, double hi) {
  std::ostringstream out;
  out << (lo_open ? "(" : "[") << lo << ", ";
  if (hi == models::ModelParam::kNoLimit)
    out << "inf)";
  else
    out << hi << "]";
  return out.str();
}

// A finite number in [lo, hi] ((lo, hi] with lo_open), whole where asked. CLI11's
// PositiveNumber and NonNegativeNumber answer a word that is not a number with "Value abc not
// in range 0.000000 to 1797...": this says what is wrong with the value.
CLI::Validator number_check(double lo, bool lo_open, double hi = models::ModelParam::kNoLimit,
                            bool whole = false) {
  const bool from_zero = lo == 0 && hi == models::ModelParam::kNoLimit;
  const std::string range = range_text(lo, lo_open, hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v))
          return "'" + text + "' is not a number";
        if (whole && v != std::floor(v)) return text + " is not a whole number";
        const bool low = lo_open ? !(v > lo) : !(v >= lo);
        if (from_zero && low) return text + (lo_open ? " is not positive" : " is negative");
        if (low || v > hi) return text + " is not in " + range;
        return {};
      },
      from_zero ? (lo_open ? "POSITIVE" : "NONNEGATIVE") : "in " + range);
}
const CLI::Validator kPositive = number_check(0, true);
const CLI::Validator kNonNegative = number_check(0, false);
// A required folder given as "" passes CLI11 (the option was given) but is recorded as
// `key=""`, the form of an option never set, so the recorded config would not parse again.
const CLI::Validator kNonEmpty([](std::string& text)
                                   -> std::string { return text.empty() ? "cannot be empty" : ""; },
                               "NONEMPTY");

// Every model's own settings, once per key: the option's help names the models that read it,
// its default is the first declaring model's (resolve_train_options applies the chosen
// model's own value).
void define_model_params(CLI::App& app, models::ModelOptions& m) {
  std::vector<std::string> keys;
  std::map<std::string, std::pair<std::string, const models::ModelParam*>> readers;
  for (const auto& info : models::model_infos())
    for (const auto& p : info.params) {
      auto [it, added] = readers.try_emplace(p.key, info.name, &p);
      if (added)
        keys.push_back(p.key);
      else
        it->second.first += ", " + info.name;
    }
  for (const auto& key : keys) {
    const auto& [names, p] = readers.at(key);
    m.params[key] = p->value;
    app.add_option("--" + key, m.params[key], names + ": " + p->help)
        ->group("Model settings (each read only by the models it names)")
        ->type_name(p->whole ? "INT" : "FLOAT")
        ->check(number_check(p->lo, p->lo_open, p->hi, p->whole))
        ->capture_default_str();
  }
}

// An option naming one of a closed set: the word is checked and becomes its enum here, once;
// config.toml records the word.
template <typename E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& target, const Names<E>& names,
                        const std::string& help) {
  std::vector<std::string> words;
  for (const auto& [word, value] : names) words.push_back(word);
  return app
      .add_option_function<std::string>(
          flag, [&target, &names](const std::string& word) { target = *value_of(names, word); },
          help)
      ->check(CLI::IsMember(words))
      ->default_str(name_of(names, target))
      ->run_callback_for_default();
}

// What to train, on what data, for how long, where to: the options most runs give.
void define_run_options(CLI::App& app, TrainOptions& o) {
  auto& m = o.model_opts;
  app.set_config("--config", "", "read options from a TOML or INI file");
  app.add_option("--model", o.model, "model to train")
      ->check(CLI::IsMember(gan::models::model_names()))
      ->capture_default_str();
  app.add_option("--data", o.data, "folder of HDF5 shards made by gan_prep")
      ->required()
      ->check(kNonEmpty);
  app.add_option("--out", o.out, "run folder (metrics, samples, checkpoints, logs)")
      ->required()
      ->check(kNonEmpty);
  auto* steps = app.add_option("--steps", o.steps, "total optimisation steps")->check(kPositive);
  auto* epochs =
      app.add_option("--epochs", o.epochs, "train for this many epochs")->check(kPositive);
  steps->excludes(epochs);
  app.add_option("--batch-size", o.batch_size, "GLOBAL batch size, split evenly over ranks")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--seed", m.seed, "seed of initialisation, noise and data order")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "intra-op threads per rank")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the newest valid checkpoint under --out");
}

// The networks' shape and how they are optimised, G's moving average included.
void define_network_options(CLI::App& app, TrainOptions& o) {
  auto& m = o.model_opts;
  app.option_defaults()->group("Networks and optimisation");
  app.add_option("--lr", m.lr_g, "learning rate of G and D")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--lr-d", m.lr_d, "learning rate of D (default: --lr)")->check(kPositive);
  app.add_option("--beta1", m.beta1, "Adam beta1")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--beta2", m.beta2, "Adam beta2")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  add_choice(app, "--optimizer", m.optimizer, models::kOptimizerNames,
             "optimizer of every network");
  app.add_option("--lr-halve-every", m.lr_halve_every,
                 "halve the learning rates every N steps (0: never)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--z-dim", m.z_dim, "noise dimension")->check(kPositive)->capture_default_str();
  app.add_option("--g-width", m.g_width, "base channels of G")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--d-width", m.d_width, "base channels of D")
      ->check(kPositive)
      ->capture_default_str();
  add_choice(app, "--norm", m.norm, models::kNormNames,
             "normalisation in G and D (sync: SyncBatchNorm over ranks)");
  add_choice(app, "--init", m.init, models::kInitNames, "weight initialisation");
  add_choice(app, "--noise", m.noise, models::kNoiseNames, "noise distribution: N(0,1) or U(-1,1)");
  app.add_flag("--spectral-norm", m.spectral_norm, "spectral normalisation of D's weights");
  app.add_option("--label-smoothing", m.label_smoothing,
                 "one-sided: D's target for real images is 1 - s")
      ->check(CLI::Range(0.0, 0.5))
      ->capture_default_str();
  app.add_option("--g-ema", o.g_ema,
                 "keep a moving average of G's weights with this decay per step, e.g. 0.999 "
                 "(0: off); sample grids and evaluation use it")
      ->check(CLI::Range(0.0, 0.9999999))
      ->capture_default_str();
  app.add_option("--g-ema-kimg", o.g_ema_kimg,
                 "the average's half-life in thousands of images instead of a decay (0: off)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--g-ema-rampup", o.g_ema_rampup,
                 "with --g-ema-kimg: cap the half-life at this fraction of the images seen "
                 "(0: no ramp-up; StyleGAN2-ADA uses 0.05)")
      ->check(kNonNegative)
      ->capture_default_str();
}

// What a run writes under --out, and how often.
void define_output_options(CLI::App& app, TrainOptions& o) {
  app.option_defaults()->group("Outputs");
  app.add_option("--log-every", o.log_every, "steps per metrics line")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--sample-every", o.sample_every, "steps per sample grid (0: none)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--sample-count", o.sample_count, "images in a sample grid")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  add_choice(app, "--sample-weights", o.sample_weights, kSampleWeightsNames,
             "G's weights for sample grids and evaluation when an average is kept");
  app.add_option("--checkpoint-every", o.checkpoint_every, "steps per checkpoint (0: at the end)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--keep-checkpoints", o.keep_checkpoints, "checkpoints kept")
      ->check(kPositive)
      ->capture_default_str();
  app.add_option("--tensorboard", o.tensorboard,
                 "rank 0 writes TensorBoard event files under OUT/tb (true | false)")
      ->capture_default_str();
  app.add_flag("--debug-trace", o.debug_trace,
               "every rank writes its raw per-step metrics to log/trace-rank-R.jsonl");
}

// Scores during training (eval.jsonl, TensorBoard).
void define_eval_options(CLI::App& app, TrainOptions& o) {
  app.option_defaults()->group("Evaluation during training");
  app.add_option("--eval-images", o.eval_images,
                 "images compared at each evaluation (image statistics at sample steps; FD and "
                 "KID, as many real as generated, with --eval-features or --eval-classifier)")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  app.add_option("--eval-features", o.eval_features,
                 "TorchScript feature network with gan_features.json (scripts/"
                 "export-fid-inception.py): FD and KID in its features to eval.jsonl and "
                 "TensorBoard, computed over all ranks")
      ->capture_default_str();
  app.add_option("--eval-classifier", o.eval_classifier,
                 "classifier from `gan_eval train-classifier` as the feature network instead")
      ->capture_default_str();
  app.add_option("--eval-every", o.eval_every,
                 "steps between FD/KID evaluations (0: at the sample steps)")
      ->check(kNonNegative)
      ->capture_default_str();
}

// Where ranks compute and how they communicate.
void define_distribution_options(CLI::App& app, TrainOptions& o) {
  app.option_defaults()->group("Devices and distribution");
  app.add_option("--device", o.device, "cpu, or cuda (one GPU per local rank, from local rank)")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  app.add_flag("--deterministic", o.deterministic,
               "GPU: deterministic cuDNN/cuBLAS algorithms, no cuDNN benchmark, no TF32 (slower; "
               "runs then repeat bit for bit)");
  add_choice(app, "--backend", o.backend, dist::kBackendNames, "collective backend");
  app.add_option("--bucket-mb", o.bucket_mb, "gradient bucket cap, MB")
      ->check(kPositive)
      ->capture_default_str();
  add_choice(app, "--overlap", o.overlap, kOverlapNames,
             "start bucket all-reduces during backward: true, false, or auto (on for CUDA, "
             "and on CPUs when ranks x threads leave a core free; results are equal)");
  add_choice(app, "--grad-compress", o.grad_compress, dist::kCompressionNames,
             "gradients travel as fp16/bf16 (fp32 sums)");
  add_choice(app, "--sampling", o.sampling, dataio::kSamplingNames,
             "how ranks share an epoch: invariant (the same batches at any world size; "
             "each rank reads about the whole dataset) or sharded (each rank reads about "
             "1/N of it, for data larger than a node's memory)");
  app.add_option("--collective-timeout", o.collective_timeout,
                 "seconds a collective may stay in flight before the job ends with exit 4, "
                 "naming it (0: wait forever)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--replica-check-every", o.replica_check_every,
                 "steps between cross-rank parameter digest checks (0: off)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_flag("--check-collectives", o.check_collectives,
               "debug: compare every collective across ranks and name a mismatch");
  app.add_flag("--comm-curve", o.comm_curve,
               "after training, measure the all-reduce curve of the job's communicator (4 KB "
               "to the largest gradient bucket) into OUT/allreduce.csv, for "
               "benchmarks/scaling/report.py");
}

}  // namespace

void define_train_options(CLI::App& app, TrainOptions& o) {
  // --help lists them in this order, a group each (the model settings last).
  define_run_options(app, o);
  define_network_options(app, o);
  define_output_options(app, o);
  define_eval_options(app, o);
  define_distribution_options(app, o);
  app.option_defaults()->group("Options");
  define_model_params(app, o.model_opts);
}

void resolve_train_options(CLI::App& app, TrainOptions& o) {
  const auto& info = models::model_info(o.model);
  for (const auto& [key, value] : info.defaults)
    if (app.count("--" + key) == 0) app.get_option("--" + key)->default_val(value);
  for (const auto& p : info.params)
    if (app.count("--" + p.key) == 0) app.get_option("--" + p.key)->default_val(p.value);
  // Record the resolved value, so config.toml and the rank agreement see it.
  if (app.count("--lr-d") == 0) app.get_option("--lr-d")->default_val(o.model_opts.lr_g);
}

TrainOptions options_from_config(const std::string& config_text) {
  TrainOptions o;
  CLI::App app;
  define_train_options(app, o);
  // Options that were never set are recorded as `key=""`; they must stay unset (an empty
  // --epochs would fail its check, and --steps excludes --epochs).
  std::istringstream raw(config_text);
  std::string line, kept;
  while (std::getline(raw, line))
    if (line.size() < 3 || line.compare(line.size() - 3, 3, "=\"\"") != 0) kept += line + "\n";
  std::istringstream in(kept);
  try {
    app.parse_from_stream(in);
  } catch (const CLI::ParseError& e) {
    throw UsageError(std::string("the run's recorded config does not parse: ") + e.what());
  }
  o.config_text = config_text;
  return o;
}

// Every rule a command line is held to before training starts. A real run and --check call
// this one function, so the two cannot drift apart.
void validate_train_options(const TrainOptions& o, const CheckScope& scope) {
  const int world_size = scope.world_size;
  if (o.steps == 0 && o.epochs == 0) throw UsageError("give --steps N or --epochs N");
  if (o.g_ema > 0 && o.g_ema_kimg > 0)
    throw UsageError("--g-ema and --g-ema-kimg both set the average's rate: give one");
  if (o.g_ema_rampup > 0 && o.g_ema_kimg == 0)
    throw UsageError("--g-ema-rampup caps a half-life: it needs --g-ema-kimg");
  // Device and backend: NCCL moves CUDA tensors only, the MPI backend host tensors only.
  if (o.device == "cpu" && o.backend == dist::Backend::kNccl)
    throw UsageError("--backend nccl needs --device cuda (NCCL moves GPU tensors only)");
  if (o.device == "cuda" && o.backend == dist::Backend::kMpi)
    throw UsageError(
        "--device cuda needs --backend nccl or auto (the MPI backend moves host "
        "tensors only)");
  if (o.device == "cuda" && !dist::built_with_cuda())
    throw UsageError("--device cuda: this gan_dist was built with " + dist::build_flavour() +
                     " (build the CUDA flavour: scripts/build.sh --cuda)");
  if (o.batch_size % world_size != 0)
    throw UsageError("--batch-size " + std::to_string(o.batch_size) + " does not divide over " +
                     std::to_string(world_size) + " ranks");
  if (!o.eval_features.empty() && !o.eval_classifier.empty())
    throw UsageError("give --eval-features or --eval-classifier, not both");
  // WGAN's critic steps each take their own slice of the rank's batch: at many ranks the
  // default batch leaves a critic step one image per rank.
  const auto& m = o.model_opts;
  const int64_t n_critic =
      models::model_info(o.model).find_param("n-critic") ? m.int_param("n-critic") : 1;
  if (n_critic > 1) {
    const int64_t local = o.batch_size / world_size, slice = local / n_critic;
    const std::string numbers = "--batch-size " + std::to_string(o.batch_size) + " over " +
                                std::to_string(world_size) + " ranks is " + std::to_string(local) +
                                " images per rank, split over --n-critic " +
                                std::to_string(n_critic) + " critic steps";
    if (slice < 1)
      throw UsageError(numbers +
                       ": no image left for a critic step (raise --batch-size to at least " +
                       std::to_string(n_critic * world_size) + ")");
    if (slice < 8 && scope.warn)
      spdlog::warn(
          "{}: {} real image(s) per critic step per rank ({} of {} unused); the "
          "critic's estimate is that noisy (--batch-size {} gives 8)",
          numbers, slice, local - slice * n_critic, local, 8 * n_critic * world_size);
  }

  // File-system paths last: a check on a submit host that cannot see the cluster's paths
  // (--no-path-check) has applied every other rule by now.
  if (!scope.check_paths) {
    if (scope.unchecked) {
      scope.unchecked->push_back("--data " + o.data +
                                 " (a folder holding a readable manifest.json)");
      // --out without its value: a sweep's tasks differ only there, and the warning is then
      // one line for all of them.
      scope.unchecked->push_back("--out (holds no checkpoints unless --resume)");
      if (!o.eval_classifier.empty())
        scope.unchecked->push_back("--eval-classifier " + o.eval_classifier + " (a file)");
      if (!o.eval_features.empty())
        scope.unchecked->push_back("--eval-features " + o.eval_features + " (a file)");
    }
    return;
  }
  if (!fs::is_directory(o.data))
    throw UsageError("--data " + o.data + ": no such folder (make one with gan_prep)");
  // The loader the Trainer uses: a missing or unreadable manifest is exit 3 naming it.
  dataio::Manifest::load(o.data);
  if (!o.eval_classifier.empty() && !fs::is_regular_file(o.eval_classifier))
    throw UsageError("--eval-classifier " + o.eval_classifier +
                     ": no such file (make one with gan_eval train-classifier)");
  if (!o.eval_features.empty() && !fs::is_regular_file(o.eval_features))
    throw UsageError("--eval-features " + o.eval_features +
                     ": no such file (a TorchScript network with gan_features.json; see "
                     "scripts/export-fid-inception.py)");
  if (!o.resume && fs::is_directory(fs::path(o.out) / "checkpoints") &&
      !fs::is_empty(fs::path(o.out) / "checkpoints"))
    throw UsageError("--out " + o.out +
                     " already holds checkpoints: pass --resume to continue it, or choose "
                     "another folder");
}

}  // namespace gan::train
