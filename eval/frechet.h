// Distances between sets of feature vectors: the Frechet distance of the Gaussians fitted to
// them (Heusel et al. 2017, "FID" with the project's own classifier) and k-NN precision and
// recall (Kynkaanniemi et al., "Improved Precision and Recall Metric", NeurIPS 2019).
#pragma once

#include <torch/types.h>

namespace gan::eval {

struct Gaussian {
  torch::Tensor mean;  // [d], double
  torch::Tensor cov;   // [d, d], double, unbiased
};

Gaussian fit_gaussian(const torch::Tensor& features);  // [n, d], n >= 2

// ||m1 - m2||^2 + tr(C1 + C2 - 2 (C1^1/2 C2 C1^1/2)^1/2). The square roots are taken by
// eigen-decomposition of symmetric matrices (negative round-off eigenvalues clamped to 0).
double frechet_distance(const Gaussian& a, const Gaussian& b);
double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b);

// Symmetric PSD square root via eigh.
torch::Tensor sqrtm_psd(const torch::Tensor& symmetric);

struct PrecisionRecall {
  double precision = 0;  // fraction of generated points inside the real manifold
  double recall = 0;     // fraction of real points inside the generated manifold
};

// The manifold of a set is the union of balls around its points with radius the distance to
// their k-th nearest neighbour in the set.
PrecisionRecall precision_recall(const torch::Tensor& real, const torch::Tensor& fake,
                                 int64_t k = 3);

}  // namespace gan::eval
