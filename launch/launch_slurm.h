// `gan_launch slurm`: checks a request against what the cluster reports (sinfo, scontrol),
// expands sweeps into a job array, writes a readable sbatch script and submits it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "launch/launch_mpirun.h"

namespace gan::launch {

struct SweepAxis {
  std::string key;                  // gan_dist option name without dashes, e.g. "lr"
  std::vector<std::string> values;  // in the order given
};

// One array task: the options it adds to gan_dist's command line, in axis order.
using TaskOptions = std::vector<std::pair<std::string, std::string>>;

// Parses "key=v1,v2,..." (throws UsageError naming the text on anything else).
SweepAxis parse_sweep(const std::string& text);

// Cartesian product; the first axis varies slowest. No axes: one task without options.
std::vector<TaskOptions> expand_sweeps(const std::vector<SweepAxis>& axes);

struct NodeInfo {
  std::string name;
  int cpus = 0;
  int gpus = 0;
  std::vector<std::string> partitions;
  std::string state;
};

struct ClusterInfo {
  std::vector<std::string> partitions;
  std::string default_partition;
  std::vector<NodeInfo> nodes;
};

// Parsers for `sinfo -h -o %P` and `scontrol show node -o` output.
void parse_sinfo_partitions(const std::string& text, ClusterInfo& info);
std::vector<NodeInfo> parse_scontrol_nodes(const std::string& text);

// Asks the cluster; throws DistError when Slurm cannot be asked.
ClusterInfo query_cluster();

struct SlurmOptions {
  int nodes = 1;
  int ntasks_per_node = 1;
  int cpus_per_task = 1;
  int gpus_per_node = 0;
  std::string time;
  std::string partition;
  std::string array;  // without sweeps: an sbatch --array spec; with sweeps: only "%K"
  std::vector<SweepAxis> sweeps;
  std::string launcher = "srun";
  int restarts = 0;
  int signal_lead_s = 90;
  std::string job_name = "gan_dist";
  std::string run_dir;  // absolute
  bool dry_run = false;
  bool check_paths = true;  // false: --no-path-check (paths that exist only on the nodes)
  bool no_check = false;    // --no-check: gan_dist --check is not run
};

// Checks options that need no cluster (launcher, counts, sweep keys against the command).
void validate_options(const SlurmOptions& opt, const std::vector<std::string>& command);

// Checks partition and resources against the cluster; returns the partition to use.
std::string validate_resources(const SlurmOptions& opt, const ClusterInfo& cluster);

// The sbatch --array value for these options ("" when the job is not an array).
std::string array_spec(const SlurmOptions& opt, size_t task_count);

// The full sbatch script; `command` is gan_dist's checked command (absolute argv[0]).
std::string render_sbatch_script(const SlurmOptions& opt, const std::vector<std::string>& command,
                                 const std::vector<TaskOptions>& tasks,
                                 const std::string& invocation);

// The commands the job will run, one per sweep point (one for a plain job or an array without
// sweep), each with the --out, task options and --resume the job script gives it; labelled
// "task I (key=value, ...)" for sweeps. gan_dist --check is run on each before submitting.
std::vector<CheckTask> slurm_check_tasks(const SlurmOptions& opt,
                                         const std::vector<std::string>& command,
                                         const std::vector<TaskOptions>& tasks);

// Creates the run folder and proves it writable (a file is written and removed); UsageError.
void check_run_dir_writable(const SlurmOptions& opt);

// Creates the run folder (and task folders) and proves it writable; throws UsageError.
void prepare_run_dir(const SlurmOptions& opt, const std::vector<TaskOptions>& tasks,
                     size_t array_tasks);

// Whole `gan_launch slurm` flow; returns the process exit code.
int run_slurm(SlurmOptions opt, const std::vector<std::string>& command,
              const std::string& invocation);

}  // namespace gan::launch
