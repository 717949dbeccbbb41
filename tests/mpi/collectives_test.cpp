// Collectives on real MPI ranks: gradient averaging, buckets, unused parameters, and the
// agreement checks that turn a mismatch into a named error instead of a hang.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <thread>

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
  net.unused->weight.mutable_grad() = torch::Tensor();            // no gradient on any rank
  if (r == 1) net.unused->bias.mutable_grad() = torch::Tensor();  // none on rank 1 only
  dist::Reducer reducer(net, comm, {0.004, 0.001, false});        // tiny caps: several buckets
  reducer.finish();
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

TEST(Reducer, OverlappedMatchesAfterBackwardAndSurvivesUnusedParameters) {
  dist::MpiCommunicator comm(*g_world);
  Net on, off;
  dist::DataParallel dp(comm);
  dp.broadcast_module(on);
  {
    torch::NoGradGuard ng;
    auto po = on.parameters(), pf = off.parameters();
    for (size_t i = 0; i < po.size(); ++i) pf[i].copy_(po[i]);
  }
  dist::Reducer overlapped(on, comm, {0.004, 0.001, true});
  dist::Reducer after(off, comm, {0.004, 0.001, false});
  torch::manual_seed(g_world->rank());
  auto x = torch::randn({8, 50});
  // `unused` takes no part in the loss: its gradient never arrives, on any rank.
  for (int round = 0; round < 2; ++round) {
    for (auto* m : {&on, &off}) dist::zero_grads(*m);
    overlapped.prepare();
    on.b(on.a(x)).pow(2).sum().backward();
    overlapped.finish();
    off.b(off.a(x)).pow(2).sum().backward();
    after.finish();
    auto po = on.parameters(), pf = off.parameters();
    for (size_t i = 0; i < po.size(); ++i)
      EXPECT_TRUE(po[i].grad().equal(pf[i].grad())) << "parameter " << i << " round " << round;
  }
}

// DataParallel scales the loss by 1/world and lets the reducer only sum: the result must be the
// mean over ranks of each rank's own gradient, computed here from every rank's input.
TEST(DataParallel, BackwardAndSyncGiveTheMeanOfEachRanksGradient) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm);
  Net net, ref;
  dp.broadcast_module(net);
  {
    torch::NoGradGuard ng;
    auto pn = net.parameters(), pr = ref.parameters();
    for (size_t i = 0; i < pn.size(); ++i) pr[i].copy_(pn[i]);
  }
  torch::manual_seed(100 + g_world->rank());
  auto x = torch::randn({8, 50});
  dist::zero_grads(net);
  dp.expect_grads(net);
  dp.backward(net.b(net.a(x)).pow(2).mean());
  dp.sync_grads(net);
  // Reference: every rank's loss on one replica, summed, divided by the world size.
  auto all = comm.allgather(x);
  torch::Tensor total;
  for (int r = 0; r < g_world->size(); ++r) {
    auto l = ref.b(ref.a(all[r])).pow(2).mean();
    total = r == 0 ? l : total + l;
  }
  (total / g_world->size()).backward();
  auto pn = net.parameters(), pr = ref.parameters();
  for (size_t i = 0; i < pn.size(); ++i) {
    if (!pr[i].grad().defined()) continue;  // `unused`
    EXPECT_TRUE(torch::allclose(pn[i].grad(), pr[i].grad(), 1e-5, 1e-7)) << "parameter " << i;
  }
}

// With background progress on, an all-reduce in flight completes while its caller does
// something else (here: sleeps, as a CPU does while a GPU computes), with no MPI call from it.
// Without the progress thread this fails: Open MPI moves the all-reduce only inside MPI calls.
TEST(MpiCommunicator, BackgroundProgressCompletesAnAllreduceWhileTheCallerSleeps) {
  dist::MpiCommunicator comm(*g_world);
  auto t = torch::ones({1 << 20});  // 4 MB: several rounds, about a millisecond here
  g_world->barrier();
  comm.background_progress(true);
  auto work = comm.allreduce_sum_async(t);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  comm.background_progress(false);
  bool done = work->test();  // one MPI_Test: not enough to run a whole all-reduce
  work->wait();
  EXPECT_TRUE(done);
  EXPECT_TRUE(t.eq(g_world->size()).all().item<bool>());
}

TEST(Reducer, CompressedGradientsAreCloseToFp32) {
  dist::MpiCommunicator comm(*g_world);
  for (const char* mode : {"fp16", "bf16"}) {
    Net net;
    torch::manual_seed(g_world->rank() + 7);
    for (auto& p : net.parameters()) p.mutable_grad() = torch::randn_like(p);
    std::vector<torch::Tensor> exact;
    for (auto& p : net.parameters()) {
      auto t = p.grad().clone();
      comm.allreduce_sum(t);
      exact.push_back(t / g_world->size());
    }
    dist::Reducer r(net, comm, {0.004, 0.001, false, mode});
    r.finish();
    auto ps = net.parameters();
    for (size_t i = 0; i < ps.size(); ++i) {
      double rel = ((ps[i].grad() - exact[i]).norm() / exact[i].norm()).item<double>();
      EXPECT_LT(rel, std::string(mode) == "fp16" ? 2e-3 : 1.5e-2) << mode << " param " << i;
      EXPECT_GT(rel, 0.0) << mode << ": no rounding at all means it was not compressed";
    }
  }
}

TEST(OrderCheck, MismatchedCollectiveIsNamedNotHung) {
  dist::OrderCheckedCommunicator comm(std::make_unique<dist::MpiCommunicator>(*g_world));
  auto same = torch::ones({10});
  comm.allreduce_sum(same);
  EXPECT_EQ(same[0].item<float>(), g_world->size());
  auto t = torch::ones({g_world->rank() == 1 ? 12 : 10});
  try {
    comm.allreduce_sum(t);
    FAIL() << "mismatched collective went through";
  } catch (const DistError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("rank 1: #2 allreduce of 12 elements"), std::string::npos) << msg;
    EXPECT_NE(msg.find("rank 0: #2 allreduce of 10 elements"), std::string::npos) << msg;
  }
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
