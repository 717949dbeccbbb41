// Collectives on real MPI ranks: gradient averaging, buckets, unused parameters, and the
// agreement checks that turn a mismatch into a named error instead of a hang.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <numeric>
#include <thread>

#include "core/errors.h"
#include "dist/agreement.h"
#include "dist/comm_curve.h"
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

TEST(Reducer, FirstBucketObeysASmallerCap) {
  dist::MpiCommunicator comm(*g_world);
  Net net;
  // A cap below every parameter's size: one parameter per bucket, the first bucket included
  // (its default 1 MB would otherwise take the whole net).
  dist::Reducer reducer(net, comm, {1e-9, 1.0});
  EXPECT_EQ(reducer.bucket_layout().size(), net.parameters().size());
}

TEST(Reducer, OverlappedMatchesAfterBackwardAndSurvivesUnusedParameters) {
  dist::MpiCommunicator comm(*g_world);
  Net on, off;
  dist::DataParallel dp(comm, *g_world);
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
  dist::DataParallel dp(comm, *g_world);
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
// something else (here: waits, as a CPU does while a GPU computes), with no MPI call from it.
// Without the progress thread this fails: Open MPI moves the all-reduce only inside MPI calls.
// The caller first waits for the result to appear in the buffer (read without an MPI call; a
// loaded machine may take long, 60 s is only a bound), then gives the progress thread half a
// second to finish the request's last bookkeeping, which leaves no trace outside MPI.
TEST(MpiCommunicator, BackgroundProgressCompletesAnAllreduceWhileTheCallerSleeps) {
  dist::MpiCommunicator comm(*g_world);
  auto t = torch::ones({1 << 20});  // 4 MB: several rounds, about a millisecond here
  g_world->barrier();
  comm.background_progress(true);
  auto work = comm.allreduce_sum_async(t);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!t.eq(g_world->size()).all().item<bool>() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  comm.background_progress(false);
  bool done = work->test();  // one MPI_Test: not enough to run a whole all-reduce
  work->wait();
  EXPECT_TRUE(done);
  EXPECT_TRUE(t.eq(g_world->size()).all().item<bool>());
}

TEST(Reducer, CompressedGradientsAreCloseToFp32) {
  dist::MpiCommunicator comm(*g_world);
  for (auto mode : {dist::Compression::kFp16, dist::Compression::kBf16}) {
    SCOPED_TRACE(name_of(dist::kCompressionNames, mode));
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
      EXPECT_LT(rel, mode == dist::Compression::kFp16 ? 2e-3 : 1.5e-2) << "param " << i;
      EXPECT_GT(rel, 0.0) << "no rounding at all means it was not compressed";
    }
  }
}

TEST(OrderCheck, MismatchedCollectiveIsNamedNotHung) {
  dist::OrderCheckedCommunicator comm(std::make_unique<dist::MpiCommunicator>(*g_world), *g_world);
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
  dist::DataParallel dp(comm, *g_world);
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

namespace {

// The MPI communicator, counting the collectives DataParallel issues through it, and saying
// identical_sums() as told (as NCCL's will).
class CountingCommunicator final : public dist::Communicator {
 public:
  CountingCommunicator(dist::World& world, bool identical) : inner_(world), identical_(identical) {}
  std::string name() const override { return "counting"; }
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void allreduce_sum(torch::Tensor& t) override {
    ++allreduces;
    inner_.allreduce_sum(t);
  }
  std::unique_ptr<dist::Work> allreduce_sum_async(torch::Tensor& t) override {
    ++allreduces;
    return inner_.allreduce_sum_async(t);
  }
  void broadcast(torch::Tensor& t, int root) override {
    ++broadcasts;
    inner_.broadcast(t, root);
  }
  torch::Tensor allgather(const torch::Tensor& t) override { return inner_.allgather(t); }
  void barrier() override { inner_.barrier(); }
  bool identical_sums() const override { return identical_; }
  int allreduces = 0, broadcasts = 0;

 private:
  dist::MpiCommunicator inner_;
  bool identical_;
};

// Every rank's bytes of `v`, in rank order.
std::vector<std::string> bits_of_every_rank(const std::vector<double>& v) {
  return g_world->allgather(
      std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double)));
}

}  // namespace

// Host numbers (BEGAN's k_t means) are reduced over MPI on the host, never through the tensor
// communicator (NCCL refuses CPU tensors), and every rank gets rank 0's bits.
TEST(DataParallel, HostSumGivesIdenticalBitsOnEveryRankWithoutTensorCollectives) {
  CountingCommunicator comm(*g_world, false);
  dist::DataParallel dp(comm, *g_world);
  const int r = g_world->rank(), n = g_world->size();
  // Sums whose last bits depend on the order of the additions.
  const std::vector<double> mine{0.1 * (r + 1), r == 0 ? 1e16 : (r + 1) / 3.0, double(r + 1),
                                 std::ldexp(1.0 + r / 7.0, -30 * r)};
  const std::vector<double> sums = dp.allreduce_host_sum(mine);
  ASSERT_EQ(sums.size(), mine.size());
  EXPECT_EQ(sums[2], n * (n + 1) / 2.0);
  EXPECT_NEAR(sums[0], 0.1 * n * (n + 1) / 2.0, 1e-12);
  EXPECT_NEAR(sums[1], 1e16, 1e3);
  const auto all = bits_of_every_rank(sums);
  for (int k = 1; k < n; ++k) EXPECT_EQ(all[k], all[0]) << "rank " << k << " differs from rank 0";
  EXPECT_EQ(comm.allreduces + comm.broadcasts, 0);
  EXPECT_TRUE(dp.allreduce_host_sum({}).empty());
  dist::LocalCollectives local;
  EXPECT_EQ(local.allreduce_host_sum(mine), mine);
}

// The broadcast of rank 0's sum is only for backends that do not promise identical sums.
TEST(DataParallel, AllreduceSumBroadcastsOnlyWhenTheBackendSumsMayDiffer) {
  const int r = g_world->rank(), n = g_world->size();
  for (bool identical : {false, true}) {
    CountingCommunicator comm(*g_world, identical);
    dist::DataParallel dp(comm, *g_world);
    auto s = dp.allreduce_sum(torch::tensor({double(r), 1.0}));
    EXPECT_EQ(comm.allreduces, 1);
    EXPECT_EQ(comm.broadcasts, identical ? 0 : 1) << "identical_sums " << identical;
    EXPECT_EQ(s[0].item<double>(), n * (n - 1) / 2.0);
    EXPECT_EQ(s[1].item<double>(), n);
  }
  // The debugging decorator passes the backend's answer through.
  for (bool identical : {false, true}) {
    dist::OrderCheckedCommunicator checked(
        std::make_unique<CountingCommunicator>(*g_world, identical), *g_world);
    EXPECT_EQ(checked.identical_sums(), identical);
  }
}

namespace {

struct WithBuffers : torch::nn::Module {
  WithBuffers() {
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(3));  // float stats, int64 count
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(5));
    extra = register_buffer("extra", torch::zeros({2, 3}, torch::kDouble));
    strided = register_buffer("strided", torch::zeros({4, 6}).t());  // not contiguous
  }
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::Tensor extra, strided;
};

}  // namespace

// broadcast_buffers sends one flat tensor per dtype, not one per buffer, and leaves every rank
// with rank 0's buffers, in place, whatever their dtype and layout.
TEST(DataParallel, BroadcastBuffersIsOneBroadcastPerDtypeAndGivesRankZerosBuffers) {
  const int r = g_world->rank(), n = g_world->size();
  WithBuffers m;
  torch::NoGradGuard ng;
  torch::manual_seed(300 + r);  // different buffers on every rank
  for (auto& b : m.buffers()) {
    if (b.is_floating_point())
      b.copy_(torch::randn(b.sizes(), b.options()));
    else
      b.fill_(7 + 5 * r);
  }
  dist::MpiCommunicator mpi(*g_world);
  std::vector<torch::Tensor> rank0;
  std::vector<const void*> storage;
  for (auto& b : m.buffers()) {
    rank0.push_back(mpi.allgather(b.contiguous())[0].clone());
    storage.push_back(b.data_ptr());
  }
  ASSERT_EQ(rank0.size(), 8u);
  CountingCommunicator comm(*g_world, false);
  dist::DataParallel dp(comm, *g_world);
  dp.broadcast_buffers(m);
  EXPECT_EQ(comm.broadcasts, 3);  // float, int64, double
  auto buffers = m.buffers();
  for (size_t i = 0; i < buffers.size(); ++i) {
    EXPECT_EQ(buffers[i].scalar_type(), rank0[i].scalar_type()) << "buffer " << i;
    EXPECT_TRUE(buffers[i].equal(rank0[i])) << "buffer " << i << " on rank " << r;
    EXPECT_EQ(buffers[i].data_ptr(), storage[i]) << "buffer " << i << " replaced, not updated";
  }
  EXPECT_EQ(m.bn1->num_batches_tracked.item<int64_t>(), 7);
  EXPECT_FALSE(m.strided.is_contiguous());
  // Parameters (all float here) likewise: one broadcast, then the buffers' three.
  torch::manual_seed(400 + r);
  Net net;
  CountingCommunicator comm2(*g_world, false);
  dist::DataParallel dp2(comm2, *g_world);
  dp2.broadcast_module(net);
  EXPECT_EQ(comm2.broadcasts, 1);
  for (auto& p : net.parameters()) {
    auto all = mpi.allgather(p.detach().contiguous());
    for (int k = 1; k < n; ++k) EXPECT_TRUE(all[k].equal(all[0]));
  }
}

// What the reducer reports it sends is what its buckets hold: every parameter's bytes once.
TEST(Reducer, BucketBytesCoverEveryParameterOnce) {
  dist::MpiCommunicator comm(*g_world);
  Net net;
  dist::Reducer reducer(net, comm, {0.004, 0.001});
  int64_t total = 0;
  for (const auto& p : net.parameters()) total += p.numel() * 4;
  const auto bytes = reducer.bucket_bytes();
  EXPECT_EQ(bytes.size(), reducer.bucket_layout().size());
  EXPECT_EQ(std::accumulate(bytes.begin(), bytes.end(), int64_t{0}), total);
  dist::ReducerOptions half{0.004, 0.001};
  half.compress = dist::Compression::kBf16;  // 16 bits on the wire: half the bytes
  dist::Reducer compressed(net, comm, half);
  const auto hb = compressed.bucket_bytes();
  EXPECT_EQ(std::accumulate(hb.begin(), hb.end(), int64_t{0}), total / 2);
}

// DataParallel tallies the gradient all-reduces it issued, by message size.
TEST(DataParallel, TalliesGradientMessagesBySize) {
  dist::MpiCommunicator comm(*g_world);
  dist::DataParallel dp(comm, *g_world, {0.004, 0.001});
  Net net;
  for (auto& p : net.parameters()) p.mutable_grad() = torch::ones_like(p);
  for (int step = 0; step < 3; ++step) dp.sync_grads(net);
  dist::Reducer probe(net, comm, {0.004, 0.001});
  std::map<int64_t, int64_t> want;
  for (int64_t b : probe.bucket_bytes()) want[b] += 3;
  EXPECT_EQ(dp.gradient_messages(), want);
}

// The all-reduce curve on the job's communicator: the sizes asked for (powers of 4 from 4 KB
// up to the largest exact size, plus the exact ones, whole floats), positive times, the same
// table on every rank, and nccl-tests' busbw = algbw * 2(n-1)/n.
TEST(CommCurve, MeasuresEverySizeAndAgreesAcrossRanks) {
  dist::MpiCommunicator comm(*g_world);
  const auto sizes = dist::curve_sizes({70001, 300000});
  EXPECT_EQ(sizes, (std::vector<int64_t>{4096, 16384, 65536, 70000, 262144, 300000}));
  const auto curve = dist::allreduce_curve(comm, *g_world, sizes, torch::kCPU);
  ASSERT_EQ(curve.size(), sizes.size());
  const int n = g_world->size();
  std::vector<double> times;
  for (size_t i = 0; i < curve.size(); ++i) {
    EXPECT_EQ(curve[i].bytes, sizes[i]);
    EXPECT_GT(curve[i].seconds, 0);
    EXPECT_NEAR(curve[i].algbw_gbps, curve[i].bytes / curve[i].seconds / 1e9, 1e-9);
    EXPECT_NEAR(curve[i].busbw_gbps, curve[i].algbw_gbps * 2.0 * (n - 1) / n, 1e-9);
    times.push_back(curve[i].seconds);
  }
  // Every rank reports the slowest rank's time: the same numbers everywhere.
  auto summed = g_world->allreduce_sum(times);
  for (size_t i = 0; i < times.size(); ++i) EXPECT_DOUBLE_EQ(summed[i], n * times[i]);
  const std::string csv = dist::curve_csv(curve, n);
  EXPECT_EQ(csv.rfind("ranks,bytes,time_us,algbw_GBps,busbw_GBps\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), static_cast<long>(sizes.size() + 1));
}
