// SyncBatchNorm at world size 1 is BatchNorm: same output, same gradients, and its
// closed-form backward agrees with finite differences. Spectral norm finds sigma_max.
#include "dist/sync_batchnorm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/collectives.h"
#include "models/nets.h"

using namespace gan;

TEST(SyncBatchNorm, MatchesBatchNormAtWorldSizeOne) {
  torch::manual_seed(0);
  dist::LocalCollectives local;
  dist::SyncBatchNorm2d sync(5, &local);
  torch::nn::BatchNorm2d plain(5);
  {
    torch::NoGradGuard g;
    auto w = torch::rand({5}) + 0.5, b = torch::randn({5});
    sync->weight.copy_(w), plain->weight.copy_(w);
    sync->bias.copy_(b), plain->bias.copy_(b);
  }
  auto x = (torch::randn({6, 5, 4, 3}) * 3 + 1).requires_grad_(true);
  auto x2 = x.detach().clone().requires_grad_(true);
  auto r = torch::randn({6, 5, 4, 3});  // a loss that weighs outputs unevenly
  auto y1 = sync->forward(x), y2 = plain->forward(x2);
  EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-5));
  (y1 * r).sum().backward();
  (y2 * r).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(sync->weight.grad(), plain->weight.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(sync->bias.grad(), plain->bias.grad(), 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6));
  sync->eval(), plain->eval();
  EXPECT_TRUE(torch::allclose(sync->forward(x), plain->forward(x), 1e-5, 1e-5));
}

TEST(SyncBatchNorm, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(1);
  dist::LocalCollectives local;
  auto x = torch::randn({3, 2, 2, 2}, torch::kDouble).requires_grad_(true);
  auto w = (torch::rand({2}, torch::kDouble) + 0.5).requires_grad_(true);
  auto b = torch::randn({2}, torch::kDouble).requires_grad_(true);
  auto r = torch::randn({3, 2, 2, 2}, torch::kDouble);
  auto loss = [&](const torch::Tensor& xx, const torch::Tensor& ww, const torch::Tensor& bb) {
    return (dist::sync_batch_norm(xx, ww, bb, local, 1e-5) * r).pow(2).sum();
  };
  loss(x, w, b).backward();
  const double h = 1e-6;
  torch::NoGradGuard g;
  for (auto* t : {&x, &w, &b}) {
    auto flat = t->view({-1});
    auto grad = t->grad().view({-1});
    for (int64_t i = 0; i < flat.numel(); ++i) {
      double v = flat[i].item<double>();
      flat[i] = v + h;
      double up = loss(x, w, b).item<double>();
      flat[i] = v - h;
      double down = loss(x, w, b).item<double>();
      flat[i] = v;
      EXPECT_NEAR(grad[i].item<double>(), (up - down) / (2 * h), 1e-5) << "element " << i;
    }
  }
}

// The statistics, the count included, stay on x's device: a 0-dim double tensor there, so a
// GPU forward neither mixes devices nor waits for the host.
TEST(SyncBatchNorm, CountIsADeviceScalarOfTheGlobalBatch) {
  dist::LocalCollectives local;
  auto x = torch::randn({4, 3, 5, 2});
  torch::Tensor mean, var, count;
  dist::sync_batch_norm(x, torch::ones({3}), torch::zeros({3}), local, 1e-5, &mean, &var, &count);
  EXPECT_EQ(count.dim(), 0);
  EXPECT_EQ(count.scalar_type(), torch::kDouble);
  EXPECT_EQ(count.item<double>(), 4 * 5 * 2);
  EXPECT_TRUE(torch::allclose(mean, x.to(torch::kDouble).mean({0, 2, 3})));
}

// On a GPU (skipped without one): forward, backward and running statistics on CUDA tensors,
// as BatchNorm there. Before the statistics were built on x's device this threw "Expected all
// tensors to be on the same device".
TEST(SyncBatchNorm, RunsOnACudaDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(4);
  const torch::Device cuda(torch::kCUDA, 0);
  dist::LocalCollectives local;
  dist::SyncBatchNorm2d sync(4, &local);
  torch::nn::BatchNorm2d plain(4);
  sync->to(cuda), plain->to(cuda);
  auto x = (torch::randn({6, 4, 5, 5}) * 2 + 1).to(cuda).requires_grad_(true);
  auto x2 = x.detach().clone().requires_grad_(true);
  auto r = torch::randn({6, 4, 5, 5}).to(cuda);
  auto y1 = sync->forward(x), y2 = plain->forward(x2);
  EXPECT_EQ(y1.device(), cuda);
  (y1 * r).sum().backward();
  (y2 * r).sum().backward();
  EXPECT_TRUE(torch::allclose(y1, y2, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(x.grad(), x2.grad(), 1e-3, 1e-5));
  EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6));
}

TEST(SpectralNorm, PowerIterationFindsTheLargestSingularValue) {
  torch::manual_seed(2);
  models::SpectralLayer layer(6, 4, 3, 1, 1, true);
  for (int i = 0; i < 50; ++i) layer->forward(torch::randn({1, 6, 5, 5}));  // trains u
  torch::Tensor w = layer->normalized_weight().detach().flatten(1);
  double sigma = torch::linalg_svdvals(w)[0].item<double>();
  EXPECT_NEAR(sigma, 1.0, 1e-3);
  // u is state: a buffer (broadcast, digested and checkpointed with the module).
  EXPECT_EQ(layer->named_buffers().size(), 1u);
  EXPECT_TRUE(layer->named_buffers().contains("u"));
}
