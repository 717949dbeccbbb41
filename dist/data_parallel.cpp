#include "dist/data_parallel.h"

#include <algorithm>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <utility>

#include "dist/world.h"

namespace gan::dist {
namespace {

torch::Device device_of(const torch::nn::Module& module) {
  for (const auto& p : module.parameters()) return p.device();
  return torch::kCPU;
}

}  // namespace

DataParallel::DataParallel(Communicator& comm, World& world, ReducerOptions opts)
    : comm_(comm), world_(world), opts_(opts) {
  if (comm_.size() != world_.size() || comm_.rank() != world_.rank())
    throw std::invalid_argument("DataParallel: the communicator does not span the world");
  opts_.average = false;  // backward() pre-scales the loss instead
}

Reducer& DataParallel::reducer(torch::nn::Module& module) {
  auto& r = reducers_[&module].reducer;
  if (!r) r = std::make_unique<Reducer>(module, comm_, opts_);
  return *r;
}

std::map<int64_t, int64_t> DataParallel::gradient_messages() const {
  std::map<int64_t, int64_t> out;
  for (const auto& [module, s] : reducers_)
    if (s.syncs > 0)
      for (int64_t bytes : s.reducer->bucket_bytes()) out[bytes] += s.syncs;
  return out;
}

void DataParallel::expect_grads(torch::nn::Module& module) { reducer(module).prepare(); }

void DataParallel::backward(const torch::Tensor& loss) {
  struct InBackward {
    std::atomic<bool>& flag;
    explicit InBackward(std::atomic<bool>& f) : flag(f) { flag = true; }
    ~InBackward() { flag = false; }
  } in_backward(in_backward_);
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
  DeviceTimer::Scope timed(comm_timer_, device_of(module));
  reducer(module).finish();
  // Counted at one rank too: what more ranks would send, for projections from one GPU.
  ++reducers_[&module].syncs;
}

torch::Tensor DataParallel::allreduce_sum(const torch::Tensor& t) {
  DeviceTimer::Scope timed(comm_timer_, t.device());
  std::optional<DeviceTimer::Scope> within_backward;
  if (in_backward_) within_backward.emplace(comm_in_backward_timer_, t.device());
  torch::Tensor out = t.detach().contiguous().clone();
  comm_.allreduce_sum(out);
  // Rank 0's bits to everyone: the MPI standard does not promise identical sums (NCCL's
  // schedules do, and then the broadcast is skipped).
  if (!comm_.identical_sums()) comm_.broadcast(out, 0);
  return out;
}

std::vector<double> DataParallel::allreduce_host_sum(std::vector<double> v) {
  DeviceTimer::Scope timed(comm_timer_, torch::kCPU);
  return world_.allreduce_sum(std::move(v));  // all-reduce, then rank 0's bits to everyone
}

void DataParallel::broadcast_grouped(const std::vector<torch::Tensor>& tensors) {
  if (comm_.size() == 1) return;
  // Groups in order of first appearance: the same order, so the same collectives, on every
  // rank (replicas have the same structure).
  std::vector<std::pair<std::pair<torch::ScalarType, torch::Device>, std::vector<torch::Tensor>>>
      groups;
  for (const auto& t : tensors) {
    std::pair<torch::ScalarType, torch::Device> key{t.scalar_type(), t.device()};
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {}});
      it = std::prev(groups.end());
    }
    it->second.push_back(t.detach());
  }
  for (auto& [key, members] : groups) {
    if (members.size() == 1 && members[0].is_contiguous()) {  // in place, no copies
      comm_.broadcast(members[0], 0);
      continue;
    }
    std::vector<torch::Tensor> flat_views;
    for (const auto& m : members) flat_views.push_back(m.reshape({-1}));
    torch::Tensor flat = torch::cat(flat_views);
    if (flat.numel() == 0) continue;
    comm_.broadcast(flat, 0);
    if (comm_.rank() == 0) continue;  // rank 0's tensors already hold what it sent
    int64_t offset = 0;
    for (auto& m : members) {
      const int64_t n = m.numel();
      m.copy_(flat.narrow(0, offset, n).view(m.sizes()));
      offset += n;
    }
  }
}

void DataParallel::broadcast_module(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  broadcast_grouped(module.parameters());
  broadcast_buffers(module);
}

void DataParallel::broadcast_buffers(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> buffers = module.buffers();
  if (buffers.empty()) return;
  DeviceTimer::Scope timed(comm_timer_, buffers.front().device());
  broadcast_grouped(buffers);
}

double DataParallel::take_comm_seconds(bool wait) { return comm_timer_.take_seconds(wait); }
double DataParallel::take_comm_in_backward_seconds(bool wait) {
  return comm_in_backward_timer_.take_seconds(wait);
}

}  // namespace gan::dist
