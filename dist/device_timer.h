// Sums the time of intervals of work on a device. On the CPU an interval is the host's
// steady_clock between start and stop. On a CUDA device (when LibTorch has CUDA) it is the
// time between two timing events recorded on the device's current stream, so it measures the
// GPU work in between, not the kernel launches; the events are read back only when the total
// is taken, and only those already complete, so neither start/stop nor take blocks the host.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <memory>

namespace gan::dist {

class DeviceTimer {
 public:
  DeviceTimer();
  ~DeviceTimer();
  DeviceTimer(DeviceTimer&&) noexcept;
  DeviceTimer& operator=(DeviceTimer&&) noexcept;

  // One interval at a time: start, the work, stop (Scope does both). A start while an
  // interval is open drops that interval (its stop was skipped, by an exception say).
  void start(const torch::Device& device);
  void stop();

  // Seconds of the intervals stopped and finished since the last call; then reset. A CUDA
  // interval whose events the GPU has not reached yet is not waited for: it counts in a later
  // call (with wait = true, this one waits for every interval stopped so far).
  double take_seconds(bool wait = false);

  // start() on construction, stop() on destruction.
  class Scope {
   public:
    Scope(DeviceTimer& t, const torch::Device& device) : t_(t) { t_.start(device); }
    // A timer must not turn an error into std::terminate: a failure to record is dropped
    // (a real CUDA error shows again at the next operation on the stream).
    ~Scope() {
      try {
        t_.stop();
      } catch (...) {
      }
    }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    DeviceTimer& t_;
  };

 private:
  struct Cuda;  // the events, when built with CUDA
  double seconds_ = 0;
  bool running_ = false;
  bool on_cuda_ = false;
  std::chrono::steady_clock::time_point t0_;
  std::unique_ptr<Cuda> cuda_;
};

}  // namespace gan::dist
