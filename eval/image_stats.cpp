#include "eval/image_stats.h"

#include <torch/torch.h>

namespace gan::eval {
namespace {

// CPU float: the generated images may be on a GPU while the real ones are not, and either may
// be of another dtype. The eval set is small, so the copy costs little.
torch::Tensor cpu_float(const torch::Tensor& x) {
  return x.detach().to(torch::kCPU).to(torch::kFloat);
}

torch::Tensor pixel_histogram(const torch::Tensor& x) {
  auto h = torch::histc(x.flatten(), 32, -1, 1);  // x: CPU float
  return h / h.sum();
}

double rmse(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).pow(2).mean().sqrt().item<double>();
}

}  // namespace

ImageStatsDistance image_stats_distance(const torch::Tensor& generated, const torch::Tensor& real) {
  torch::NoGradGuard no_grad;
  ImageStatsDistance d;
  const torch::Tensor g = cpu_float(generated), r = cpu_float(real);
  d.histogram_l1 = (pixel_histogram(g) - pixel_histogram(r)).abs().sum().item<double>();
  d.moment_rmse = rmse(g.mean(0), r.mean(0)) + rmse(g.std(0), r.std(0));
  return d;
}

}  // namespace gan::eval
