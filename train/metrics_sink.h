// Rank 0's record of a run: one JSON object per log interval in metrics.jsonl and the same
// numbers as rows of metrics.csv. Every row is appended with checked I/O: a full disk ends the
// run (StorageError, exit 6) instead of training on unlogged, and never leaves a torn line.
#pragma once

#include <cstdint>
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
  // One JSON object as a line of eval.jsonl.
  void write_eval(const std::string& json_object);

 private:
  std::string jsonl_, csv_, eval_;  // paths
  bool header_written_;
};

}  // namespace gan::train
