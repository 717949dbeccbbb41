// Bad input gets a clear message and the exit code of docs/ARCHITECTURE.md, fast, and writes
// nothing.
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
      // Recorded as `out=""`, the form of an option never set: the run could not be rebuilt.
      {"empty out", " --data " + testdata() + " --out '' --steps 5", "--out: cannot be empty"},
      {"empty data", " --data '' --out " + out + " --steps 5", "--data: cannot be empty"},
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
      // A model's own setting is checked against its declaration (models/wgan.cpp).
      {"fractional critic steps", ok + " --model wgan --n-critic 2.5", "2.5 is not a whole number"},
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
    // gan_dist --check applies the same rules, for the world size it is told, without MPI.
    // Whether a GPU is there is a property of the node that runs the job, not of the command:
    // the CUDA flavour's check accepts --device cuda on a host without one.
    if (std::string(c.name) == "cuda without a gpu" && gan::dist::built_with_cuda()) continue;
    auto k = run(std::string(GAN_DIST_BIN) + " --check --world-size 2 " + c.args);
    EXPECT_EQ(k.code, 2) << "--check: " << c.name << "\n" << k.output;
    EXPECT_NE(k.output.find(c.says), std::string::npos) << "--check: " << c.name << "\n"
                                                        << k.output;
    EXPECT_EQ(k.output.find("ok\n"), std::string::npos) << "--check: " << c.name;
    EXPECT_FALSE(fs::exists(out)) << "--check: " << c.name << " wrote " << out;
  }
}

// `gan_dist --check`: each rule on its own, the answer "ok", and what it does not do.
TEST(Errors, CheckModeNamesTheRuleAndStartsNothing) {
  auto out = fresh_dir("check_mode");
  const std::string check = std::string(GAN_DIST_BIN) + " --check";
  const std::string ok = " --data " + testdata() + " --out " + out + " --steps 5 --batch-size 16";
  // A pml that does not exist makes any MPI_Init fail: the check must not call it.
  auto r = run("OMPI_MCA_pml=no_such_pml " + check + " --world-size 4" + ok);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "ok\n");
  EXPECT_FALSE(fs::exists(out)) << "--check wrote " << out;

  const BadCase cases[] = {
      {"unknown model", " --world-size 2" + ok + " --model nosuch", "--model: nosuch not in"},
      {"bad option value", " --world-size 2" + ok + " --lr abc", "--lr"},
      {"missing data folder",
       " --world-size 2 --data /nonexistent/fm --out " + out + " --steps 5 --batch-size 16",
       "--data /nonexistent/fm: no such folder"},
      // The world size it is told, not the one it runs in (one process).
      {"batch not divisible by the world size", " --world-size 3" + ok,
       "--batch-size 16 does not divide over 3 ranks"},
      {"world size not positive", " --world-size 0" + ok, "--world-size"},
      {"missing feature network", " --world-size 2" + ok + " --eval-features /nonexistent.pt",
       "--eval-features /nonexistent.pt: no such file"},
      {"two feature networks",
       " --world-size 2" + ok + " --eval-features a.pt --eval-classifier b.pt",
       "give --eval-features or --eval-classifier, not both"},
  };
  for (const auto& c : cases) {
    auto k = run(check + c.args);
    EXPECT_EQ(k.code, 2) << c.name << "\n" << k.output;
    EXPECT_NE(k.output.find(c.says), std::string::npos) << c.name << "\n" << k.output;
    EXPECT_EQ(k.output.find("ok\n"), std::string::npos) << c.name << "\n" << k.output;
  }

  // A folder without a manifest is bad data (3), as in a real run.
  const auto empty = fresh_dir("check_mode_empty_data");
  fs::create_directories(empty);
  auto m = run(check + " --data " + empty + " --out " + out + " --steps 5");
  EXPECT_EQ(m.code, 3) << m.output;
  EXPECT_NE(m.output.find(empty + "/manifest.json: missing"), std::string::npos) << m.output;

  // Paths that exist only on the cluster's nodes: every other rule still applies, and the
  // answer says which paths were left out.
  const std::string remote =
      " --world-size 2 --no-path-check --data /cluster/only/fm --out " + out + " --steps 5";
  auto p = run(check + remote + " --batch-size 16");
  EXPECT_EQ(p.code, 0) << p.output;
  EXPECT_NE(p.output.find("ok\n"), std::string::npos) << p.output;
  EXPECT_NE(p.output.find("not checked here: --data /cluster/only/fm"), std::string::npos)
      << p.output;
  auto q = run(check + remote + " --batch-size 16 --model nosuch");
  EXPECT_EQ(q.code, 2) << q.output;
  EXPECT_NE(q.output.find("--model"), std::string::npos) << q.output;
  auto b = run(check + remote + " --batch-size 15");
  EXPECT_EQ(b.code, 2) << b.output;
  EXPECT_NE(b.output.find("does not divide over 2 ranks"), std::string::npos) << b.output;

  // The check's own options belong to --check: a real run refuses them.
  auto w = run(gan_dist(1, "--world-size 2" + ok));
  EXPECT_EQ(w.code, 2) << w.output;
  EXPECT_NE(w.output.find("--world-size requires --check"), std::string::npos) << w.output;
  EXPECT_FALSE(fs::exists(out)) << "a refused run wrote " << out;
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
  // The check sees the same: refused without --resume, fine with it.
  auto k = run(std::string(GAN_DIST_BIN) + " --check " + args);
  EXPECT_EQ(k.code, 2) << k.output;
  EXPECT_NE(k.output.find("already holds checkpoints"), std::string::npos) << k.output;
  auto kr = run(std::string(GAN_DIST_BIN) + " --check " + args + " --resume");
  EXPECT_EQ(kr.code, 0) << kr.output;
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

// manifest.json whose counts add up to its total but are not what the shards hold: the shard
// check must come before anything sized by those counts (the sampler), so the answer is exit
// 3 naming the shard, not a complaint about --batch-size or a std::bad_alloc (exit 1).
TEST(Errors, ShardCountTheShardDoesNotHoldExit3NamingIt) {
  auto dir = fresh_dir("count_mismatch");
  fs::create_directories(dir);
  fs::copy(testdata(), dir + "/data", fs::copy_options::recursive);
  const auto manifest = read_json(dir + "/data/manifest.json");
  // Runs on a manifest whose shards claim `counts` (the rest keep theirs), total to match.
  const auto claim = [&](const std::vector<int64_t>& counts) {
    auto m = manifest;
    int64_t total = 0;
    for (size_t i = 0; i < m["shards"].size(); ++i) {
      if (i < counts.size()) m["shards"][i]["count"] = counts[i];
      total += m["shards"][i]["count"].get<int64_t>();
    }
    m["total"] = total;
    std::ofstream(dir + "/data/manifest.json") << m.dump(2);
    return run(gan_dist(2, "--data " + dir + "/data --out " + dir +
                               "/run --steps 5 --batch-size 16 --g-width 8 --d-width 8"));
  };
  const std::string holds = "shard-00000.h5: holds " +
                            std::to_string(manifest["shards"][0]["count"].get<int64_t>()) +
                            " images, manifest says ";
  // One image per shard, fewer than a batch of 16: the sampler would refuse --batch-size.
  auto few = claim(std::vector<int64_t>(manifest["shards"].size(), 1));
  ASSERT_EQ(few.code, 3) << few.output;  // the order holds, so the case below is safe to run
  EXPECT_NE(few.output.find(holds + "1"), std::string::npos) << few.output;
  // 1e12 images: the sampler would allocate for all of them.
  auto many = claim({1000000000000});
  EXPECT_EQ(many.code, 3) << many.output;
  EXPECT_NE(many.output.find(holds + "1000000000000"), std::string::npos) << many.output;
  EXPECT_FALSE(fs::exists(dir + "/run/checkpoints"));
  // gan_eval train-classifier reads the whole set: the same answer, before sizing anything.
  auto cls = run(std::string(GAN_EVAL_BIN) + " train-classifier --data " + dir + "/data --out " +
                 dir + "/classifier.pt");
  EXPECT_EQ(cls.code, 3) << cls.output;
  EXPECT_NE(cls.output.find(holds + "1000000000000"), std::string::npos) << cls.output;
  EXPECT_FALSE(fs::exists(dir + "/classifier.pt"));
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
