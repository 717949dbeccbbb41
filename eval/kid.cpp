#include "eval/kid.h"

#include <torch/torch.h>

#include <cmath>
#include <numeric>
#include <stdexcept>

#include "dataio/sampler.h"

namespace gan::eval {
namespace {

torch::Tensor cubic_kernel(const torch::Tensor& a, const torch::Tensor& b) {
  torch::Tensor t = torch::mm(a, b.t()).div_(double(a.size(1))).add_(1);
  return t * t * t;  // several times faster than pow(3), which calls std::pow per element
}

double off_diagonal_mean(const torch::Tensor& k) {
  const double m = double(k.size(0));
  return (k.sum().item<double>() - k.trace().item<double>()) / (m * (m - 1));
}

}  // namespace

double mmd2_unbiased(const torch::Tensor& x, const torch::Tensor& y) {
  if (x.dim() != 2 || y.dim() != 2 || x.size(1) != y.size(1) || x.size(0) < 2 || y.size(0) < 2)
    throw std::invalid_argument("mmd2_unbiased needs [m >= 2, d] and [n >= 2, d]");
  torch::NoGradGuard no_grad;
  const torch::Tensor a = x.detach().to(torch::kCPU).to(torch::kDouble);
  const torch::Tensor b = y.detach().to(torch::kCPU).to(torch::kDouble);
  return off_diagonal_mean(cubic_kernel(a, a)) + off_diagonal_mean(cubic_kernel(b, b)) -
         2 * cubic_kernel(a, b).mean().item<double>();
}

std::vector<int64_t> draw_without_replacement(int64_t n, int64_t m, uint64_t& state) {
  if (m > n || m < 0) throw std::invalid_argument("cannot draw more rows than there are");
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    state = dataio::mix64(state);
    const int64_t j = i + static_cast<int64_t>(state % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(m);
  return idx;
}

Kid kernel_inception_distance(const torch::Tensor& fake, const torch::Tensor& real,
                              const KidOptions& o) {
  if (fake.dim() != 2 || real.dim() != 2 || fake.size(1) != real.size(1))
    throw std::invalid_argument("KID needs two feature sets [n, d] of the same d");
  Kid k;
  k.subsets = o.subsets;
  k.subset_size = std::min({o.subset_size, fake.size(0), real.size(0)});
  if (k.subsets < 2 || k.subset_size < 2)
    throw std::invalid_argument("KID needs at least 2 subsets of at least 2 rows");
  torch::NoGradGuard no_grad;
  const torch::Tensor f = fake.detach().to(torch::kCPU).to(torch::kDouble);
  const torch::Tensor r = real.detach().to(torch::kCPU).to(torch::kDouble);
  uint64_t state = dataio::mix64(o.seed ^ 0x4b1d);
  for (int64_t s = 0; s < k.subsets; ++s) {
    auto fi = draw_without_replacement(f.size(0), k.subset_size, state);
    auto ri = draw_without_replacement(r.size(0), k.subset_size, state);
    k.estimates.push_back(mmd2_unbiased(f.index_select(0, torch::tensor(fi, torch::kLong)),
                                        r.index_select(0, torch::tensor(ri, torch::kLong))));
  }
  const double S = double(k.subsets);
  k.mean = std::accumulate(k.estimates.begin(), k.estimates.end(), 0.0) / S;
  double ss = 0;
  for (double e : k.estimates) ss += (e - k.mean) * (e - k.mean);
  k.std_error = std::sqrt(ss / (S - 1)) / std::sqrt(S);
  return k;
}

}  // namespace gan::eval
