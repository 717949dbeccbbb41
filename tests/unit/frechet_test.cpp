// Frechet distance against closed forms for Gaussians, and precision/recall on sets with
// known overlap.
#include "eval/frechet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

using namespace gan;

TEST(Frechet, DiagonalGaussiansClosedForm) {
  // FD = |m1 - m2|^2 + sum_i (s1_i - s2_i)^2 for diagonal covariances.
  auto m1 = torch::tensor({0.0, 1.0, 2.0}, torch::kDouble),
       m2 = torch::tensor({1.0, 1.0, 0.0}, torch::kDouble);
  auto s1 = torch::tensor({1.0, 2.0, 0.5}, torch::kDouble),
       s2 = torch::tensor({3.0, 1.0, 0.5}, torch::kDouble);
  eval::Gaussian a{m1, torch::diag(s1 * s1)}, b{m2, torch::diag(s2 * s2)};
  double expected = (m1 - m2).pow(2).sum().item<double>() + (s1 - s2).pow(2).sum().item<double>();
  EXPECT_NEAR(eval::frechet_distance(a, b), expected, 1e-9);
  EXPECT_NEAR(eval::frechet_distance(a, a), 0.0, 1e-9);
}

TEST(Frechet, NonCommutingCovariancesClosedForm) {
  // For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)), and det(A^1/2 B A^1/2) = det A det B.
  auto A = torch::tensor({{2.0, 0.5}, {0.5, 1.0}}, torch::kDouble);
  auto B = torch::tensor({{1.0, -0.7}, {-0.7, 3.0}}, torch::kDouble);
  auto rootA = eval::sqrtm_psd(A);
  EXPECT_TRUE(torch::allclose(torch::mm(rootA, rootA), A, 1e-10, 1e-10));
  double tr_m = torch::mm(torch::mm(rootA, B), rootA).trace().item<double>();
  double det_m = (torch::det(A) * torch::det(B)).item<double>();
  double cross = std::sqrt(tr_m + 2 * std::sqrt(det_m));
  auto m1 = torch::tensor({0.5, -1.0}, torch::kDouble),
       m2 = torch::tensor({0.0, 2.0}, torch::kDouble);
  double expected = (m1 - m2).pow(2).sum().item<double>() + A.trace().item<double>() +
                    B.trace().item<double>() - 2 * cross;
  EXPECT_NEAR(eval::frechet_distance({m1, A}, {m2, B}), expected, 1e-9);
}

TEST(Frechet, SampleEstimateConvergesToClosedForm) {
  torch::manual_seed(3);
  const int64_t n = 200000;
  auto a = torch::randn({n, 2}, torch::kDouble) * torch::tensor({1.0, 2.0}, torch::kDouble);
  auto b = torch::randn({n, 2}, torch::kDouble) * 0.5 + torch::tensor({1.0, 0.0}, torch::kDouble);
  double expected = 1.0 + std::pow(1.0 - 0.5, 2) + std::pow(2.0 - 0.5, 2);  // 3.5
  EXPECT_NEAR(eval::frechet_distance(a, b), expected, 0.05);
}

TEST(PrecisionRecall, IdenticalDisjointAndNestedSets) {
  torch::manual_seed(4);
  auto real = torch::randn({500, 4});
  auto same = eval::precision_recall(real, real, 3);
  EXPECT_DOUBLE_EQ(same.precision, 1.0);
  EXPECT_DOUBLE_EQ(same.recall, 1.0);
  auto far = eval::precision_recall(real, torch::randn({500, 4}) + 100, 3);
  EXPECT_DOUBLE_EQ(far.precision, 0.0);
  EXPECT_DOUBLE_EQ(far.recall, 0.0);
  // Fakes collapsed onto a small part of the real set: precise but low recall.
  auto collapsed = eval::precision_recall(real, torch::randn({500, 4}) * 0.05, 3);
  EXPECT_GT(collapsed.precision, 0.9);
  EXPECT_LT(collapsed.recall, 0.3);
}
