// End-to-end training on real ranks: replicas stay identical, averaging matches one big
// batch, resume is bitwise, and DCGAN measurably learns Fashion-MNIST.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <regex>

#include "dataio/shard.h"
#include "tests/e2e/harness.h"

namespace fs = std::filesystem;
using namespace gan::test;

namespace {

const std::string kSmall = " --g-width 16 --d-width 16 --z-dim 32 --sample-every 0 --log-every 4";

std::string common(const std::string& out) {
  return "--model dcgan --data " + testdata() + " --out " + out + kSmall;
}

std::vector<std::string> rank_digests(const std::string& out, int np) {
  std::vector<std::string> d;
  std::regex line("final digest (\\w+) ([0-9a-f]{64})");
  for (int r = 0; r < np; ++r) {
    std::string text = read_text(out + "/log/rank-" + std::to_string(r) + ".log"), found;
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
      found += (*it)[1].str() + "=" + (*it)[2].str() + " ";
    d.push_back(found);
  }
  return d;
}

}  // namespace

class Replicas : public ::testing::TestWithParam<int> {};

TEST_P(Replicas, BitwiseIdenticalOnEveryRank) {
  const int np = GetParam();
  auto out = fresh_dir("replicas_np" + std::to_string(np));
  auto r = run(gan_dist(np, common(out) + " --steps 12 --batch-size 24 --replica-check-every 1"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto digests = rank_digests(out, np);
  ASSERT_NE(digests[0].find("G="), std::string::npos) << digests[0];
  ASSERT_NE(digests[0].find("D="), std::string::npos) << digests[0];
  for (int k = 1; k < np; ++k) EXPECT_EQ(digests[k], digests[0]) << "rank " << k;
}
INSTANTIATE_TEST_SUITE_P(Np, Replicas, ::testing::Values(2, 3));

TEST(Averaging, TwoRanksMatchOneRankWithTheSameGlobalBatch) {
  auto one = fresh_dir("avg_np1"), two = fresh_dir("avg_np2");
  const std::string args = " --steps 8 --batch-size 16 --norm none --seed 4";
  auto r1 = run(gan_dist(1, common(one) + args + " --checkpoint-every 1 --keep-checkpoints 10"));
  ASSERT_EQ(r1.code, 0) << r1.output;
  auto r2 = run(gan_dist(2, common(two) + args));
  ASSERT_EQ(r2.code, 0) << r2.output;
  for (const char* name : {"G", "D"}) {
    auto p1 = checkpoint_params(one + "/checkpoints/step-0000008", name);
    auto p2 = checkpoint_params(two + "/checkpoints/step-0000008", name);
    auto early = checkpoint_params(one + "/checkpoints/step-0000001", name);
    double rel = ((p1 - p2).norm() / p1.norm()).item<double>();
    EXPECT_LT(rel, 1e-5) << name;
    // The tolerance is meaningful: seven steps moved the parameters far more than that.
    EXPECT_GT(((p1 - early).norm() / p1.norm()).item<double>(), 1e-3) << name;
  }
  auto m1 = read_jsonl(one + "/metrics.jsonl"), m2 = read_jsonl(two + "/metrics.jsonl");
  ASSERT_EQ(m1.size(), m2.size());
  EXPECT_NEAR(m1.back()["loss_d"].get<double>(), m2.back()["loss_d"].get<double>(), 1e-4);
}

TEST(Reducer, OverlapOnAndOffGiveBitwiseEqualParameters) {
  auto on = fresh_dir("overlap_on"), off = fresh_dir("overlap_off");
  const std::string args = " --steps 6 --batch-size 16 --seed 5 --bucket-mb 0.01";
  auto a = run(gan_dist(2, common(on) + args + " --overlap true --check-collectives"));
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run(gan_dist(2, common(off) + args + " --overlap false"));
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(read_json(on + "/final.json")["digest_g"], read_json(off + "/final.json")["digest_g"]);
  EXPECT_EQ(read_json(on + "/final.json")["digest_d"], read_json(off + "/final.json")["digest_d"]);
}

TEST(Resume, StopAndResumeEqualsUninterruptedBitwise) {
  auto straight = fresh_dir("resume_straight"), split = fresh_dir("resume_split");
  const std::string args = " --batch-size 16 --threads 1 --seed 9";
  auto a = run(gan_dist(2, common(straight) + args + " --steps 16"));
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run(gan_dist(2, common(split) + args + " --steps 8"));
  ASSERT_EQ(b.code, 0) << b.output;
  auto c = run(gan_dist(2, common(split) + args + " --steps 16 --resume"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("resumed at step 8"), std::string::npos) << c.output;
  auto fa = read_json(straight + "/final.json"), fc = read_json(split + "/final.json");
  EXPECT_EQ(fa["step"], 16);
  EXPECT_EQ(fc["step"], 16);
  EXPECT_EQ(fa["digest_g"], fc["digest_g"]);
  EXPECT_EQ(fa["digest_d"], fc["digest_d"]);
  // The uninterrupted run's digest after 8 steps differs, so equality above is not vacuous.
  auto mid = read_json(split + "/checkpoints/step-0000008/meta.json");
  EXPECT_NE(mid["digest_g"], fa["digest_g"]);
}

// A damaged newest checkpoint (here truncated; every kind is covered in checkpoint_test) is
// named in the log, the previous one is used, and the run still ends where an uninterrupted
// one does.
TEST(Resume, DamagedNewestCheckpointIsNamedAndThePreviousOneUsed) {
  auto straight = fresh_dir("damaged_straight"), split = fresh_dir("damaged_split");
  const std::string args = " --batch-size 16 --threads 1 --seed 4 --checkpoint-every 4";
  auto a = run(gan_dist(1, common(straight) + args + " --steps 16"));
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run(gan_dist(1, common(split) + args + " --steps 12"));
  ASSERT_EQ(b.code, 0) << b.output;
  const auto newest = split + "/checkpoints/step-0000012/state.pt";
  fs::resize_file(newest, fs::file_size(newest) / 2);
  auto c = run(gan_dist(1, common(split) + args + " --steps 16 --resume"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("skipped corrupt checkpoint: " + split +
                          "/checkpoints/step-0000012: state.pt does not match its checksum"),
            std::string::npos)
      << c.output;
  EXPECT_NE(c.output.find("resumed at step 8"), std::string::npos) << c.output;
  EXPECT_EQ(read_json(straight + "/final.json")["digest_g"],
            read_json(split + "/final.json")["digest_g"]);
}

TEST(Preemption, SigtermCheckpointsExits75AndResumesExactly) {
  auto straight = fresh_dir("preempt_straight"), cut = fresh_dir("preempt_cut");
  const std::string args = " --batch-size 16 --seed 2 --steps 400";
  auto a = run(gan_dist(1, common(straight) + args));
  ASSERT_EQ(a.code, 0) << a.output;
  // Started without mpirun (a world of one). The signal goes out when the run has logged its
  // first metrics row (an event, not a time: a fixed sleep failed on a fast, quiet machine,
  // where 400 steps take under 2 s); the row comes at step 4 of 400.
  auto b = run("(" + std::string(GAN_DIST_BIN) + " " + common(cut) + args +
               " & pid=$!; until grep -qs '\"step\"' " + cut +
               "/metrics.jsonl || ! kill -0 $pid 2>/dev/null; do sleep 0.01; done;"
               " kill -TERM $pid; wait $pid)");
  ASSERT_EQ(b.code, 75) << b.output;
  auto ckpts =
      std::distance(fs::directory_iterator(cut + "/checkpoints"), fs::directory_iterator());
  ASSERT_EQ(ckpts, 1);
  EXPECT_FALSE(fs::exists(cut + "/final.json"));
  auto c = run(gan_dist(1, common(cut) + args + " --resume"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_EQ(read_json(straight + "/final.json")["digest_g"],
            read_json(cut + "/final.json")["digest_g"]);
  // Every logged step appears once, in order, although the cut run logged past its checkpoint.
  auto rows = read_jsonl(cut + "/metrics.jsonl");
  ASSERT_EQ(rows.size(), read_jsonl(straight + "/metrics.jsonl").size());
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_LT(rows[i - 1]["step"], rows[i]["step"]);
}

TEST(Learning, DcganImprovesImageStatisticsOnFashionMnist) {
  auto out = fresh_dir("learn_np2");
  auto r = run(gan_dist(2, "--model dcgan --data " + testdata() + " --out " + out +
                               " --g-width 32 --d-width 32 --steps 200 --batch-size 64"
                               " --sample-every 100 --log-every 20"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto ev = read_jsonl(out + "/eval.jsonl");
  ASSERT_EQ(ev.size(), 3u);
  double h0 = ev.front()["histogram_l1"], h1 = ev.back()["histogram_l1"];
  double m0 = ev.front()["moment_rmse"], m1 = ev.back()["moment_rmse"];
  // At step 0 G paints flat gray; measured after 200 steps: moments ~0.25x, histogram ~0.5x.
  EXPECT_LT(m1, 0.5 * m0) << "moment RMSE " << m0 << " -> " << m1;
  EXPECT_LT(h1, 0.8 * h0) << "histogram L1 " << h0 << " -> " << h1;
  EXPECT_TRUE(fs::exists(out + "/samples/step-0000200.png"));
  auto metrics = read_jsonl(out + "/metrics.jsonl");
  ASSERT_EQ(metrics.size(), 10u);
  for (const char* key : {"step", "epoch", "images_seen", "loss_d", "loss_g", "data_ms",
                          "compute_ms", "comm_ms", "step_ms"})
    EXPECT_TRUE(metrics.back().contains(key)) << key;
  EXPECT_EQ(metrics.back()["images_seen"], 200 * 64);

  // The parameter counts it logs are those of the PyTorch DCGAN of benchmarks/ at the same
  // widths, counted by PyTorch itself.
  std::smatch logged;
  ASSERT_TRUE(std::regex_search(r.output, logged, std::regex(R"(parameters: G (\d+), D (\d+))")))
      << r.output;
  auto py =
      run(std::string("/usr/bin/python3 -c \"import sys; sys.path.insert(0, '") + GAN_SOURCE_DIR +
          "/benchmarks'); import pytorch_ddp_dcgan as m; "
          "count = lambda net: sum(p.numel() for p in net.parameters()); "
          "print(count(m.generator(100, 32)), count(m.discriminator(32)))\"");
  ASSERT_EQ(py.code, 0) << py.output;
  EXPECT_EQ(py.output, std::string(logged[1]) + " " + std::string(logged[2]) + "\n");
}

// TensorBoard's own reader (the project's .venv) sees every metrics.jsonl and eval.jsonl value
// at its step, each sample grid as an image with the same pixels, and after a resume (which
// ran past its checkpoint, as a preempted job does) no step twice.
TEST(TensorBoard, ReaderSeesTheRunFolderAcrossAResume) {
  auto out = fresh_dir("tensorboard");
  const std::string args = "--model dcgan --data " + testdata() + " --out " + out +
                           " --g-width 16 --d-width 16 --z-dim 32 --batch-size 16 --threads 1"
                           " --seed 5 --log-every 2 --sample-every 4 --checkpoint-every 4";
  auto a = run(gan_dist(2, args + " --steps 8"));
  ASSERT_EQ(a.code, 0) << a.output;
  auto b = run(gan_dist(2, args + " --steps 16 --resume"));
  ASSERT_EQ(b.code, 0) << b.output;
  // Without its last checkpoint, run b looks like a job that died after logging steps 14 and
  // 16 and sampling at 16: the next resume starts at 12 and must drop those from tb/.
  fs::remove_all(out + "/checkpoints/step-0000016");
  auto c = run(gan_dist(2, args + " --steps 24 --resume"));
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("resumed at step 12"), std::string::npos) << c.output;
  int files = 0;
  for (const auto& e : fs::directory_iterator(out + "/tb"))
    files += e.path().filename().string().rfind("events.out.tfevents.", 0) == 0;
  EXPECT_EQ(files, 3);  // one per run
  const std::string reader = std::string(GAN_TB_PYTHON) + " " + GAN_TB_READER;
  for (const auto& [file, prefix] :
       {std::pair{"metrics.jsonl", "metrics/"}, {"eval.jsonl", "eval/"}}) {
    auto r = run(reader + " metrics " + out + "/" + file + " " + out + "/tb " + prefix);
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("values checked"), std::string::npos) << r.output;
  }
  auto s = run(reader + " samples " + out + "/samples " + out + "/tb samples");
  EXPECT_EQ(s.code, 0) << s.output;
  EXPECT_NE(s.output.find("7 sample grids checked"), std::string::npos) << s.output;
}

// The generator's moving average: the same on every rank, restored exactly on resume, and
// what gan_eval samples by default (the raw weights on request give other images).
TEST(Ema, SameOnEveryRankResumesExactlyAndIsWhatIsSampled) {
  auto straight = fresh_dir("ema_straight"), split = fresh_dir("ema_split");
  const std::string args = " --batch-size 16 --threads 1 --seed 6 --g-ema 0.9";
  auto a = run(gan_dist(2, common(straight) + args + " --steps 16"));
  ASSERT_EQ(a.code, 0) << a.output;
  auto d = rank_digests(straight, 2);
  EXPECT_NE(d[0].find("G_ema="), std::string::npos) << d[0];
  EXPECT_EQ(d[0], d[1]);
  auto b = run(gan_dist(2, common(split) + args + " --steps 8"));
  ASSERT_EQ(b.code, 0) << b.output;
  auto c = run(gan_dist(2, common(split) + args + " --steps 16 --resume"));
  ASSERT_EQ(c.code, 0) << c.output;
  auto fa = read_json(straight + "/final.json"), fc = read_json(split + "/final.json");
  ASSERT_TRUE(fa.contains("digest_g_ema")) << fa.dump();
  EXPECT_EQ(fa["digest_g_ema"], fc["digest_g_ema"]);
  EXPECT_NE(fa["digest_g_ema"], fa["digest_g"]);
  EXPECT_NE(read_json(split + "/checkpoints/step-0000008/meta.json")["digest_g_ema"],
            fa["digest_g_ema"]);

  auto sample = [&](const std::string& weights) {
    const std::string file = straight + "/sample-" + weights + ".h5";
    auto r = run(std::string(GAN_EVAL_BIN) + " sample --checkpoint " + straight +
                 " --n 16 --seed 3 --weights " + weights + " --out " + file);
    EXPECT_EQ(r.code, 0) << r.output;
    return read_text(file);
  };
  const auto by_default = sample("auto"), ema = sample("ema"), raw = sample("raw");
  EXPECT_EQ(by_default, ema);
  EXPECT_NE(ema, raw);
  // Insisting on an average that a run did not keep is a usage error.
  auto no_ema = fresh_dir("ema_none");
  ASSERT_EQ(run(gan_dist(1, common(no_ema) + " --batch-size 16 --steps 2")).code, 0);
  auto r = run(std::string(GAN_EVAL_BIN) + " sample --checkpoint " + no_ema +
               " --n 4 --weights ema --out " + no_ema + "/x.h5");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("trained without --g-ema"), std::string::npos) << r.output;
}

// A checkpoint is self-contained: it records the image shape, so gan_eval samples from it in
// any folder without the training data (here the run was given --data as a relative path,
// which means nothing elsewhere). What needs real images (a score) says which folder is
// missing and that --data gives it; with --data it works.
TEST(Checkpoint, SamplesFromAnyFolderWithoutTheData) {
  const fs::path data(testdata());
  auto out = fresh_dir("self_contained");
  auto t = run("cd " + data.parent_path().string() + " && " +
               gan_dist(1, "--model dcgan --data " + data.filename().string() + " --out " + out +
                               kSmall + " --batch-size 16 --steps 2"));
  ASSERT_EQ(t.code, 0) << t.output;
  const auto meta = read_json(out + "/checkpoints/step-0000002/meta.json");
  EXPECT_EQ(meta["data"]["h"], 28) << meta.dump();
  EXPECT_EQ(meta["data"]["c"], 1) << meta.dump();
  EXPECT_EQ(meta["data"]["classes"], 10) << meta.dump();

  const std::string eval = "cd / && " + std::string(GAN_EVAL_BIN);
  auto s = run(eval + " sample --checkpoint " + out + " --n 5 --out " + out + "/s.h5");
  ASSERT_EQ(s.code, 0) << s.output;
  const gan::dataio::ShardReader shard(out + "/s.h5");
  EXPECT_EQ(shard.count(), 5);
  EXPECT_EQ(shard.shape().h, 28);
  auto p = run(eval + " pictures --checkpoint " + out + " --out " + out + "/pictures");
  ASSERT_EQ(p.code, 0) << p.output;
  EXPECT_TRUE(fs::exists(out + "/pictures/samples.png"));

  const std::string cls = " --classifier " + std::string(GAN_TESTDATA) + "/classifier.pt --n 50";
  auto missing = run(eval + " --checkpoint " + out + cls + " --out " + out + "/score.json");
  EXPECT_EQ(missing.code, 3) << missing.output;
  EXPECT_NE(missing.output.find("data folder " + data.filename().string() +
                                " (relative to where it trained) does not exist here"),
            std::string::npos)
      << missing.output;
  auto given = run(eval + " --checkpoint " + out + cls + " --data " + data.string() + " --out " +
                   out + "/score.json");
  EXPECT_EQ(given.code, 0) << given.output;
  EXPECT_TRUE(read_json(out + "/score.json").contains("fd")) << read_text(out + "/score.json");
}

// --eval-every: FD and KID during training, every rank embedding its share of the generated
// images. The score at step 0 does not depend on the world size (same G, same noise), and a
// model that trains improves its KID beyond the spread of the estimate.
TEST(EvalDuringTraining, SpreadOverRanksEqualsOneRankAndFallsAsTheModelLearns) {
  const std::string features = " --eval-classifier " + std::string(GAN_TESTDATA) +
                               "/classifier.pt --eval-images 400 --sample-every 0";
  auto two = fresh_dir("eval_every_np2"), one = fresh_dir("eval_every_np1");
  auto r2 = run(gan_dist(2, "--model dcgan --data " + testdata() + " --out " + two +
                                " --g-width 16 --d-width 16 --batch-size 64 --steps 200"
                                " --eval-every 100" +
                                features));
  ASSERT_EQ(r2.code, 0) << r2.output;
  auto r1 = run(gan_dist(1, "--model dcgan --data " + testdata() + " --out " + one +
                                " --g-width 16 --d-width 16 --batch-size 64 --steps 1"
                                " --eval-every 1" +
                                features));
  ASSERT_EQ(r1.code, 0) << r1.output;

  auto ev = read_jsonl(two + "/eval.jsonl");
  ASSERT_EQ(ev.size(), 3u);
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i]["step"], 100 * i);
    for (const char* key : {"fd", "kid", "kid_std_error", "kid_subsets", "kid_subset_size"})
      EXPECT_TRUE(ev[i].contains(key)) << key;
    EXPECT_FALSE(ev[i].contains("histogram_l1")) << "no sample steps were asked for";
  }
  EXPECT_EQ(ev[0]["kid_subsets"], 10);
  EXPECT_EQ(ev[0]["kid_subset_size"], 200);
  const double fd0 = ev[0]["fd"], fd2 = ev[2]["fd"];
  const double kid0 = ev[0]["kid"], kid2 = ev[2]["kid"];
  const double se0 = ev[0]["kid_std_error"], se2 = ev[2]["kid_std_error"];
  EXPECT_GT(se0, 0);
  EXPECT_LT(kid2 + 3 * (se0 + se2), kid0)
      << "KID " << kid0 << " +- " << se0 << " -> " << kid2 << " +- " << se2;
  EXPECT_LT(fd2, 0.7 * fd0) << "FD " << fd0 << " -> " << fd2;

  auto single = read_jsonl(one + "/eval.jsonl");
  ASSERT_GE(single.size(), 1u);
  EXPECT_EQ(single[0]["step"], 0);
  EXPECT_NEAR(single[0]["fd"].get<double>(), fd0, 1e-6 * fd0);
  EXPECT_NEAR(single[0]["kid"].get<double>(), kid0, 1e-6 * std::abs(kid0));
}

// The scaling benchmark's inputs and report: gan_dist --comm-curve measures the job's own
// all-reduce curve at the exact sizes its reducers sent (and powers of 4 below), and
// benchmarks/scaling/report.py turns runs at 1 and 2 ranks into the tables, the projection
// and the picture. Figures are not judged (nothing here is timed); their presence, sizes and
// arithmetic are.
TEST(ScalingReport, CommCurveAtTheSentSizesAndAReportFromOneAndTwoRanks) {
  std::vector<std::string> dirs;
  for (int np : {1, 2}) {
    auto out = fresh_dir("scaling_np" + std::to_string(np));
    auto r = run(gan_dist(np, "--model dcgan --data " + testdata() + " --out " + out + kSmall +
                                  " --batch-size " + std::to_string(8 * np) +
                                  " --steps 12 --comm-curve"));
    ASSERT_EQ(r.code, 0) << r.output;
    dirs.push_back(out);
  }
  EXPECT_FALSE(fs::exists(dirs[0] + "/allreduce.csv"));  // one rank sends nothing
  const std::string log = read_text(dirs[1] + "/log/rank-0.log");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex("gradient all-reduces per step: (.*)")));
  const std::string sent = m[1];
  const std::string curve = read_text(dirs[1] + "/allreduce.csv");
  EXPECT_EQ(curve.rfind("ranks,bytes,time_us,algbw_GBps,busbw_GBps\n", 0), 0u);
  const std::regex each("(\\d+) B x 1\\.00");
  int sizes = 0;
  for (auto it = std::sregex_iterator(sent.begin(), sent.end(), each); it != std::sregex_iterator();
       ++it, ++sizes)
    EXPECT_NE(curve.find("\n2," + (*it)[1].str() + ","), std::string::npos)
        << (*it)[1] << " not in\n"
        << curve;
  EXPECT_GE(sizes, 2) << sent;  // D's and G's buckets, once per step each
  EXPECT_NE(curve.find("\n2,4096,"), std::string::npos) << curve;
  // One rank sends nothing but lists what more ranks would send: the same messages.
  const std::string log1 = read_text(dirs[0] + "/log/rank-0.log");
  std::smatch m1;
  ASSERT_TRUE(std::regex_search(
      log1, m1,
      std::regex("gradient all-reduces per step \\(none at one rank; what more ranks send\\): "
                 "(.*)")))
      << log1;
  EXPECT_EQ(m1[1].str(), sent);

  const std::string report_dir = fresh_dir("scaling_report");
  auto r =
      run("/usr/bin/python3 " + std::string(GAN_SOURCE_DIR) + "/benchmarks/scaling/report.py " +
          dirs[0] + " " + dirs[1] + " --out " + report_dir + " --project-to 64");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string md = read_text(report_dir + "/report.md");
  EXPECT_NE(md.find("# Scaling report: dcgan, 8 images per rank"), std::string::npos) << md;
  EXPECT_NE(md.find("\n| 2 | "), std::string::npos) << md;
  EXPECT_NE(md.find("weak scaling"), std::string::npos) << md;
  const std::string proj = read_text(report_dir + "/projection.csv");
  EXPECT_NE(proj.find("\nweak,64,"), std::string::npos) << proj;
  EXPECT_NE(proj.find("\nstrong,16,"), std::string::npos) << proj;  // global batch 16: 1 per rank
  EXPECT_EQ(proj.find("\nstrong,32,"), std::string::npos) << proj;  // less than one image each
  EXPECT_EQ(read_text(report_dir + "/scaling.png").substr(1, 3), "PNG");
  // A stated network projects the 1-rank run alone (a GPU without peers): the bandwidth term
  // is the messages' ring traffic at the stated busbw, and the report says it was stated.
  const std::string stated_dir = fresh_dir("scaling_stated");
  auto st = run("/usr/bin/python3 " + std::string(GAN_SOURCE_DIR) +
                "/benchmarks/scaling/report.py " + dirs[0] + " --out " + stated_dir +
                " --project-to 64 --busbw-gbps 100 --hop-latency-us 2");
  ASSERT_EQ(st.code, 0) << st.output;
  EXPECT_NE(read_text(stated_dir + "/report.md").find("stated, not measured"), std::string::npos);
  double bytes = 0;
  for (auto it = std::sregex_iterator(sent.begin(), sent.end(), each); it != std::sregex_iterator();
       ++it)
    bytes += std::stod((*it)[1].str());
  const std::string stated = read_text(stated_dir + "/projection.csv");
  std::smatch row;
  // mode,ranks,batch_per_rank,compute_ms,latency_ms,bandwidth_ms,...
  ASSERT_TRUE(std::regex_search(stated, row, std::regex("\nweak,2,[^,]*,[^,]*,([^,]*),([^,]*),")))
      << stated;
  // S at 100 GB/s; the CSV keeps 4 decimals
  EXPECT_NEAR(std::stod(row[2].str()), bytes / 1e5 / 1e3, 0.01 * bytes / 1e8 + 5e-5);
  EXPECT_NEAR(std::stod(row[1].str()), sizes * 2 * 2.0 / 1e3, 1e-3);  // 2 ring steps x 2 us each
  EXPECT_NE(stated.find("\nweak,64,"), std::string::npos) << stated;
  // Runs that are neither one weak-scaling series (8 per rank) nor one strong-scaling series
  // (16 in all) are refused.
  auto other = fresh_dir("scaling_other");
  ASSERT_EQ(run(gan_dist(1, "--model dcgan --data " + testdata() + " --out " + other + kSmall +
                                " --batch-size 12 --steps 4"))
                .code,
            0);
  auto bad = run("/usr/bin/python3 " + std::string(GAN_SOURCE_DIR) +
                 "/benchmarks/scaling/report.py " + dirs[1] + " " + other + " --out " + report_dir);
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.output.find("differ in model or batch per rank"), std::string::npos) << bad.output;
}

// --sampling sharded: over one epoch at 2 ranks each rank reads about half the shards, where
// the world-size-invariant default has each rank read about all of them (each rank logs what
// it read); both train to the end.
TEST(Sampling, ShardedReadsAboutHalfPerRankAtTwoRanks) {
  const std::regex read(
      "read ([0-9.]+) MB from the shards \\((\\w+) sampling; the dataset is "
      "([0-9.]+) MB\\)");
  for (const std::string mode : {"invariant", "sharded"}) {
    auto out = fresh_dir("sampling_" + mode);
    auto r = run(gan_dist(2, "--model dcgan --data " + testdata() + " --out " + out + kSmall +
                                 " --batch-size 64 --epochs 1 --sampling " + mode));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(fs::exists(out + "/final.json"));
    for (int rank : {0, 1}) {
      const std::string log = read_text(out + "/log/rank-" + std::to_string(rank) + ".log");
      std::smatch m;
      ASSERT_TRUE(std::regex_search(log, m, read)) << log;
      EXPECT_EQ(m[2].str(), mode);
      const double mb = std::stod(m[1]), dataset = std::stod(m[3]);
      if (mode == "invariant")
        EXPECT_GT(mb, 0.9 * dataset) << "rank " << rank;
      else
        EXPECT_LT(mb, 0.6 * dataset) << "rank " << rank;
      EXPECT_GT(mb, 0.4 * dataset) << "rank " << rank;
    }
  }
}
