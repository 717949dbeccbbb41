// The log interval's totals: means per step and rank, the phases by name, a fresh interval
// after each row, and a non-finite metric stopping the run with its name.
#include "train/interval_meter.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"

using gan::train::IntervalMeter;
using gan::train::PhaseSeconds;
using gan::train::Row;

namespace {

// Two ranks that measured the same: the sum over ranks is twice this rank's totals.
std::vector<double> two_equal_ranks(std::vector<double> v) {
  for (auto& x : v) x *= 2;
  return v;
}

double value(const Row& row, const std::string& name) {
  for (const auto& [k, v] : row)
    if (k == name) return v;
  ADD_FAILURE() << "no " << name;
  return NAN;
}

}  // namespace

TEST(IntervalMeter, MeansPerStepAndRankWithNamedPhases) {
  IntervalMeter meter;
  meter.add_step({{"d_loss", 1.0}, {"g_loss", 4.0}}, 1, 0);
  meter.add_step({{"d_loss", 3.0}, {"g_loss", 0.0}}, 2, 0);
  meter.add_data_wait(0.010);
  meter.add_data_wait(0.030);
  EXPECT_EQ(meter.steps(), 2);
  PhaseSeconds p;
  p.step = 1.0;
  p.backward = 0.4;
  p.comm = 0.1;
  p.optimizer = 0.2;
  const auto means = meter.take_means(p, 2, two_equal_ranks);
  ASSERT_EQ(means.metrics.size(), 2u);
  EXPECT_EQ(means.metrics[0].first, "d_loss");
  EXPECT_DOUBLE_EQ(means.metrics[0].second, 2.0);  // (1 + 3) x 2 ranks / (2 steps x 2 ranks)
  EXPECT_DOUBLE_EQ(means.metrics[1].second, 2.0);
  EXPECT_NEAR(value(means.phases_ms, "data_ms"), 20.0, 1e-9);  // 40 ms over 2 steps
  EXPECT_NEAR(value(means.phases_ms, "step_ms"), 500.0, 1e-9);
  EXPECT_NEAR(value(means.phases_ms, "compute_ms"), 450.0, 1e-9);  // step less comm
  EXPECT_NEAR(value(means.phases_ms, "forward_ms"), 150.0, 1e-9);  // less backward, optimizer
  EXPECT_NEAR(value(means.phases_ms, "backward_ms"), 200.0, 1e-9);
  EXPECT_NEAR(value(means.phases_ms, "comm_ms"), 50.0, 1e-9);
  EXPECT_NEAR(value(means.phases_ms, "optimizer_ms"), 100.0, 1e-9);
  EXPECT_EQ(meter.steps(), 0);  // the next interval starts empty

  meter.add_step({{"d_loss", 5.0}, {"g_loss", 6.0}}, 3, 0);
  const auto next = meter.take_means(PhaseSeconds{}, 1, [](std::vector<double> v) { return v; });
  EXPECT_DOUBLE_EQ(next.metrics[0].second, 5.0);
  EXPECT_DOUBLE_EQ(value(next.phases_ms, "data_ms"), 0.0);
}

TEST(IntervalMeter, NonFiniteMetricNamesItStepAndRank) {
  IntervalMeter meter;
  try {
    meter.add_step({{"d_loss", 1.0}, {"g_loss", INFINITY}}, 17, 3);
    FAIL() << "no error";
  } catch (const gan::Error& e) {
    EXPECT_EQ(e.code(), gan::kExitFailure);
    const std::string what = e.what();
    EXPECT_NE(what.find("non-finite g_loss"), std::string::npos) << what;
    EXPECT_NE(what.find("step 17 on rank 3"), std::string::npos) << what;
  }
}
