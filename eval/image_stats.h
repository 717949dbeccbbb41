// Cheap statistics that say whether generated images look like the data: the distance
// between pixel-value histograms and between per-pixel mean and spread images.
#pragma once

#include <torch/types.h>

namespace gan::eval {

struct ImageStatsDistance {
  double histogram_l1 = 0;  // L1 between 32-bin pixel histograms, in [0, 2]
  double moment_rmse = 0;   // RMS difference of the per-pixel mean image plus of the std image
};

// Both inputs NCHW in [-1, 1] with the same C, H, W.
ImageStatsDistance image_stats_distance(const torch::Tensor& generated, const torch::Tensor& real);

}  // namespace gan::eval
