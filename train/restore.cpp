#include "train/restore.h"

#include <algorithm>
#include <filesystem>

#include "core/errors.h"
#include "train/checkpoint.h"
#include "train/cli.h"

namespace gan::train {

namespace fs = std::filesystem;

const dataio::Manifest& RestoredRun::manifest() {
  if (!manifest_) {
    if (!data_given && !fs::is_directory(data))
      throw DataError("the run's data folder " + data +
                      (fs::path(data).is_relative() ? " (relative to where it trained)" : "") +
                      " does not exist here: give it with --data");
    manifest_ = dataio::Manifest::load(data);
  }
  return *manifest_;
}

std::pair<std::string, std::shared_ptr<torch::nn::Module>> generator_of(models::Model& model) {
  auto mods = model.modules();
  for (auto& named : mods)
    if (named.first == "G") return named;
  return mods.front();
}

std::unique_ptr<ModuleEma> make_generator_ema(const TrainOptions& o, models::Model& model) {
  const EmaSchedule schedule{o.g_ema, o.g_ema_kimg * 1000.0, o.g_ema_rampup};
  if (!schedule.enabled()) return nullptr;
  return std::make_unique<ModuleEma>(*generator_of(model).second, schedule, o.batch_size);
}

std::string ema_digest_key(models::Model& model) { return generator_of(model).first + "_ema"; }

CheckpointMeta restore_checkpoint(const std::string& folder, models::Model& model, ModuleEma* ema) {
  auto meta = CheckpointStore::load(folder, model, [&](torch::serialize::InputArchive& ar) {
    if (ema) ema->load(ar);
  });
  if (ema) {
    auto it = meta.digests.find(ema_digest_key(model));
    if (it == meta.digests.end() || it->second != ema->digest())
      throw CheckpointError(folder + ": the generator's average does not match its digest");
  }
  return meta;
}

std::unique_ptr<RestoredRun> restore_run(const std::string& path, const std::string& data_override,
                                         const std::string& g_weights) {
  auto run = std::make_unique<RestoredRun>();
  std::string folder = path;
  if (!fs::exists(fs::path(path) / "meta.json")) {
    CheckpointStore runs((fs::path(path) / "checkpoints").string(), 1 << 20);
    std::vector<std::string> rejected;
    auto latest = runs.latest_valid(&rejected);
    if (!latest) throw CheckpointError("--checkpoint " + path + ": no valid checkpoint there");
    folder = *latest;
  }
  auto meta = CheckpointStore::read_meta(folder);
  run->opts = options_from_config(meta.config);
  run->data = data_override.empty() ? run->opts.data : data_override;
  run->data_given = !data_override.empty();
  // The model is built for the data's shape: recorded in the checkpoint (older ones: read
  // from the data's manifest).
  DataShape shape = meta.data;
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
  run->model = models::make_model(run->opts.model, mo, run->coll);
  // The generator's moving average, when the run kept one, replaces its raw weights.
  auto average = make_generator_ema(run->opts, *run->model);
  if (g_weights == "ema" && !average)
    throw UsageError("--weights ema: " + folder + " was trained without --g-ema or --g-ema-kimg");
  run->weights = average && g_weights != "raw" ? "ema" : "raw";
  restore_checkpoint(folder, *run->model, average.get());
  if (average && run->weights == "ema") average->copy_into_module();
  for (auto& [name, m] : run->model->modules()) m->eval();
  run->folder = folder;
  return run;
}

torch::Tensor generate(models::Model& model, int64_t total, int64_t first, int64_t n,
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

}  // namespace gan::train
