// Collectives on real MPI ranks: gradient averaging, buckets, unused parameters, and the
// agreement checks that turn a mismatch into a named error instead of a hang.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/errors.h"
#include "dist/agreement.h"
#include "dist/data_parallel.h"
#include "dist/mpi_communicator.h"
#include "tests/mpi/world_access.h"

using namespace gan;
using gan::test::g_world;

namespace {

struct Net : torch::nn::Module {
  Net() {
    a = register_module("a", torch::nn::Linear(50, 40));
    b = register_module("b", torch::nn::Linear(40, 30));
    unused = register_module("unused", torch::nn::Linear(3, 3));
  }
  torch::nn::Linear a{nullptr}, b{nullptr}, unused{nullptr};
};

}  // namespace

TEST(Reducer, AveragesGradientsOverRanks) {
  dist::MpiCommunicator comm(*g_world);
  Net net;
  const int r = g_world->rank(), n = g_world->size();
  for (auto& p : net.parameters()) p.mutable_grad() = torch::full_like(p, double(r + 1));
  net.unused->weight.mutable_grad() = torch::Tensor();  // no gradient on any rank
  if (r == 1) net.unused->bias.mutable_grad() = torch::Tensor();  // none on rank 1 only
  dist::Reducer reducer(net, comm, {0.004, 0.001});  // tiny caps: several buckets
  reducer.sync();
  const double mean = (n + 1) / 2.0;  // mean of 1..n
  EXPECT_TRUE(net.a->weight.grad().eq(mean).all().item<bool>());
  EXPECT_TRUE(net.b->bias.grad().eq(mean).all().item<bool>());
  EXPECT_TRUE(net.unused->weight.grad().eq(0).all().item<bool>());
  // rank 1 contributed zeros for the bias it did not compute
  EXPECT_TRUE(net.unused->bias.grad().eq((n * (n + 1) / 2.0 - 2) / n).all().item<bool>());
}

TEST(Reducer, EveryParameterInExactlyOneBucket) {
  dist::MpiCommunicator comm(*g_world);
  Net net;
  dist::Reducer reducer(net, comm, {0.004, 0.001});
  auto layout = reducer.bucket_layout();
  EXPECT_GT(layout.size(), 2u);
  std::vector<int> count(net.parameters().size(), 0);
  for (const auto& bucket : layout)
    for (size_t i : bucket) ++count[i];
  for (size_t i = 0; i < count.size(); ++i) EXPECT_EQ(count[i], 1) << "parameter " << i;
  EXPECT_EQ(layout.front().front(), count.size() - 1);  // last registered, first reduced
}

TEST(DataParallel, BroadcastMakesReplicasIdenticalAndSumsAgree) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm);
  torch::manual_seed(100 + g_world->rank());  // deliberately different initialisations
  Net net;
  dp.broadcast_module(net);
  auto all = comm.allgather(net.a->weight.detach().contiguous());
  for (int r = 1; r < g_world->size(); ++r) EXPECT_TRUE(all[r].equal(all[0]));
  auto s = dp.allreduce_sum(torch::tensor({double(g_world->rank()), 1.0}));
  EXPECT_EQ(s[1].item<double>(), g_world->size());
}

TEST(Agreement, DifferentOptionsNameTheKey) {
  const std::string same = "model = dcgan\nsteps = 10\n";
  EXPECT_NO_THROW(dist::agree_on_config(*g_world, same));
  std::string mine = g_world->rank() == 1 ? "model = dcgan\nsteps = 20\n" : same;
  try {
    dist::agree_on_config(*g_world, mine);
    FAIL() << "no error for differing options";
  } catch (const DistError& e) {
    EXPECT_TRUE(e.collective());
    EXPECT_EQ(e.code(), kExitDist);
    std::string msg = e.what();
    EXPECT_NE(msg.find("steps: rank 1 has 20, rank 0 has 10"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("model"), std::string::npos) << msg;
  }
}

TEST(Agreement, ReplicaDivergenceNamesStepAndModule) {
  EXPECT_NO_THROW(dist::check_replicas(*g_world, "G", "abc", 5));
  try {
    dist::check_replicas(*g_world, "D", g_world->rank() == 2 ? "xyz" : "abc", 40);
    if (g_world->size() > 2) FAIL() << "divergence not detected";
  } catch (const DistError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("step 40"), std::string::npos) << msg;
    EXPECT_NE(msg.find("D on rank(s) 2"), std::string::npos) << msg;
  }
}

TEST(Agreement, OneRankFailingStopsAllWithItsCode) {
  try {
    dist::all_or_none(*g_world, [] {
      if (g_world->rank() == 1) throw DataError("shard-00003.h5: unreadable");
    });
    FAIL() << "failure on rank 1 not propagated";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), kExitData);
    EXPECT_TRUE(e.collective());
    EXPECT_NE(std::string(e.what()).find("rank 1: shard-00003.h5"), std::string::npos);
  }
}
