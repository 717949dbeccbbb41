// gan_launch's readers of cluster text: `sinfo -h -o %P` and `scontrol show node -o` output
// (then the resource check of `gan_launch slurm` against them), an Open MPI hostfile (then the
// slot arithmetic of `gan_launch hosts`) and --sweep texts. The input is four parts separated
// by lines holding only "----": sinfo, scontrol, hostfile, sweeps (one per line).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/errors.h"
#include "launch/launch_mpirun.h"
#include "launch/launch_slurm.h"
#include "tests/fuzz/fuzz_util.h"

using namespace gan::launch;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto parts = gan::fuzz::split_parts(data, size, 4);
  // UsageError (exit 2) is the documented answer to anything the launcher refuses.
  ClusterInfo cluster;
  parse_sinfo_partitions(parts[0], cluster);
  try {
    cluster.nodes = parse_scontrol_nodes(parts[1]);  // refuses GPU counts that do not fit
  } catch (const gan::UsageError&) {
  }
  for (int gpus : {0, 1, 8}) {
    SlurmOptions opt;
    opt.nodes = 1 + gpus / 4;
    opt.ntasks_per_node = gpus > 0 ? gpus : 2;
    opt.cpus_per_task = 2;
    opt.gpus_per_node = gpus;
    if (gpus == 8) opt.partition = cluster.partitions.empty() ? "gpu" : cluster.partitions.back();
    try {
      validate_resources(opt, cluster);
    } catch (const gan::UsageError&) {
    }
  }

  static const std::string hostfile = gan::fuzz::scratch_dir() + "/hostfile";
  gan::fuzz::write_file(hostfile, parts[2]);
  for (int gpus : {0, 2}) {
    HostsOptions ho;
    ho.hostfile = hostfile;
    ho.ranks = 4;
    ho.gpus_per_host = gpus;
    try {
      hosts_mpirun_prefix(ho);
    } catch (const gan::UsageError&) {
    }
  }

  std::vector<SweepAxis> axes;
  std::istringstream lines(parts[3]);
  std::string line;
  size_t tasks = 1;
  while (std::getline(lines, line)) {
    try {
      axes.push_back(parse_sweep(line));
      tasks *= axes.back().values.size();
    } catch (const gan::UsageError&) {
    }
    if (tasks > 4096) break;  // the product is what the user asked for; keep it small here
  }
  if (tasks <= 4096) expand_sweeps(axes);
  return 0;
}
