// SyncBatchNorm on real ranks: each rank normalises its rows of a batch, and the result (output,
// input gradient, summed parameter gradients, running statistics) is BatchNorm on the whole batch.
#include "dist/sync_batchnorm.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "dist/data_parallel.h"
#include "dist/mpi_communicator.h"
#include "tests/mpi/world_access.h"

using namespace gan;
using gan::test::g_world;

TEST(SyncBatchNorm, RanksTogetherEqualBatchNormOnTheWholeBatch) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm, *g_world);
  const int r = g_world->rank(), n = g_world->size();
  const int64_t per = 3, c = 4;
  torch::manual_seed(11);  // the same full batch and loss weights on every rank
  auto full = torch::randn({per * n, c, 5, 5}) * 2 + 0.5;
  auto weights = torch::randn({per * n, c, 5, 5});

  torch::nn::BatchNorm2d plain(c);
  auto xf = full.clone().requires_grad_(true);
  auto yf = plain->forward(xf);  // one training forward: running statistics updated once
  (yf * weights).sum().backward();

  dist::SyncBatchNorm2d sync(c, &dp);
  auto x = full.narrow(0, r * per, per).clone().requires_grad_(true);
  auto y = sync->forward(x);
  (y * weights.narrow(0, r * per, per)).sum().backward();

  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(y, yf.narrow(0, r * per, per), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(x.grad(), xf.grad().narrow(0, r * per, per), 1e-3, 1e-5));
  auto wsum = dp.allreduce_sum(sync->weight.grad()), bsum = dp.allreduce_sum(sync->bias.grad());
  EXPECT_TRUE(torch::allclose(wsum, plain->weight.grad(), 1e-3, 1e-4));
  EXPECT_TRUE(torch::allclose(bsum, plain->bias.grad(), 1e-3, 1e-4));
  EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6));
}

// SyncBatchNorm's all-reduces in backward run while the model's backward timer runs: the
// collectives count them as communication and apart, so a step's phases (backward, comm,
// forward = step - backward - comm - optimizer) hold them once.
TEST(SyncBatchNorm, AllReducesInsideBackwardAreCountedApart) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm, *g_world);
  dist::SyncBatchNorm2d sync(4, &dp);
  torch::manual_seed(3);
  auto x = torch::randn({3, 4, 5, 5}).requires_grad_(true);
  dp.take_comm_seconds(true), dp.take_comm_in_backward_seconds(true);
  auto y = sync->forward(x);
  EXPECT_GT(dp.take_comm_seconds(true), 0.0) << "forward's statistics all-reduce";
  EXPECT_EQ(dp.take_comm_in_backward_seconds(true), 0.0) << "forward is not backward";
  dp.backward((y * y).sum());
  const double in_backward = dp.take_comm_in_backward_seconds(true);
  const double all = dp.take_comm_seconds(true);
  EXPECT_GT(in_backward, 0.0) << "backward's gradient-statistics all-reduce";
  EXPECT_LE(in_backward, all);
}

// The global count is summed with the statistics on the device (never read back to the host),
// so ranks with batches of different sizes still normalise the union of their rows.
TEST(SyncBatchNorm, RanksWithUnequalBatchesNormaliseTheirUnion) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm, *g_world);
  const int r = g_world->rank(), n = g_world->size();
  const int64_t c = 3;
  int64_t total = 0, first = 0;
  for (int k = 0; k < n; ++k) {
    if (k == r) first = total;
    total += k + 1;  // rank k has k + 1 rows
  }
  torch::manual_seed(12);
  auto full = torch::randn({total, c, 4, 2}) * 3 - 1;
  auto weights = torch::randn({total, c, 4, 2});

  torch::nn::BatchNorm2d plain(c);
  auto xf = full.clone().requires_grad_(true);
  auto yf = plain->forward(xf);
  (yf * weights).sum().backward();

  dist::SyncBatchNorm2d sync(c, &dp);
  auto x = full.narrow(0, first, r + 1).clone().requires_grad_(true);
  auto y = sync->forward(x);
  (y * weights.narrow(0, first, r + 1)).sum().backward();

  torch::Tensor count;
  {
    torch::NoGradGuard ng;
    dist::sync_batch_norm(x, sync->weight, sync->bias, dp, 1e-5, nullptr, nullptr, &count);
  }
  EXPECT_EQ(count.dim(), 0);
  EXPECT_EQ(count.device(), x.device());
  EXPECT_EQ(count.item<double>(), double(total * 4 * 2));

  torch::NoGradGuard ng;
  EXPECT_TRUE(torch::allclose(y, yf.narrow(0, first, r + 1), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(x.grad(), xf.grad().narrow(0, first, r + 1), 1e-3, 1e-5));
  EXPECT_TRUE(torch::allclose(sync->running_mean, plain->running_mean, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(sync->running_var, plain->running_var, 1e-5, 1e-6));
}
