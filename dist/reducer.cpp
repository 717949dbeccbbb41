#include "dist/reducer.h"

namespace gan::dist {

Reducer::Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts)
    : comm_(comm) {
  for (auto& p : module.parameters()) params_.push_back(p);
  const double mb = 1024.0 * 1024.0;
  Bucket current;
  int64_t bytes = 0;
  auto close = [&] {
    if (current.params.empty()) return;
    auto opts_t = params_[current.params.front()].options();
    current.flat = torch::zeros({current.offsets.back()}, opts_t.requires_grad(false));
    buckets_.push_back(std::move(current));
    current = Bucket{};
    bytes = 0;
  };
  // Backward reaches the last layers first, so their gradients fill the first bucket.
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    double cap = (buckets_.empty() ? opts.first_bucket_mb : opts.bucket_mb) * mb;
    int64_t pbytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool dtype_change = !current.params.empty() &&
                        params_[current.params.front()].scalar_type() != p.scalar_type();
    if (!current.params.empty() && (bytes + pbytes > cap || dtype_change)) close();
    if (current.offsets.empty()) current.offsets.push_back(0);
    current.params.push_back(k);
    current.offsets.push_back(current.offsets.back() + p.numel());
    bytes += pbytes;
  }
  close();
}

void Reducer::sync() {
  torch::NoGradGuard no_grad;
  const int world = comm_.size();
  if (world == 1) return;
  std::vector<std::unique_ptr<Work>> inflight;
  inflight.reserve(buckets_.size());
  for (auto& b : buckets_) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto slice = b.flat.narrow(0, b.offsets[i], b.offsets[i + 1] - b.offsets[i]);
      const auto& g = params_[b.params[i]].grad();
      if (g.defined()) {
        slice.copy_(g.reshape({-1}));
      } else {
        slice.zero_();
      }
    }
    inflight.push_back(comm_.allreduce_sum_async(b.flat));
  }
  for (size_t j = 0; j < buckets_.size(); ++j) {
    inflight[j]->wait();
    auto& b = buckets_[j];
    b.flat.div_(world);
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = params_[b.params[i]];
      auto slice = b.flat.narrow(0, b.offsets[i], b.offsets[i + 1] - b.offsets[i]).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(slice);
      } else {
        p.mutable_grad() = slice.clone();
      }
    }
  }
}

std::vector<std::vector<size_t>> Reducer::bucket_layout() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : buckets_) out.push_back(b.params);
  return out;
}

}  // namespace gan::dist
