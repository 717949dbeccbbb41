// Kernel Inception Distance (Binkowski et al., "Demystifying MMD GANs", ICLR 2018): the
// unbiased estimate of the squared maximum mean discrepancy between two feature sets with the
// cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets. Unlike FD
// it has an unbiased estimator, so small sets compare fairly and its error can be reported.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace gan::eval {

struct KidOptions {
  int64_t subsets = 100;       // S
  int64_t subset_size = 1000;  // m, capped at both set sizes
  uint64_t seed = 0;           // which subsets: the same seed gives the same estimate
};

struct Kid {
  double mean = 0;       // mean of the S subset estimates
  double std_error = 0;  // their sample standard deviation / sqrt(S)
  int64_t subsets = 0, subset_size = 0;
  std::vector<double> estimates;  // one per subset
};

// Unbiased MMD^2 of two sets [m, d] with the cubic kernel, in double precision:
//   sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
//   - 2 sum_{i, j} k(x_i, y_j) / (m n).
double mmd2_unbiased(const torch::Tensor& x, const torch::Tensor& y);

// S subsets of m rows drawn without replacement from each set (independently for each
// subset and set), with a splitmix64 stream of `seed`, so the draw is the same with every
// LibTorch. Needs S >= 2 and m >= 2 (std::invalid_argument otherwise).
Kid kernel_inception_distance(const torch::Tensor& fake, const torch::Tensor& real,
                              const KidOptions& opts);

// The first m of a random permutation of [0, n) (partial Fisher-Yates), advancing `state`.
std::vector<int64_t> draw_without_replacement(int64_t n, int64_t m, uint64_t& state);

}  // namespace gan::eval
