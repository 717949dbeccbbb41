#include "eval/frechet.h"

#include <torch/torch.h>

#include <stdexcept>

namespace gan::eval {

Gaussian fit_gaussian(const torch::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2)
    throw std::invalid_argument("fit_gaussian needs [n >= 2, d] features");
  torch::Tensor f = features.detach().to(torch::kCPU).to(torch::kDouble);
  torch::Tensor mean = f.mean(0);
  torch::Tensor c = f - mean;
  return {mean, torch::mm(c.t(), c) / double(f.size(0) - 1)};
}

torch::Tensor sqrtm_psd(const torch::Tensor& a) {
  auto [values, vectors] = torch::linalg_eigh(0.5 * (a + a.t()), "L");
  return torch::mm(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.t());
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  torch::Tensor root_a = sqrtm_psd(a.cov);
  // tr((A^1/2 B A^1/2)^1/2) = sum of the square roots of that PSD matrix's eigenvalues.
  torch::Tensor inner = torch::mm(torch::mm(root_a, b.cov), root_a);
  torch::Tensor eig = torch::linalg_eigvalsh(0.5 * (inner + inner.t()), "L");
  double cross = eig.clamp_min(0).sqrt().sum().item<double>();
  double mean_term = (a.mean - b.mean).pow(2).sum().item<double>();
  return mean_term + a.cov.trace().item<double>() + b.cov.trace().item<double>() - 2 * cross;
}

double frechet_distance(const torch::Tensor& fa, const torch::Tensor& fb) {
  return frechet_distance(fit_gaussian(fa), fit_gaussian(fb));
}

namespace {

constexpr int64_t kChunk = 1024;  // rows of a distance block: bounded memory for 10^5 points

// Distance of each point of `x` to its k-th nearest other point of `x`.
torch::Tensor knn_radii(const torch::Tensor& x, int64_t k) {
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < x.size(0); i += kChunk) {
    torch::Tensor d = torch::cdist(x.narrow(0, i, std::min(kChunk, x.size(0) - i)), x);
    out.push_back(std::get<0>(d.kthvalue(k + 1, 1)));  // +1: the point itself is at 0
  }
  return torch::cat(out);
}

// Fraction of `query` points within radius_j of some manifold point j.
double coverage(const torch::Tensor& query, const torch::Tensor& manifold,
                const torch::Tensor& radii) {
  int64_t inside = 0;
  for (int64_t i = 0; i < query.size(0); i += kChunk) {
    torch::Tensor d =
        torch::cdist(query.narrow(0, i, std::min(kChunk, query.size(0) - i)), manifold);
    inside += (d <= radii.unsqueeze(0)).any(1).sum().item<int64_t>();
  }
  return double(inside) / double(query.size(0));
}

}  // namespace

PrecisionRecall precision_recall(const torch::Tensor& real, const torch::Tensor& fake, int64_t k) {
  if (real.size(0) <= k || fake.size(0) <= k)
    throw std::invalid_argument("precision_recall needs more than k points in each set");
  torch::NoGradGuard no_grad;
  torch::Tensor r = real.detach().to(torch::kFloat).contiguous();
  torch::Tensor f = fake.detach().to(torch::kFloat).contiguous();
  PrecisionRecall pr;
  pr.precision = coverage(f, r, knn_radii(r, k));
  pr.recall = coverage(r, f, knn_radii(f, k));
  return pr;
}

}  // namespace gan::eval
