// --overlap auto: on for CUDA, on the CPU only with a core to spare; explicit values win.
#include <gtest/gtest.h>

#include "train/trainer.h"

using gan::train::Overlap;
using gan::train::resolve_overlap;

TEST(OverlapSetting, AutoOverlapsOnlyWithASpareCoreOrOnCuda) {
  EXPECT_FALSE(resolve_overlap(Overlap::kAuto, "cpu", 2, 1, 2));    // every core computes
  EXPECT_FALSE(resolve_overlap(Overlap::kAuto, "cpu", 2, 4, 8));    // 2 ranks x 4 threads = 8
  EXPECT_TRUE(resolve_overlap(Overlap::kAuto, "cpu", 2, 1, 16));    // cores to spare
  EXPECT_TRUE(resolve_overlap(Overlap::kAuto, "cuda:0", 8, 1, 8));  // compute on the GPU
  EXPECT_TRUE(resolve_overlap(Overlap::kOn, "cpu", 2, 1, 2));       // the user's choice stands
  EXPECT_FALSE(resolve_overlap(Overlap::kOff, "cuda:1", 1, 1, 64));
}
