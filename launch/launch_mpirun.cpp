// mpirun command lines for single-host and host-list runs.
#include "launch/launch_mpirun.h"

#include <cstdlib>
#include <fstream>
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
  int slots = 0;
  bool all_given = true;
  for (const auto& h : hosts) {
    slots += h.slots;
    all_given = all_given && h.slots > 0;
  }
  if (opt.gpus_per_host > 0) {
    int capacity = opt.gpus_per_host * static_cast<int>(hosts.size());
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
                   "addrs=$(hostname -I 2>/dev/null)\""});
  return out;
}

std::string describe(const LaunchCommand& cmd) {
  std::string out;
  for (const auto& [k, v] : cmd.env) out += k + "=" + shell_quote(v) + " ";
  return out + shell_join(cmd.argv);
}

}  // namespace gan::launch
