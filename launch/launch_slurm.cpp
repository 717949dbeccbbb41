// Slurm mode of gan_launch: validation against the live cluster, sweep expansion, the sbatch
// script (preemption and restart logic live in that script, where the job runs) and submission.
#include "launch/launch_slurm.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "core/checked_io.h"
#include "core/errors.h"
#include "launch/launch_mpirun.h"
#include "launch/launch_process.h"
#include "launch/sbatch_template.h"

namespace fs = std::filesystem;

namespace gan::launch {
namespace {

bool valid_key(const std::string& key) {
  static const std::regex re("[A-Za-z0-9][A-Za-z0-9_-]*");
  return std::regex_match(key, re);
}

std::string pad3(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%03zu", i);
  return buf;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The CPUs of node `node` from its CPUTot field: 0 when missing or not a number (the node
// then fits no job that needs CPUs); a count that is negative or does not fit an int is
// refused (UsageError naming the node and the field), as for GPUs below.
int cpu_count(const std::string& node, const std::string& field) {
  const auto refuse = [&](const std::string& why) {
    return UsageError("scontrol reports node " + node + " with CPUTot=" + field + ": " + why);
  };
  try {
    const int cpus = std::stoi(field);
    if (cpus < 0) throw refuse("a negative CPU count");
    return cpus;
  } catch (const std::invalid_argument&) {
    return 0;
  } catch (const std::out_of_range&) {
    throw refuse("the CPU count is out of range");
  }
}

// The GPUs of node `node` from its Gres field. A count that is negative or does not fit an int,
// alone or summed, is refused (UsageError naming the node and the field): counting it as one,
// or letting the sum wrap, would let the resource check pass or fail on a made-up number.
int gpu_count(const std::string& node, const std::string& gres) {
  // e.g. "gpu:2", "gpu:a100:4(S:0-1),mps:100": drop "(...)" socket hints first.
  std::string plain;
  int depth = 0;
  for (char c : gres) {
    if (c == '(') ++depth;
    if (depth == 0) plain += c;
    if (c == ')' && depth > 0) --depth;
  }
  if (plain.empty() || plain == "null") return 0;
  const auto refuse = [&](const std::string& why) {
    return UsageError("scontrol reports node " + node + " with Gres=" + gres + ": " + why);
  };
  // Each count fits an int and the sum is checked after every one, so int64_t cannot overflow.
  int64_t total = 0;
  for (const auto& item : split(plain, ',')) {
    auto parts = split(item, ':');
    if (parts.empty() || parts[0] != "gpu") continue;
    int count = 1;  // "gpu" or "gpu:a100" without a count means one
    if (parts.size() > 1) {
      try {
        count = std::stoi(parts.back());
      } catch (const std::invalid_argument&) {
      } catch (const std::out_of_range&) {
        throw refuse("GPU count '" + parts.back() + "' is out of range");
      }
    }
    if (count < 0) throw refuse("negative GPU count '" + parts.back() + "'");
    total += count;
    if (total > std::numeric_limits<int>::max())
      throw refuse("more than " + std::to_string(std::numeric_limits<int>::max()) + " GPUs");
  }
  return static_cast<int>(total);
}

// The template with each {{KEY}} replaced by its value, in one pass (a value is never read as
// a template, whatever the user's command holds); a key without a value is a bug in this file.
std::string fill_template(const std::string& text,
                          const std::map<std::string, std::string>& values) {
  std::string out;
  size_t at = 0;
  for (size_t open; (open = text.find("{{", at)) != std::string::npos;) {
    const size_t close = text.find("}}", open);
    if (close == std::string::npos) throw std::logic_error("sbatch template: unclosed {{");
    const auto it = values.find(text.substr(open + 2, close - open - 2));
    if (it == values.end())
      throw std::logic_error("sbatch template: no value for " +
                             text.substr(open, close + 2 - open));
    out.append(text, at, open - at).append(it->second);
    at = close + 2;
  }
  return out.append(text, at, std::string::npos);
}

// The outermost folder on the way to `dir` that does not exist yet ("" when `dir` exists).
fs::path outermost_missing(const fs::path& dir) {
  fs::path missing;
  std::error_code ec;
  for (fs::path p = dir; !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    if (ec) return {};
    missing = p;
    if (p == p.parent_path()) break;
  }
  return missing;
}

}  // namespace

SweepAxis parse_sweep(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("--sweep '" + text + "': expected key=v1,v2,...");
  }
  SweepAxis axis;
  axis.key = text.substr(0, eq);
  while (axis.key.rfind("-", 0) == 0) axis.key.erase(0, 1);
  if (!valid_key(axis.key)) {
    throw UsageError("--sweep '" + text + "': '" + axis.key + "' is not an option name");
  }
  for (const auto& v : split(text.substr(eq + 1), ',')) {
    if (v.empty() || v.find_first_of("\n\r") != std::string::npos) {
      throw UsageError("--sweep '" + text + "': empty or multi-line value");
    }
    axis.values.push_back(v);
  }
  return axis;
}

std::vector<TaskOptions> expand_sweeps(const std::vector<SweepAxis>& axes) {
  std::vector<TaskOptions> tasks{TaskOptions{}};
  for (const auto& axis : axes) {
    std::vector<TaskOptions> next;
    for (const auto& prefix : tasks) {
      for (const auto& v : axis.values) {
        TaskOptions t = prefix;
        t.emplace_back(axis.key, v);
        next.push_back(std::move(t));
      }
    }
    tasks = std::move(next);
  }
  return tasks;
}

void parse_sinfo_partitions(const std::string& text, ClusterInfo& info) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = trim(line);
    if (line.empty()) continue;
    bool is_default = line.back() == '*';
    if (is_default) line.pop_back();
    if (std::find(info.partitions.begin(), info.partitions.end(), line) == info.partitions.end()) {
      info.partitions.push_back(line);
    }
    if (is_default) info.default_partition = line;
  }
}

std::vector<NodeInfo> parse_scontrol_nodes(const std::string& text) {
  std::vector<NodeInfo> nodes;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    NodeInfo n;
    n.name = scontrol_field(line, "NodeName");
    if (n.name.empty()) continue;
    n.cpus = cpu_count(n.name, scontrol_field(line, "CPUTot"));
    n.gpus = gpu_count(n.name, scontrol_field(line, "Gres"));
    for (const auto& p : split(scontrol_field(line, "Partitions"), ',')) {
      if (!p.empty()) n.partitions.push_back(p);
    }
    n.state = scontrol_field(line, "State");
    nodes.push_back(n);
  }
  return nodes;
}

ClusterInfo query_cluster() {
  ClusterInfo info;
  auto parts = run_capture({"sinfo", "-h", "-o", "%P"});
  if (parts.exit_code != 0) {
    throw DistError("cannot ask Slurm for its partitions (`sinfo -h -o %P` exit " +
                    std::to_string(parts.exit_code) + "): " + trim(parts.err));
  }
  parse_sinfo_partitions(parts.out, info);
  auto nodes = run_capture({"scontrol", "show", "node", "-o"});
  if (nodes.exit_code != 0) {
    throw DistError("cannot ask Slurm for its nodes (`scontrol show node -o` exit " +
                    std::to_string(nodes.exit_code) + "): " + trim(nodes.err));
  }
  info.nodes = parse_scontrol_nodes(nodes.out);
  return info;
}

void validate_options(const SlurmOptions& opt, const std::vector<std::string>& command) {
  if (opt.launcher != "srun" && opt.launcher != "mpirun") {
    throw UsageError("--launcher must be srun or mpirun, not '" + opt.launcher + "'");
  }
  if (opt.nodes < 1) throw UsageError("--nodes must be at least 1");
  if (opt.ntasks_per_node < 1) throw UsageError("--ntasks-per-node must be at least 1");
  if (opt.cpus_per_task < 1) throw UsageError("--cpus-per-task must be at least 1");
  if (opt.gpus_per_node < 0) throw UsageError("--gpus-per-node cannot be negative");
  if (opt.restarts < 0) throw UsageError("--restarts cannot be negative");
  // NCCL needs one GPU per rank: ranks sharing a GPU are unsupported and may hang.
  bool cuda = false;
  for (size_t i = 1; i < command.size(); ++i)
    cuda = cuda || command[i] == "--device=cuda" ||
           (command[i] == "--device" && i + 1 < command.size() && command[i + 1] == "cuda");
  if (cuda && opt.gpus_per_node == 0)
    throw UsageError(
        "the command trains with --device cuda: give --gpus-per-node (one GPU per rank)");
  if (cuda && opt.ntasks_per_node > opt.gpus_per_node)
    throw UsageError("--ntasks-per-node " + std::to_string(opt.ntasks_per_node) +
                     " with --gpus-per-node " + std::to_string(opt.gpus_per_node) +
                     ": gan_dist --device cuda runs one rank per GPU (NCCL cannot share a GPU "
                     "between ranks); use --ntasks-per-node " +
                     std::to_string(opt.gpus_per_node));
  if (opt.signal_lead_s < 1) throw UsageError("--signal-lead must be at least 1 second");
  if (!opt.sweeps.empty() && !opt.array.empty() && opt.array[0] != '%') {
    throw UsageError("--array '" + opt.array +
                     "' with --sweep: the sweep sets the task ids; give only a limit like %2");
  }
  static const std::regex array_re("[0-9][0-9,:\\-]*(%[0-9]+)?|%[0-9]+");
  if (!opt.array.empty() && !std::regex_match(opt.array, array_re)) {
    throw UsageError("--array '" + opt.array + "' is not an sbatch array spec (e.g. 0-3 or 0-7%2)");
  }
  std::set<std::string> seen;
  for (const auto& axis : opt.sweeps) {
    if (!seen.insert(axis.key).second) {
      throw UsageError("--sweep key '" + axis.key + "' given twice");
    }
    if (axis.key == "out" || axis.key == "resume") {
      throw UsageError("--sweep key '" + axis.key + "' is set by gan_launch itself");
    }
  }
  for (size_t i = 1; i < command.size(); ++i) {
    const std::string& w = command[i];
    if (w == "--out" || w.rfind("--out=", 0) == 0) {
      throw UsageError("gan_dist's --out is set by gan_launch from --run-dir; remove '" + w + "'");
    }
    if (w == "--resume") {
      throw UsageError("--resume is added by the job script when a checkpoint exists; remove it");
    }
    for (const auto& axis : opt.sweeps) {
      if (w == "--" + axis.key || w.rfind("--" + axis.key + "=", 0) == 0) {
        throw UsageError("option --" + axis.key + " is both swept and given in the command");
      }
    }
  }
}

std::string validate_resources(const SlurmOptions& opt, const ClusterInfo& cluster) {
  std::string partition = opt.partition.empty() ? cluster.default_partition : opt.partition;
  auto list = [&] {
    std::string s;
    for (const auto& p : cluster.partitions) s += (s.empty() ? "" : ", ") + p;
    return s.empty() ? std::string("none") : s;
  }();
  if (partition.empty()) {
    throw UsageError(
        "no --partition given and the cluster has no default partition (known: " + list + ")");
  }
  if (std::find(cluster.partitions.begin(), cluster.partitions.end(), partition) ==
      cluster.partitions.end()) {
    throw UsageError("unknown partition '" + partition + "' (known: " + list + ")");
  }
  std::vector<const NodeInfo*> members;
  for (const auto& n : cluster.nodes) {
    if (std::find(n.partitions.begin(), n.partitions.end(), partition) != n.partitions.end()) {
      members.push_back(&n);
    }
  }
  const std::string where = "partition '" + partition + "'";
  if (opt.nodes > static_cast<int>(members.size())) {
    throw UsageError("--nodes " + std::to_string(opt.nodes) + " but " + where + " has " +
                     std::to_string(members.size()) + " node(s)");
  }
  int cpus_needed = opt.ntasks_per_node * opt.cpus_per_task;
  int max_cpus = 0;
  int max_gpus = 0;
  int fitting = 0;
  for (const auto* n : members) {
    max_cpus = std::max(max_cpus, n->cpus);
    max_gpus = std::max(max_gpus, n->gpus);
    if (n->cpus >= cpus_needed && n->gpus >= opt.gpus_per_node) ++fitting;
  }
  if (cpus_needed > max_cpus) {
    throw UsageError("--ntasks-per-node " + std::to_string(opt.ntasks_per_node) +
                     " x --cpus-per-task " + std::to_string(opt.cpus_per_task) + " = " +
                     std::to_string(cpus_needed) + " CPUs per node, but the largest node in " +
                     where + " has " + std::to_string(max_cpus));
  }
  if (opt.gpus_per_node > max_gpus) {
    throw UsageError("--gpus-per-node " + std::to_string(opt.gpus_per_node) + " but nodes in " +
                     where + " have at most " + std::to_string(max_gpus) + " GPU(s)");
  }
  if (fitting < opt.nodes) {
    throw UsageError("--nodes " + std::to_string(opt.nodes) + " with " +
                     std::to_string(cpus_needed) + " CPUs and " +
                     std::to_string(opt.gpus_per_node) + " GPUs each, but only " +
                     std::to_string(fitting) + " node(s) in " + where + " have that much");
  }
  return partition;
}

std::string array_spec(const SlurmOptions& opt, size_t task_count) {
  if (!opt.sweeps.empty()) {
    std::string spec = "0-" + std::to_string(task_count - 1);
    return spec + opt.array;  // opt.array is empty or "%K"
  }
  return opt.array;
}

std::string render_sbatch_script(const SlurmOptions& opt, const std::vector<std::string>& command,
                                 const std::vector<TaskOptions>& tasks,
                                 const std::string& invocation) {
  const std::string array = array_spec(opt, tasks.size());
  std::ostringstream sbatch;  // the #SBATCH lines
  sbatch << "#SBATCH --job-name=" << opt.job_name << "\n"
         << "#SBATCH --nodes=" << opt.nodes << "\n"
         << "#SBATCH --ntasks-per-node=" << opt.ntasks_per_node << "\n"
         << "#SBATCH --cpus-per-task=" << opt.cpus_per_task << "\n";
  if (opt.gpus_per_node > 0) sbatch << "#SBATCH --gpus-per-node=" << opt.gpus_per_node << "\n";
  if (!opt.partition.empty()) sbatch << "#SBATCH --partition=" << opt.partition << "\n";
  if (!opt.time.empty()) sbatch << "#SBATCH --time=" << opt.time << "\n";
  if (!array.empty()) {
    sbatch << "#SBATCH --array=" << array << "\n"
           << "#SBATCH --output=" << opt.run_dir << "/slurm-%A_%a.out\n";
  } else {
    sbatch << "#SBATCH --output=" << opt.run_dir << "/slurm-%j.out\n";
  }
  sbatch << "#SBATCH --open-mode=append\n"
         << "#SBATCH --requeue\n"
         << "#SBATCH --signal=B:USR1@" << opt.signal_lead_s << "\n";

  std::ostringstream gan_dist;  // one option per line, its values after it
  for (size_t i = 0; i < command.size(); ++i) {
    const bool option = i > 0 && command[i].size() > 1 && command[i][0] == '-';
    gan_dist << (i == 0 ? "" : option ? " \\\n  " : " ") << shell_quote(command[i]);
  }

  std::ostringstream cases;  // with --sweep: the options each array task adds to gan_dist
  if (!opt.sweeps.empty()) {
    cases << "  # One line per sweep point: the options this array task adds to gan_dist.\n"
          << "  case \"$SLURM_ARRAY_TASK_ID\" in\n";
    for (size_t i = 0; i < tasks.size(); ++i) {
      cases << "    " << i << ") TASK_ARGS=(";
      bool first = true;
      for (const auto& [k, v] : tasks[i]) {
        cases << (first ? "" : " ") << shell_quote("--" + k) << " " << shell_quote(v);
        first = false;
      }
      cases << ") ;;\n";
    }
    cases << "    *) echo \"no sweep point for array task $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n"
          << "  esac\n";
  }

  return fill_template(kSbatchTemplate, {{"WRITTEN_AT", utc_now()},
                                         {"INVOCATION", invocation},
                                         {"SCRIPT", shell_quote(opt.run_dir + "/job.sbatch")},
                                         {"SBATCH_OPTIONS", sbatch.str()},
                                         {"RUN_DIR", shell_quote(opt.run_dir)},
                                         {"LAUNCHER", opt.launcher},
                                         {"MAX_RESTARTS", std::to_string(opt.restarts)},
                                         {"GAN_DIST", gan_dist.str()},
                                         {"SWEEP_CASES", cases.str()}});
}

std::vector<CheckTask> slurm_check_tasks(const SlurmOptions& opt,
                                         const std::vector<std::string>& command,
                                         const std::vector<TaskOptions>& tasks) {
  // Mirrors the job script: OUT is the run folder, or task-NNN for array tasks, and --resume
  // is added when OUT/checkpoints/step-* exists (so a resubmitted run is not refused for
  // holding checkpoints).
  const bool array = !array_spec(opt, tasks.size()).empty();
  std::vector<CheckTask> out;
  for (size_t i = 0; i < tasks.size(); ++i) {
    const fs::path dir =
        array ? fs::path(opt.run_dir) / ("task-" + pad3(i)) : fs::path(opt.run_dir);
    CheckTask t;
    t.command = command;
    t.command.insert(t.command.end(), {"--out", dir.string()});
    std::string values;
    for (const auto& [k, v] : tasks[i]) {
      t.command.insert(t.command.end(), {"--" + k, v});
      values += (values.empty() ? "" : ", ") + k + "=" + v;
    }
    std::error_code ec;
    bool resume = false;
    for (fs::directory_iterator it(dir / "checkpoints", ec), end; !ec && it != end;
         it.increment(ec))
      resume = resume || it->path().filename().string().rfind("step-", 0) == 0;
    if (resume) t.command.push_back("--resume");
    if (!opt.sweeps.empty()) t.label = "task " + std::to_string(i) + " (" + values + ")";
    out.push_back(std::move(t));
  }
  return out;
}

void check_run_dir_writable(const SlurmOptions& opt) {
  std::error_code ec;
  fs::create_directories(opt.run_dir, ec);
  if (ec || !fs::is_directory(opt.run_dir)) {
    throw UsageError("run folder '" + opt.run_dir + "' cannot be created: " +
                     (ec ? ec.message() : std::string("not a directory")));
  }
  fs::path probe = fs::path(opt.run_dir) / ".gan_launch-write-test";
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::write(fd, "ok\n", 3) != 3) {
    if (fd >= 0) ::close(fd);
    throw UsageError("run folder '" + opt.run_dir + "' is not writable");
  }
  ::close(fd);
  fs::remove(probe, ec);
}

void prepare_run_dir(const SlurmOptions& opt, const std::vector<TaskOptions>& tasks,
                     size_t array_tasks) {
  check_run_dir_writable(opt);
  std::error_code ec;
  if (opt.sweeps.empty()) return;
  (void)array_tasks;
  for (size_t i = 0; i < tasks.size(); ++i) {
    fs::path dir = fs::path(opt.run_dir) / ("task-" + pad3(i));
    fs::create_directories(dir, ec);
    if (ec) throw UsageError("cannot create task folder '" + dir.string() + "': " + ec.message());
    nlohmann::json j;
    j["index"] = i;
    j["options"] = nlohmann::json::object();
    std::vector<std::string> args;
    for (const auto& [k, v] : tasks[i]) {
      j["options"][k] = v;
      args.push_back("--" + k);
      args.push_back(v);
    }
    j["args"] = args;
    write_file_atomic(dir / "task.json", j.dump(2) + "\n");
  }
}

int run_slurm(SlurmOptions opt, const std::vector<std::string>& raw_command,
              const std::string& invocation) {
  auto command = checked_gan_dist_command(raw_command);
  validate_options(opt, command);
  opt.run_dir = fs::absolute(opt.run_dir).lexically_normal().string();
  while (opt.run_dir.size() > 1 && opt.run_dir.back() == '/') opt.run_dir.pop_back();

  bool have_slurm = find_executable("sinfo").has_value();
  if (have_slurm) {
    ClusterInfo cluster = query_cluster();
    opt.partition = validate_resources(opt, cluster);
  } else if (!opt.dry_run) {
    throw DistError("sinfo not found: this host is not a Slurm submit host");
  } else {
    spdlog::warn("sinfo not found; dry run without checking the cluster");
  }

  // A run folder belongs to one job at a time: refuse while its job is still queued or running.
  fs::path launch_json = fs::path(opt.run_dir) / "launch.json";
  if (have_slurm && fs::exists(launch_json)) {
    try {
      std::ifstream in(launch_json);
      auto old = nlohmann::json::parse(in);
      std::string job = old.value("job_id", "");
      if (!job.empty()) {
        auto q = run_capture({"squeue", "-h", "-j", job, "-o", "%i"});
        if (q.exit_code == 0 && !trim(q.out).empty()) {
          throw UsageError("run folder '" + opt.run_dir + "' belongs to job " + job +
                           ", which is still in the queue");
        }
      }
    } catch (const nlohmann::json::exception&) {
      // an unreadable old record does not block a new run
    }
  }

  auto tasks = expand_sweeps(opt.sweeps);
  // gan_dist checks every task's command before anything lands in the run folder. The folder
  // is proved writable first (that check creates it); a refused command leaves no folder that
  // was not there before.
  const fs::path made = outermost_missing(opt.run_dir);
  check_run_dir_writable(opt);
  try {
    CommandCheck check;
    check.world_size = opt.nodes * opt.ntasks_per_node;
    check.check_paths = opt.check_paths;
    check.skip = opt.no_check;
    check.parallel = std::min(available_cpus(), 8);
    check_with_gan_dist(slurm_check_tasks(opt, command, tasks), check);
  } catch (...) {
    std::error_code ec;
    if (!made.empty()) fs::remove_all(made, ec);
    throw;
  }
  prepare_run_dir(opt, tasks, tasks.size());
  std::string script = render_sbatch_script(opt, command, tasks, invocation);
  fs::path script_path = fs::path(opt.run_dir) / "job.sbatch";
  write_file_atomic(script_path, script);
  fs::permissions(script_path, fs::perms::owner_exec, fs::perm_options::add);

  nlohmann::json record;
  record["script"] = script_path.string();
  record["command"] = command;
  record["launcher"] = opt.launcher;
  record["restarts_allowed"] = opt.restarts;
  record["nodes"] = opt.nodes;
  record["ntasks_per_node"] = opt.ntasks_per_node;
  record["partition"] = opt.partition;
  record["array"] = array_spec(opt, tasks.size());
  record["tasks"] = opt.sweeps.empty() ? 0 : tasks.size();
  record["written_at"] = utc_now();

  if (opt.dry_run) {
    if (have_slurm) {
      // sbatch --test-only checks the script against the scheduler without queueing it.
      auto t = run_capture({"sbatch", "--test-only", script_path.string()});
      if (t.exit_code != 0) {
        throw UsageError("sbatch --test-only rejects the job: " + trim(t.err));
      }
    }
    record["job_id"] = "";
    write_file_atomic(launch_json, record.dump(2) + "\n");
    std::cout << script_path.string() << "\n";
    return kExitOk;
  }

  auto sub = run_capture({"sbatch", "--parsable", script_path.string()});
  if (sub.exit_code != 0) {
    throw UsageError("sbatch refused the job: " + trim(sub.err));
  }
  std::string job_id = split(trim(sub.out), ';')[0];
  record["job_id"] = job_id;
  record["submitted_at"] = utc_now();
  write_file_atomic(launch_json, record.dump(2) + "\n");
  spdlog::info("submitted job {} ({})", job_id, script_path.string());
  std::cout << job_id << "\n";
  return kExitOk;
}

}  // namespace gan::launch
