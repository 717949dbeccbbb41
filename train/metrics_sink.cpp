#include "train/metrics_sink.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/checked_io.h"

namespace gan::train {

MetricsSink::MetricsSink(const std::string& dir)
    : jsonl_((std::filesystem::path(dir) / "metrics.jsonl").string()),
      csv_((std::filesystem::path(dir) / "metrics.csv").string()),
      eval_((std::filesystem::path(dir) / "eval.jsonl").string()) {
  header_written_ = std::filesystem::exists(csv_) && std::filesystem::file_size(csv_) > 0;
}

void MetricsSink::drop_after(const std::string& dir, int64_t step) {
  namespace fs = std::filesystem;
  auto keep_lines = [&](const fs::path& path, auto keep) {
    if (!fs::exists(path)) return;
    std::ifstream in(path);
    std::string line, kept;
    bool first = true;
    while (std::getline(in, line)) {
      if (keep(line, first)) kept += line + "\n";
      first = false;
    }
    in.close();
    write_file_atomic(path.string(), kept);
  };
  auto json_step_ok = [&](const std::string& line, bool) {
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    return !j.is_discarded() && j.value("step", int64_t{0}) <= step;
  };
  keep_lines(fs::path(dir) / "metrics.jsonl", json_step_ok);
  keep_lines(fs::path(dir) / "eval.jsonl", json_step_ok);
  keep_lines(fs::path(dir) / "metrics.csv", [&](const std::string& line, bool header) {
    return header || std::stod(line.substr(0, line.find(','))) <= static_cast<double>(step);
  });
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
  append_checked(jsonl_, j.dump() + "\n");
  std::ostringstream csv;
  if (!header_written_)
    for (size_t i = 0; i < row.size(); ++i)
      csv << (i ? "," : "") << row[i].first << (i + 1 == row.size() ? "\n" : "");
  for (size_t i = 0; i < row.size(); ++i) csv << (i ? "," : "") << row[i].second;
  csv << "\n";
  append_checked(csv_, csv.str());
  header_written_ = true;
}

void MetricsSink::write_eval(const std::string& json_object) {
  append_checked(eval_, json_object + "\n");
}

}  // namespace gan::train
