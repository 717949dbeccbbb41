// The generator's moving average: its schedule, the update against a direct computation,
// swapping in and out bitwise, and a checkpoint round trip.
#include "train/ema.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

using gan::train::EmaSchedule;
using gan::train::ModuleEma;

namespace {

torch::nn::Sequential net() {
  torch::manual_seed(3);
  return torch::nn::Sequential(torch::nn::Linear(4, 8), torch::nn::BatchNorm1d(8),
                               torch::nn::Linear(8, 2));
}

// Moves every parameter as an optimizer step would.
void perturb(torch::nn::Module& m, double by) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters()) p.add_(torch::randn_like(p) * by);
}

}  // namespace

TEST(EmaSchedule, HalfLifeInImagesAndRampUp) {
  EmaSchedule constant{0.999, 0, 0};
  EXPECT_EQ(constant.beta(123, 64), 0.999);
  // After half_life images (any batch size), an old weight counts half.
  EmaSchedule half{0, 10000, 0};
  for (int64_t batch : {16, 64, 256})
    EXPECT_NEAR(std::pow(half.beta(1 << 20, batch), 10000.0 / batch), 0.5, 1e-12);
  // Ramp-up: early on the half-life is rampup x images seen (here 0.5 x 1000 = 500).
  EmaSchedule ramp{0, 10000, 0.5};
  EXPECT_NEAR(ramp.beta(1000, 50), std::pow(0.5, 50.0 / 500), 1e-15);
  EXPECT_EQ(ramp.beta(1000000, 50), half.beta(1000000, 50));
  EXPECT_FALSE(EmaSchedule{}.enabled());
}

TEST(ModuleEma, UpdateMatchesTheDefinitionAndSwapsBackBitwise) {
  auto m = net();
  const double beta = 0.9;
  ModuleEma ema(*m, EmaSchedule{beta, 0, 0}, 8);
  std::vector<torch::Tensor> expect;
  for (auto& p : m->parameters()) expect.push_back(p.detach().clone().to(torch::kDouble));
  for (int step = 1; step <= 5; ++step) {
    perturb(*m, 0.1);
    ema.update(step * 8);
    auto params = m->parameters();
    for (size_t i = 0; i < params.size(); ++i)
      expect[i] = beta * expect[i] + (1 - beta) * params[i].detach().to(torch::kDouble);
  }
  std::vector<torch::Tensor> raw;
  for (auto& p : m->parameters()) raw.push_back(p.detach().clone());
  {
    ModuleEma::Applied use(&ema);
    auto params = m->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(torch::allclose(params[i].to(torch::kDouble), expect[i], 1e-6, 1e-6)) << i;
      EXPECT_FALSE(torch::equal(params[i], raw[i])) << "the average is the raw weights";
    }
  }
  auto params = m->parameters();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_TRUE(torch::equal(params[i], raw[i])) << i;
  ModuleEma::Applied nothing(nullptr);  // no average: the weights stay
  EXPECT_TRUE(torch::equal(m->parameters()[0], raw[0]));
}

TEST(ModuleEma, CheckpointRoundTripIsExact) {
  auto a = net();
  ModuleEma ema_a(*a, EmaSchedule{0, 500, 0.05}, 16);
  for (int step = 1; step <= 4; ++step) {
    perturb(*a, 0.05);
    ema_a.update(step * 16);
  }
  torch::serialize::OutputArchive out;
  ema_a.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);

  auto b = net();  // the same weights: only the average differs until it is loaded
  ModuleEma ema_b(*b, EmaSchedule{0, 500, 0.05}, 16);
  ASSERT_NE(ema_b.digest(), ema_a.digest());
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < a->parameters().size(); ++i) b->parameters()[i].copy_(a->parameters()[i]);
  torch::serialize::InputArchive in;
  std::istringstream read(bytes.str());
  in.load_from(read);
  ema_b.load(in);
  EXPECT_EQ(ema_b.digest(), ema_a.digest());
  perturb(*a, 0.05);
  perturb(*b, 0.0);
  ema_a.update(5 * 16);
  ema_b.update(5 * 16);
  EXPECT_NE(ema_b.digest(), ema_a.digest()) << "b's weights did not move, a's did";
}
