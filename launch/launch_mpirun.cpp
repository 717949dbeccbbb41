// mpirun command lines for single-host and host-list runs.
#include "launch/launch_mpirun.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "launch/launch_process.h"

namespace gan::launch {

std::vector<std::string> checked_gan_dist_command(const std::vector<std::string>& command) {
  if (command.empty()) {
    throw UsageError("no command after '--': expected `-- gan_dist --model ... --data ... ...`");
  }
  if (base_name(command[0]) != "gan_dist") {
    throw UsageError("the command after '--' must be gan_dist, not '" + command[0] + "'");
  }
  auto exe = find_executable(command[0]);
  if (!exe) {
    throw UsageError("gan_dist program '" + command[0] +
                     "' not found or not executable (give a path or put it in PATH)");
  }
  std::vector<std::string> out = command;
  out[0] = *exe;
  return out;
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& line : split(text, '\n'))
    if (!trim(line).empty()) out.push_back(trim(line));
  return out;
}

// gan_dist's own words: its "error:" lines without the program name, else the last lines it
// printed (a loader or interpreter error comes without that prefix).
std::string gan_dist_message(const ProcessResult& r) {
  std::string msg;
  for (const auto& line : lines_of(r.err)) {
    auto p = line.find("error: ");
    if (p != std::string::npos) msg += (msg.empty() ? "" : " / ") + line.substr(p + 7);
  }
  if (!msg.empty()) return msg;
  auto all = lines_of(r.err + "\n" + r.out);
  for (size_t i = all.size() > 3 ? all.size() - 3 : 0; i < all.size(); ++i)
    msg += (msg.empty() ? "" : " / ") + all[i];
  return msg.empty() ? "no message" : msg;
}

bool answered_ok(const ProcessResult& r) {
  auto out = lines_of(r.out);
  return r.exit_code == 0 && !out.empty() && out.back() == "ok";
}

// Exit codes a gan_dist that ran its check gives for a command it refuses (core/errors.h);
// anything else (127 could not start, a signal, 0 without "ok") means the check did not run.
bool refused(const ProcessResult& r) {
  return r.exit_code >= kExitFailure && r.exit_code <= kExitStorage;
}

}  // namespace

std::vector<std::string> check_argv(const std::vector<std::string>& command, int world_size,
                                    bool check_paths) {
  if (command.empty()) throw UsageError("no command to check");
  std::vector<std::string> argv{command[0], "--check", "--world-size", std::to_string(world_size)};
  if (!check_paths) argv.push_back("--no-path-check");
  argv.insert(argv.end(), command.begin() + 1, command.end());
  return argv;
}

void check_with_gan_dist(const std::vector<CheckTask>& tasks, const CommandCheck& opt) {
  if (opt.skip) {
    spdlog::warn(
        "--no-check: the gan_dist command was NOT checked (options, model, data, batch over {} "
        "ranks); a mistake in it shows only when the run starts",
        opt.world_size);
    return;
  }
  std::vector<std::vector<std::string>> argvs;
  for (const auto& t : tasks)
    argvs.push_back(check_argv(t.command, opt.world_size, opt.check_paths));
  auto results = run_capture_all(argvs, opt.parallel);

  auto name = [&](size_t i) {
    return tasks[i].label.empty() ? std::string("the command") : tasks[i].label;
  };
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (answered_ok(r) || refused(r)) continue;
    // Not an answer about the command: gan_dist cannot run here (missing libraries, another
    // program by that name, a crash). The command is not known to be bad, so not exit 2.
    throw DistError("cannot check " + name(i) + " with `" + base_name(argvs[i][0]) +
                    " --check` on this host (exit " + std::to_string(r.exit_code) + ": " +
                    gan_dist_message(r) + "). Make " + argvs[i][0] +
                    " runnable here (its libraries, modules), or pass --no-check to start "
                    "without checking the command");
  }

  for (size_t i = 0; i < results.size(); ++i) {
    // A gan_dist older than --check rejects the option itself: that says nothing about the
    // command either.
    const auto msg = gan_dist_message(results[i]);
    if (refused(results[i]) && msg.find("not expected") != std::string::npos &&
        msg.find("--check") != std::string::npos)
      throw DistError(argvs[i][0] + " does not know --check (" + msg +
                      "): build a current gan_dist, or pass --no-check to start without "
                      "checking the command");
  }

  std::vector<size_t> bad;
  for (size_t i = 0; i < results.size(); ++i)
    if (!answered_ok(results[i])) bad.push_back(i);
  if (bad.empty()) {
    // Warnings (e.g. a noisy WGAN critic, paths left unchecked) once each, not once per task.
    std::set<std::string> seen;
    for (const auto& r : results)
      for (const auto& line : lines_of(r.err))
        if (seen.insert(line).second) std::cerr << line << "\n";  // gan_dist's own lines
    return;
  }
  const int code = results[bad[0]].exit_code;
  std::string text;
  if (tasks.size() == 1 && tasks[0].label.empty()) {
    text = "gan_dist --check refused the command (nothing was started): " +
           gan_dist_message(results[bad[0]]);
  } else {
    text = "gan_dist --check refused " + std::to_string(bad.size()) + " of " +
           std::to_string(tasks.size()) + " task(s) (nothing was started):";
    const size_t shown = std::min<size_t>(bad.size(), 20);
    for (size_t k = 0; k < shown; ++k)
      text += "\n  " + name(bad[k]) + ": " + gan_dist_message(results[bad[k]]);
    if (bad.size() > shown) text += "\n  ... and " + std::to_string(bad.size() - shown) + " more";
  }
  if (code == kExitUsage) throw UsageError(text);
  if (code == kExitData) throw DataError(text);
  throw Error(code, text);
}

std::map<std::string, std::string> rank_environment(int omp_threads, bool as_root) {
  std::map<std::string, std::string> env{
      {"OPENBLAS_NUM_THREADS", "1"},
      {"OMP_NUM_THREADS", std::to_string(omp_threads < 1 ? 1 : omp_threads)},
  };
  if (as_root) {
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
  }
  return env;
}

LaunchCommand build_local_command(const LocalOptions& opt, const std::vector<std::string>& cmd) {
  if (opt.ranks < 1) throw UsageError("-n must be at least 1, got " + std::to_string(opt.ranks));
  int threads = opt.cpus / opt.ranks;
  LaunchCommand out;
  out.env = rank_environment(threads, opt.as_root);
  if (!opt.omp_threads_env.empty()) out.env["OMP_NUM_THREADS"] = opt.omp_threads_env;
  out.argv = {"mpirun", "-np", std::to_string(opt.ranks)};
  if (opt.ranks <= opt.cpus) {
    // Each rank owns cores: spread ranks so their threads get whole cores.
    std::string pe = threads > 1 ? ":PE=" + std::to_string(threads) : "";
    out.argv.insert(out.argv.end(), {"--map-by", "slot" + pe, "--bind-to", "core"});
  } else {
    out.argv.insert(out.argv.end(), {"--oversubscribe", "--bind-to", "none"});
  }
  for (const char* v : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"}) {
    out.argv.insert(out.argv.end(), {"-x", v});
  }
  out.argv.insert(out.argv.end(), cmd.begin(), cmd.end());
  return out;
}

std::vector<HostfileEntry> read_hostfile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read hostfile '" + path + "'");
  std::vector<HostfileEntry> entries;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    HostfileEntry e;
    if (!(words >> e.host)) continue;
    std::string w;
    while (words >> w) {
      if (w.rfind("slots=", 0) == 0) {
        try {
          e.slots = std::stoi(w.substr(6));
        } catch (const std::exception&) {
          e.slots = -1;
        }
        if (e.slots < 1) {
          throw UsageError("hostfile '" + path + "' line " + std::to_string(lineno) +
                           ": bad slot count '" + w + "'");
        }
      }
    }
    entries.push_back(e);
  }
  if (entries.empty()) throw UsageError("hostfile '" + path + "' lists no host");
  return entries;
}

std::vector<std::string> hosts_mpirun_prefix(const HostsOptions& opt) {
  if (opt.ranks < 1) throw UsageError("-n must be at least 1, got " + std::to_string(opt.ranks));
  auto hosts = read_hostfile(opt.hostfile);
  // Each host's slots fit an int and the sum is checked after every one, so int64_t cannot
  // overflow; a total mpirun could not hold is refused rather than wrapped into a small number.
  int64_t slots = 0;
  bool all_given = true;
  for (const auto& h : hosts) {
    slots += h.slots;
    if (slots > std::numeric_limits<int>::max())
      throw UsageError("hostfile '" + opt.hostfile + "' has more than " +
                       std::to_string(std::numeric_limits<int>::max()) + " slots in all");
    all_given = all_given && h.slots > 0;
  }
  if (opt.gpus_per_host > 0) {
    // int64_t: --gpus-per-host times the hosts can exceed an int.
    const int64_t capacity = int64_t{opt.gpus_per_host} * static_cast<int64_t>(hosts.size());
    if (opt.ranks > capacity && !opt.oversubscribe) {
      throw UsageError("-n " + std::to_string(opt.ranks) + " ranks but " +
                       std::to_string(hosts.size()) + " host(s) x " +
                       std::to_string(opt.gpus_per_host) + " GPU(s) give only " +
                       std::to_string(capacity) + " (one rank per GPU)");
    }
  } else if (all_given && opt.ranks > slots && !opt.oversubscribe) {
    throw UsageError("-n " + std::to_string(opt.ranks) + " ranks but hostfile '" + opt.hostfile +
                     "' has only " + std::to_string(slots) + " slots (add --oversubscribe)");
  }
  std::vector<std::string> argv = {"mpirun",     "-np",        std::to_string(opt.ranks),
                                   "--hostfile", opt.hostfile, "--mca",
                                   "btl",        "tcp,self"};
  if (!opt.net.empty()) {
    argv.insert(argv.end(),
                {"--mca", "btl_tcp_if_include", opt.net, "--mca", "oob_tcp_if_include", opt.net});
  }
  if (!opt.rsh_agent.empty()) argv.insert(argv.end(), {"--mca", "plm_rsh_agent", opt.rsh_agent});
  if (opt.gpus_per_host > 0) {
    argv.insert(argv.end(), {"--map-by", "ppr:" + std::to_string(opt.gpus_per_host) + ":node"});
  } else {
    argv.insert(argv.end(), {"--map-by", "slot"});
  }
  if (opt.oversubscribe) argv.push_back("--oversubscribe");
  if (opt.bind_none) argv.insert(argv.end(), {"--bind-to", "none"});
  argv.insert(argv.end(), {"-x", "OMP_NUM_THREADS", "-x", "OPENBLAS_NUM_THREADS"});
  for (const char* v : {"PATH", "LD_LIBRARY_PATH"}) {
    if (std::getenv(v)) argv.insert(argv.end(), {"-x", v});  // -x of an unset one only warns
  }
  return argv;
}

LaunchCommand build_hosts_command(const HostsOptions& opt, const std::vector<std::string>& cmd) {
  LaunchCommand out;
  out.env = rank_environment(opt.omp_threads, opt.as_root);
  out.argv = hosts_mpirun_prefix(opt);
  out.argv.insert(out.argv.end(), cmd.begin(), cmd.end());
  return out;
}

LaunchCommand build_hosts_probe(const HostsOptions& opt) {
  LaunchCommand out;
  out.env = rank_environment(opt.omp_threads, opt.as_root);
  out.argv = hosts_mpirun_prefix(opt);
  out.argv.insert(out.argv.end(),
                  {"/bin/sh", "-c",
                   "echo \"gan_launch-probe rank=$OMPI_COMM_WORLD_RANK host=$(hostname) "
                   "kernel=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null) "
                   "addrs=$(hostname -I 2>/dev/null)\""});
  return out;
}

std::vector<std::string> hosts_sharing_a_kernel(const std::string& probe_output) {
  std::map<std::string, std::set<std::string>> hosts_of;  // boot id -> host names
  for (const auto& line : split(probe_output, '\n')) {
    std::string host, kernel;
    std::istringstream words(line);
    std::string w;
    if (!(words >> w) || w != "gan_launch-probe") continue;
    while (words >> w) {
      if (w.rfind("host=", 0) == 0) host = w.substr(5);
      if (w.rfind("kernel=", 0) == 0) kernel = w.substr(7);
    }
    if (!host.empty() && !kernel.empty()) hosts_of[kernel].insert(host);
  }
  std::set<std::string> shared;
  for (const auto& [kernel, hosts] : hosts_of)
    if (hosts.size() > 1) shared.insert(hosts.begin(), hosts.end());
  return {shared.begin(), shared.end()};
}

std::string describe(const LaunchCommand& cmd) {
  std::string out;
  for (const auto& [k, v] : cmd.env) out += k + "=" + shell_quote(v) + " ";
  return out + shell_join(cmd.argv);
}

}  // namespace gan::launch
