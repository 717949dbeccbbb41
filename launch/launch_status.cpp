// Status report of a run folder: Slurm's view of the job merged with the files of each run.
#include "launch/launch_status.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/errors.h"
#include "launch/launch_process.h"

namespace fs = std::filesystem;

namespace gan::launch {
namespace {

std::string last_nonempty_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) {
    if (!trim(line).empty()) last = line;
  }
  return last;
}

std::string first_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return trim(line);
}

// Maps the job script's own state line to a Slurm-like word.
std::string state_from_files(const nlohmann::json& out) {
  if (!out["final"].is_null()) return "COMPLETED";
  // value() would throw on the null that read_out_dir stores when launch-state is absent.
  const auto& state = out["script_state"];
  const std::string script = state.is_string() ? state.get<std::string>() : "";
  if (!script.empty()) return script.substr(0, script.find(' '));
  if (!out["step"].is_null()) return "STOPPED";
  return "UNKNOWN";
}

}  // namespace

nlohmann::json read_out_dir(const std::string& dir) {
  nlohmann::json j;
  j["dir"] = dir;
  j["step"] = nullptr;
  j["checkpoint"] = nullptr;
  j["checkpoint_step"] = nullptr;
  j["final"] = nullptr;
  j["script_state"] = nullptr;
  fs::path d(dir);

  std::string line = last_nonempty_line(d / "metrics.jsonl");
  if (!line.empty()) {
    try {
      auto m = nlohmann::json::parse(line);
      if (m.contains("step")) j["step"] = m["step"];
    } catch (const nlohmann::json::exception&) {
      // a line being written right now; report no step rather than fail
    }
  }

  std::error_code ec;
  std::vector<fs::path> ckpts;
  for (fs::directory_iterator it(d / "checkpoints", ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.rfind("step-", 0) == 0 && fs::exists(it->path() / "meta.json")) {
      ckpts.push_back(it->path());
    }
  }
  std::sort(ckpts.begin(), ckpts.end());  // zero-padded step numbers sort by name
  if (!ckpts.empty()) {
    j["checkpoint"] = ckpts.back().string();
    try {
      std::ifstream in(ckpts.back() / "meta.json");
      auto meta = nlohmann::json::parse(in);
      if (meta.contains("step")) j["checkpoint_step"] = meta["step"];
    } catch (const nlohmann::json::exception&) {
      j["checkpoint_step"] = nullptr;
    }
  }

  int restarts = 0;
  try {
    std::string r = first_line(d / "restarts");
    if (!r.empty()) restarts = std::stoi(r);
  } catch (const std::exception&) {
    restarts = 0;
  }
  j["restarts"] = restarts;

  if (fs::exists(d / "launch-state")) j["script_state"] = first_line(d / "launch-state");
  if (fs::exists(d / "final.json")) {
    try {
      std::ifstream in(d / "final.json");
      j["final"] = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception&) {
      j["final"] = "unreadable";
    }
  }
  return j;
}

nlohmann::json query_job(const std::string& job_id) {
  nlohmann::json tasks = nlohmann::json::object();
  if (job_id.empty()) return tasks;
  // squeue knows pending and running jobs; array tasks show as JOB_TASK.
  auto q = run_capture({"squeue", "-h", "-r", "-j", job_id, "-o", "%i|%T"});
  if (q.exit_code == 0) {
    std::istringstream lines(q.out);
    std::string line;
    while (std::getline(lines, line)) {
      auto parts = split(trim(line), '|');
      if (parts.size() != 2) continue;
      auto us = parts[0].find('_');
      std::string task = us == std::string::npos ? "" : parts[0].substr(us + 1);
      tasks[task] = {{"state", parts[1]}, {"requeues", nullptr}};
    }
  }
  // scontrol also remembers finished jobs for a while (MinJobAge) and counts requeues.
  auto s = run_capture({"scontrol", "show", "job", job_id, "-o"});
  if (s.exit_code == 0) {
    std::istringstream lines(s.out);
    std::string line;
    while (std::getline(lines, line)) {
      std::string state = scontrol_field(line, "JobState");
      if (state.empty()) continue;
      std::string task = scontrol_field(line, "ArrayTaskId");
      if (task.find_first_not_of("0123456789") != std::string::npos) continue;  // pending range
      nlohmann::json requeues = nullptr;
      try {
        requeues = std::stoi(scontrol_field(line, "Restarts"));
      } catch (const std::exception&) {
      }
      if (!tasks.contains(task)) tasks[task] = {{"state", state}};
      tasks[task]["requeues"] = requeues;
    }
  }
  return tasks;
}

nlohmann::json collect_status(const std::string& run_dir) {
  if (!fs::is_directory(run_dir)) throw UsageError("run folder '" + run_dir + "' not found");
  nlohmann::json st;
  st["run_dir"] = fs::absolute(run_dir).lexically_normal().string();
  st["job_id"] = nullptr;
  fs::path record = fs::path(run_dir) / "launch.json";
  if (fs::exists(record)) {
    try {
      std::ifstream in(record);
      auto r = nlohmann::json::parse(in);
      std::string id = r.value("job_id", "");
      if (!id.empty()) st["job_id"] = id;
      st["launcher"] = r.value("launcher", "");
      // Shown as recorded: value<int> of a float that does not fit (1e21) is undefined.
      st["restarts_allowed"] =
          r.contains("restarts_allowed") ? r["restarts_allowed"] : nlohmann::json(0);
    } catch (const nlohmann::json::exception&) {
      throw UsageError("'" + record.string() + "' is not valid JSON");
    }
  }
  nlohmann::json slurm = nlohmann::json::object();
  if (st["job_id"].is_string()) slurm = query_job(st["job_id"].get<std::string>());

  std::vector<std::pair<std::string, std::string>> outs;  // task id, folder
  std::error_code ec;
  for (fs::directory_iterator it(run_dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (it->is_directory() && name.rfind("task-", 0) == 0) {
      outs.emplace_back(std::to_string(std::atoi(name.c_str() + 5)), it->path().string());
    }
  }
  std::sort(outs.begin(), outs.end(),
            [](const auto& a, const auto& b) { return std::stoi(a.first) < std::stoi(b.first); });
  if (outs.empty()) outs.emplace_back("", run_dir);

  nlohmann::json list = nlohmann::json::array();
  for (const auto& [task, dir] : outs) {
    auto out = read_out_dir(dir);
    if (!task.empty()) out["task"] = std::stoi(task);
    out["requeues"] = nullptr;
    if (slurm.contains(task)) {
      out["state"] = slurm[task]["state"];
      out["requeues"] = slurm[task].value("requeues", nlohmann::json());
      out["state_from"] = "slurm";
    } else if (task.empty() && slurm.size() == 1) {
      out["state"] = slurm.begin().value()["state"];
      out["state_from"] = "slurm";
    } else {
      out["state"] = state_from_files(out);
      out["state_from"] = "files";
    }
    list.push_back(out);
  }
  st["runs"] = list;
  return st;
}

std::string format_status(const nlohmann::json& st) {
  std::ostringstream s;
  auto show = [](const nlohmann::json& v) -> std::string {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
  };
  s << "run folder:  " << show(st["run_dir"]) << "\n"
    << "job:         " << show(st["job_id"]);
  if (st.contains("launcher")) {
    s << " (launcher " << show(st["launcher"]) << ", restarts allowed "
      << show(st["restarts_allowed"]) << ")";
  }
  s << "\n";
  for (const auto& r : st["runs"]) {
    if (r.contains("task")) s << "task " << r["task"].get<int>() << ":  " << show(r["dir"]) << "\n";
    s << "  state:       " << show(r["state"]) << " (from " << show(r["state_from"]) << ")\n"
      << "  step:        " << show(r["step"]) << "\n"
      << "  checkpoint:  " << show(r["checkpoint"]);
    if (!r["checkpoint_step"].is_null()) s << " (step " << show(r["checkpoint_step"]) << ")";
    s << "\n"
      << "  restarts:    " << show(r["restarts"]) << "\n";
    if (!r["requeues"].is_null()) s << "  requeues:    " << show(r["requeues"]) << "\n";
    if (!r["script_state"].is_null()) s << "  script says: " << show(r["script_state"]) << "\n";
    if (!r["final"].is_null()) s << "  final:       " << r["final"].dump() << "\n";
  }
  return s.str();
}

int run_status(const std::string& run_dir, bool as_json) {
  auto st = collect_status(run_dir);
  if (as_json) {
    // launch-state and Slurm's output are raw bytes: a stray non-UTF-8 byte is shown as U+FFFD
    // instead of making dump() throw.
    std::cout << st.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << format_status(st);
  }
  return kExitOk;
}

}  // namespace gan::launch
