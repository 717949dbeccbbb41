#include "eval/image_stats.h"

#include <torch/torch.h>

namespace gan::eval {
namespace {

torch::Tensor pixel_histogram(const torch::Tensor& x) {
  auto h = torch::histc(x.detach().to(torch::kCPU).to(torch::kFloat).flatten(), 32, -1, 1);
  return h / h.sum();
}

double rmse(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).pow(2).mean().sqrt().item<double>();
}

}  // namespace

ImageStatsDistance image_stats_distance(const torch::Tensor& generated, const torch::Tensor& real) {
  torch::NoGradGuard no_grad;
  ImageStatsDistance d;
  d.histogram_l1 = (pixel_histogram(generated) - pixel_histogram(real)).abs().sum().item<double>();
  auto g = generated.detach().to(torch::kFloat), r = real.detach().to(torch::kFloat);
  d.moment_rmse = rmse(g.mean(0), r.mean(0)) + rmse(g.std(0), r.std(0));
  return d;
}

}  // namespace gan::eval
