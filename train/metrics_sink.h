// Rank 0's record of a run: one JSON object per log interval in metrics.jsonl and the same
// numbers as rows of metrics.csv.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace gan::train {

class MetricsSink {
 public:
  // Appends (a resumed run continues the same files).
  explicit MetricsSink(const std::string& dir);
  void write(const std::vector<std::pair<std::string, double>>& row);
  // A resumed run first drops what the interrupted run logged after its checkpoint, from
  // metrics.jsonl, metrics.csv and eval.jsonl, so every step appears once.
  static void drop_after(const std::string& dir, int64_t step);

 private:
  std::ofstream jsonl_, csv_;
  bool header_written_;
};

}  // namespace gan::train
