// Bad input gets a clear message and the exit code of DESIGN.md, fast, and writes nothing.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <filesystem>
#include <fstream>

#include "dist/cuda_device.h"
#include "tests/e2e/harness.h"

namespace fs = std::filesystem;
using namespace gan::test;

TEST(Errors, RanksWithDifferentOptionsExit4NamingTheKey) {
  auto out = fresh_dir("mismatch");
  std::string base = std::string(GAN_DIST_BIN) + " --data " + testdata() + " --out " + out +
                     " --batch-size 16 --g-width 8 --d-width 8";
  auto r = run(std::string(GAN_MPIEXEC) + " --oversubscribe --bind-to none -np 1 " + base +
               " --steps 10 : -np 1 " + base + " --steps 20");
  EXPECT_EQ(r.code, 4) << r.output;
  EXPECT_NE(r.output.find("steps: rank 1 has 20, rank 0 has 10"), std::string::npos) << r.output;
  EXPECT_LT(r.seconds, 30.0);
  EXPECT_FALSE(fs::exists(out)) << "a refused run wrote its output folder";
}

struct BadCase {
  const char* name;
  std::string args;
  const char* says;
};

TEST(Errors, BadOptionsExit2AndWriteNothing) {
  auto out = fresh_dir("bad_options");
  const std::string data = " --data " + testdata() + " --out " + out;
  const std::string ok = data + " --steps 5";
  const BadCase cases[] = {
      {"batch does not divide", ok + " --batch-size 15", "does not divide over 2 ranks"},
      {"unknown model", ok + " --model nogan", "--model"},
      {"missing data", " --data /nonexistent/fm --out " + out + " --steps 5",
       "/nonexistent/fm: no such folder"},
      {"negative lr", ok + " --lr -1", "--lr"},
      {"bad norm", ok + " --norm weird", "--norm"},
      {"no length", data, "--steps"},
      {"unknown flag", ok + " --frobnicate 3", "frobnicate"},
      {"steps and epochs", ok + " --epochs 2", "excludes"},
      {"nccl on the cpu", ok + " --device cpu --backend nccl",
       "--backend nccl needs --device cuda"},
      {"cuda over mpi", ok + " --device cuda --backend mpi", "--device cuda needs --backend nccl"},
      // 8 images per rank cannot feed 9 critic steps.
      {"wgan without images per critic step", ok + " --model wgan --batch-size 16 --n-critic 9",
       "no image left for a critic step (raise --batch-size to at least 18)"},
      // The CPU flavour names its build; the CUDA flavour on a machine without a GPU, the host.
      {"cuda without a gpu", ok + " --device cuda",
       gan::dist::built_with_cuda() ? "no usable GPU" : "built with torch"},
  };
  for (const auto& c : cases) {
    if (std::string(c.name) == "cuda without a gpu" && torch::cuda::is_available()) continue;
    auto r = run(gan_dist(2, c.args));
    EXPECT_EQ(r.code, 2) << c.name << "\n" << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.name << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out)) << c.name << " wrote " << out;
  }
}

TEST(Errors, ExistingRunIsNotOverwritten) {
  auto out = fresh_dir("no_overwrite");
  const std::string args = "--data " + testdata() + " --out " + out +
                           " --steps 2 --batch-size 8 --g-width 8 --d-width 8 --sample-every 0";
  ASSERT_EQ(run(gan_dist(1, args)).code, 0);
  auto digest = read_json(out + "/final.json")["digest_g"];
  auto r = run(gan_dist(1, args));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  EXPECT_EQ(read_json(out + "/final.json")["digest_g"], digest);
}

TEST(Errors, FlippedByteInAShardExit3NamingIt) {
  auto dir = fresh_dir("flipped");
  fs::create_directories(dir);
  fs::copy(testdata(), dir + "/data", fs::copy_options::recursive);
  const auto shard = dir + "/data/shard-00001.h5";
  {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(fs::file_size(shard) / 2);
    char c = static_cast<char>(f.peek());
    f.seekp(fs::file_size(shard) / 2);
    f.put(static_cast<char>(c ^ 0x01));
  }
  auto v = run(gan_prep("verify " + dir + "/data"));
  EXPECT_EQ(v.code, 3) << v.output;
  EXPECT_NE(v.output.find("shard-00001.h5"), std::string::npos) << v.output;
  auto ok = run(gan_prep("verify " + testdata()));
  EXPECT_EQ(ok.code, 0) << ok.output;

  auto t =
      run(gan_dist(2, "--data " + dir + "/data --out " + dir + "/run --steps 5 --batch-size 16"));
  EXPECT_EQ(t.code, 3) << t.output;
  EXPECT_NE(t.output.find("shard-00001.h5"), std::string::npos) << t.output;
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoints"));
}

TEST(Errors, NonFiniteLossStopsTheRunNamingStepAndLoss) {
  auto out = fresh_dir("nan_loss");
  // A learning rate of 1e30 blows the first update up; the next losses are NaN.
  auto r = run(gan_dist(2, "--data " + testdata() + " --out " + out +
                               " --steps 30 --batch-size 16 --g-width 8 --d-width 8 --lr 1e30"
                               " --sample-every 0 --log-every 5"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("non-finite loss_"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(" at step "), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/final.json"));
}
