#include "dist/data_parallel.h"

#include <chrono>

namespace gan::dist {
namespace {

class Stopwatch {
 public:
  explicit Stopwatch(double& sink) : sink_(sink), t0_(std::chrono::steady_clock::now()) {}
  ~Stopwatch() {
    sink_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  double& sink_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

DataParallel::DataParallel(Communicator& comm, ReducerOptions opts) : comm_(comm), opts_(opts) {
  opts_.average = false;  // backward() pre-scales the loss instead
}

Reducer& DataParallel::reducer(torch::nn::Module& module) {
  auto& r = reducers_[&module];
  if (!r) r = std::make_unique<Reducer>(module, comm_, opts_);
  return *r;
}

void DataParallel::expect_grads(torch::nn::Module& module) { reducer(module).prepare(); }

void DataParallel::backward(const torch::Tensor& loss) {
  if (comm_.size() == 1) return loss.backward();
  // Buckets' all-reduces start from the hooks during this backward; let them progress.
  struct Progress {
    Communicator& c;
    explicit Progress(Communicator& comm) : c(comm) { c.background_progress(true); }
    ~Progress() { c.background_progress(false); }
  } progress(comm_);
  (loss * (1.0 / comm_.size())).backward();
}

void DataParallel::sync_grads(torch::nn::Module& module) {
  // Only what is left after backward counts: with overlap, the exposed communication.
  Stopwatch sw(comm_seconds_);
  reducer(module).finish();
}

torch::Tensor DataParallel::allreduce_sum(const torch::Tensor& t) {
  Stopwatch sw(comm_seconds_);
  torch::Tensor out = t.detach().contiguous().clone();
  comm_.allreduce_sum(out);
  // Rank 0's bits to everyone: the MPI standard does not promise identical sums.
  comm_.broadcast(out, 0);
  return out;
}

void DataParallel::broadcast_module(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    auto t = p.detach();
    comm_.broadcast(t, 0);
  }
  broadcast_buffers(module);
}

void DataParallel::broadcast_buffers(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  Stopwatch sw(comm_seconds_);
  for (auto& b : module.buffers()) {
    auto t = b.detach();
    comm_.broadcast(t, 0);
  }
}

double DataParallel::take_comm_seconds() {
  double s = comm_seconds_;
  comm_seconds_ = 0.0;
  return s;
}

}  // namespace gan::dist
