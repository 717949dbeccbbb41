// Gradient averaging for one module, overlapped with backward: gradients are packed into
// flat buckets (capped in bytes, a small first bucket, in the reverse registration order in
// which backward produces them); a hook on each parameter's gradient accumulator marks it
// ready, and a bucket's all-reduce starts as soon as all its gradients are in. finish()
// waits for every bucket and averages. Gradients are views into the buckets, so a module's
// gradients must be zeroed in place (zero_grads below), never by Optimizer::zero_grad(),
// which detaches them and fails on views.
#pragma once

#include <torch/csrc/autograd/variable.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"

namespace gan::dist {

enum class Compression { kNone, kFp16, kBf16 };
inline const Names<Compression> kCompressionNames{
    {"none", Compression::kNone}, {"fp16", Compression::kFp16}, {"bf16", Compression::kBf16}};

struct ReducerOptions {
  double bucket_mb = 25.0;
  double first_bucket_mb = 1.0;  // small, so the first all-reduce starts early (<= bucket_mb)
  bool overlap = true;           // false: everything is reduced after backward
  // fp16, bf16: buckets travel in 16 bits, summed in fp32 by the backend.
  Compression compress = Compression::kNone;
  // true: finish() divides the sums by the world size. false: it leaves sums, for callers
  // that scaled the loss by 1 / world size before backward (DataParallel does).
  bool average = true;
};

// Zeroes every parameter gradient of `module` in place, keeping bucket views intact.
void zero_grads(torch::nn::Module& module);

class Reducer {
 public:
  Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts = {});
  ~Reducer();
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Arms the hooks for the next backward (with overlap on). Without it, finish() reduces all.
  void prepare();
  // Waits for (or starts) every bucket's all-reduce and writes the summed (or averaged, see
  // ReducerOptions::average) gradients back. A
  // parameter without a gradient on this rank contributes zeros, so ranks that skipped a head
  // still issue the same collectives in the same order.
  void finish();

  // Buckets as lists of parameter indices (registration order), for tests and logs.
  std::vector<std::vector<size_t>> bucket_layout() const;
  // Bytes each bucket's all-reduce sends (in the wire dtype), in launch order.
  std::vector<int64_t> bucket_bytes() const;

 private:
  struct Bucket;
  struct Hook;
  void on_grad_ready(size_t param);
  void launch(Bucket& b);
  void launch_ready_in_order();
  void pack(Bucket& b);

  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::vector<std::unique_ptr<Bucket>> buckets_;
  // Keeps the hooks alive. A shared_ptr in LibTorch 1.x, an intrusive_ptr in 2.x.
  using AccumulatorPtr = decltype(torch::autograd::impl::grad_accumulator(torch::Tensor()));
  std::vector<AccumulatorPtr> accumulators_;
  Communicator& comm_;
  ReducerOptions opts_;
  bool armed_ = false;
  std::string label_;  // the caller's watchdog label ("D step"), for the buckets' collectives
  size_t next_launch_ = 0;
};

}  // namespace gan::dist
