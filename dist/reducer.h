// Gradient averaging for one module: its gradients packed into flat buckets (capped in
// bytes, in reverse registration order, as backward produces them), each bucket all-reduced
// without blocking, all waited for, then scaled by 1/world and copied back.
#pragma once

#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace gan::dist {

struct ReducerOptions {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;  // small, so the first all-reduce starts early
};

class Reducer {
 public:
  Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts = {});
  // Averages every parameter's gradient over ranks. A parameter without a gradient on this
  // rank contributes zeros, so ranks that skipped a head still issue the same collectives.
  void sync();
  // Buckets as lists of parameter indices (registration order), for tests and logs.
  std::vector<std::vector<size_t>> bucket_layout() const;

 private:
  struct Bucket {
    std::vector<size_t> params;
    std::vector<int64_t> offsets;
    torch::Tensor flat;
  };
  std::vector<torch::Tensor> params_;
  std::vector<Bucket> buckets_;
  Communicator& comm_;
};

}  // namespace gan::dist
