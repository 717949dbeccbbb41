#include "dist/reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>

#include "core/errors.h"
#include "dist/watchdog.h"

namespace gan::dist {

struct Reducer::Bucket {
  std::vector<size_t> params;
  std::vector<int64_t> offsets;
  torch::Tensor flat;  // in the wire dtype (fp32, fp16 or bf16)
  size_t index = 0;    // in buckets_
  size_t pending = 0;  // gradients not yet ready in this backward
  bool launched = false;
  std::unique_ptr<Work> work;
};

// Runs after AccumulateGrad has written a parameter's .grad: that gradient is final for this
// backward pass.
struct Reducer::Hook : torch::autograd::FunctionPostHook {
  Hook(Reducer* r, size_t p) : reducer(r), param(p) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    reducer->on_grad_ready(param);
    return outputs;
  }
  Reducer* reducer;
  size_t param;
};

namespace {

torch::ScalarType wire_type(Compression compress, torch::ScalarType t) {
  if (compress == Compression::kFp16) return torch::kHalf;
  if (compress == Compression::kBf16) return torch::kBFloat16;
  return t;
}

// Whether `grad` is the bucket's own storage at element `offset` (a view made by the
// constructor that nothing has replaced since), so there is nothing to copy either way.
bool lives_in(const torch::Tensor& grad, const torch::Tensor& flat, int64_t offset) {
  return grad.defined() && grad.data_ptr() == static_cast<const char*>(flat.data_ptr()) +
                                                  offset * flat.element_size();
}

}  // namespace

void zero_grads(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters())
    if (p.grad().defined()) p.mutable_grad().zero_();
}

Reducer::Reducer(torch::nn::Module& module, Communicator& comm, ReducerOptions opts)
    : comm_(comm), opts_(opts) {
  for (auto& p : module.parameters())
    if (p.requires_grad()) params_.push_back(p);
  bucket_of_.assign(params_.size(), 0);
  const double mb = 1024.0 * 1024.0;
  auto current = std::make_unique<Bucket>();
  int64_t bytes = 0;
  auto close = [&] {
    if (current->params.empty()) return;
    const auto& first = params_[current->params.front()];
    current->flat = torch::zeros(
        {current->offsets.back()},
        first.options().dtype(wire_type(opts_.compress, first.scalar_type())).requires_grad(false));
    current->index = buckets_.size();
    for (size_t p : current->params) bucket_of_[p] = current->index;
    buckets_.push_back(std::move(current));
    current = std::make_unique<Bucket>();
    bytes = 0;
  };
  // Backward reaches the last layers first, so their gradients fill the first bucket.
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    // The first bucket is small, but never larger than the cap the user chose for all.
    double cap =
        (buckets_.empty() ? std::min(opts_.first_bucket_mb, opts_.bucket_mb) : opts_.bucket_mb) *
        mb;
    int64_t pbytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool dtype_change = !current->params.empty() &&
                        params_[current->params.front()].scalar_type() != p.scalar_type();
    if (!current->params.empty() && (bytes + pbytes > cap || dtype_change)) close();
    if (current->offsets.empty()) current->offsets.push_back(0);
    current->params.push_back(k);
    current->offsets.push_back(current->offsets.back() + p.numel());
    bytes += pbytes;
  }
  close();

  // Gradients live inside the buckets (like DDP's gradient_as_bucket_view): backward
  // accumulates straight into the flat buffer, so there is nothing to pack or unpack. Only
  // with a 16-bit wire format do buckets hold copies.
  if (comm_.size() > 1 && opts_.compress == Compression::kNone) {
    torch::NoGradGuard no_grad;
    for (auto& b : buckets_)
      for (size_t i = 0; i < b->params.size(); ++i) {
        auto& p = params_[b->params[i]];
        auto view =
            b->flat.narrow(0, b->offsets[i], b->offsets[i + 1] - b->offsets[i]).view(p.sizes());
        if (p.grad().defined()) view.copy_(p.grad());
        p.mutable_grad() = view;
      }
  }

  if (opts_.overlap && comm_.size() > 1) {
    for (size_t i = 0; i < params_.size(); ++i) {
      auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
      acc->add_post_hook(std::make_unique<Hook>(this, i));
      accumulators_.push_back(std::move(acc));
    }
  }
}

Reducer::~Reducer() {
  if (std::uncaught_exceptions() > 0) {
    // An error is unwinding this rank: waiting could block on peers that are elsewhere. A
    // bucket with an all-reduce in flight stays allocated (MPI may still write into it) until
    // the process ends, which the error path makes happen at once. Kept reachable from a
    // static, so a leak check does not report it; the others (an error between steps, such
    // as a full disk) are freed as usual.
    static auto* in_flight = new std::vector<std::unique_ptr<Bucket>>;
    for (auto& b : buckets_)
      if (b->work) in_flight->push_back(std::move(b));
    return;
  }
  for (auto& b : buckets_)
    if (b->work) try {
        b->work->wait();
      } catch (const std::exception&) {
      }
}

void Reducer::prepare() {
  label_ = watchdog::current_label();
  if (!opts_.overlap || comm_.size() == 1) return;
  for (auto& b : buckets_) {
    b->pending = b->params.size();
    b->launched = false;
  }
  next_launch_ = 0;
  armed_ = true;
}

void Reducer::pack(Bucket& b) {
  for (size_t i = 0; i < b.params.size(); ++i) {
    const auto& g = params_[b.params[i]].grad();
    if (lives_in(g, b.flat, b.offsets[i])) continue;
    auto slice = b.flat.narrow(0, b.offsets[i], b.offsets[i + 1] - b.offsets[i]);
    if (!g.defined())
      slice.zero_();
    else
      slice.copy_(g.reshape({-1}));
  }
}

void Reducer::launch(Bucket& b) {
  torch::NoGradGuard no_grad;
  pack(b);
  // Names the bucket in a collective-timeout message (hooks may run on autograd's threads,
  // so the caller's label was captured in prepare()).
  watchdog::Label label(label_ + (label_.empty() ? "" : ", ") + "bucket " +
                        std::to_string(b.index + 1) + "/" + std::to_string(buckets_.size()));
  b.work = comm_.allreduce_sum_async(b.flat);
  b.launched = true;
}

// Collectives must be issued in the same order on every rank, so bucket i starts only after
// buckets 0..i-1, whatever order this rank's backward finished them in.
void Reducer::launch_ready_in_order() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_]->pending == 0) {
    launch(*buckets_[next_launch_]);
    ++next_launch_;
  }
}

void Reducer::on_grad_ready(size_t param) {
  if (!armed_) return;  // a backward that does not step this module
  Bucket& b = *buckets_[bucket_of_[param]];
  if (b.pending > 0) --b.pending;
  if (b.pending == 0) launch_ready_in_order();
}

void Reducer::finish() {
  armed_ = false;
  if (!opts_.overlap) label_ = watchdog::current_label();
  const int world = comm_.size();
  if (world == 1) return;
  torch::NoGradGuard no_grad;
  // Backward launched a prefix of the buckets, in order; the rest start now, in order, all
  // before the first wait so that they progress together. Overlap on or off, every bucket
  // goes through the same non-blocking call: MPI does not match blocking with non-blocking
  // collectives, and one algorithm means the same sums (bitwise) either way.
  for (auto& bp : buckets_)
    if (!bp->launched) launch(*bp);
  for (auto& bp : buckets_) {
    Bucket& b = *bp;
    b.work->wait();
    b.work.reset();
    b.launched = false;
    // Same dtype: the bucket itself; 16-bit wire: a widened copy.
    const auto ptype = params_[b.params.front()].scalar_type();
    torch::Tensor avg = b.flat.scalar_type() == ptype ? b.flat : b.flat.to(ptype);
    if (opts_.average) avg.div_(world);
    for (size_t i = 0; i < b.params.size(); ++i) {
      auto& p = params_[b.params[i]];
      if (lives_in(p.grad(), avg, b.offsets[i])) continue;  // already reduced in place
      auto slice = avg.narrow(0, b.offsets[i], b.offsets[i + 1] - b.offsets[i]).view(p.sizes());
      if (!p.grad().defined())
        p.mutable_grad() = slice.clone();
      else
        p.mutable_grad().copy_(slice);
    }
  }
  next_launch_ = 0;
}

std::vector<std::vector<size_t>> Reducer::bucket_layout() const {
  std::vector<std::vector<size_t>> out;
  for (const auto& b : buckets_) out.push_back(b->params);
  return out;
}

std::vector<int64_t> Reducer::bucket_bytes() const {
  std::vector<int64_t> out;
  for (const auto& b : buckets_) out.push_back(b->flat.numel() * b->flat.element_size());
  return out;
}

}  // namespace gan::dist
