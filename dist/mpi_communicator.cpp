#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "dist/mpi_check.h"
#include "dist/watchdog.h"
#include "dist/world.h"

#ifdef GAN_WITH_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace gan::dist {
namespace {

// 16-bit floats travel as opaque 2-byte elements; the reduction op widens them to fp32, adds,
// and rounds back, so compression costs precision only once per hop.
template <typename T>
void sum16(void* in, void* inout, int* len, MPI_Datatype*) {
  auto* a = static_cast<const T*>(in);
  auto* b = static_cast<T*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = T(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}

struct Mpi16 {
  MPI_Datatype type;
  MPI_Op half_sum, bf16_sum;
  Mpi16() {
    MPI_Type_contiguous(2, MPI_BYTE, &type);
    MPI_Type_commit(&type);
    MPI_Op_create(&sum16<c10::Half>, /*commute=*/1, &half_sum);
    MPI_Op_create(&sum16<c10::BFloat16>, 1, &bf16_sum);
  }
};

const Mpi16& mpi16() {
  static Mpi16 m;  // created after MPI_Init, on first use
  return m;
}

MPI_Op sum_op(const torch::Tensor& t) {
  if (t.scalar_type() == torch::kHalf) return mpi16().half_sum;
  if (t.scalar_type() == torch::kBFloat16) return mpi16().bf16_sum;
  return MPI_SUM;
}

MPI_Datatype mpi_type(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kHalf:
    case torch::kBFloat16:
      return mpi16().type;
    case torch::kFloat:
      return MPI_FLOAT;
    case torch::kDouble:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      throw DistError(std::string("MPI backend: unsupported dtype ") +
                      std::string(c10::toString(t.scalar_type())));
  }
}

int checked_count(const torch::Tensor& t) {
  if (!t.device().is_cpu()) throw DistError("MPI backend needs CPU tensors (use --backend nccl)");
  if (!t.is_contiguous()) throw DistError("MPI backend needs contiguous tensors");
  if (t.numel() > INT_MAX) throw DistError("tensor too large for one MPI call");
  return static_cast<int>(t.numel());
}

}  // namespace

// Open MPI moves a non-blocking collective on only inside MPI calls, and an all-reduce takes
// several rounds. While the caller computes (background progress on) and any collective is in
// flight, this thread looks at each every `kInterval` (MPI_Request_get_status progresses
// without completing or freeing the request), so the rounds move on during backward. Off, or
// with nothing in flight, it sleeps: a wake-up costs tens of microseconds on these machines.
class MpiProgress {
 public:
  MpiProgress() : thread_([this] { loop(); }) {}
  ~MpiProgress() {
    {
      auto lock = mpi_lock();
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  // All three with mpi_lock() held.
  void add(MPI_Request* r) {
    active_.push_back(r);
    if (enabled_) wake_.notify_one();
  }
  void remove(MPI_Request* r) { active_.erase(std::find(active_.begin(), active_.end(), r)); }
  void enable(bool on) {
    enabled_ = on;
    if (on && !active_.empty()) wake_.notify_one();
  }

 private:
  static constexpr std::chrono::microseconds kInterval{100};
  void loop() {
    auto lock = mpi_lock();
    while (!stop_) {
      if (!enabled_ || active_.empty()) {
        wake_.wait(lock);
        continue;
      }
      wake_.wait_for(lock, kInterval);
      for (MPI_Request* r : active_) {
        int done = 0;
        if (*r != MPI_REQUEST_NULL) MPI_Request_get_status(*r, &done, MPI_STATUS_IGNORE);
      }
    }
  }
  std::vector<MPI_Request*> active_;
  bool enabled_ = false;
  bool stop_ = false;
  std::condition_variable wake_;
  std::thread thread_;  // last: starts once the members above exist
};

namespace {

class MpiWork final : public Work {
 public:
  // With mpi_lock() held.
  MpiWork(torch::Tensor t, MPI_Request req, MpiProgress* progress)
      : tensor_(std::move(t)), req_(req), progress_(req == MPI_REQUEST_NULL ? nullptr : progress) {
    if (progress_) progress_->add(&req_);
    // In flight for the watchdog from now until it has been waited for.
    if (req != MPI_REQUEST_NULL)
      watchdog_id_ = watchdog::begin(describe_collective("MPI_Iallreduce", tensor_));
  }
  ~MpiWork() override { finish(/*check=*/false); }
  void wait() override { finish(/*check=*/true); }
  bool test() override {
    if (!progress_) return true;
    auto lock = mpi_lock();
    int done = 0;
    mpi_check(MPI_Test(&req_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }

 private:
  torch::Tensor tensor_;  // keeps the buffer alive while MPI owns it
  MPI_Request req_;
  MpiProgress* progress_;  // null once waited for
  uint64_t watchdog_id_ = 0;

  void finish(bool check) {
    if (!progress_) return;
    auto lock = mpi_lock();
    progress_->remove(&req_);
    progress_ = nullptr;
    int rc = MPI_Wait(&req_, MPI_STATUS_IGNORE);
    watchdog::end(watchdog_id_);
    if (check) mpi_check(rc, "MPI_Wait");  // MPI_Error_string, too, under the lock
  }
};

}  // namespace

MpiCommunicator::MpiCommunicator(World& world) : world_(world) {
  if (world_.size() > 1) progress_ = std::make_unique<MpiProgress>();
}
MpiCommunicator::~MpiCommunicator() = default;
int MpiCommunicator::rank() const { return world_.rank(); }
int MpiCommunicator::size() const { return world_.size(); }

void MpiCommunicator::allreduce_sum(torch::Tensor& t) {
  int n = checked_count(t);
  if (world_.size() == 1 || n == 0) return;
  watchdog::Scope w(describe_collective("MPI_Allreduce", t));
  auto lock = mpi_lock();
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), n, mpi_type(t), sum_op(t), MPI_COMM_WORLD),
            "MPI_Allreduce");
}

std::unique_ptr<Work> MpiCommunicator::allreduce_sum_async(torch::Tensor& t) {
  int n = checked_count(t);
  MPI_Request req = MPI_REQUEST_NULL;
  auto lock = mpi_lock();
  if (world_.size() > 1 && n > 0) {
    mpi_check(
        MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), n, mpi_type(t), sum_op(t), MPI_COMM_WORLD, &req),
        "MPI_Iallreduce");
  }
  return std::make_unique<MpiWork>(t, req, progress_.get());
}

void MpiCommunicator::broadcast(torch::Tensor& t, int root) {
  int n = checked_count(t);
  if (world_.size() == 1 || n == 0) return;
  watchdog::Scope w(describe_collective("MPI_Bcast", t));
  auto lock = mpi_lock();
  mpi_check(MPI_Bcast(t.data_ptr(), n, mpi_type(t), root, MPI_COMM_WORLD), "MPI_Bcast");
}

torch::Tensor MpiCommunicator::allgather(const torch::Tensor& t) {
  torch::Tensor src = t.contiguous();
  int n = checked_count(src);
  std::vector<int64_t> shape{world_.size()};
  for (auto d : src.sizes()) shape.push_back(d);
  torch::Tensor out = torch::empty(shape, src.options());
  watchdog::Scope w(describe_collective("MPI_Allgather", src));
  auto lock = mpi_lock();
  mpi_check(MPI_Allgather(src.data_ptr(), n, mpi_type(src), out.data_ptr(), n, mpi_type(src),
                          MPI_COMM_WORLD),
            "MPI_Allgather");
  return out;
}

void MpiCommunicator::barrier() { world_.barrier(); }

void MpiCommunicator::background_progress(bool on) {
  if (!progress_) return;
  auto lock = mpi_lock();
  progress_->enable(on);
}

std::string describe_collective(const char* op, const torch::Tensor& t) {
  return std::string(op) + " of " + std::to_string(t.numel()) + " " +
         std::string(c10::toString(t.scalar_type())) + " (" +
         std::to_string(t.numel() * t.element_size() / 1024) + " KiB)";
}

std::unique_ptr<Communicator> make_communicator(Backend backend, World& world,
                                                const torch::Device& device, bool check_order) {
  bool want_nccl = backend == Backend::kNccl || (backend == Backend::kAuto && device.is_cuda());
  std::unique_ptr<Communicator> comm;
  if (!want_nccl) {
    comm = std::make_unique<MpiCommunicator>(world);
  } else {
#ifdef GAN_WITH_NCCL
    comm = make_nccl_communicator(world, device);
#else
    throw UsageError("--backend nccl: this build has no NCCL support (GAN_WITH_NCCL=OFF)");
#endif
  }
  if (check_order) comm = std::make_unique<OrderCheckedCommunicator>(std::move(comm), world);
  return comm;
}

OrderCheckedCommunicator::OrderCheckedCommunicator(std::unique_ptr<Communicator> inner,
                                                   World& world)
    : inner_(std::move(inner)), world_(world) {}

void OrderCheckedCommunicator::check(int op, const torch::Tensor& t) {
  static const char* names[] = {"allreduce", "broadcast", "allgather", "barrier"};
  ++seq_;
  int64_t dtype = t.defined() ? static_cast<int64_t>(t.scalar_type()) : -1;
  int64_t numel = t.defined() ? t.numel() : 0;
  // The signature travels over MPI on the host, whatever the backend and the tensor's device.
  const int64_t mine[4] = {seq_, int64_t(op), numel, dtype};
  const auto gathered =
      world_.allgather(std::string(reinterpret_cast<const char*>(mine), sizeof mine));
  std::vector<std::array<int64_t, 4>> a(gathered.size());
  for (size_t r = 0; r < a.size(); ++r) std::memcpy(a[r].data(), gathered[r].data(), sizeof mine);
  bool same = true;
  for (int r = 1; r < size(); ++r)
    for (int k = 0; k < 4; ++k) same = same && a[r][k] == a[0][k];
  if (same) return;
  std::string msg = "collective order differs across ranks at this rank's collective #" +
                    std::to_string(seq_) + ":";
  for (int r = 0; r < size(); ++r)
    msg += "\n  rank " + std::to_string(r) + ": #" + std::to_string(a[r][0]) + " " +
           names[a[r][1]] + " of " + std::to_string(a[r][2]) + " elements of " +
           (a[r][3] < 0 ? std::string("-") : std::string(c10::toString(c10::ScalarType(a[r][3]))));
  throw DistError(msg, /*collective=*/true);
}

void OrderCheckedCommunicator::allreduce_sum(torch::Tensor& t) {
  check(0, t);
  inner_->allreduce_sum(t);
}

std::unique_ptr<Work> OrderCheckedCommunicator::allreduce_sum_async(torch::Tensor& t) {
  check(0, t);
  return inner_->allreduce_sum_async(t);
}

void OrderCheckedCommunicator::broadcast(torch::Tensor& t, int root) {
  check(1, t);
  inner_->broadcast(t, root);
}

torch::Tensor OrderCheckedCommunicator::allgather(const torch::Tensor& t) {
  check(2, t);
  return inner_->allgather(t);
}

void OrderCheckedCommunicator::barrier() {
  check(3, torch::Tensor());
  inner_->barrier();
}

}  // namespace gan::dist
