// Shapes of the shared nets, determinism of a step, and every model of the zoo: a step, a
// sample, an exact save/restore; WGAN's clipping and critic count.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "dist/device_timer.h"
#include "dist/digest.h"
#include "eval/image_stats.h"
#include "models/model.h"
#include "models/nets.h"

using namespace gan;

TEST(Nets, DcganShapesAtEverySize) {
  for (int64_t size : {28, 32, 64}) {
    for (bool bn : {true, false}) {
      models::ConvNetSpec spec{size, 3, 8, bn, 10};
      models::DcganGenerator g(spec);
      models::DcganDiscriminator d(spec, 1);
      auto x = g->forward(torch::randn({2, 10}));
      EXPECT_EQ(x.sizes(), (std::vector<int64_t>{2, 3, size, size}));
      EXPECT_LE(x.abs().max().item<float>(), 1.0f);  // Tanh output
      EXPECT_EQ(d->forward(x).sizes(), (std::vector<int64_t>{2, 1}));
      EXPECT_EQ(g->buffers().empty(), !bn);  // no BatchNorm state without normalisation
    }
  }
  models::ConvNetSpec bad{48, 3, 8, true, 10};
  EXPECT_THROW(models::DcganGenerator{bad}, UsageError);
}

TEST(Models, UnknownModelNamed) {
  dist::LocalCollectives c;
  try {
    models::make_model("stylegan", models::ModelOptions{}, c);
    FAIL();
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("stylegan"), std::string::npos);
  }
}

TEST(Models, StepIsDeterministic) {
  dist::LocalCollectives c;
  models::ModelOptions o;
  o.global_batch = 4;
  o.g_width = o.d_width = 8;
  std::string digest[2];
  for (int run = 0; run < 2; ++run) {
    torch::manual_seed(3);
    auto m = models::make_model("dcgan", o, c);
    dataio::Batch b;
    b.images = torch::rand({4, 1, 28, 28}) * 2 - 1;
    for (int i = 0; i < 3; ++i) m->train_step(b);
    digest[run] = dist::module_digest(*m->modules()[0].second);
  }
  EXPECT_EQ(digest[0], digest[1]);
}

TEST(ImageStats, IdenticalSetsAreCloseAndShiftedSetsFar) {
  torch::manual_seed(0);
  auto real = torch::rand({256, 1, 8, 8}) * 2 - 1;
  auto same = eval::image_stats_distance(real, real);
  EXPECT_NEAR(same.histogram_l1, 0.0, 1e-9);
  EXPECT_NEAR(same.moment_rmse, 0.0, 1e-9);
  auto gray = eval::image_stats_distance(torch::zeros({256, 1, 8, 8}), real);
  EXPECT_GT(gray.histogram_l1, 1.5);  // all mass in one bin against a flat histogram
  EXPECT_GT(gray.moment_rmse, 0.5);
}

// The generated images may be on a GPU and the real ones on the CPU (the trainer's step-0
// eval), either of another dtype: both are compared as CPU float, with the same result.
TEST(ImageStats, InputsOfOtherDtypesAndDevicesGiveTheCpuFloatResult) {
  torch::manual_seed(1);
  auto real = torch::rand({64, 1, 8, 8}) * 2 - 1, gen = torch::rand({64, 1, 8, 8}) * 2 - 1;
  const auto ref = eval::image_stats_distance(gen, real);
  EXPECT_GT(ref.histogram_l1, 0.0);
  const auto dbl = eval::image_stats_distance(gen.to(torch::kDouble).requires_grad_(true), real);
  EXPECT_EQ(dbl.histogram_l1, ref.histogram_l1);
  EXPECT_EQ(dbl.moment_rmse, ref.moment_rmse);
  if (!torch::cuda::is_available()) return;  // the device half needs a GPU
  const auto gpu = eval::image_stats_distance(gen.to(torch::kCUDA), real);
  EXPECT_EQ(gpu.histogram_l1, ref.histogram_l1);
  EXPECT_EQ(gpu.moment_rmse, ref.moment_rmse);
}

// On the CPU an interval is steady_clock time; take_seconds returns the sum and resets. The
// sum lies between the same work timed from inside and from outside the intervals.
TEST(DeviceTimer, CpuIntervalsSumHostTimeAndTakeResets) {
  using Clock = std::chrono::steady_clock;
  auto secs = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  auto work = [] { return torch::randn({256, 256}).mm(torch::randn({256, 256})).sum(); };
  dist::DeviceTimer t;
  EXPECT_EQ(t.take_seconds(), 0.0);
  double inner = 0, outer = 0;
  for (int i = 0; i < 2; ++i) {
    const auto o0 = Clock::now();
    {
      dist::DeviceTimer::Scope s(t, torch::kCPU);
      const auto i0 = Clock::now();
      work();
      inner += secs(i0, Clock::now());
    }
    outer += secs(o0, Clock::now());
  }
  t.stop();  // a stop without a start counts nothing
  const double s = t.take_seconds();
  EXPECT_GE(s, inner);
  EXPECT_LE(s, outer);
  EXPECT_GT(s, 0.0);
  EXPECT_EQ(t.take_seconds(), 0.0);
}

// On a GPU (skipped without one) an interval is the GPU time of the work between start and
// stop, not the microseconds its launches take; reading it back never blocks unless asked.
TEST(DeviceTimer, CudaIntervalsMeasureGpuWorkNotLaunches) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device cuda(torch::kCUDA, 0);
  auto a = torch::randn({4096, 4096}, torch::TensorOptions().device(cuda)) / 64;
  torch::Tensor b;
  torch::cuda::synchronize();
  dist::DeviceTimer t;
  const auto t0 = std::chrono::steady_clock::now();
  t.start(cuda);
  for (int i = 0; i < 20; ++i) b = a.mm(a);
  t.stop();
  const double early = t.take_seconds();  // whatever the GPU has finished: maybe nothing
  const double late = t.take_seconds(/*wait=*/true);
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(early + late, 0.5 * total) << "early " << early << " late " << late;
  EXPECT_LE(early + late, total + 1e-3);
  EXPECT_EQ(t.take_seconds(true), 0.0);
}

// ModelBase reports backward and optimizer time once, then resets.
TEST(Models, PhaseTimesAreMeasuredAndTakenOnce) {
  dist::LocalCollectives c;
  models::ModelOptions o;
  o.global_batch = 4;
  o.g_width = o.d_width = 8;
  torch::manual_seed(3);
  auto m = models::make_model("dcgan", o, c);
  dataio::Batch b;
  b.images = torch::rand({4, 1, 28, 28}) * 2 - 1;
  m->train_step(b);
  const auto t = m->take_phase_times();
  EXPECT_GT(t.backward_s, 0.0);
  EXPECT_GT(t.optimizer_s, 0.0);
  const auto again = m->take_phase_times();
  EXPECT_EQ(again.backward_s, 0.0);
  EXPECT_EQ(again.optimizer_s, 0.0);
}

namespace {

models::ModelOptions tiny_options() {
  models::ModelOptions o;
  o.global_batch = 10;  // WGAN: 5 critic slices of 2
  o.g_width = o.d_width = 8;
  o.z_dim = 8;
  o.params["hidden"] = 8;
  o.num_classes = 10;
  o.params["info-cat"] = 4;
  return o;
}

dataio::Batch tiny_batch(int64_t step) {
  dataio::Batch b;
  b.step = step;
  b.images = torch::rand({10, 1, 28, 28}) * 2 - 1;
  b.labels = torch::randint(10, {10}, torch::kLong);
  return b;
}

std::string digest_all(models::Model& m) {
  std::string d;
  for (auto& [name, mod] : m.modules()) d += name + ":" + dist::module_digest(*mod) + " ";
  return d;
}

}  // namespace

// Every model of the zoo: a step gives finite metrics, sampling gives images of the data's
// shape, and its saved state (modules, optimizers, RNG, extras such as k_t) restores exactly.
TEST(Zoo, EveryModelStepsSamplesAndRestoresExactly) {
  dist::LocalCollectives c;
  for (const auto& name : models::model_names()) {
    SCOPED_TRACE(name);
    auto o = tiny_options();
    torch::manual_seed(1);
    auto a = models::make_model(name, o, c);
    torch::manual_seed(2);  // another initialisation: only the restore can make them equal
    auto b = models::make_model(name, o, c);
    torch::manual_seed(5);
    auto batch1 = tiny_batch(0), batch2 = tiny_batch(1);
    auto m = a->train_step(batch1);
    ASSERT_FALSE(m.values.empty());
    for (auto& [k, v] : m.values) EXPECT_TRUE(std::isfinite(v)) << k;
    torch::Generator g = at::detail::createCPUGenerator(3);
    {
      torch::NoGradGuard ng;
      EXPECT_EQ(a->sample(a->noise(3, g)).sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
    }
    torch::serialize::OutputArchive out;
    for (auto& [n, mod] : a->modules()) {
      torch::serialize::OutputArchive sub;
      mod->save(sub);
      out.write("module." + n, sub);
    }
    a->save_state(out);
    std::stringstream buf;
    out.save_to(buf);
    torch::serialize::InputArchive in;
    in.load_from(buf);
    for (auto& [n, mod] : b->modules()) {
      torch::serialize::InputArchive sub;
      in.read("module." + n, sub);
      mod->load(sub);
    }
    b->load_state(in);
    EXPECT_EQ(digest_all(*a), digest_all(*b));
    torch::manual_seed(7);
    auto ma = a->train_step(batch2);
    torch::manual_seed(7);
    auto mb = b->train_step(batch2);
    EXPECT_EQ(digest_all(*a), digest_all(*b));
    ASSERT_EQ(ma.values.size(), mb.values.size());
    for (size_t i = 0; i < ma.values.size(); ++i)
      EXPECT_EQ(ma.values[i].second, mb.values[i].second) << ma.values[i].first;
  }
}

namespace {

// A WGAN with the paper's optimizer after one training step, and that step's metrics.
std::pair<std::unique_ptr<models::Model>, std::map<std::string, double>> wgan_after_one_step(
    dist::Collectives& c, int n_critic, double clip) {
  auto o = tiny_options();
  o.params["n-critic"] = n_critic;
  o.params["clip"] = clip;
  o.optimizer = models::OptimizerKind::kRmsProp;
  o.lr_g = o.lr_d = 5e-5;
  torch::manual_seed(1);
  auto m = models::make_model("wgan", o, c);
  auto metrics = m->train_step(tiny_batch(0));
  std::map<std::string, double> values(metrics.values.begin(), metrics.values.end());
  return {std::move(m), std::move(values)};
}

}  // namespace

TEST(Zoo, WganClipsEveryCriticWeightAfterEachOfNCriticSteps) {
  dist::LocalCollectives c;
  auto [m, v] = wgan_after_one_step(c, 5, 0.01);
  EXPECT_EQ(v.at("d_steps"), 5.0);
  // N(0, 0.02) initial weights exceed 0.01, so the bound is reached, not merely respected.
  EXPECT_FLOAT_EQ(v.at("max_critic_abs_weight"), 0.01);
  for (auto& [name, mod] : m->modules())
    if (name == "D") {
      for (auto& p : mod->parameters()) EXPECT_LE(p.abs().max().item<double>(), 0.01 + 1e-9);
    }
}

// The reported max |w| (one reduction over all parameters, one host read per critic step) is
// exactly the per-parameter maximum: with one critic step, that of D's weights after it (G's
// step does not touch them). A clip below the largest weight and one above every weight.
TEST(Zoo, WganMaxCriticWeightEqualsThePerParameterMaximum) {
  for (double clip : {0.03, 10.0}) {
    SCOPED_TRACE(clip);
    dist::LocalCollectives c;
    auto [m, v] = wgan_after_one_step(c, 1, clip);
    double expect = 0;
    for (auto& [name, mod] : m->modules())
      if (name == "D")
        for (auto& p : mod->parameters()) expect = std::max(expect, p.abs().max().item<double>());
    EXPECT_EQ(v.at("max_critic_abs_weight"), expect);
    if (clip > 1) {
      EXPECT_LT(expect, clip);  // nothing clipped: a genuine weight
    }
  }
}

TEST(Zoo, ModelDefaultsFollowThePapers) {
  const auto& wgan = models::model_info("wgan");
  auto has = [](const auto& defaults, const char* key, const char* value) {
    return std::find(defaults.begin(), defaults.end(),
                     std::make_pair(std::string(key), std::string(value))) != defaults.end();
  };
  EXPECT_TRUE(has(wgan.defaults, "optimizer", "rmsprop"));
  ASSERT_NE(wgan.find_param("clip"), nullptr);
  EXPECT_EQ(wgan.find_param("clip")->value, 0.01);
  EXPECT_EQ(wgan.find_param("n-critic")->value, 5);
  const auto& gp = models::model_info("wgan-gp");
  EXPECT_TRUE(has(gp.defaults, "beta1", "0"));
  EXPECT_EQ(gp.find_param("clip"), nullptr);  // WGAN-GP does not clip
  EXPECT_TRUE(models::model_info("dcgan").defaults.empty());
  EXPECT_TRUE(models::model_info("dcgan").params.empty());
}

// make_model fills in a declared setting the options do not give (a model built by a test or
// a tool, not the CLI); a setting the model did not declare is a programming error, named.
TEST(Zoo, DeclaredSettingsHaveValuesAndUndeclaredOnesAreNamed) {
  models::ModelOptions o = tiny_options();
  EXPECT_THROW(o.param("gamma"), std::logic_error);
  dist::LocalCollectives c;
  auto m = models::make_model("began", o, c);  // reads gamma and lambda-k: no throw
  EXPECT_NE(m, nullptr);
  EXPECT_THROW(models::model_info("nogan"), UsageError);
}

TEST(Zoo, ConditionalModelsNeedLabels) {
  dist::LocalCollectives c;
  auto o = tiny_options();
  o.num_classes = 0;
  EXPECT_THROW(models::make_model("cgan", o, c), UsageError);
}

// Spectral norm in D with one-sided smoothing: D runs forward twice per step (real, fake) and
// each forward updates u in place, which the first graph must survive; u is a buffer.
TEST(Zoo, SpectralNormDiscriminatorTrains) {
  dist::LocalCollectives c;
  auto o = tiny_options();
  o.spectral_norm = true;
  o.label_smoothing = 0.1;
  torch::manual_seed(1);
  auto m = models::make_model("dcgan", o, c);
  for (int step = 0; step < 2; ++step)
    for (auto& [k, v] : m->train_step(tiny_batch(step)).values) EXPECT_TRUE(std::isfinite(v)) << k;
  int64_t u_buffers = 0;
  for (auto& [name, mod] : m->modules())
    if (name == "D") {
      for (auto& b : mod->named_buffers())
        if (b.key().size() >= 2 && b.key().compare(b.key().size() - 2, 2, ".u") == 0) ++u_buffers;
    }
  EXPECT_EQ(u_buffers, 3);  // 28 px: two stride-2 convs and the linear head
}

// --lr-halve-every N: steps 0..N-1 use the base rate, step N half of it. Adam's update is
// proportional to the rate for equal moments, so at step N the first update (D's) of the
// scheduled model must be half that of an unscheduled twin whose parameters and moments are
// still bitwise equal to it.
TEST(Models, LrHalveEveryHalvesTheUpdateAtTheBoundary) {
  dist::LocalCollectives c;
  auto make = [&](int64_t every) {
    models::ModelOptions o;
    o.global_batch = 4;
    o.g_width = o.d_width = 8;
    o.norm = models::Norm::kNone;
    o.lr_halve_every = every;
    torch::manual_seed(5);
    return models::make_model("dcgan", o, c);
  };
  auto flat = [](models::Model& m, const std::string& part) {
    std::vector<torch::Tensor> ps;
    for (auto& [name, mod] : m.modules())
      if (name == part)
        for (auto& p : mod->parameters()) ps.push_back(p.detach().reshape({-1}).clone());
    return torch::cat(ps);
  };
  auto scheduled = make(2), constant = make(0);
  torch::manual_seed(6);
  dataio::Batch b;
  b.images = torch::rand({4, 1, 28, 28}) * 2 - 1;
  for (int64_t step = 0; step < 2; ++step) {
    b.step = step;
    scheduled->train_step(b);
    constant->train_step(b);
  }
  ASSERT_TRUE(torch::equal(flat(*scheduled, "D"), flat(*constant, "D")));  // same rate so far
  ASSERT_TRUE(torch::equal(flat(*scheduled, "G"), flat(*constant, "G")));
  // Step 2: compare D's update alone (G's follows a D that already differs).
  torch::Tensor d0 = flat(*scheduled, "D");
  b.step = 2;
  scheduled->train_step(b);
  constant->train_step(b);
  // D's step-2 update happened before G's, and G's does not touch D: the deltas are D's.
  torch::Tensor ds = flat(*scheduled, "D") - d0, dc = flat(*constant, "D") - d0;
  ASSERT_GT(dc.abs().max().item<double>(), 0.0);
  EXPECT_LT((ds - 0.5 * dc).abs().max().item<double>(), 1e-3 * dc.abs().max().item<double>());
}
