#include "dist/comm_curve.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <sstream>

#include "dist/device_timer.h"

namespace gan::dist {

std::vector<int64_t> curve_sizes(const std::vector<int64_t>& exact) {
  std::set<int64_t> sizes;
  const int64_t largest = exact.empty() ? 4096 : *std::max_element(exact.begin(), exact.end());
  for (int64_t b = 4096; b <= largest; b *= 4) sizes.insert(b);
  for (int64_t b : exact) sizes.insert(std::max<int64_t>(4, b / 4 * 4));
  return {sizes.begin(), sizes.end()};
}

std::vector<CurvePoint> allreduce_curve(Communicator& comm, World& world,
                                        const std::vector<int64_t>& sizes,
                                        const torch::Device& device) {
  std::vector<CurvePoint> out;
  const int n = comm.size();
  for (int64_t bytes : sizes) {
    torch::Tensor t = torch::ones({bytes / 4}, torch::TensorOptions().device(device));
    // Enough repetitions for a median, fewer for the large sizes (seconds each on slow links).
    const int reps = bytes <= (1 << 20) ? 20 : bytes <= (16 << 20) ? 7 : 3;
    std::vector<double> times;
    DeviceTimer timer;
    for (int r = 0; r <= reps; ++r) {  // the first warms up (connections, buffers)
      comm.barrier();
      // The non-blocking path with its wait, as the reducer issues a bucket; on a GPU the
      // device's clock (CUDA events around the NCCL kernel), on the CPU the host's.
      {
        DeviceTimer::Scope timed(timer, device);
        comm.allreduce_sum_async(t)->wait();
      }
      const double s = timer.take_seconds(/*wait=*/true);
      if (r > 0) times.push_back(s);
    }
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    // A collective takes as long as its slowest rank (host reduction in microseconds).
    const double median_us = 1e6 * times[times.size() / 2];
    const double slowest_us =
        static_cast<double>(world.allreduce_max(static_cast<int64_t>(median_us * 1000))) / 1000;
    CurvePoint p;
    p.bytes = bytes;
    p.seconds = slowest_us * 1e-6;
    p.algbw_gbps = static_cast<double>(bytes) / p.seconds / 1e9;
    p.busbw_gbps = n > 1 ? p.algbw_gbps * 2.0 * (n - 1) / n : p.algbw_gbps;
    out.push_back(p);
  }
  return out;
}

std::string curve_csv(const std::vector<CurvePoint>& curve, int ranks) {
  std::ostringstream o;
  o << "ranks,bytes,time_us,algbw_GBps,busbw_GBps\n";
  for (const auto& p : curve)
    o << ranks << "," << p.bytes << "," << p.seconds * 1e6 << "," << p.algbw_gbps << ","
      << p.busbw_gbps << "\n";
  return o.str();
}

}  // namespace gan::dist
