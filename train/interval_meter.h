// Totals over one log interval: the model's metrics of every step and the time spent in each
// phase, summed over the ranks into one named row of means per step (metrics.jsonl's columns).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gan::train {

// Seconds of one interval on this rank, by phase, as read off the device timers (the loader's
// waits are added step by step with add_data_wait). forward = the step less what is measured
// separately (backward, exposed communication, optimizer), so it includes the losses.
struct PhaseSeconds {
  double step = 0;       // the whole model step, on the device's clock
  double backward = 0;   // as the model measured it
  double comm = 0;       // exposed all-reduce time
  double optimizer = 0;  // as the model measured it
};

using Row = std::vector<std::pair<std::string, double>>;

class IntervalMeter {
 public:
  // One step's metrics; the names come from the first step and never change. A value that is
  // not finite throws (exit 1) naming it, the step and `rank`.
  void add_step(const Row& metrics, int64_t step, int rank);
  void add_data_wait(double seconds) { data_s_ += seconds; }
  int64_t steps() const { return steps_; }
  double wall_seconds() const;

  // The interval's means over steps and ranks, `sum_over_ranks` adding a vector element-wise
  // across the job: the model's metrics, then the phases as NAME_ms. Starts the next interval.
  struct Means {
    Row metrics;
    Row phases_ms;
  };
  Means take_means(const PhaseSeconds& phases, int ranks,
                   const std::function<std::vector<double>(std::vector<double>)>& sum_over_ranks);

 private:
  std::vector<std::string> names_;
  std::vector<double> sums_;
  double data_s_ = 0;
  int64_t steps_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace gan::train
