// KID against independent computations: a direct double sum for the unbiased MMD^2, the
// closed form of the cubic kernel's MMD^2 between two Gaussians (from their first three
// moments), and the behaviour on equal distributions.
#include "eval/kid.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <set>

using namespace gan;

namespace {

// E[k(x, y)] for independent x ~ N(mx, Sx), y ~ N(my, Sy) and k = (x.y / d + 1)^3:
// 1 + 3 E[s] + 3 E[s^2] + E[s^3] with s = x.y / d, E[x.y] = mx.my, E[(x.y)^2] = <M2x, M2y>
// (M2 = S + m m^T), E[(x.y)^3] = <M3x, M3y> (M3_ijk = m_i m_j m_k + m_i S_jk + m_j S_ik +
// m_k S_ij, the Gaussian third moment).
struct Moments {
  torch::Tensor m1, m2, m3;
};

Moments moments(const torch::Tensor& mean, const torch::Tensor& cov) {
  auto m = mean;
  auto mmm = torch::einsum("i,j,k->ijk", {m, m, m});
  auto m3 = mmm + torch::einsum("i,jk->ijk", {m, cov}) + torch::einsum("j,ik->ijk", {m, cov}) +
            torch::einsum("k,ij->ijk", {m, cov});
  return {m, cov + torch::outer(m, m), m3};
}

double expected_kernel(const Moments& a, const Moments& b, double d) {
  return 1 + 3 * a.m1.dot(b.m1).item<double>() / d +
         3 * (a.m2 * b.m2).sum().item<double>() / (d * d) +
         (a.m3 * b.m3).sum().item<double>() / (d * d * d);
}

double cubic(const torch::Tensor& a, const torch::Tensor& b) {
  double dot = 0;
  for (int64_t i = 0; i < a.size(0); ++i) dot += a[i].item<double>() * b[i].item<double>();
  return std::pow(dot / double(a.size(0)) + 1, 3);
}

}  // namespace

TEST(Kid, UnbiasedMmdEqualsDirectDoubleSum) {
  torch::manual_seed(1);
  auto x = torch::randn({7, 3}, torch::kDouble), y = torch::randn({9, 3}, torch::kDouble) + 0.5;
  double xx = 0, yy = 0, xy = 0;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 7; ++j)
      if (i != j) xx += cubic(x[i], x[j]);
  for (int i = 0; i < 9; ++i)
    for (int j = 0; j < 9; ++j)
      if (i != j) yy += cubic(y[i], y[j]);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 9; ++j) xy += cubic(x[i], y[j]);
  double expected = xx / (7 * 6) + yy / (9 * 8) - 2 * xy / (7 * 9);
  EXPECT_NEAR(eval::mmd2_unbiased(x, y), expected, 1e-12 * std::abs(expected));
  // float input is computed in double too
  EXPECT_NEAR(eval::mmd2_unbiased(x.to(torch::kFloat), y.to(torch::kFloat)), expected, 1e-5);
}

TEST(Kid, ShiftedGaussiansMatchTheCubicKernelClosedForm) {
  const int64_t d = 3, n = 100000;
  auto mx = torch::zeros({d}, torch::kDouble);
  auto my = torch::tensor({0.3, -0.2, 0.1}, torch::kDouble);
  auto A = torch::tensor({{1.0, 0.2, 0.0}, {0.0, 0.9, 0.1}, {0.3, 0.0, 1.1}}, torch::kDouble);
  auto X = moments(mx, torch::eye(d, torch::kDouble)), Y = moments(my, torch::mm(A, A.t()));
  const double closed =
      expected_kernel(X, X, d) + expected_kernel(Y, Y, d) - 2 * expected_kernel(X, Y, d);
  ASSERT_NEAR(closed, 0.36545, 1e-4);  // the same formula evaluated in numpy

  torch::manual_seed(2);
  auto x = torch::randn({n, d}, torch::kDouble);
  auto y = torch::mm(torch::randn({n, d}, torch::kDouble), A.t()) + my;
  auto kid = eval::kernel_inception_distance(x, y, {100, 1000, 5});
  EXPECT_EQ(kid.subsets, 100);
  EXPECT_EQ(kid.subset_size, 1000);
  EXPECT_GT(kid.mean, 10 * kid.std_error);
  // The standard error measures the spread of the subset draw only. The n points themselves
  // are a sample too: their full estimate has about the variance of one subset's times m / n
  // (a non-degenerate U-statistic), i.e. S m / n standard errors squared.
  const double sample_error = kid.std_error * std::sqrt(100.0 * 1000 / n);
  EXPECT_NEAR(kid.mean, closed, 4 * std::hypot(kid.std_error, sample_error))
      << "std error " << kid.std_error;

  // The same distribution: zero within a few standard errors, and far below the shift's. (Here
  // the estimate is degenerate: the full sample's own variance shrinks as (m / n)^2.)
  auto same =
      eval::kernel_inception_distance(x, torch::randn({n, d}, torch::kDouble), {100, 1000, 5});
  EXPECT_LT(std::abs(same.mean), 4 * same.std_error) << same.mean << " +- " << same.std_error;
  EXPECT_LT(same.std_error, kid.std_error);
}

TEST(Kid, DeterministicForASeedAndWholeSetsGiveTheFullEstimate) {
  torch::manual_seed(3);
  auto x = torch::randn({300, 8}), y = torch::randn({250, 8}) * 1.2;
  auto a = eval::kernel_inception_distance(x, y, {20, 100, 9});
  auto b = eval::kernel_inception_distance(x, y, {20, 100, 9});
  auto c = eval::kernel_inception_distance(x, y, {20, 100, 10});
  EXPECT_EQ(a.estimates, b.estimates);
  EXPECT_NE(a.estimates, c.estimates);
  EXPECT_GT(a.std_error, 0);
  // m capped at the smaller set; with equal sizes every subset is a whole set: the subset
  // estimates are permutations of one sum.
  auto whole = eval::kernel_inception_distance(x.narrow(0, 0, 250), y, {5, 100000, 1});
  EXPECT_EQ(whole.subset_size, 250);
  const double full = eval::mmd2_unbiased(x.narrow(0, 0, 250), y);
  EXPECT_NEAR(whole.mean, full, 1e-12 * std::abs(full));
  EXPECT_LT(whole.std_error, 1e-12 * std::abs(full));
  EXPECT_THROW(eval::kernel_inception_distance(x, y, {1, 100, 0}), std::invalid_argument);
}

TEST(Kid, DrawsWithoutReplacement) {
  uint64_t state = 42;
  auto idx = eval::draw_without_replacement(50, 20, state);
  std::set<int64_t> distinct(idx.begin(), idx.end());
  EXPECT_EQ(distinct.size(), 20u);
  EXPECT_GE(*distinct.begin(), 0);
  EXPECT_LT(*distinct.rbegin(), 50);
  auto all = eval::draw_without_replacement(50, 50, state);
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), 50u);
  // Every index is drawn about equally often over many draws (each with probability 2/5).
  std::vector<int> count(10, 0);
  for (int t = 0; t < 5000; ++t)
    for (int64_t i : eval::draw_without_replacement(10, 4, state)) ++count[i];
  for (int c : count) EXPECT_NEAR(c, 2000, 150);
}
