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

// Each subcommand's options, filled by CLI11.
struct LocalJob {
  int ranks = 1;
  bool dry_run = false;
  CheckFlags check;
  std::vector<std::string> command;
};
struct HostsJob {
  HostsOptions opt;
  bool dry_run = false, no_probe = false;
  CheckFlags check;
  std::vector<std::string> command;
};
struct SlurmJob {
  SlurmOptions opt;
  std::vector<std::string> sweeps;
  bool submit = false;
  CheckFlags check;
  std::vector<std::string> command;
};
struct StatusQuery {
  std::string run_dir;
  bool json = false;
};

int run_local(const LocalJob& job) {
  auto cmd = checked_gan_dist_command(job.command);
  LocalOptions opt;
  opt.ranks = job.ranks;
  opt.cpus = available_cpus();
  opt.as_root = geteuid() == 0;
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) opt.omp_threads_env = omp;
  auto launch = build_local_command(opt, cmd);
  check_command(cmd, job.ranks, job.check);
  if (job.dry_run) {
    std::cout << describe(launch) << "\n";
    return kExitOk;
  }
  spdlog::info("{} rank(s) on {} core(s): {}", job.ranks, opt.cpus, describe(launch));
  exec_replace(launch.argv, launch.env);
}

int run_hosts(const HostsJob& job, bool gpus_given) {
  auto cmd = checked_gan_dist_command(job.command);
  HostsOptions opt = job.opt;
  opt.as_root = geteuid() == 0;
  if (!gpus_given) {
    // Hosts of one job look alike: count the GPUs here.
    auto smi = run_capture({"nvidia-smi", "-L"});
    int gpus = 0;
    if (smi.exit_code == 0) {
      for (const auto& line : split(smi.out, '\n')) gpus += line.rfind("GPU ", 0) == 0;
    }
    opt.gpus_per_host = gpus;
  }
  if (!opt.rsh_agent.empty()) {
    auto agent = find_executable(opt.rsh_agent);
    if (!agent) throw UsageError("--rsh-agent '" + opt.rsh_agent + "' is not an executable");
    opt.rsh_agent = *agent;
  }
  auto launch = build_hosts_command(opt, cmd);  // the hostfile's errors first
  check_command(cmd, opt.ranks, job.check);
  if (job.dry_run) {
    if (!job.no_probe) std::cout << describe(build_hosts_probe(opt)) << "\n";
    std::cout << describe(launch) << "\n";
    return kExitOk;
  }
  if (!job.no_probe) {
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
      launch = build_hosts_command(opt, cmd);
      std::string names;
      for (const auto& h : shared) names += (names.empty() ? "" : ", ") + h;
      spdlog::warn(
          "hosts {} are one machine (the same kernel): ranks are not bound to cores, since each "
          "host's binding would put its ranks on the same cores as the others'",
          names);
    }
  }
  spdlog::info("{}", describe(launch));
  exec_replace(launch.argv, launch.env);
}

CLI::App* define_local(CLI::App& app, LocalJob& j) {
  auto* local = app.add_subcommand("local", "mpirun on this machine");
  local->add_option("-n,--np", j.ranks, "number of ranks")->required();
  local->add_flag("--dry-run", j.dry_run, "print the command instead of running it");
  add_check_flags(local, j.check);
  local->add_option("command", j.command, "-- gan_dist ...")->required();
  return local;
}

CLI::App* define_hosts(CLI::App& app, HostsJob& j) {
  auto* hosts = app.add_subcommand("hosts", "mpirun across the hosts of a hostfile over TCP");
  auto& o = j.opt;
  hosts->add_option("--hostfile", o.hostfile, "Open MPI hostfile")->required();
  hosts->add_option("-n,--np", o.ranks, "number of ranks")->required();
  hosts->add_option("--gpus-per-host", o.gpus_per_host,
                    "GPUs per host: one rank per GPU (default: count here with nvidia-smi)");
  hosts->add_option("--net", o.net, "interface or CIDR for MPI traffic, e.g. 10.0.0.0/24");
  hosts->add_option("--rsh-agent", o.rsh_agent, "program that replaces ssh to reach hosts");
  hosts->add_option("--threads", o.omp_threads, "OpenMP threads per rank")
      ->check(CLI::PositiveNumber);
  hosts->add_flag("--oversubscribe", o.oversubscribe, "allow more ranks than slots");
  hosts->add_flag("--no-probe", j.no_probe,
                  "skip the per-rank host/address probe (and with it the detection of hosts "
                  "that are one machine)");
  hosts->add_flag("--dry-run", j.dry_run, "print the commands instead of running them");
  add_check_flags(hosts, j.check);
  hosts->add_option("command", j.command, "-- gan_dist ...")->required();
  return hosts;
}

CLI::App* define_slurm(CLI::App& app, SlurmJob& j) {
  auto* slurm = app.add_subcommand("slurm", "write an sbatch script into the run folder, submit");
  auto& o = j.opt;
  slurm->add_option("--nodes", o.nodes, "nodes")->required();
  slurm->add_option("--ntasks-per-node", o.ntasks_per_node, "ranks per node");
  slurm->add_option("--cpus-per-task", o.cpus_per_task, "CPUs (threads) per rank");
  slurm->add_option("--gpus-per-node", o.gpus_per_node, "GPUs per node");
  slurm->add_option("--time", o.time, "time limit, sbatch format");
  slurm->add_option("--partition", o.partition, "partition (default: the cluster's)");
  slurm->add_option("--array", o.array, "sbatch array spec (with --sweep: only %K)");
  // One value per --sweep: otherwise CLI11 lets a vector option swallow the `--` separator.
  slurm->add_option("--sweep", j.sweeps, "key=v1,v2 (repeatable; cartesian product)")
      ->allow_extra_args(false);
  slurm->add_option("--launcher", o.launcher, "srun (default) or mpirun");
  slurm->add_option("--restarts", o.restarts, "restarts from the last checkpoint on failure");
  slurm->add_option("--signal-lead", o.signal_lead_s,
                    "seconds before the time limit that SIGUSR1 arrives (default 90)");
  slurm->add_option("--job-name", o.job_name, "job name");
  slurm->add_option("--run-dir", o.run_dir, "run folder (gan_dist's --out)")->required();
  auto* submit_flag = slurm->add_flag("--submit", j.submit, "submit (the default)");
  slurm->add_flag("--dry-run", o.dry_run, "write and check the script, do not submit")
      ->excludes(submit_flag);
  add_check_flags(slurm, j.check);
  slurm->add_option("command", j.command, "-- gan_dist ...")->required();
  return slurm;
}

CLI::App* define_status(CLI::App& app, StatusQuery& q) {
  auto* status = app.add_subcommand("status", "state, step, checkpoint and restarts of a run");
  status->add_option("run_dir", q.run_dir, "run folder")->required();
  status->add_flag("--json", q.json, "JSON output");
  return status;
}

int main_impl(int argc, char** argv) {
  CLI::App app{"gan_launch: run gan_dist locally, on a host list or on Slurm"};
  app.require_subcommand(1);
  LocalJob local_job;
  HostsJob hosts_job;
  SlurmJob slurm_job;
  StatusQuery status_query;
  auto* local = define_local(app, local_job);
  auto* hosts = define_hosts(app, hosts_job);
  auto* slurm = define_slurm(app, slurm_job);
  auto* status = define_status(app, status_query);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }
  if (*local) return run_local(local_job);
  if (*hosts) return run_hosts(hosts_job, hosts->count("--gpus-per-host") > 0);
  if (*slurm) {
    auto& o = slurm_job.opt;
    for (const auto& s : slurm_job.sweeps) o.sweeps.push_back(parse_sweep(s));
    o.check_paths = !slurm_job.check.no_path_check;
    o.no_check = slurm_job.check.no_check;
    return run_slurm(o, slurm_job.command, invocation_text(argc, argv));
  }
  if (*status) return run_status(status_query.run_dir, status_query.json);
  return kExitUsage;
}

}  // namespace
}  // namespace gan::launch

int main(int argc, char** argv) {
  gan::init_logging("gan_launch");
  return gan::guarded_main("gan_launch", [&] { return gan::launch::main_impl(argc, argv); });
}
