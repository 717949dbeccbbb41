// gan_launch: starts gan_dist locally (mpirun), on a host list (mpirun over TCP) or on Slurm
// (sbatch script with requeue and restarts), and reports a run's status. Thin: parse, check,
// hand over to the cluster's own tools.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "core/errors.h"
#include "core/program.h"
#include "launch/launch_mpirun.h"
#include "launch/launch_process.h"
#include "launch/launch_slurm.h"
#include "launch/launch_status.h"

namespace gan::launch {
namespace {

// --no-check and --no-path-check, which every launching subcommand takes.
struct CheckFlags {
  bool no_check = false;
  bool no_path_check = false;
};

void add_check_flags(CLI::App* sub, CheckFlags& flags) {
  auto* no_path = sub->add_flag(
      "--no-path-check", flags.no_path_check,
      "gan_dist --check leaves out file-system paths (--data and its manifest, --out, "
      "--eval-classifier) that exist only where the job runs, and says what it left out");
  sub->add_flag("--no-check", flags.no_check,
                "start without gan_dist --check (when gan_dist cannot run on this host)")
      ->excludes(no_path);
}

std::string invocation_text(int argc, char** argv) {
  std::vector<std::string> words(argv, argv + argc);
  if (!words.empty()) words[0] = base_name(words[0]);
  return shell_join(words);
}

// gan_dist --check on the command, as the run will have it (`ranks` ranks), before anything
// starts; see CommandCheck.
void check_command(const std::vector<std::string>& cmd, int ranks, const CheckFlags& flags) {
  CommandCheck check;
  check.world_size = ranks;
  check.check_paths = !flags.no_path_check;
  check.skip = flags.no_check;
  check_with_gan_dist({CheckTask{"", cmd}}, check);
}

int run_local(int ranks, bool dry_run, const CheckFlags& flags,
              const std::vector<std::string>& raw) {
  auto cmd = checked_gan_dist_command(raw);
  LocalOptions opt;
  opt.ranks = ranks;
  opt.cpus = available_cpus();
  opt.as_root = geteuid() == 0;
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) opt.omp_threads_env = omp;
  auto launch = build_local_command(opt, cmd);
  check_command(cmd, ranks, flags);
  if (dry_run) {
    std::cout << describe(launch) << "\n";
    return kExitOk;
  }
  spdlog::info("{} rank(s) on {} core(s): {}", ranks, opt.cpus, describe(launch));
  exec_replace(launch.argv, launch.env);
}

int run_hosts(HostsOptions opt, bool dry_run, bool probe, const CheckFlags& flags,
              const std::vector<std::string>& raw) {
  auto cmd = checked_gan_dist_command(raw);
  opt.as_root = geteuid() == 0;
  if (!opt.rsh_agent.empty()) {
    auto agent = find_executable(opt.rsh_agent);
    if (!agent) throw UsageError("--rsh-agent '" + opt.rsh_agent + "' is not an executable");
    opt.rsh_agent = *agent;
  }
  check_command(cmd, opt.ranks, flags);
  if (dry_run) {
    if (probe) std::cout << describe(build_hosts_probe(opt)) << "\n";
    std::cout << describe(build_hosts_command(opt, cmd)) << "\n";
    return kExitOk;
  }
  if (probe) {
    // One trivial process per rank slot first: proves every host starts and shows which
    // address each rank has before any training starts.
    auto p = build_hosts_probe(opt);
    spdlog::info("probe: {}", describe(p));
    for (const auto& [k, v] : p.env) ::setenv(k.c_str(), v.c_str(), 1);
    const auto r = run_capture(p.argv);
    std::cout << r.out << std::flush;
    std::cerr << r.err << std::flush;
    if (r.exit_code != 0) {
      throw DistError("mpirun probe over " + opt.hostfile + " failed (exit " +
                      std::to_string(r.exit_code) + "): check host names, the rsh agent and --net");
    }
    const auto shared = hosts_sharing_a_kernel(r.out);
    if (!shared.empty()) {
      opt.bind_none = true;
      std::string names;
      for (const auto& h : shared) names += (names.empty() ? "" : ", ") + h;
      spdlog::warn(
          "hosts {} are one machine (the same kernel): ranks are not bound to cores, since each "
          "host's binding would put its ranks on the same cores as the others'",
          names);
    }
  }
  auto launch = build_hosts_command(opt, cmd);
  spdlog::info("{}", describe(launch));
  exec_replace(launch.argv, launch.env);
}

int main_impl(int argc, char** argv) {
  CLI::App app{"gan_launch: run gan_dist locally, on a host list or on Slurm"};
  app.require_subcommand(1);

  auto* local = app.add_subcommand("local", "mpirun on this machine");
  int local_ranks = 1;
  bool local_dry = false;
  std::vector<std::string> local_cmd;
  local->add_option("-n,--np", local_ranks, "number of ranks")->required();
  local->add_flag("--dry-run", local_dry, "print the command instead of running it");
  CheckFlags local_check;
  add_check_flags(local, local_check);
  local->add_option("command", local_cmd, "-- gan_dist ...")->required();

  auto* hosts = app.add_subcommand("hosts", "mpirun across the hosts of a hostfile over TCP");
  HostsOptions hopt;
  bool hosts_dry = false;
  bool no_probe = false;
  std::vector<std::string> hosts_cmd;
  hosts->add_option("--hostfile", hopt.hostfile, "Open MPI hostfile")->required();
  hosts->add_option("-n,--np", hopt.ranks, "number of ranks")->required();
  hosts->add_option("--gpus-per-host", hopt.gpus_per_host,
                    "GPUs per host: one rank per GPU (default: count here with nvidia-smi)");
  hosts->add_option("--net", hopt.net, "interface or CIDR for MPI traffic, e.g. 10.0.0.0/24");
  hosts->add_option("--rsh-agent", hopt.rsh_agent, "program that replaces ssh to reach hosts");
  hosts->add_option("--threads", hopt.omp_threads, "OpenMP threads per rank")
      ->check(CLI::PositiveNumber);
  hosts->add_flag("--oversubscribe", hopt.oversubscribe, "allow more ranks than slots");
  hosts->add_flag("--no-probe", no_probe, "skip the per-rank host/address probe");
  hosts->add_flag("--dry-run", hosts_dry, "print the commands instead of running them");
  CheckFlags hosts_check;
  add_check_flags(hosts, hosts_check);
  hosts->add_option("command", hosts_cmd, "-- gan_dist ...")->required();

  auto* slurm = app.add_subcommand("slurm", "write an sbatch script into the run folder, submit");
  SlurmOptions sopt;
  std::vector<std::string> sweeps;
  std::vector<std::string> slurm_cmd;
  bool submit = false;
  slurm->add_option("--nodes", sopt.nodes, "nodes")->required();
  slurm->add_option("--ntasks-per-node", sopt.ntasks_per_node, "ranks per node");
  slurm->add_option("--cpus-per-task", sopt.cpus_per_task, "CPUs (threads) per rank");
  slurm->add_option("--gpus-per-node", sopt.gpus_per_node, "GPUs per node");
  slurm->add_option("--time", sopt.time, "time limit, sbatch format");
  slurm->add_option("--partition", sopt.partition, "partition (default: the cluster's)");
  slurm->add_option("--array", sopt.array, "sbatch array spec (with --sweep: only %K)");
  // One value per --sweep: otherwise CLI11 lets a vector option swallow the `--` separator.
  slurm->add_option("--sweep", sweeps, "key=v1,v2 (repeatable; cartesian product)")
      ->allow_extra_args(false);
  slurm->add_option("--launcher", sopt.launcher, "srun (default) or mpirun");
  slurm->add_option("--restarts", sopt.restarts, "restarts from the last checkpoint on failure");
  slurm->add_option("--signal-lead", sopt.signal_lead_s,
                    "seconds before the time limit that SIGUSR1 arrives (default 90)");
  slurm->add_option("--job-name", sopt.job_name, "job name");
  slurm->add_option("--run-dir", sopt.run_dir, "run folder (gan_dist's --out)")->required();
  auto* submit_flag = slurm->add_flag("--submit", submit, "submit (the default)");
  slurm->add_flag("--dry-run", sopt.dry_run, "write and check the script, do not submit")
      ->excludes(submit_flag);
  CheckFlags slurm_check;
  add_check_flags(slurm, slurm_check);
  slurm->add_option("command", slurm_cmd, "-- gan_dist ...")->required();

  auto* status = app.add_subcommand("status", "state, step, checkpoint and restarts of a run");
  std::string status_dir;
  bool status_json = false;
  status->add_option("run_dir", status_dir, "run folder")->required();
  status->add_flag("--json", status_json, "JSON output");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (*local) return run_local(local_ranks, local_dry, local_check, local_cmd);
  if (*hosts) {
    if (!hosts->count("--gpus-per-host")) {
      // Hosts of one job look alike: count the GPUs here.
      auto smi = run_capture({"nvidia-smi", "-L"});
      int gpus = 0;
      if (smi.exit_code == 0) {
        for (const auto& line : split(smi.out, '\n')) gpus += line.rfind("GPU ", 0) == 0;
      }
      hopt.gpus_per_host = gpus;
    }
    return run_hosts(hopt, hosts_dry, !no_probe, hosts_check, hosts_cmd);
  }
  if (*slurm) {
    for (const auto& s : sweeps) sopt.sweeps.push_back(parse_sweep(s));
    sopt.check_paths = !slurm_check.no_path_check;
    sopt.no_check = slurm_check.no_check;
    return run_slurm(sopt, slurm_cmd, invocation_text(argc, argv));
  }
  if (*status) return run_status(status_dir, status_json);
  return kExitUsage;
}

}  // namespace
}  // namespace gan::launch

int main(int argc, char** argv) {
  gan::init_logging("gan_launch");
  return gan::guarded_main("gan_launch", [&] { return gan::launch::main_impl(argc, argv); });
}
