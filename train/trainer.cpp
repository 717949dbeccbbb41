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
#include "train/metrics_sink.h"
#include "train/png.h"
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
  so.sampling = dataio::parse_sampling(o.sampling);
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

bool resolve_overlap(const std::string& setting, const std::string& device, int local_ranks,
                     int threads, int host_cores) {
  if (setting != "auto") return setting == "true";
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

  uint64_t log_hook = 0;  // writes a fatal error to this rank's log

  State(TrainOptions opts, dist::World& w)
      : watchdog_run(opts.collective_timeout, w.rank()), o(std::move(opts)), world(w) {}
  ~State() { dist::watchdog::remove(log_hook); }

  std::map<std::string, std::string> digests() {
    std::map<std::string, std::string> d;
    for (auto& [name, m] : model->modules()) d[name] = dist::module_digest(*m);
    if (ema) d[generator_name() + "_ema"] = ema->digest();
    return d;
  }
  // The module that makes images: G, or the one network of a model without a G (the VAE).
  std::string generator_name() {
    auto mods = model->modules();
    for (auto& [name, m] : mods)
      if (name == "G") return name;
    return mods.front().first;
  }
  torch::nn::Module& generator() {
    const std::string name = generator_name();
    for (auto& [n, m] : model->modules())
      if (n == name) return *m;
    throw std::logic_error("no generator");
  }
};

Trainer::~Trainer() = default;

Trainer::Trainer(TrainOptions opts, dist::World& world)
    : s_(std::make_unique<State>(std::move(opts), world)) {
  auto& s = *s_;
  auto& o = s.o;
  // First of all: every rank must be running the same job.
  dist::agree_on_config(world, o.config_text);

  torch::set_num_threads(o.threads);
  // Unwatched: each rank re-hashes its share of the data first, which takes as long as the
  // data is large, not as long as a peer is stuck.
  {
    dist::watchdog::Unwatched unwatched;
    dist::all_or_none(world, [&] {
      s.manifest = dataio::Manifest::load(o.data);
      const auto& m = s.manifest;
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
      const auto& m = s.manifest;
      std::vector<int64_t> counts;
      for (const auto& e : m.shards) counts.push_back(e.count);
      s.steps_per_epoch =
          dataio::DistributedSampler(counts, m.chunk_images, sampler_options(o, world))
              .steps_per_epoch();
      s.total_steps = o.steps > 0 ? o.steps : o.epochs * s.steps_per_epoch;
    });
  }

  auto& mo = s.o.model_opts;
  mo.image_h = s.manifest.shape.h;
  mo.image_w = s.manifest.shape.w;
  mo.channels = s.manifest.shape.c;
  mo.num_classes = s.manifest.num_classes;
  mo.global_batch = o.batch_size;
  dist::all_or_none(world, [&] {
    // Chosen and made current before anything touches CUDA: one GPU per local rank.
    if (o.device == "cuda") o.device = dist::select_cuda_device(world).str();
    dist::set_deterministic(o.deterministic);
  });
  mo.device = o.device;
  // One decision for every rank: ranks that disagree would order their collectives differently
  // whenever backward itself communicates (SyncBatchNorm). auto weighs each host separately.
  const bool overlap = world.allreduce_min(resolve_overlap(o.overlap, o.device, world.local_size(),
                                                           o.threads, online_cores())) == 1;
  dist::all_or_none(world, [&] {
    torch::manual_seed(mo.seed);
    s.comm =
        dist::make_communicator(o.backend, world, torch::Device(o.device), o.check_collectives);
    dist::ReducerOptions ro;
    ro.bucket_mb = o.bucket_mb;
    ro.overlap = overlap;
    ro.compress = o.grad_compress;
    s.dp = std::make_unique<dist::DataParallel>(*s.comm, world, ro);
    s.model = models::make_model(o.model, mo, *s.dp);
    // Module::to moves parameters in place, so the optimizers keep valid references.
    for (auto& [name, m] : s.model->modules()) m->to(torch::Device(o.device));
  });
  for (auto& [name, m] : s.model->modules()) s.dp->broadcast_module(*m);
  const EmaSchedule ema_schedule{o.g_ema, o.g_ema_kimg * 1000.0, o.g_ema_rampup};
  if (ema_schedule.enabled())
    s.ema = std::make_unique<ModuleEma>(s.generator(), ema_schedule, o.batch_size);

  s.store = std::make_unique<CheckpointStore>((fs::path(o.out) / "checkpoints").string(),
                                              o.keep_checkpoints);
  std::vector<std::string> rejected;
  if (o.resume) {
    std::string folder;
    if (world.is_root()) folder = s.store->latest_valid(&rejected).value_or("");
    {
      dist::watchdog::Unwatched w;  // rank 0 alone has been checking checkpoints
      folder = world.broadcast(folder);
    }
    if (!folder.empty()) {
      dist::all_or_none(world, [&] {
        auto meta = s.store->load(folder, *s.model, [&](torch::serialize::InputArchive& ar) {
          if (s.ema) s.ema->load(ar);
        });
        if (s.ema) {
          auto it = meta.digests.find(s.generator_name() + "_ema");
          if (it == meta.digests.end() || it->second != s.ema->digest())
            throw CheckpointError(folder + ": the generator's average does not match its digest");
        }
        auto then = dist::parse_config_lines(meta.config),
             now = dist::parse_config_lines(o.config_text);
        for (const auto& [k, v] : now)
          if (!resumable_difference(k) && then.count(k) && then[k] != v)
            throw CheckpointError(folder + " was made with " + k + " = " + then[k] +
                                  ", this run has " + v);
        s.start_step = meta.step;
      });
    } else if (!rejected.empty()) {
      std::string why;
      for (const auto& r : rejected) why += "\n  " + r;
      throw CheckpointError(
          "--resume: no usable checkpoint in " + (fs::path(o.out) / "checkpoints").string() + why,
          true);
    }
  }

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

  std::vector<spdlog::sink_ptr> sinks;
  auto log_path = fs::path(o.out) / "log" / ("rank-" + std::to_string(world.rank()) + ".log");
  sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_path.string()));
  if (world.is_root()) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  s.log = std::make_shared<spdlog::logger>("rank" + std::to_string(world.rank()), sinks.begin(),
                                           sinks.end());
  s.log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(world.rank()) + "] [%l] %v");
  s.log->flush_on(spdlog::level::info);
  {
    // A watchdog or fatal-error exit leaves its reason in this rank's log too.
    auto file_log = std::make_shared<spdlog::logger>("rank-file", sinks.front());
    file_log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [rank " + std::to_string(world.rank()) +
                          "] [%l] %v");
    s.log_hook = dist::watchdog::add_abort_hook([file_log](const std::string& why) {
      file_log->error("{}", why);
      file_log->flush();
    });
  }
  for (const auto& r : rejected) s.log->warn("skipped corrupt checkpoint: {}", r);
  s.log->info(
      "{} on {} rank(s), host {}, local rank {}/{}, pid {}, device {}, backend {}, {} thread(s), "
      "overlap {} ({})",
      o.model, world.size(), world.host(), world.local_rank(), world.local_size(), getpid(),
      o.device, s.comm->name(), o.threads, overlap ? "on" : "off", o.overlap);
  s.log->info("built with {}; running {}{}", dist::build_flavour(),
              dist::runtime_versions(torch::Device(o.device)),
              o.deterministic ? "; deterministic algorithms, TF32 off" : "");
  s.log->info("data {}: {} images {}x{}x{}, {} steps/epoch at global batch {}", o.data,
              s.manifest.total, s.manifest.shape.h, s.manifest.shape.w, s.manifest.shape.c,
              s.steps_per_epoch, o.batch_size);
  // Trainable parameters per network, the figure papers quote for an architecture.
  std::string counts;
  for (const auto& [name, m] : s.model->modules()) {
    int64_t n = 0;
    for (const auto& p : m->parameters())
      if (p.requires_grad()) n += p.numel();
    counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", name, n);
  }
  s.log->info("parameters: {}", counts);
  if (s.start_step > 0) s.log->info("resumed at step {}", s.start_step);

  if (world.is_root()) {
    if (s.start_step > 0) MetricsSink::drop_after(o.out, s.start_step);
    s.sink = std::make_unique<MetricsSink>(o.out);
    if (o.tensorboard) {
      // The same steps as metrics.jsonl: a resumed run first drops what came after its
      // checkpoint, then writes a new event file.
      TensorBoardOptions to;
      if (s.start_step > 0) to.resume_after_step = s.start_step;
      s.tb = std::make_unique<TensorBoardWriter>((fs::path(o.out) / "tb").string(), to);
      for (const auto& d : s.tb->trim().damaged) s.log->warn("TensorBoard file cut short: {}", d);
      s.tb->add_text("config", 0, "```toml\n" + o.config_text + "```");
      s.tb->flush();
    }
    torch::Generator g = at::detail::createCPUGenerator(mo.seed + 0x5a17);
    s.fixed_z = s.model->noise(o.sample_count, g).to(torch::Device(o.device));
    int64_t n = std::min(o.eval_images, s.manifest.total);
    auto pixels = dataio::read_image_range(o.data, s.manifest, 0, n);
    s.real_eval = dataio::to_float_nchw(pixels.data(), n, s.manifest.shape);
    s.eval_z = s.model->noise(n, g).to(torch::Device(o.device));
  }
  if (!o.eval_features.empty() || !o.eval_classifier.empty()) {
    dist::all_or_none(world, [&] {
      if (!o.eval_features.empty() && !o.eval_classifier.empty())
        throw UsageError("give --eval-features or --eval-classifier, not both");
      s.eval_net = o.eval_features.empty() ? eval::load_classifier_features(o.eval_classifier)
                                           : eval::load_torchscript_features(o.eval_features);
    });
    s.eval_comm = std::make_unique<dist::MpiCommunicator>(world);
    torch::Generator g = at::detail::createCPUGenerator(mo.seed + 0x5c0e);
    s.score_z = s.model->noise(o.eval_images, g);
    // Once per data, network and count: later runs find the statistics in the data's cache.
    dist::watchdog::Unwatched unwatched;
    nlohmann::json report;
    s.reference = eval::reference_stats(world, *s.eval_comm, o.data, s.manifest, *s.eval_net,
                                        std::min(o.eval_images, s.manifest.total), true, report,
                                        [&](const std::string& line) { s.log->info("{}", line); });
  }
  if (o.debug_trace)
    s.trace = std::make_unique<std::ofstream>(
        fs::path(o.out) / "log" / ("trace-rank-" + std::to_string(world.rank()) + ".jsonl"),
        s.start_step > 0 ? std::ios::app : std::ios::trunc);
}

int Trainer::run() {
  auto& s = *s_;
  auto& o = s.o;
  install_stop_handlers();

  auto modules = s.model->modules();
  // FD and KID of --eval-images generated images in the feature network's space, every rank
  // generating and embedding its share; the result on rank 0.
  auto score = [&]() -> nlohmann::json {
    torch::NoGradGuard no_grad;
    torch::Tensor fake;
    {
      ModuleEma::Applied average(o.sample_weights == "ema" ? s.ema.get() : nullptr);
      for (auto& [n, m] : modules) m->eval();
      fake = eval::gathered_features(
          *s.eval_comm, *s.eval_net,
          [&](int64_t first, int64_t n) {
            torch::Tensor z = s.score_z.narrow(0, first, n).to(torch::Device(o.device));
            return s.model->sample(z).to(torch::kCPU).clamp(-1, 1);
          },
          s.score_z.size(0));
      for (auto& [n, m] : modules) m->train();
    }
    if (!s.world.is_root()) return nlohmann::json::object();
    // Ten subsets of half the images: a standard error from subsets that differ.
    const int64_t half = std::max<int64_t>(2, fake.size(0) / 2);
    return eval::fd_and_kid(fake, s.reference,
                            {10, std::min<int64_t>(1000, half), o.model_opts.seed});
  };
  auto sample_and_eval = [&](int64_t step, bool sample, bool scored) {
    nlohmann::json row{{"step", step}};
    if (scored) row.update(score());
    if (!s.world.is_root()) return;
    std::string grid_path, text;
    if (scored)
      text = fmt::format("FD {:.4f}, KID {:.5f} +- {:.5f}", row["fd"].get<double>(),
                         row["kid"].get<double>(), row["kid_std_error"].get<double>());
    if (sample) {
      torch::NoGradGuard no_grad;
      torch::Tensor fake, more;
      {
        // With the generator's average unless asked for the raw weights; restored after.
        ModuleEma::Applied average(o.sample_weights == "ema" ? s.ema.get() : nullptr);
        for (auto& [n, m] : modules) m->eval();
        // Pictures and statistics are made on the host, whatever the device.
        fake = s.model->sample(s.fixed_z).to(torch::kCPU);
        more = s.model->sample(s.eval_z).to(torch::kCPU);
        for (auto& [n, m] : modules) m->train();
      }
      int64_t cols = static_cast<int64_t>(std::ceil(std::sqrt(double(fake.size(0)))));
      grid_path = (fs::path(o.out) / "samples" / (step_name(step) + ".png")).string();
      write_grid_png(grid_path, fake, cols);
      auto d = eval::image_stats_distance(more, s.real_eval);
      row["histogram_l1"] = d.histogram_l1;
      row["moment_rmse"] = d.moment_rmse;
      text = fmt::format("histogram L1 {:.4f}, moment RMSE {:.4f}{}{}", d.histogram_l1,
                         d.moment_rmse, text.empty() ? "" : ", ", text);
    }
    s.sink->write_eval(row.dump());
    if (s.tb) {
      std::vector<std::pair<std::string, double>> scalars;
      for (auto& [k, v] : row.items())
        if (k != "step") scalars.emplace_back("eval/" + k, v.get<double>());
      s.tb->add_scalars(step, scalars);
      if (sample) s.tb->add_png_file("samples", step, grid_path);
      s.tb->flush();
    }
    s.log->info("eval step {}: {}", step, text);
  };
  // Grids at --sample-every steps; scores at --eval-every steps (at the sample steps by default).
  const int64_t eval_every = o.eval_every > 0 ? o.eval_every : o.sample_every;
  auto due = [&](int64_t every, int64_t step, bool last) {
    return every > 0 && (step % every == 0 || last);
  };
  auto checkpoint = [&](int64_t step) {
    const auto& mo = o.model_opts;
    CheckpointMeta meta{step,           step / s.steps_per_epoch,
                        s.world.size(), o.config_text,
                        s.digests(),    {mo.image_h, mo.image_w, mo.channels, mo.num_classes}};
    if (s.world.is_root())
      s.log->info("checkpoint {}",
                  s.store->save(meta, *s.model, [&](torch::serialize::OutputArchive& ar) {
                    if (s.ema) s.ema->save(ar);
                  }));
    dist::watchdog::Unwatched w;  // the others wait while rank 0 writes
    s.world.barrier();
  };

  if (s.start_step == 0 && (o.sample_every > 0 || (s.eval_net && eval_every > 0))) {
    dist::watchdog::Unwatched w;
    sample_and_eval(0, o.sample_every > 0, s.eval_net && eval_every > 0);
  }

  dataio::LoaderOptions lo;
  lo.sampler = sampler_options(o, s.world);
  lo.start_step = s.start_step;
  lo.end_step = s.total_steps;
  const torch::Device device(o.device);
  lo.pin_memory = device.is_cuda();
  dataio::Loader loader(o.data, s.manifest, lo);

  std::vector<std::string> names;
  std::vector<double> sums;
  double data_s = 0;  // the other phase times are read off their timers at each log line
  dist::DeviceTimer step_timer;
  int64_t interval_steps = 0;
  auto interval_start = Clock::now();
  const auto run_start = Clock::now();

  for (int64_t step = s.start_step; step < s.total_steps; ++step) {
    dist::watchdog::set_step(step + 1);
    dataio::Batch batch = loader.next();
    if (device.is_cuda()) {  // pinned host memory: the copy overlaps with the compute stream
      batch.images = batch.images.to(device, /*non_blocking=*/true);
      if (batch.labels.defined()) batch.labels = batch.labels.to(device, true);
    }
    data_s += loader.take_wait_seconds();
    models::StepMetrics m;
    {
      // On the device's clock, like the phases inside it (CUDA events on a GPU).
      dist::DeviceTimer::Scope timed(step_timer, device);
      m = s.model->train_step(batch);
      for (auto& [n, mod] : modules)
        if (!mod->buffers().empty()) s.dp->broadcast_buffers(*mod);
      if (s.ema) s.ema->update((step + 1) * o.batch_size);
    }

    if (s.trace) {
      // Full precision (nlohmann writes doubles round-trip exact): tests compare bits.
      nlohmann::json row{{"step", step + 1}};
      for (auto& [k, v] : m.values) row[k] = v;
      *s.trace << row.dump() << "\n" << std::flush;
    }
    if (names.empty())
      for (auto& [k, v] : m.values) names.push_back(k), sums.push_back(0);
    for (size_t i = 0; i < m.values.size(); ++i) {
      if (!std::isfinite(m.values[i].second))
        throw Error(kExitFailure, "non-finite " + m.values[i].first + " (" +
                                      std::to_string(m.values[i].second) + ") at step " +
                                      std::to_string(step + 1) + " on rank " +
                                      std::to_string(s.world.rank()));
      sums[i] += m.values[i].second;
    }
    ++interval_steps;
    const int64_t done = step + 1;
    const bool last = done == s.total_steps;

    if (done % o.log_every == 0 || last) {
      // The interval's device times, every one finished (one wait per log line on a GPU).
      const double step_s = step_timer.take_seconds(/*wait=*/true);
      const double comm_s = s.dp->take_comm_seconds(/*wait=*/true);
      const auto phases = s.model->take_phase_times(/*wait=*/true);
      const double backward_s = phases.backward_s, optimizer_s = phases.optimizer_s;
      std::vector<double> v = sums;
      // forward = the step less what is measured separately (it includes the losses)
      const double secs[] = {
          data_s,     step_s - comm_s, step_s - backward_s - comm_s - optimizer_s,
          backward_s, comm_s,          optimizer_s,
          step_s};
      v.insert(v.end(), std::begin(secs), std::end(secs));
      v = s.world.allreduce_sum(v);
      const double denom = double(interval_steps) * s.world.size();
      const double wall = seconds_since(interval_start);
      std::vector<std::pair<std::string, double>> row{{"step", double(done)},
                                                      {"epoch", double(step / s.steps_per_epoch)},
                                                      {"images_seen", double(done) * o.batch_size}};
      for (size_t i = 0; i < names.size(); ++i) row.emplace_back(names[i], v[i] / denom);
      const char* times[] = {"data_ms", "compute_ms",   "forward_ms", "backward_ms",
                             "comm_ms", "optimizer_ms", "step_ms"};
      for (int i = 0; i < 7; ++i) row.emplace_back(times[i], 1000.0 * v[names.size() + i] / denom);
      row.emplace_back("images_per_s", interval_steps * o.batch_size / wall);
      row.emplace_back("wall_s", seconds_since(run_start));
      if (s.world.is_root()) {
        s.sink->write(row);
        if (s.tb) {  // the same numbers under stable tags: metrics/<column of metrics.jsonl>
          std::vector<std::pair<std::string, double>> scalars;
          for (const auto& [k, v] : row)
            if (k != "step") scalars.emplace_back("metrics/" + k, v);
          s.tb->add_scalars(done, scalars);
          s.tb->flush();
        }
        double rate = (done - s.start_step) / seconds_since(run_start);
        std::string losses;
        for (size_t i = 0; i < names.size(); ++i)
          losses += fmt::format(" {} {:.4f}", names[i], v[i] / denom);
        s.log->info("step {}/{} epoch {} | {:.0f} img/s |{} | ETA {}", done, s.total_steps,
                    step / s.steps_per_epoch, interval_steps * o.batch_size / wall, losses,
                    format_eta((s.total_steps - done) / std::max(rate, 1e-9)));
      }
      std::fill(sums.begin(), sums.end(), 0.0);
      data_s = 0;
      interval_steps = 0;
      interval_start = Clock::now();
    }
    if (o.replica_check_every > 0 && (done % o.replica_check_every == 0 || last))
      for (auto& [n, mod] : modules)
        dist::check_replicas(s.world, n, dist::module_digest(*mod), done);
    const bool sample = due(o.sample_every, done, last);
    const bool scored = s.eval_net && due(eval_every, done, last);
    if (sample || scored) {
      // Unwatched: a large feature network takes as long as it takes, and the others wait
      // here, not in the next watched collective, while rank 0 evaluates.
      dist::watchdog::Unwatched w;
      sample_and_eval(done, sample, scored);
      if (s.world.size() > 1) s.world.barrier();
    }
    if (o.checkpoint_every > 0 && done % o.checkpoint_every == 0 && !last) checkpoint(done);

    int64_t sig = s.world.size() > 1 ? s.world.allreduce_max(stop_signal()) : stop_signal();
    if (sig != 0 && !last) {
      s.log->warn("signal {} received: checkpointing at step {} and exiting {}", sig, done,
                  int(kExitPreempted));
      checkpoint(done);
      return kExitPreempted;
    }
  }

  checkpoint(s.total_steps);
  // Each rank's reads: about the dataset per epoch with invariant sampling, 1/N with sharded.
  s.log->info("read {:.2f} MB from the shards ({} sampling; the dataset is {:.2f} MB)",
              double(loader.bytes_read()) / 1e6, o.sampling,
              double(s.manifest.total) *
                  double(s.manifest.shape.bytes() + 8 * s.manifest.label_dims) / 1e6);
  if (o.comm_curve && s.world.size() > 1) {
    // The communicator's all-reduce curve at the sizes the reducers sent and powers of 4
    // below them: the measured inputs of benchmarks/scaling/report.py's cost model.
    std::vector<int64_t> sent;
    std::string sizes;
    for (const auto& [bytes, count] : s.dp->gradient_messages()) {
      sent.push_back(bytes);
      sizes += std::to_string(bytes) + " ";
    }
    // The same sizes on every rank (replicas send the same buckets): checked, not assumed.
    dist::check_replicas(s.world, "gradient message sizes", sizes, s.total_steps);
    const auto curve =
        dist::allreduce_curve(*s.comm, s.world, dist::curve_sizes(sent), torch::Device(o.device));
    if (s.world.is_root()) {
      write_file_atomic((fs::path(o.out) / "allreduce.csv").string(),
                        dist::curve_csv(curve, s.world.size()));
      for (const auto& p : curve)
        s.log->info("all-reduce {} B: {:.1f} us, busbw {:.3f} GB/s", p.bytes, p.seconds * 1e6,
                    p.busbw_gbps);
    }
  }
  // Every rank logs its own digests: replicas are identical iff these lines are.
  for (auto& [name, d] : s.digests()) s.log->info("final digest {} {}", name, d);
  if (s.world.is_root()) {
    nlohmann::json fin{{"step", s.total_steps}};
    for (auto& [name, d] : s.digests()) {
      std::string key = name;
      for (auto& c : key) c = static_cast<char>(std::tolower(c));
      fin["digest_" + key] = d;
    }
    if (s.tb) s.tb->close();  // its errors thrown here, before the run is declared done
    write_file_atomic((fs::path(o.out) / "final.json").string(), fin.dump(2) + "\n");
    s.log->info("done: {} steps in {:.1f} s", s.total_steps - s.start_step,
                seconds_since(run_start));
    // The message sizes behind comm_ms, for cost models (benchmarks/netem/).
    std::string sent;
    for (const auto& [bytes, count] : s.dp->gradient_messages())
      sent += fmt::format("{}{} B x {:.2f}", sent.empty() ? "" : ", ", bytes,
                          double(count) / double(s.total_steps - s.start_step));
    if (!sent.empty()) s.log->info("gradient all-reduces per step: {}", sent);
  }
  return kExitOk;
}

}  // namespace gan::train
