#include "dist/device_timer.h"

#include <deque>

#ifdef GAN_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace gan::dist {

#ifdef GAN_TORCH_CUDA
struct DeviceTimer::Cuda {
  struct Interval {
    // cudaEventDefault: timing enabled (CUDAEvent's own default disables it).
    at::cuda::CUDAEvent begin{cudaEventDefault}, end{cudaEventDefault};
  };
  std::unique_ptr<Interval> open;
  std::deque<std::unique_ptr<Interval>> stopped;  // recorded, not read back yet

  // Seconds of the stopped intervals whose end event the GPU has passed (of all of them,
  // waiting for each, when `wait`); those are dropped, the others kept for a later call.
  double collect(bool wait) {
    double ms = 0;
    std::deque<std::unique_ptr<Interval>> pending;
    for (auto& iv : stopped) {
      if (wait) iv->end.synchronize();
      // Same stream for both events: the end done means the begin is done too.
      if (iv->end.query()) {
        ms += iv->begin.elapsed_time(iv->end);
      } else {
        pending.push_back(std::move(iv));
      }
    }
    stopped = std::move(pending);
    return ms / 1000.0;
  }
};
#else
struct DeviceTimer::Cuda {};
#endif

DeviceTimer::DeviceTimer() = default;
DeviceTimer::~DeviceTimer() = default;
DeviceTimer::DeviceTimer(DeviceTimer&&) noexcept = default;
DeviceTimer& DeviceTimer::operator=(DeviceTimer&&) noexcept = default;

void DeviceTimer::start(const torch::Device& device) {
  // An interval left open (its stop skipped by an exception) is dropped.
  running_ = true;
  on_cuda_ = false;
#ifdef GAN_TORCH_CUDA
  if (device.is_cuda()) {
    if (!cuda_) cuda_ = std::make_unique<Cuda>();
    auto iv = std::make_unique<Cuda::Interval>();
    iv->begin.record(c10::cuda::getCurrentCUDAStream(device.index()));
    cuda_->open = std::move(iv);
    on_cuda_ = true;
    return;
  }
#endif
  t0_ = std::chrono::steady_clock::now();
}

void DeviceTimer::stop() {
  if (!running_) return;
  running_ = false;
#ifdef GAN_TORCH_CUDA
  if (on_cuda_) {
    auto iv = std::move(cuda_->open);
    // On the stream the interval began on (the current stream of the begin event's device).
    iv->end.record(c10::cuda::getCurrentCUDAStream(iv->begin.device_index()));
    cuda_->stopped.push_back(std::move(iv));
    // Bounded memory when nobody takes the total: read back what is done; past a hard cap,
    // wait for the oldest intervals (a host sync, but only for a caller that never takes).
    constexpr size_t kSoftCap = 256, kHardCap = 4096;
    if (cuda_->stopped.size() >= kSoftCap) seconds_ += cuda_->collect(false);
    while (cuda_->stopped.size() >= kHardCap) {
      cuda_->stopped.front()->end.synchronize();
      seconds_ += cuda_->collect(false);
    }
    return;
  }
#endif
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double DeviceTimer::take_seconds(bool wait) {
  double s = seconds_;
  seconds_ = 0;
#ifdef GAN_TORCH_CUDA
  if (cuda_) s += cuda_->collect(wait);
#else
  (void)wait;
#endif
  return s;
}

}  // namespace gan::dist
