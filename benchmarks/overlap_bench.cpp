// Does overlapping the gradient all-reduce with backward pay, and how does it depend on bucket
// size? A stand-in backward through the real Reducer (usage: bench_overlap CSV [GRAD_MB]
// [LAYERS] [RATIO]): GRAD_MB (default 16) of gradients in LAYERS (16) equal parameters, each
// behind an autograd stage whose backward takes its share of RATIO (1.0) times the time the
// whole gradient's all-reduce takes alone on this communicator. Two kinds of stage: `idle`
// (the stage sleeps: the CPU is free, as it is while a GPU computes) and `cpu` (matrix products
// on the rank's core: as much work as takes that long alone). For each kind, overlap off and
// on, and bucket caps of 1, 4, 8 and 16 MB (the first bucket capped alike: 16, 4, 2 and 1
// buckets of 16 MB), all sixteen configurations taking turns, one backward each per round. Per
// configuration, the slowest rank's medians over the rounds of: backward (the hooks launch
// buckets during it, with the communicator's background progress on, as DataParallel::backward
// does), exposed communication (Reducer::finish after it) and their sum, the step, with its
// quartiles (the spread between rounds). exposed_cut and step_cut: the share of the exposed
// communication and of the step that overlap on removes against off at the same cap and kind.
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dist/mpi_communicator.h"
#include "dist/reducer.h"
#include "dist/world.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// What a stage's backward does: sleep for `seconds`, or `mm` matrix products.
struct Work {
  double seconds = 0;
  int64_t mm = 0;  // > 0: busy
};

torch::Tensor& scratch() {
  static torch::Tensor a = torch::randn({192, 192});
  return a;
}

void run(const Work& w) {
  if (w.mm == 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(w.seconds));
    return;
  }
  torch::NoGradGuard no_grad;
  auto& a = scratch();
  for (int64_t i = 0; i < w.mm; ++i) a = torch::mm(a, a).div_(a.norm());
}

// Identity forward; its backward does a layer's worth of work before passing the gradient on.
struct Stage : torch::autograd::Function<Stage> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double seconds, int64_t mm) {
    ctx->saved_data["seconds"] = seconds;
    ctx->saved_data["mm"] = mm;
    return x.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    run({ctx->saved_data["seconds"].toDouble(), ctx->saved_data["mm"].toInt()});
    return {grad[0], torch::Tensor(), torch::Tensor()};
  }
};

// LAYERS parameters, registered in forward order, so backward finishes them last to first.
struct Chain : torch::nn::Module {
  Chain(int64_t floats, int layers) {
    for (int i = 0; i < layers; ++i)
      params.push_back(register_parameter(std::to_string(i), torch::zeros({floats})));
  }
  // Stage i's backward runs, then parameter i's gradient is ready, then stage i - 1's.
  torch::Tensor loss(const std::vector<Work>& work) {
    torch::Tensor h = torch::zeros({1});
    for (size_t i = 0; i < params.size(); ++i)
      h = Stage::apply(h + params[i].sum(), work[i].seconds, work[i].mm);
    return h.sum();
  }
  std::vector<torch::Tensor> params;
};

}  // namespace

int main(int argc, char** argv) {
  gan::dist::World world(&argc, &argv);
  if (argc < 2) {
    if (world.is_root())
      std::fprintf(stderr, "usage: bench_overlap CSV [GRAD_MB] [LAYERS] [RATIO]\n");
    return 2;
  }
  const std::string csv = argv[1];
  const double grad_mb = argc > 2 ? std::stod(argv[2]) : 16;
  const int layers = argc > 3 ? std::stoi(argv[3]) : 16;
  const double ratio = argc > 4 ? std::stod(argv[4]) : 1.0;
  torch::set_num_threads(1);
  gan::dist::MpiCommunicator comm(world);
  const int64_t floats = static_cast<int64_t>(grad_mb * (1 << 20) / 4) / layers;

  auto timed = [&](auto&& f) {
    world.barrier();
    auto t0 = Clock::now();
    f();
    return seconds_since(t0);
  };
  // The whole gradient's all-reduce alone, and the time a busy stage needs per product.
  torch::Tensor whole = torch::ones({floats * layers});
  std::vector<double> c, p;
  for (int i = 0; i < 5; ++i) c.push_back(timed([&] { comm.allreduce_sum_async(whole)->wait(); }));
  for (int i = 0; i < 5; ++i) p.push_back(timed([&] { run({0, 20}); }) / 20);
  const double comm_alone = world.allreduce_max(static_cast<int64_t>(median(c) * 1e6)) * 1e-6;
  const double per_mm = world.allreduce_max(static_cast<int64_t>(median(p) * 1e9)) * 1e-9;
  const double stage_s = ratio * comm_alone / layers;

  std::ofstream out;
  if (world.is_root()) {
    out.open(csv);
    out << "ranks,compute,overlap,bucket_mb,buckets,grad_mb,comm_alone_ms,backward_ms,"
           "exposed_ms,step_ms,step_q1_ms,step_q3_ms,exposed_cut,step_cut\n";
    std::printf(
        "gradient %.1f MB in %d layers; all-reduce alone %.2f ms; backward target %.2f ms\n",
        grad_mb, layers, comm_alone * 1e3, stage_s * layers * 1e3);
    std::printf("%6s %7s %9s %7s %11s %11s %9s %15s %11s %8s\n", "stage", "overlap", "bucket MB",
                "buckets", "backward ms", "exposed ms", "step ms", "step q1-q3", "exposed cut",
                "step cut");
  }
  struct Config {
    std::string kind;
    double bucket_mb;
    bool overlap;
    std::vector<Work> work;
    // A reducer's hooks stay on the parameters it was made for: a chain for each.
    std::unique_ptr<Chain> chain;
    std::unique_ptr<gan::dist::Reducer> reducer;
    std::vector<double> backward, exposed, step;
  };
  std::vector<Config> configs;
  for (std::string kind : {"idle", "cpu"}) {
    const Work w = kind == "idle" ? Work{stage_s, 0}
                                  : Work{0, std::max<int64_t>(1, std::llround(stage_s / per_mm))};
    for (double bucket_mb : {1.0, 4.0, 8.0, 16.0})
      for (bool overlap : {false, true}) {
        gan::dist::ReducerOptions opts;
        opts.bucket_mb = opts.first_bucket_mb = bucket_mb;
        opts.overlap = overlap;
        opts.average = false;
        auto chain = std::make_unique<Chain>(floats, layers);
        auto reducer = std::make_unique<gan::dist::Reducer>(*chain, comm, opts);
        configs.push_back({kind,
                           bucket_mb,
                           overlap,
                           std::vector<Work>(layers, w),
                           std::move(chain),
                           std::move(reducer),
                           {},
                           {},
                           {}});
      }
  }
  // Round robin, the order rotating each round, so drift falls on every configuration alike;
  // the first round warms up.
  const size_t n = configs.size();
  for (size_t round = 0; round < 9; ++round)
    for (size_t j = 0; j < n; ++j) {
      Config& c = configs[(round + j) % n];
      gan::dist::zero_grads(*c.chain);
      c.reducer->prepare();
      world.barrier();
      auto t0 = Clock::now();
      comm.background_progress(true);  // as DataParallel::backward does
      c.chain->loss(c.work).backward();
      comm.background_progress(false);
      const double tb = seconds_since(t0);
      auto t1 = Clock::now();
      c.reducer->finish();
      const double te = seconds_since(t1);
      if (round > 0) {
        c.backward.push_back(tb);
        c.exposed.push_back(te);
        c.step.push_back(tb + te);
      }
    }
  double exposed_off = 0, step_off = 0;
  for (Config& c : configs) {
    auto step = c.step;
    std::sort(step.begin(), step.end());
    std::vector<double> m{median(c.backward), median(c.exposed), median(c.step),
                          step[step.size() / 4], step[step.size() * 3 / 4]};
    MPI_Allreduce(MPI_IN_PLACE, m.data(), 5, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (!c.overlap) {  // off comes first for each kind and cap
      exposed_off = m[1];
      step_off = m[2];
    }
    if (!world.is_root()) continue;
    const double exposed_cut = 1.0 - m[1] / exposed_off, step_cut = 1.0 - m[2] / step_off;
    const size_t buckets = c.reducer->bucket_bytes().size();
    out << world.size() << "," << c.kind << "," << (c.overlap ? "on" : "off") << "," << c.bucket_mb
        << "," << buckets << "," << grad_mb << "," << comm_alone * 1e3 << "," << m[0] * 1e3 << ","
        << m[1] * 1e3 << "," << m[2] * 1e3 << "," << m[3] * 1e3 << "," << m[4] * 1e3 << ","
        << exposed_cut << "," << step_cut << "\n";
    std::printf("%6s %7s %9g %7zu %11.2f %11.2f %9.2f %7.2f-%7.2f %11.2f %8.2f\n", c.kind.c_str(),
                c.overlap ? "on" : "off", c.bucket_mb, buckets, m[0] * 1e3, m[1] * 1e3, m[2] * 1e3,
                m[3] * 1e3, m[4] * 1e3, exposed_cut, step_cut);
  }
  return 0;
}
