#include "train/metrics_sink.h"

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace gan::train {

MetricsSink::MetricsSink(const std::string& dir) {
  const auto csv_path = std::filesystem::path(dir) / "metrics.csv";
  header_written_ = std::filesystem::exists(csv_path) && std::filesystem::file_size(csv_path) > 0;
  jsonl_.open(std::filesystem::path(dir) / "metrics.jsonl", std::ios::app);
  csv_.open(csv_path, std::ios::app);
}

void MetricsSink::write(const std::vector<std::pair<std::string, double>>& row) {
  nlohmann::ordered_json j;
  for (const auto& [k, v] : row) {
    bool integral = std::floor(v) == v && std::fabs(v) < 9e15;
    if (integral && (k == "step" || k == "epoch" || k == "images_seen"))
      j[k] = static_cast<int64_t>(v);
    else
      j[k] = v;
  }
  jsonl_ << j.dump() << "\n";
  jsonl_.flush();
  if (!header_written_) {
    for (size_t i = 0; i < row.size(); ++i) csv_ << (i ? "," : "") << row[i].first;
    csv_ << "\n";
    header_written_ = true;
  }
  for (size_t i = 0; i < row.size(); ++i) csv_ << (i ? "," : "") << row[i].second;
  csv_ << "\n";
  csv_.flush();
}

}  // namespace gan::train
