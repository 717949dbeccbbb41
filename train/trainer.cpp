#include "train/trainer.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/checked_io.h"
#include "core/errors.h"
#include "dataio/loader.h"
#include "dist/agreement.h"
#include "dist/comm_curve.h"
#include "dist/cuda_device.h"
#include "dist/data_parallel.h"
#include "dist/device_timer.h"
#include "dist/digest.h"
#include "dist/mpi_communicator.h"
#include "dist/watchdog.h"
#include "eval/distributed.h"
#include "eval/feature_net.h"
#include "eval/frechet.h"
#include "eval/image_stats.h"
#include "train/checkpoint.h"
#include "train/ema.h"
#include "train/interval_meter.h"
#include "train/metrics_sink.h"
#include "train/png.h"
#include "train/restore.h"
#include "train/signals.h"
#include "train/tensorboard.h"

namespace gan::train {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The data order of this rank (the same options for sizing the run and for the loader).
dataio::SamplerOptions sampler_options(const TrainOptions& o, const dist::World& world) {
  dataio::SamplerOptions so{o.model_opts.seed, o.batch_size, world.rank(), world.size()};
  so.sampling = o.sampling;
  return so;
}

std::string format_eta(double s) {
  int64_t t = static_cast<int64_t>(s);
  std::ostringstream o;
  if (t >= 3600) o << t / 3600 << "h";
  if (t >= 60) o << (t / 60) % 60 << "m";
  o << t % 60 << "s";
  return o.str();
}

// Options whose change does not alter what is computed, so a resumed run may differ in them.
bool resumable_difference(const std::string& key) {
  static const char* keys[] = {"resume",
                               "steps",
                               "epochs",
                               "log-every",
                               "sample-every",
                               "checkpoint-every",
                               "keep-checkpoints",
                               "replica-check-every",
                               "config",
                               "threads",
                               "overlap",  // on and off give bitwise-equal results
                               "out",
                               "debug-trace",
                               "comm-curve",
                               "tensorboard",
                               "sample-weights",  // what is sampled, not what is trained
                               "eval-classifier",
                               "collective-timeout",
                               "deterministic"};
  for (const char* k : keys)
    if (key == k) return true;
  return false;
}

// The host's online cores, not the affinity mask: a rank bound to one core still shares the
// host with its peers.
int online_cores() { return static_cast<int>(std::thread::hardware_concurrency()); }

}  // namespace

bool resolve_overlap(Overlap setting, const std::string& device, int local_ranks, int threads,
                     int host_cores) {
  if (setting != Overlap::kAuto) return setting == Overlap::kOn;
  if (device.rfind("cuda", 0) == 0) return true;
  return local_ranks * std::max(1, threads) < host_cores;
}

struct Trainer::State {
  // First member: no collective of the run, its teardown included, waits longer than
  // --collective-timeout.
  struct WatchdogRun {
    WatchdogRun(double timeout_s, int rank) { dist::watchdog::start(timeout_s, rank); }
    ~WatchdogRun() { dist::watchdog::stop(); }
  } watchdog_run;
  TrainOptions o;
  dist::World& world;
  std::unique_ptr<dist::Communicator> comm;
  std::unique_ptr<dist::DataParallel> dp;
  std::unique_ptr<models::Model> model;
  // The model's networks by name, listed once: the step loop walks them every step.
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules;
  dataio::Manifest manifest;
  std::unique_ptr<CheckpointStore> store;
  std::unique_ptr<MetricsSink> sink;
  std::unique_ptr<TensorBoardWriter> tb;  // rank 0, unless --tensorboard false
  std::unique_ptr<ModuleEma> ema;         // the generator's average, with --g-ema/--g-ema-kimg
  std::shared_ptr<spdlog::logger> log;
  int64_t start_step = 0, total_steps = 0, steps_per_epoch = 0;
  torch::Tensor fixed_z, eval_z, real_eval;
  // Scoring during training (--eval-features or --eval-classifier), on every rank: the
  // feature network, an MPI communicator for CPU features, the noise of the scored images
  // (the same draw each time) and, on rank 0, the real images' statistics.
  std::unique_ptr<eval::FeatureNet> eval_net;
  std::unique_ptr<dist::MpiCommunicator> eval_comm;
  torch::Tensor score_z;
  eval::ReferenceStats reference;
  std::unique_ptr<std::ofstream> trace;  // --debug-trace
  dist::DeviceTimer step_timer;          // the model steps of a log interval

  uint64_t log_hook = 0;              // writes a fatal error to this rank's log
  bool overlap = false;               // --overlap as decided for every rank
  std::vector<std::string> rejected;  // corrupt checkpoints skipped by --resume

  // The manifest, each rank's share of the shards re-hashed, and the run's length in steps.
  void load_data();
  // Device, communicator, DataParallel and model; parameters broadcast from rank 0; the
  // generator's average. Decides --overlap once for every rank.
  void build_model();
  // With --resume: the newest checkpoint whose checksums hold, loaded on every rank, its
  // options checked against this run's; the corrupt ones skipped are kept in `rejected`.
  void resume();
  // Rank 0 creates the run folder and writes config.toml.
  void open_run_folder();
  // log/rank-R.log on every rank (and stderr on rank 0), then the run's opening lines.
  void open_logs();
  // Rank 0: metrics files, TensorBoard, the fixed sample noise and the real images that
  // generated ones are compared with.
  void open_outputs();
  // Scoring during training: the feature network and the real images' statistics.
  void prepare_scoring();
  // --debug-trace: per-rank raw metrics, every step.
  void open_trace();

  // The steps of the loop.
  // FD and KID of --eval-images generated images in the feature network's space, every rank
  // generating and embedding its share; the result on rank 0.
  nlohmann::json score();
  // A sample grid and image statistics, and/or scores, as one row of eval.jsonl (rank 0).
  void sample_and_eval(int64_t step, bool sample, bool scored);
  // Every rank's state in checkpoints/step-N (rank 0 writes; the others wait).
  void checkpoint(int64_t step);
  // One model step on the next batch, with its buffers broadcast and the average updated.
  void train_step(dataio::Loader& loader, int64_t step, IntervalMeter& meter);
  // One row of metrics.jsonl (and TensorBoard) and a progress line, from the interval's totals.
  void log_interval(int64_t done, IntervalMeter& meter, Clock::time_point run_start);
  // After the last step: bytes read, the all-reduce curve, digests, final.json.
  void finish(const dataio::Loader& loader, Clock::time_point run_start);

  State(TrainOptions opts, dist::World& w)
      : watchdog_run(opts.collective_timeout, w.rank()), o(std::move(opts)), world(w) {}
  ~State() { dist::watchdog::remove(log_hook); }

  std::map<std::string, std::string> digests() {
    std::map<std::string, std::string> d;
    for (auto& [name, m] : model->modules()) d[name] = dist::module_digest(*m);
    if (ema) d[ema_digest_key(*model)] = ema->digest();
    return d;
  }
};

Trainer::~Trainer() = default;

void Trainer::State::load_data() {
  // Unwatched: each rank re-hashes its share of the data first, which takes as long as the
  // data is large, not as long as a peer is stuck.
  {
    dist::watchdog::Unwatched unwatched;
    dist::all_or_none(world, [&] {
      manifest = dataio::Manifest::load(o.data);
      const auto& m = manifest;
      if (m.shape.h != m.shape.w)
        throw DataError(o.data + ": images are " + std::to_string(m.shape.h) + "x" +
                        std::to_string(m.shape.w) + "; models need square images");
      // Each rank re-hashes its share of the shards and checks each one's image count against
      // the manifest: a flipped byte, or a count the shard does not hold, stops the run here.
      auto problems = dataio::verify_shards(o.data, m, false, world.rank(), world.size());
      if (!problems.empty())
        throw DataError(o.data + "/" + problems[0].shard + ": " + problems[0].reason);
    });
    // Only once every rank has verified its share: the sampler allocates by the manifest's
    // counts, and a count of 1e12 that no shard holds must be a DataError naming the shard,
    // not a std::bad_alloc.
    dist::all_or_none(world, [&] {
      const auto& m = manifest;
      std::vector<int64_t> counts;
      for (const auto& e : m.shards) counts.push_back(e.count);
      steps_per_epoch =
          dataio::DistributedSampler(counts, m.chunk_images, sampler_options(o, world))
              .steps_per_epoch();
      total_steps = o.steps > 0 ? o.steps : o.epochs * steps_per_epoch;
    });
  }
}

void Trainer::State::build_model() {
  auto& mo = o.model_opts;
  mo.image_h = manifest.shape.h;
  mo.image_w = manifest.shape.w;
  mo.channels = manifest.shape.c;
  mo.num_classes = manifest.num_classes;
  mo.global_batch = o.batch_size;
  dist::all_or_none(world, [&] {
    // Chosen and made current before anything touches CUDA: one GPU per local rank.
    if (o.device == "cuda") o.device = dist::select_cuda_device(world).str();
    dist::set_deterministic(o.deterministic);
  });
  mo.device = o.device;
  // One decision for every rank: ranks that disagree would order their collectives differently
  // whenever backward itself communicates (SyncBatchNorm). auto weighs each host separately.
  overlap = world.allreduce_min(resolve_overlap(o.overlap, o.device, world.local_size(), o.threads,
                                                online_cores())) == 1;
  dist::all_or_none(world, [&] {
    torch::manual_seed(mo.seed);
    comm = dist::make_communicator(o.backend, world, torch::Device(o.device), o.check_collectives);
    dist::ReducerOptions ro;
    ro.bucket_mb = o.bucket_mb;
    ro.overlap = overlap;
    ro.compress = o.grad_compress;
    dp = std::make_unique<dist::DataParallel>(*comm, world, ro);
    model = models::make_model(o.model, mo, *dp);
    // Module::to moves parameters in place, so the optimizers keep valid references.
    modules = model->modules();
    for (auto& [name, m] : modules) m->to(torch::Device(o.device));
  });
  for (auto& [name, m] : modules) dp->broadcast_module(*m);
  ema = make_generator_ema(o, *model);
}

void Trainer::State::resume() {
  store = std::make_unique<CheckpointStore>((fs::path(o.out) / "checkpoints").string(),
                                            o.keep_checkpoints);
  if (o.resume) {
    std::string folder;
    if (world.is_root()) folder = store->latest_valid(&rejected).value_or("");
    {
      dist::watchdog::Unwatched w;  // rank 0 alone has been checking checkpoints
      folder = world.broadcast(folder);
    }
    if (!folder.empty()) {
      dist::all_or_none(world, [&] {
        auto meta = restore_checkpoint(folder, *model, ema.get());
        auto then = dist::parse_config_lines(meta.config),
             now = dist::parse_config_lines(o.config_text);
        for (const auto& [k, v] : now)
          if (!resumable_difference(k) && then.count(k) && then[k] != v)
            throw CheckpointError(folder + " was made with " + k + " = " + then[k] +
                                  ", this run has " + v);
        start_step = meta.step;
      });
    } else if (!rejected.empty()) {
      std::string why;
      for (const auto& r : rejected) why += "\n  " + r;
      throw CheckpointError(
          "--resume: no usable checkpoint in " + (fs::path(o.out) / "checkpoints").string() + why,
          true);
    }
  }
}

void Trainer::State::open_run_folder() {
  dist::all_or_none(world, [&] {
    if (world.is_root()) {
      for (const char* sub : {"samples", "checkpoints", "log"})
        fs::create_directories(fs::path(o.out) / sub);
      if (::access(o.out.c_str(), W_OK) != 0)
        throw UsageError("--out " + o.out + " is not writable");
      write_file_atomic((fs::path(o.out) / "config.toml").string(), o.config_text);
    }
  });
  world.barrier();
}

void Trainer::State::open_logs() {
  std::vector<spdlog::sink_ptr> sinks;
  auto log_path = fs::path(o.out) / "log" / ("rank-" + std::to_string(world.rank()) + ".log");
  sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path.string()));
  if (world.is_root()) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  log = std::make_shared<spdlog::logger>("rank" + std::to_string(world.rank()), sinks.begin(),
                                         sinks.end());
  log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(world.rank()) + "] [%l] %v");
  log->flush_on(spdlog::level::info);
  {
    // A watchdog or fatal-error exit leaves its reason in this rank's log too.
    auto file_log = std::make_shared<spdlog::logger>("rank-file", sinks.front());
    file_log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(world.rank()) +
                          "] [%l] %v");
    log_hook = dist::watchdog::add_abort_hook([file_log](const std::string& why) {
      file_log->error("{}", why);
      file_log->flush();
    });
  }
  for (const auto& r : rejected) log->warn("skipped corrupt checkpoint: {}", r);
  log->info(
      "{} on {} rank(s), host {}, local rank {}/{}, pid {}, device {}, backend {}, {} thread(s), "
      "overlap {} ({})",
      o.model, world.size(), world.host(), world.local_rank(), world.local_size(), getpid(),
      o.device, comm->name(), o.threads, overlap ? "on" : "off", name_of(kOverlapNames, o.overlap));
  log->info("built with {}; running {}{}", dist::build_flavour(),
            dist::runtime_versions(torch::Device(o.device)),
            o.deterministic ? "; deterministic algorithms, TF32 off" : "");
  log->info("data {}: {} images {}x{}x{}, {} steps/epoch at global batch {}", o.data,
            manifest.total, manifest.shape.h, manifest.shape.w, manifest.shape.c, steps_per_epoch,
            o.batch_size);
  // Trainable parameters per network, the figure papers quote for an architecture.
  std::string counts;
  for (const auto& [name, m] : model->modules()) {
    int64_t n = 0;
    for (const auto& p : m->parameters())
      if (p.requires_grad()) n += p.numel();
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", name, n);
  }
  log->info("parameters: {}", counts);
  if (start_step > 0) log->info("resumed at step {}", start_step);
}

void Trainer::State::open_outputs() {
  const auto& mo = o.model_opts;
  if (world.is_root()) {
    if (start_step > 0) MetricsSink::drop_after(o.out, start_step);
    sink = std::make_unique<MetricsSink>(o.out);
    if (o.tensorboard) {
      // The same steps as metrics.jsonl: a resumed run first drops what came after its
      // checkpoint, then writes a new event file.
      TensorBoardOptions to;
      if (start_step > 0) to.resume_after_step = start_step;
      tb = std::make_unique<TensorBoardWriter>((fs::path(o.out) / "tb").string(), to);
      for (const auto& d : tb->trim().damaged) log->warn("TensorBoard file cut short: {}", d);
      tb->add_text("config", 0, "```toml\n" + o.config_text + "```");
      tb->flush();
    }
    torch::Generator g = at::detail::createCPUGenerator(mo.seed + 0x5a17);
    fixed_z = model->noise(o.sample_count, g).to(torch::Device(o.device));
    int64_t n = std::min(o.eval_images, manifest.total);
    auto pixels = dataio::read_image_range(o.data, manifest, 0, n);
    real_eval = dataio::to_float_nchw(pixels.data(), n, manifest.shape);
    eval_z = model->noise(n, g).to(torch::Device(o.device));
  }
}

void Trainer::State::prepare_scoring() {
  const auto& mo = o.model_opts;
  if (!o.eval_features.empty() || !o.eval_classifier.empty()) {
    dist::all_or_none(world, [&] {
      if (!o.eval_features.empty() && !o.eval_classifier.empty())
        throw UsageError("give --eval-features or --eval-classifier, not both");
      eval_net = o.eval_features.empty() ? eval::load_classifier_features(o.eval_classifier)
                                         : eval::load_torchscript_features(o.eval_features);
    });
    eval_comm = std::make_unique<dist::MpiCommunicator>(world);
    torch::Generator g = at::detail::createCPUGenerator(mo.seed + 0x5c0e);
    score_z = model->noise(o.eval_images, g);
    // Once per data, network and count: later runs find the statistics in the data's cache.
    dist::watchdog::Unwatched unwatched;
    nlohmann::json report;
    reference = eval::reference_stats(world, *eval_comm, o.data, manifest, *eval_net,
                                      std::min(o.eval_images, manifest.total), true, report,
                                      [&](const std::string& line) { log->info("{}", line); });
  }
}

void Trainer::State::open_trace() {
  if (o.debug_trace)
    trace = std::make_unique<std::ofstream>(
        fs::path(o.out) / "log" / ("trace-rank-" + std::to_string(world.rank()) + ".jsonl"),
        start_step > 0 ? std::ios::app : std::ios::trunc);
}

Trainer::Trainer(TrainOptions opts, dist::World& world)
    : s_(std::make_unique<State>(std::move(opts), world)) {
  auto& s = *s_;
  // First of all: every rank must be running the same job.
  dist::agree_on_config(world, s.o.config_text);
  torch::set_num_threads(s.o.threads);
  s.load_data();
  s.build_model();
  s.resume();
  s.open_run_folder();
  s.open_logs();
  s.open_outputs();
  s.prepare_scoring();
  s.open_trace();
}

nlohmann::json Trainer::State::score() {
  torch::NoGradGuard no_grad;
  torch::Tensor fake;
  {
    ModuleEma::Applied average(o.sample_weights == SampleWeights::kEma ? ema.get() : nullptr);
    for (auto& [n, m] : modules) m->eval();
    fake = eval::gathered_features(
        *eval_comm, *eval_net,
        [&](int64_t first, int64_t n) {
          torch::Tensor z = score_z.narrow(0, first, n).to(torch::Device(o.device));
          return model->sample(z).to(torch::kCPU).clamp(-1, 1);
        },
        score_z.size(0));
    for (auto& [n, m] : modules) m->train();
  }
  if (!world.is_root()) return nlohmann::json::object();
  // Ten subsets of half the images: a standard error from subsets that differ.
  const int64_t half = std::max<int64_t>(2, fake.size(0) / 2);
  return eval::fd_and_kid(fake, reference, {10, std::min<int64_t>(1000, half), o.model_opts.seed});
}

void Trainer::State::sample_and_eval(int64_t step, bool sample, bool scored) {
  nlohmann::json row{{"step", step}};
  if (scored) row.update(score());
  if (!world.is_root()) return;
  std::string grid_path, text;
  if (scored)
    text = fmt::format("FD {:.4f}, KID {:.5f} +- {:.5f}", row["fd"].get<double>(),
                       row["kid"].get<double>(), row["kid_std_error"].get<double>());
  if (sample) {
    torch::NoGradGuard no_grad;
    torch::Tensor fake, more;
    {
      // With the generator's average unless asked for the raw weights; restored after.
      ModuleEma::Applied average(o.sample_weights == SampleWeights::kEma ? ema.get() : nullptr);
      for (auto& [n, m] : modules) m->eval();
      // Pictures and statistics are made on the host, whatever the device.
      fake = model->sample(fixed_z).to(torch::kCPU);
      more = model->sample(eval_z).to(torch::kCPU);
      for (auto& [n, m] : modules) m->train();
    }
    int64_t cols = static_cast<int64_t>(std::ceil(std::sqrt(double(fake.size(0)))));
    grid_path = (fs::path(o.out) / "samples" / (step_name(step) + ".png")).string();
    write_grid_png(grid_path, fake, cols);
    auto d = eval::image_stats_distance(more, real_eval);
    row["histogram_l1"] = d.histogram_l1;
    row["moment_rmse"] = d.moment_rmse;
    text = fmt::format("histogram L1 {:.4f}, moment RMSE {:.4f}{}{}", d.histogram_l1, d.moment_rmse,
                       text.empty() ? "" : ", ", text);
  }
  sink->write_eval(row.dump());
  if (tb) {
    std::vector<std::pair<std::string, double>> scalars;
    for (auto& [k, v] : row.items())
      if (k != "step") scalars.emplace_back("eval/" + k, v.get<double>());
    tb->add_scalars(step, scalars);
    if (sample) tb->add_png_file("samples", step, grid_path);
    tb->flush();
  }
  log->info("eval step {}: {}", step, text);
}

void Trainer::State::checkpoint(int64_t step) {
  const auto& mo = o.model_opts;
  CheckpointMeta meta{step,         step / steps_per_epoch,
                      world.size(), o.config_text,
                      digests(),    {mo.image_h, mo.image_w, mo.channels, mo.num_classes}};
  if (world.is_root())
    log->info("checkpoint {}", store->save(meta, *model, [&](torch::serialize::OutputArchive& ar) {
      if (ema) ema->save(ar);
    }));
  dist::watchdog::Unwatched w;  // the others wait while rank 0 writes
  world.barrier();
}

void Trainer::State::train_step(dataio::Loader& loader, int64_t step, IntervalMeter& meter) {
  dist::watchdog::set_step(step + 1);
  const torch::Device device(o.device);
  dataio::Batch batch = loader.next();
  if (device.is_cuda()) {  // pinned host memory: the copy overlaps with the compute stream
    batch.images = batch.images.to(device, /*non_blocking=*/true);
    if (batch.labels.defined()) batch.labels = batch.labels.to(device, true);
  }
  meter.add_data_wait(loader.take_wait_seconds());
  models::StepMetrics m;
  {
    // On the device's clock, like the phases inside it (CUDA events on a GPU).
    dist::DeviceTimer::Scope timed(step_timer, device);
    m = model->train_step(batch);
    for (auto& [n, mod] : modules)
      if (!mod->buffers().empty()) dp->broadcast_buffers(*mod);
    if (ema) ema->update((step + 1) * o.batch_size);
  }
  if (trace) {
    // Full precision (nlohmann writes doubles round-trip exact): tests compare bits.
    nlohmann::json row{{"step", step + 1}};
    for (auto& [k, v] : m.values) row[k] = v;
    *trace << row.dump() << "\n" << std::flush;
  }
  meter.add_step(m.values, step + 1, world.rank());
}

void Trainer::State::log_interval(int64_t done, IntervalMeter& meter, Clock::time_point run_start) {
  const int64_t steps = meter.steps();
  const double wall = meter.wall_seconds();
  // The interval's device times, every one finished (one wait per log line on a GPU).
  PhaseSeconds phases;
  phases.step = step_timer.take_seconds(/*wait=*/true);
  phases.comm = dp->take_comm_seconds(/*wait=*/true);
  const auto model_phases = model->take_phase_times(/*wait=*/true);
  // SyncBatchNorm's all-reduces run inside backward: counted once, as communication.
  phases.backward = model_phases.backward_s - dp->take_comm_in_backward_seconds(/*wait=*/true);
  phases.optimizer = model_phases.optimizer_s;
  const auto means = meter.take_means(phases, world.size(), [&](std::vector<double> v) {
    return world.allreduce_sum(std::move(v));
  });
  const int64_t epoch = (done - 1) / steps_per_epoch;
  Row row{{"step", double(done)},
          {"epoch", double(epoch)},
          {"images_seen", double(done) * o.batch_size}};
  row.insert(row.end(), means.metrics.begin(), means.metrics.end());
  row.insert(row.end(), means.phases_ms.begin(), means.phases_ms.end());
  row.emplace_back("images_per_s", steps * o.batch_size / wall);
  row.emplace_back("wall_s", seconds_since(run_start));
  if (!world.is_root()) return;
  sink->write(row);
  if (tb) {  // the same numbers under stable tags: metrics/<column of metrics.jsonl>
    std::vector<std::pair<std::string, double>> scalars;
    for (const auto& [k, v] : row)
      if (k != "step") scalars.emplace_back("metrics/" + k, v);
    tb->add_scalars(done, scalars);
    tb->flush();
  }
  const double rate = (done - start_step) / seconds_since(run_start);
  std::string losses;
  for (const auto& [k, v] : means.metrics) losses += fmt::format(" {} {:.4f}", k, v);
  log->info("step {}/{} epoch {} | {:.0f} img/s |{} | ETA {}", done, total_steps, epoch,
            steps * o.batch_size / wall, losses,
            format_eta((total_steps - done) / std::max(rate, 1e-9)));
}

void Trainer::State::finish(const dataio::Loader& loader, Clock::time_point run_start) {
  // Each rank's reads: about the dataset per epoch with invariant sampling, 1/N with sharded.
  log->info(
      "read {:.2f} MB from the shards ({} sampling; the dataset is {:.2f} MB)",
      double(loader.bytes_read()) / 1e6, name_of(dataio::kSamplingNames, o.sampling),
      double(manifest.total) * double(manifest.shape.bytes() + 8 * manifest.label_dims) / 1e6);
  if (o.comm_curve && world.size() > 1) {
    // The communicator's all-reduce curve at the sizes the reducers sent and powers of 4
    // below them: the measured inputs of benchmarks/scaling/report.py's cost model.
    std::vector<int64_t> sent;
    std::string sizes;
    for (const auto& [bytes, count] : dp->gradient_messages()) {
      sent.push_back(bytes);
      sizes += std::to_string(bytes) + " ";
    }
    // The same sizes on every rank (replicas send the same buckets): checked, not assumed.
    dist::check_replicas(world, "gradient message sizes", sizes, total_steps);
    const auto curve =
        dist::allreduce_curve(*comm, world, dist::curve_sizes(sent), torch::Device(o.device));
    if (world.is_root()) {
      write_file_atomic((fs::path(o.out) / "allreduce.csv").string(),
                        dist::curve_csv(curve, world.size()));
      for (const auto& p : curve)
        log->info("all-reduce {} B: {:.1f} us, busbw {:.3f} GB/s", p.bytes, p.seconds * 1e6,
                  p.busbw_gbps);
    }
  }
  // Every rank logs its own digests: replicas are identical iff these lines are.
  for (auto& [name, d] : digests()) log->info("final digest {} {}", name, d);
  if (world.is_root()) {
    nlohmann::json fin{{"step", total_steps}};
    for (auto& [name, d] : digests()) {
      std::string key = name;
      for (auto& c : key) c = static_cast<char>(std::tolower(c));
      fin["digest_" + key] = d;
    }
    if (tb) tb->close();  // its errors thrown here, before the run is declared done
    write_file_atomic((fs::path(o.out) / "final.json").string(), fin.dump(2) + "\n");
    log->info("done: {} steps in {:.1f} s", total_steps - start_step, seconds_since(run_start));
    // The message sizes behind comm_ms, for cost models (benchmarks/netem/).
    std::string sent;
    for (const auto& [bytes, count] : dp->gradient_messages())
      sent += fmt::format("{}{} B x {:.2f}", sent.empty() ? "" : ", ", bytes,
                          double(count) / double(total_steps - start_step));
    if (!sent.empty())
      log->info("gradient all-reduces per step{}: {}",
                world.size() > 1 ? "" : " (none at one rank; what more ranks send)", sent);
  }
}

int Trainer::run() {
  auto& s = *s_;
  const auto& o = s.o;
  install_stop_handlers();
  // Grids at --sample-every steps; scores at --eval-every steps (at the sample steps by default).
  const int64_t eval_every = o.eval_every > 0 ? o.eval_every : o.sample_every;
  auto due = [&](int64_t every, int64_t step, bool last) {
    return every > 0 && (step % every == 0 || last);
  };
  if (s.start_step == 0 && (o.sample_every > 0 || (s.eval_net && eval_every > 0))) {
    dist::watchdog::Unwatched w;
    s.sample_and_eval(0, o.sample_every > 0, s.eval_net && eval_every > 0);
  }

  dataio::LoaderOptions lo;
  lo.sampler = sampler_options(o, s.world);
  lo.start_step = s.start_step;
  lo.end_step = s.total_steps;
  lo.pin_memory = torch::Device(o.device).is_cuda();
  dataio::Loader loader(o.data, s.manifest, lo);
  IntervalMeter meter;
  const auto run_start = Clock::now();

  for (int64_t step = s.start_step; step < s.total_steps; ++step) {
    s.train_step(loader, step, meter);
    const int64_t done = step + 1;
    const bool last = done == s.total_steps;
    if (done % o.log_every == 0 || last) s.log_interval(done, meter, run_start);
    if (o.replica_check_every > 0 && (done % o.replica_check_every == 0 || last))
      for (auto& [n, mod] : s.modules)
        dist::check_replicas(s.world, n, dist::module_digest(*mod), done);
    const bool sample = due(o.sample_every, done, last);
    const bool scored = s.eval_net && due(eval_every, done, last);
    if (sample || scored) {
      // Unwatched: a large feature network takes as long as it takes, and the others wait
      // here, not in the next watched collective, while rank 0 evaluates.
      dist::watchdog::Unwatched w;
      s.sample_and_eval(done, sample, scored);
      if (s.world.size() > 1) s.world.barrier();
    }
    if (o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && !last) s.checkpoint(done);

    int64_t sig = s.world.size() > 1 ? s.world.allreduce_max(stop_signal()) : stop_signal();
    if (sig != 0 && !last) {
      s.log->warn("signal {} received: checkpointing at step {} and exiting {}", sig, done,
                  int(kExitPreempted));
      s.checkpoint(done);
      return kExitPreempted;
    }
  }
  s.checkpoint(s.total_steps);
  s.finish(loader, run_start);
  return kExitOk;
}

}  // namespace gan::train
