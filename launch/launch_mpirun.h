// Builds the mpirun command lines of `gan_launch local` and `gan_launch hosts`, and checks the
// gan_dist command that every launcher mode runs.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gan::launch {

// A command ready to exec: environment to add, then argv.
struct LaunchCommand {
  std::map<std::string, std::string> env;
  std::vector<std::string> argv;
};

// Throws UsageError unless the command's first word is gan_dist (by basename) and that
// program exists; returns the command with argv[0] made absolute.
std::vector<std::string> checked_gan_dist_command(const std::vector<std::string>& command);

// How gan_launch checks the command before it starts or submits anything: gan_dist itself
// parses and validates it (`gan_dist --check`), so the rules live in one place.
struct CommandCheck {
  int world_size = 1;       // ranks the run will have
  bool check_paths = true;  // false: --no-path-check (paths that exist only on the nodes)
  bool skip = false;        // --no-check: nothing is checked (a warning says so)
  int parallel = 1;         // checks run at once (sweeps have one per task)
};

// One command to check and how a message names it ("task 1 (lr=abc)"; "" for the only one).
struct CheckTask {
  std::string label;
  std::vector<std::string> command;  // gan_dist's full argv, as it will run
};

// `gan_dist --check --world-size N [--no-path-check] ARGS...` for a checked command.
std::vector<std::string> check_argv(const std::vector<std::string>& command, int world_size,
                                    bool check_paths);

// Runs gan_dist's check of every task. Throws an Error when gan_dist refuses one, naming every
// refused task and gan_dist's message, with gan_dist's exit code (2 usage, 3 data); a DistError
// (exit 4) when gan_dist --check cannot be run here at all. Warnings gan_dist printed are
// passed on once each.
void check_with_gan_dist(const std::vector<CheckTask>& tasks, const CommandCheck& opt);

// Environment every rank gets: one BLAS thread, omp_threads OpenMP threads, and Open MPI's
// root permission when we run as root.
std::map<std::string, std::string> rank_environment(int omp_threads, bool as_root);

struct LocalOptions {
  int ranks = 1;
  int cpus = 1;  // cores available here
  bool as_root = false;
  std::string omp_threads_env;  // OMP_NUM_THREADS already set by the user, if any
};

LaunchCommand build_local_command(const LocalOptions& opt, const std::vector<std::string>& cmd);

struct HostsOptions {
  std::string hostfile;
  int ranks = 1;
  int gpus_per_host = 0;  // >0: one rank per GPU (ppr:G:node)
  std::string net;        // interface or CIDR for TCP traffic (btl/oob_tcp_if_include)
  std::string rsh_agent;  // replaces ssh for starting orted on the other hosts
  bool oversubscribe = false;
  // Ranks unbound (--bind-to none): set when the probe finds hosts that are one machine, where
  // each host's binding would pin its ranks to the same cores as the other hosts'.
  bool bind_none = false;
  bool as_root = false;
  int omp_threads = 1;
};

struct HostfileEntry {
  std::string host;
  int slots = 0;  // 0: not given
};

// Parses an Open MPI hostfile ("host [slots=N] ..." lines, '#' comments); throws UsageError
// naming the file and line on anything unreadable.
std::vector<HostfileEntry> read_hostfile(const std::string& path);

// mpirun options shared by the probe and the training run.
std::vector<std::string> hosts_mpirun_prefix(const HostsOptions& opt);
LaunchCommand build_hosts_command(const HostsOptions& opt, const std::vector<std::string>& cmd);

// Line every rank of the probe prints: "gan_launch-probe rank=R host=H kernel=K addrs=A B",
// K the kernel's boot id (/proc/sys/kernel/random/boot_id).
LaunchCommand build_hosts_probe(const HostsOptions& opt);

// From the probe's output: the hosts whose kernel another host also runs (network namespaces
// or containers on one machine, as the emulated-cluster tests and benchmarks use), sorted;
// empty when every host is a machine of its own.
std::vector<std::string> hosts_sharing_a_kernel(const std::string& probe_output);

// Renders a command the way --dry-run prints it.
std::string describe(const LaunchCommand& cmd);

}  // namespace gan::launch
