// The gan_prep celeba core: plan from folder + lists, shard ranges, and shard batches that
// are byte-identical for any thread count and any rank split.
#include "dataio/celeba_prep.h"

#include <gtest/gtest.h>

#include "core/errors.h"
#include "dataio/manifest.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

namespace {

struct CelebaFixture {
  TempDir d;
  std::string img_dir, attr, part;
  CelebaFixture() {
    img_dir = d / "img_align_celeba";
    run_command("mkdir -p " + img_dir);
    for (int i = 1; i <= 10; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/%06d.jpg", i);
      write_file(img_dir + name,
                 encode_jpeg(natural_rgb(178, 218, 500 + i), 178, 218, JpegColor::kRgb, 95));
    }
    const auto good = read_file(img_dir + "/000001.jpg");
    write_file(img_dir + "/000011.jpg", std::vector<uint8_t>(good.begin(), good.begin() + 3000));
    write_file(img_dir + "/000012.jpg", std::string("not an image\n"));
    // Attributes: 3 names; 000005 missing on purpose; row i has attr0 = i % 2.
    std::string a = "11\nA0 A1 A2\n";
    for (int i = 1; i <= 12; ++i) {
      if (i == 5) continue;
      char line[64];
      std::snprintf(line, sizeof line, "%06d.jpg %2d  1 -1\n", i, i % 2 ? 1 : -1);
      a += line;
    }
    attr = d / "list_attr_celeba.txt";
    write_file(attr, a);
    std::string p;
    for (int i = 1; i <= 12; ++i) {
      char line[64];
      std::snprintf(line, sizeof line, "%06d.jpg %d\n", i, i <= 8 ? 0 : i <= 10 ? 1 : 2);
      p += line;
    }
    part = d / "list_eval_partition.txt";
    write_file(part, p);
  }
};

}  // namespace

TEST(CelebaPrep, PlanJoinsListsAndSplits) {
  CelebaFixture fx;
  const PrepPlan all = plan_celeba({fx.img_dir, fx.attr, fx.part, "all"});
  EXPECT_EQ(all.files.size(), 11u);  // 000005 has no attributes
  ASSERT_EQ(all.excluded.size(), 1u);
  EXPECT_EQ(all.excluded[0].path, "000005.jpg");
  EXPECT_NE(all.excluded[0].reason.find("no entry in"), std::string::npos);
  EXPECT_EQ(all.label_dims, 3);
  EXPECT_EQ(all.labels.size(), 33u);
  EXPECT_EQ(all.labels[0], 1);  // 000001: attr0 = 1
  EXPECT_EQ(all.labels[3], 0);  // 000002: attr0 = -1 -> 0

  const PrepPlan valid = plan_celeba({fx.img_dir, fx.attr, fx.part, "valid"});
  EXPECT_EQ(valid.files, (std::vector<std::string>{"000009.jpg", "000010.jpg"}));
  EXPECT_EQ(valid.other_split, 10);  // 8 train (000005 included) + 2 test
  EXPECT_THROW(plan_celeba({fx.img_dir, "", "", "train"}), gan::UsageError);
  EXPECT_THROW(plan_celeba({fx.img_dir, "", fx.part, "dev"}), gan::UsageError);
}

TEST(CelebaPrep, ShardBatchesIndependentOfThreadsAndRanks) {
  CelebaFixture fx;
  const PrepPlan plan = plan_celeba({fx.img_dir, fx.attr, "", "all"});
  ASSERT_EQ(plan.files.size(), 11u);
  PrepRecipe r;
  const ShardRange whole{0, 0, 11};
  const ShardBatch one = prepare_shard(plan, fx.img_dir, whole, r, 1);
  EXPECT_EQ(one.count, 9);  // 000011 truncated, 000012 text
  ASSERT_EQ(one.bad.size(), 2u);
  EXPECT_EQ(one.bad[0].path, "000011.jpg");
  EXPECT_NE(one.bad[0].reason.find("Premature end"), std::string::npos);
  EXPECT_EQ(one.bad[1].path, "000012.jpg");
  ASSERT_EQ(one.labels.size(), 27u);
  EXPECT_EQ(one.files[4], "000006.jpg");  // 000005 excluded at planning
  EXPECT_EQ(one.labels[4 * 3], 0);        // 000006: attr0 = -1

  for (int threads : {2, 3, 7}) {
    const ShardBatch t = prepare_shard(plan, fx.img_dir, whole, r, threads);
    EXPECT_EQ(t.images, one.images) << threads << " threads";
    EXPECT_EQ(t.labels, one.labels);
    EXPECT_EQ(t.sum, one.sum);
    EXPECT_EQ(t.sum_sq, one.sum_sq);
  }

  // Shards of 4 files spread over 3 ranks: together they hold exactly the single batch.
  const auto shards = plan_shards(11, 4);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[2].begin, 8);
  EXPECT_EQ(shards[2].end, 11);
  std::vector<ShardBatch> by_index(shards.size());
  for (int rank = 0; rank < 3; ++rank) {
    for (const auto& s : shards) {
      if (rank_owns(s, rank, 3)) by_index[s.index] = prepare_shard(plan, fx.img_dir, s, r, 2);
    }
  }
  std::vector<uint8_t> joined;
  std::array<uint64_t, 3> sum{};
  for (const auto& b : by_index) {
    joined.insert(joined.end(), b.images.begin(), b.images.end());
    for (int c = 0; c < 3; ++c) sum[c] += b.sum[c];
  }
  EXPECT_EQ(joined, one.images);
  EXPECT_EQ(sum, one.sum);
}

TEST(CelebaPrep, ChannelStats) {
  std::vector<double> mean, std;
  // Two pixels per channel: values 0 and 255 -> mean 0.5, std 0.5.
  channel_stats({255, 255, 0}, {255 * 255, 255 * 255, 0}, 2, &mean, &std);
  EXPECT_DOUBLE_EQ(mean[0], 0.5);
  EXPECT_DOUBLE_EQ(std[0], 0.5);
  EXPECT_DOUBLE_EQ(mean[2], 0.0);
  EXPECT_DOUBLE_EQ(std[2], 0.0);
}

TEST(CelebaPrep, FindsTheListsInTheUsualLayouts) {
  TempDir d;
  // The official download: celeba/Img/img_align_celeba, celeba/Anno, celeba/Eval.
  const std::string root = d / "celeba", img = root + "/Img/img_align_celeba";
  run_command("mkdir -p " + img + " " + root + "/Anno " + root + "/Eval");
  EXPECT_EQ(find_celeba_list(img, "list_attr_celeba.txt"), "");
  write_file(root + "/Anno/list_attr_celeba.txt", std::string("0\nA\n"));
  write_file(root + "/Eval/list_eval_partition.txt", std::string(""));
  EXPECT_EQ(find_celeba_list(img, "list_attr_celeba.txt"), root + "/Anno/list_attr_celeba.txt");
  EXPECT_EQ(find_celeba_list(img + "/", "list_eval_partition.txt"),
            root + "/Eval/list_eval_partition.txt");
  // torchvision's flat layout (the parent), and a list in the image folder itself, win over
  // folders further up.
  write_file(root + "/Img/list_attr_celeba.txt", std::string("0\nA\n"));
  EXPECT_EQ(find_celeba_list(img, "list_attr_celeba.txt"), root + "/Img/list_attr_celeba.txt");
  write_file(img + "/list_attr_celeba.txt", std::string("0\nA\n"));
  EXPECT_EQ(find_celeba_list(img, "list_attr_celeba.txt"), img + "/list_attr_celeba.txt");
  // A directory with the list's name is not a list.
  run_command("mkdir -p " + img + "/list_eval_partition.txt");
  EXPECT_EQ(find_celeba_list(img, "list_eval_partition.txt"),
            root + "/Eval/list_eval_partition.txt");
  // Reached through a symlink from elsewhere: the lists next to the real folder count.
  run_command("mkdir -p " + d / "work" + " && ln -s " + img + " " + d / "work/faces");
  EXPECT_EQ(find_celeba_list(d / "work/faces", "list_eval_partition.txt"),
            root + "/Eval/list_eval_partition.txt");
}
