#include "train/interval_meter.h"

#include <cmath>

#include "core/errors.h"

namespace gan::train {

void IntervalMeter::add_step(const Row& metrics, int64_t step, int rank) {
  if (names_.empty())
    for (const auto& [name, v] : metrics) names_.push_back(name), sums_.push_back(0);
  for (size_t i = 0; i < metrics.size() && i < sums_.size(); ++i) {
    const auto& [name, v] = metrics[i];
    if (!std::isfinite(v))
      throw Error(kExitFailure, "non-finite " + name + " (" + std::to_string(v) + ") at step " +
                                    std::to_string(step) + " on rank " + std::to_string(rank));
    sums_[i] += v;
  }
  ++steps_;
}

double IntervalMeter::wall_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

IntervalMeter::Means IntervalMeter::take_means(
    const PhaseSeconds& p, int ranks,
    const std::function<std::vector<double>(std::vector<double>)>& sum_over_ranks) {
  const Row phases{{"data_ms", data_s_},
                   {"compute_ms", p.step - p.comm},
                   {"forward_ms", p.step - p.backward - p.comm - p.optimizer},
                   {"backward_ms", p.backward},
                   {"comm_ms", p.comm},
                   {"optimizer_ms", p.optimizer},
                   {"step_ms", p.step}};
  std::vector<double> totals = sums_;
  for (const auto& [name, s] : phases) totals.push_back(s);
  totals = sum_over_ranks(std::move(totals));
  const double per = double(steps_) * ranks;
  Means out;
  for (size_t i = 0; i < names_.size(); ++i) out.metrics.emplace_back(names_[i], totals[i] / per);
  for (size_t i = 0; i < phases.size(); ++i)
    out.phases_ms.emplace_back(phases[i].first, 1000.0 * totals[names_.size() + i] / per);
  sums_.assign(sums_.size(), 0.0);
  data_s_ = 0;
  steps_ = 0;
  start_ = std::chrono::steady_clock::now();
  return out;
}

}  // namespace gan::train
