// Unit tests of gan_launch's pure parts: sweeps, cluster parsing and checks, mpirun binding,
// the sbatch script (checked with `bash -n`), status files. No cluster needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/errors.h"
#include "launch/launch_mpirun.h"
#include "launch/launch_process.h"
#include "launch/launch_slurm.h"
#include "launch/launch_status.h"

namespace fs = std::filesystem;
using namespace gan::launch;

namespace {

bool contains(const std::vector<std::string>& v, const std::string& w) {
  return std::find(v.begin(), v.end(), w) != v.end();
}

fs::path temp_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("gan_launch_unit-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

template <typename F>
std::string usage_message(F&& f) {
  try {
    f();
  } catch (const gan::UsageError& e) {
    EXPECT_EQ(e.code(), gan::kExitUsage);
    return e.what();
  }
  ADD_FAILURE() << "no UsageError thrown";
  return "";
}

ClusterInfo one_node_cluster() {
  ClusterInfo c;
  parse_sinfo_partitions("debug*\ngpu\n", c);
  c.nodes = parse_scontrol_nodes(
      "NodeName=vm Arch=x86_64 CoresPerSocket=2 CPUAlloc=0 CPUTot=2 CPULoad=0.10 "
      "Gres=(null) NodeAddr=127.0.0.1 RealMemory=24105 State=IDLE Partitions=debug "
      "OS=Linux 6.1.0 #1 SMP\n"
      "NodeName=g1 CPUTot=32 Gres=gpu:a100:4(S:0-1),mps:100 State=MIXED Partitions=gpu\n"
      "NodeName=g2 CPUTot=32 Gres=gpu:2 State=IDLE Partitions=gpu\n");
  return c;
}

}  // namespace

TEST(Sweep, ParsesKeyAndValues) {
  auto a = parse_sweep("--lr=0.1,0.01");
  EXPECT_EQ(a.key, "lr");
  EXPECT_EQ(a.values, (std::vector<std::string>{"0.1", "0.01"}));
  EXPECT_NE(usage_message([] { parse_sweep("lr"); }).find("key=v1,v2"), std::string::npos);
  EXPECT_NE(usage_message([] { parse_sweep("lr=1,,2"); }).find("empty"), std::string::npos);
  EXPECT_NE(usage_message([] { parse_sweep("l r=1"); }).find("not an option"), std::string::npos);
}

TEST(Sweep, CartesianProductFirstAxisSlowest) {
  auto tasks = expand_sweeps({parse_sweep("lr=1,2"), parse_sweep("batch-size=8,16,32")});
  ASSERT_EQ(tasks.size(), 6u);
  EXPECT_EQ(tasks[0], (TaskOptions{{"lr", "1"}, {"batch-size", "8"}}));
  EXPECT_EQ(tasks[2], (TaskOptions{{"lr", "1"}, {"batch-size", "32"}}));
  EXPECT_EQ(tasks[3], (TaskOptions{{"lr", "2"}, {"batch-size", "8"}}));
  EXPECT_EQ(expand_sweeps({}).size(), 1u);
}

TEST(Cluster, ParsesPartitionsAndNodes) {
  auto c = one_node_cluster();
  EXPECT_EQ(c.default_partition, "debug");
  EXPECT_EQ(c.partitions, (std::vector<std::string>{"debug", "gpu"}));
  ASSERT_EQ(c.nodes.size(), 3u);
  EXPECT_EQ(c.nodes[0].cpus, 2);
  EXPECT_EQ(c.nodes[0].gpus, 0);
  EXPECT_EQ(c.nodes[1].gpus, 4);
  EXPECT_EQ(c.nodes[2].gpus, 2);
  EXPECT_EQ(c.nodes[1].partitions, (std::vector<std::string>{"gpu"}));
}

TEST(Cluster, RefusesGpuCountsThatDoNotFitAnInt) {
  // Each count fits, their sum does not: it used to wrap (signed overflow).
  auto sum = usage_message(
      [] { parse_scontrol_nodes("NodeName=g1 CPUTot=32 Gres=gpu:2147483647,gpu:1 State=IDLE\n"); });
  EXPECT_NE(sum.find("node g1"), std::string::npos) << sum;
  EXPECT_NE(sum.find("Gres=gpu:2147483647,gpu:1"), std::string::npos) << sum;
  // One count too large used to be taken for "no count", i.e. one GPU.
  auto one = usage_message(
      [] { parse_scontrol_nodes("NodeName=g2 CPUTot=32 Gres=gpu:a100:99999999999 State=IDLE\n"); });
  EXPECT_NE(one.find("'99999999999'"), std::string::npos) << one;
  EXPECT_NE(usage_message([] {
              parse_scontrol_nodes("NodeName=g3 Gres=gpu:-4 State=IDLE\n");
            }).find("node g3"),
            std::string::npos);
  EXPECT_EQ(parse_scontrol_nodes("NodeName=g4 Gres=gpu:2147483646,gpu State=IDLE\n")[0].gpus,
            2147483647);
}

TEST(Cluster, RefusesCpuCountsThatDoNotFitAnInt) {
  // It used to read as 0 CPUs, silently: the resource check then refused the job for a
  // made-up reason.
  auto big =
      usage_message([] { parse_scontrol_nodes("NodeName=c1 CPUTot=99999999999 State=IDLE\n"); });
  EXPECT_NE(big.find("node c1 with CPUTot=99999999999"), std::string::npos) << big;
  EXPECT_NE(big.find("out of range"), std::string::npos) << big;
  auto negative = usage_message([] { parse_scontrol_nodes("NodeName=c2 CPUTot=-2 State=IDLE\n"); });
  EXPECT_NE(negative.find("node c2"), std::string::npos) << negative;
  EXPECT_EQ(parse_scontrol_nodes("NodeName=c3 State=IDLE\n")[0].cpus, 0);  // no field: unknown
  EXPECT_EQ(parse_scontrol_nodes("NodeName=c4 CPUTot=2147483647 State=IDLE\n")[0].cpus, 2147483647);
}

TEST(Cluster, RejectsWhatTheClusterCannotGive) {
  auto c = one_node_cluster();
  SlurmOptions o;
  EXPECT_EQ(validate_resources(o, c), "debug");
  o.partition = "nope";
  EXPECT_NE(usage_message([&] { validate_resources(o, c); }).find("unknown partition 'nope'"),
            std::string::npos);
  o.partition = "";
  o.nodes = 2;
  EXPECT_NE(usage_message([&] { validate_resources(o, c); }).find("--nodes 2"), std::string::npos);
  o.nodes = 1;
  o.ntasks_per_node = 3;
  EXPECT_NE(usage_message([&] { validate_resources(o, c); }).find("has 2"), std::string::npos);
  o.ntasks_per_node = 1;
  o.gpus_per_node = 1;
  EXPECT_NE(usage_message([&] { validate_resources(o, c); }).find("--gpus-per-node 1"),
            std::string::npos);
  o.partition = "gpu";
  o.nodes = 2;
  o.gpus_per_node = 2;
  EXPECT_EQ(validate_resources(o, c), "gpu");
  o.gpus_per_node = 3;  // only one node has 3+ GPUs
  EXPECT_NE(usage_message([&] { validate_resources(o, c); }).find("only 1 node"),
            std::string::npos);
}

TEST(Options, RejectsConflictsWithTheCommand) {
  SlurmOptions o;
  o.sweeps = {parse_sweep("lr=1,2")};
  std::vector<std::string> cmd{"/x/gan_dist", "--model", "dcgan"};
  validate_options(o, cmd);
  auto with = [&](const std::string& extra) {
    auto c = cmd;
    c.push_back(extra);
    c.push_back("1");
    return c;
  };
  EXPECT_NE(usage_message([&] { validate_options(o, with("--lr")); }).find("--lr"),
            std::string::npos);
  EXPECT_NE(usage_message([&] { validate_options(o, with("--out")); }).find("--run-dir"),
            std::string::npos);
  o.launcher = "ssh";
  EXPECT_NE(usage_message([&] { validate_options(o, cmd); }).find("srun or mpirun"),
            std::string::npos);
  o.launcher = "srun";
  o.array = "0-3";
  EXPECT_NE(usage_message([&] { validate_options(o, cmd); }).find("%2"), std::string::npos);
  o.array = "%2";
  validate_options(o, cmd);
  EXPECT_EQ(array_spec(o, 3), "0-2%2");
}

TEST(Options, OneRankPerGpuForCudaRuns) {
  SlurmOptions o;
  o.nodes = 2;
  o.ntasks_per_node = 8;
  o.gpus_per_node = 4;
  const std::vector<std::string> cuda{"/x/gan_dist", "--model", "dcgan", "--device", "cuda"};
  EXPECT_NE(usage_message([&] {
              validate_options(o, cuda);
            }).find("--ntasks-per-node 8 with --gpus-per-node 4"),
            std::string::npos);
  o.gpus_per_node = 0;
  EXPECT_NE(usage_message([&] { validate_options(o, cuda); }).find("give --gpus-per-node"),
            std::string::npos);
  o.gpus_per_node = 8;
  validate_options(o, cuda);  // one GPU per rank: fine
  o.gpus_per_node = 0;
  validate_options(o, {"/x/gan_dist", "--model", "dcgan"});  // CPU ranks need no GPU
}

TEST(Command, MustBeGanDist) {
  EXPECT_NE(usage_message([] { checked_gan_dist_command({"/bin/ls"}); }).find("gan_dist"),
            std::string::npos);
  EXPECT_NE(usage_message([] { checked_gan_dist_command({}); }).find("no command"),
            std::string::npos);
  EXPECT_NE(
      usage_message([] { checked_gan_dist_command({"/nonexistent/gan_dist"}); }).find("not found"),
      std::string::npos);
}

TEST(Check, PutsTheCheckOptionsBeforeTheCommandsOwn) {
  EXPECT_EQ(check_argv({"/x/gan_dist", "--model", "dcgan"}, 4, true),
            (std::vector<std::string>{"/x/gan_dist", "--check", "--world-size", "4", "--model",
                                      "dcgan"}));
  EXPECT_EQ(
      check_argv({"/x/gan_dist"}, 1, false),
      (std::vector<std::string>{"/x/gan_dist", "--check", "--world-size", "1", "--no-path-check"}));
}

TEST(Check, SlurmTasksAreTheCommandsTheJobScriptRuns) {
  auto dir = temp_dir("check-tasks");
  SlurmOptions o;
  o.run_dir = dir.string();
  o.sweeps = {parse_sweep("lr=0.1,abc")};
  // task 1 holds a checkpoint: the script passes --resume there, so the check must too.
  fs::create_directories(dir / "task-001" / "checkpoints" / "step-0000005");
  const std::vector<std::string> cmd{"/x/gan_dist", "--model", "dcgan"};
  auto t = slurm_check_tasks(o, cmd, expand_sweeps(o.sweeps));
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].label, "task 0 (lr=0.1)");
  EXPECT_EQ(t[1].label, "task 1 (lr=abc)");
  EXPECT_EQ(t[0].command, (std::vector<std::string>{"/x/gan_dist", "--model", "dcgan", "--out",
                                                    (dir / "task-000").string(), "--lr", "0.1"}));
  EXPECT_EQ(t[1].command,
            (std::vector<std::string>{"/x/gan_dist", "--model", "dcgan", "--out",
                                      (dir / "task-001").string(), "--lr", "abc", "--resume"}));
  o.sweeps.clear();
  t = slurm_check_tasks(o, cmd, expand_sweeps(o.sweeps));
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].label, "");
  EXPECT_EQ(t[0].command.back(), dir.string());  // a plain job trains in the run folder
  fs::remove_all(dir);
}

namespace {

// A stand-in for gan_dist: records its arguments, refuses `--lr abc` (2) and `--data /gone`
// (3) the way gan_dist words it, and otherwise warns and answers ok.
fs::path fake_gan_dist(const fs::path& dir, const std::string& body = "") {
  fs::create_directories(dir);
  const fs::path exe = dir / "gan_dist";
  static const char* const standin = R"SH(#!/bin/sh
echo "$*" >>"$(dirname "$0")/calls"
case " $* " in
  *' --lr abc '*) echo 'gan_dist: error: --lr: abc is not a number' >&2; exit 2 ;;
  *' --data /gone '*) echo 'gan_dist: error: /gone/manifest.json: missing' >&2; exit 3 ;;
esac
echo 'gan_dist: warning: a warning' >&2
echo ok
)SH";
  std::ofstream(exe) << (body.empty() ? standin : body);
  fs::permissions(exe, fs::perms::owner_all);
  return exe;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The message and exit code of what check_with_gan_dist throws ("" and 0: nothing thrown).
std::pair<std::string, int> check_outcome(const std::vector<CheckTask>& tasks,
                                          const CommandCheck& opt) {
  try {
    check_with_gan_dist(tasks, opt);
  } catch (const gan::Error& e) {
    return {e.what(), e.code()};
  }
  return {"", 0};
}

}  // namespace

TEST(Check, AsksGanDistForEveryTaskAndNamesTheRefusedOnes) {
  auto dir = temp_dir("check-fake");
  auto exe = fake_gan_dist(dir / "bin").string();
  CommandCheck opt;
  opt.world_size = 4;
  opt.parallel = 2;
  std::vector<CheckTask> tasks{{"task 0 (lr=0.1)", {exe, "--lr", "0.1"}},
                               {"task 1 (lr=abc)", {exe, "--lr", "abc"}},
                               {"task 2 (lr=0.2)", {exe, "--lr", "0.2"}}};
  auto [msg, code] = check_outcome(tasks, opt);
  EXPECT_EQ(code, gan::kExitUsage);
  EXPECT_NE(msg.find("refused 1 of 3 task(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("task 1 (lr=abc): --lr: abc is not a number"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("task 0"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("task 2"), std::string::npos) << msg;
  // Every task was asked, each with the world size the run will have.
  auto calls = read_all(dir / "bin" / "calls");
  EXPECT_NE(calls.find("--check --world-size 4 --lr 0.1\n"), std::string::npos) << calls;
  EXPECT_NE(calls.find("--check --world-size 4 --lr abc\n"), std::string::npos) << calls;
  EXPECT_NE(calls.find("--check --world-size 4 --lr 0.2\n"), std::string::npos) << calls;

  // Bad data keeps gan_dist's own code; the only command is named as such.
  std::tie(msg, code) = check_outcome({{"", {exe, "--data", "/gone"}}}, opt);
  EXPECT_EQ(code, gan::kExitData);
  EXPECT_NE(msg.find("refused the command (nothing was started): /gone/manifest.json"),
            std::string::npos)
      << msg;

  // Accepted: nothing thrown. Paths left out travel to gan_dist as --no-path-check.
  opt.check_paths = false;
  std::tie(msg, code) = check_outcome({tasks[0], tasks[2]}, opt);
  EXPECT_EQ(code, 0) << msg;
  EXPECT_NE(read_all(dir / "bin" / "calls").find("--world-size 4 --no-path-check --lr 0.2\n"),
            std::string::npos);

  // --no-check: gan_dist is not asked at all.
  opt.skip = true;
  const auto before = read_all(dir / "bin" / "calls");
  std::tie(msg, code) = check_outcome(tasks, opt);
  EXPECT_EQ(code, 0) << msg;
  EXPECT_EQ(read_all(dir / "bin" / "calls"), before);
  fs::remove_all(dir);
}

TEST(Check, AGanDistThatCannotAnswerIsNotTakenForARefusal) {
  auto dir = temp_dir("check-broken");
  CommandCheck opt;
  // Cannot start on this host (a missing interpreter stands for missing libraries): exit 4,
  // pointing at --no-check.
  auto exe = fake_gan_dist(dir / "a", "#!/nonexistent/interpreter\n").string();
  auto [msg, code] = check_outcome({{"", {exe, "--model", "dcgan"}}}, opt);
  EXPECT_EQ(code, gan::kExitDist) << msg;
  EXPECT_NE(msg.find("cannot start " + exe + ": No such file"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--no-check"), std::string::npos) << msg;
  // Exit 0 without the answer "ok": not a gan_dist check.
  exe = fake_gan_dist(dir / "b", "#!/bin/sh\necho training...\n").string();
  std::tie(msg, code) = check_outcome({{"", {exe}}}, opt);
  EXPECT_EQ(code, gan::kExitDist) << msg;
  // A gan_dist from before --check rejects the option itself.
  exe = fake_gan_dist(dir / "c",
                      "#!/bin/sh\necho 'gan_dist: error: The following arguments were not "
                      "expected: 2 --world-size --check' >&2\nexit 2\n")
            .string();
  std::tie(msg, code) = check_outcome({{"", {exe}}}, opt);
  EXPECT_EQ(code, gan::kExitDist) << msg;
  EXPECT_NE(msg.find("does not know --check"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(Local, BindsToCoresOnlyWhenTheyAreEnough) {
  LocalOptions o;
  o.cpus = 4;
  o.ranks = 2;
  o.as_root = true;
  auto c = build_local_command(o, {"/x/gan_dist"});
  EXPECT_TRUE(contains(c.argv, "core"));
  EXPECT_FALSE(contains(c.argv, "--oversubscribe"));
  EXPECT_EQ(c.env.at("OMP_NUM_THREADS"), "2");
  EXPECT_EQ(c.env.at("OPENBLAS_NUM_THREADS"), "1");
  EXPECT_EQ(c.env.at("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"), "1");
  EXPECT_EQ(c.argv.back(), "/x/gan_dist");
  o.ranks = 5;
  o.as_root = false;
  c = build_local_command(o, {"/x/gan_dist"});
  EXPECT_TRUE(contains(c.argv, "--oversubscribe"));
  EXPECT_TRUE(contains(c.argv, "none"));
  EXPECT_EQ(c.env.at("OMP_NUM_THREADS"), "1");
  EXPECT_EQ(c.env.count("OMPI_ALLOW_RUN_AS_ROOT"), 0u);
}

TEST(Hosts, UsesTcpAndOneRankPerGpu) {
  auto dir = temp_dir("hosts");
  std::ofstream(dir / "hf") << "# two hosts\nnode1 slots=2\nnode2 slots=2 max_slots=4\n";
  HostsOptions o;
  o.hostfile = (dir / "hf").string();
  o.ranks = 4;
  o.net = "10.0.0.0/24";
  auto c = build_hosts_command(o, {"/x/gan_dist"});
  EXPECT_TRUE(contains(c.argv, "tcp,self"));
  EXPECT_TRUE(contains(c.argv, "10.0.0.0/24"));
  o.ranks = 5;
  EXPECT_NE(usage_message([&] { build_hosts_command(o, {"/x/gan_dist"}); }).find("4 slots"),
            std::string::npos);
  o.gpus_per_host = 3;
  c = build_hosts_command(o, {"/x/gan_dist"});
  EXPECT_TRUE(contains(c.argv, "ppr:3:node"));
  std::ofstream(dir / "bad") << "node1 slots=x\n";
  o.hostfile = (dir / "bad").string();
  EXPECT_NE(usage_message([&] { build_hosts_command(o, {"/x/gan_dist"}); }).find("line 1"),
            std::string::npos);
  // Slots that each fit an int but not their sum used to wrap (signed overflow).
  std::ofstream(dir / "huge") << "node1 slots=2147483647\nnode2 slots=2147483647\n";
  o.hostfile = (dir / "huge").string();
  o.gpus_per_host = 0;
  EXPECT_NE(usage_message([&] {
              build_hosts_command(o, {"/x/gan_dist"});
            }).find("'" + o.hostfile + "' has more than 2147483647 slots"),
            std::string::npos);
  fs::remove_all(dir);
}

// Pretend hosts (namespaces of one machine) report the same kernel boot id; binding each
// host's ranks would pin them to the same cores, so they run unbound. Real hosts keep
// mpirun's binding.
TEST(Hosts, HostsOfOneMachineAreFoundAndRunUnbound) {
  const std::string probe =
      "gan_launch-probe rank=0 host=a kernel=1111 addrs=10.0.0.1\n"
      "gan_launch-probe rank=1 host=b kernel=1111 addrs=10.0.0.2 10.9.0.2\n"
      "gan_launch-probe rank=2 host=b kernel=1111 addrs=10.0.0.2\n"
      "gan_launch-probe rank=3 host=c kernel=2222 addrs=10.0.0.3\n"
      "some other line host=d kernel=2222\n";
  EXPECT_EQ(hosts_sharing_a_kernel(probe), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(hosts_sharing_a_kernel("gan_launch-probe rank=0 host=a kernel=1 addrs=x\n"
                                     "gan_launch-probe rank=1 host=b kernel=2 addrs=y\n")
                  .empty());
  // Two ranks on one host is one machine of its own, not a shared one.
  EXPECT_TRUE(hosts_sharing_a_kernel("gan_launch-probe rank=0 host=a kernel=1 addrs=x\n"
                                     "gan_launch-probe rank=1 host=a kernel=1 addrs=x\n")
                  .empty());
  auto dir = temp_dir("hosts_bind");
  std::ofstream(dir / "hf") << "a slots=1\nb slots=1\n";
  HostsOptions o;
  o.hostfile = (dir / "hf").string();
  o.ranks = 2;
  EXPECT_FALSE(contains(build_hosts_command(o, {"/x/gan_dist"}).argv, "--bind-to"));
  o.bind_none = true;
  const auto argv = build_hosts_command(o, {"/x/gan_dist"}).argv;
  const auto at = std::find(argv.begin(), argv.end(), "--bind-to");
  ASSERT_NE(at, argv.end());
  EXPECT_EQ(*(at + 1), "none");
  const auto probe_cmd = build_hosts_probe(o).argv.back();
  EXPECT_NE(probe_cmd.find("kernel=$(cat /proc/sys/kernel/random/boot_id"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Script, HasSlurmDirectivesAndIsValidBash) {
  auto dir = temp_dir("script");
  SlurmOptions o;
  o.nodes = 2;
  o.ntasks_per_node = 4;
  o.gpus_per_node = 4;
  o.time = "01:00:00";
  o.partition = "gpu";
  o.restarts = 3;
  o.run_dir = (dir / "run it").string();  // a space must survive quoting
  o.sweeps = {parse_sweep("lr=0.1,0.2"), parse_sweep("seed=1,2")};
  auto tasks = expand_sweeps(o.sweeps);
  std::vector<std::string> cmd{"/opt/bin/gan_dist", "--model", "dcgan", "--data", "/d/it's"};
  std::string s = render_sbatch_script(o, cmd, tasks, "gan_launch slurm ...");
  for (const char* want :
       {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gpus-per-node=4\n",
        "#SBATCH --requeue\n", "#SBATCH --open-mode=append\n", "#SBATCH --signal=B:USR1@90\n",
        "#SBATCH --array=0-3\n", "#SBATCH --time=01:00:00\n", "MAX_RESTARTS=3\n", "srun --mpi=pmix",
        "scontrol requeue", "3) TASK_ARGS=(--lr 0.2 --seed 2) ;;"}) {
    EXPECT_NE(s.find(want), std::string::npos) << "missing: " << want;
  }
  prepare_run_dir(o, tasks, tasks.size());
  std::ofstream(dir / "job.sbatch") << s;
  auto r = run_capture({"bash", "-n", (dir / "job.sbatch").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(fs::path(o.run_dir) / "task-003" / "task.json");
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["options"]["lr"], "0.2");
  EXPECT_EQ(j["args"], (std::vector<std::string>{"--lr", "0.2", "--seed", "2"}));
  fs::remove_all(dir);
}

TEST(Script, RunDirMustBeWritable) {
  auto dir = temp_dir("rundir");
  std::ofstream(dir / "file") << "x";
  SlurmOptions o;
  o.run_dir = (dir / "file" / "run").string();
  EXPECT_NE(usage_message([&] { prepare_run_dir(o, {TaskOptions{}}, 1); }).find("run folder"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(Status, ReadsStepCheckpointRestartsAndFinal) {
  auto dir = temp_dir("status");
  std::ofstream(dir / "metrics.jsonl") << "{\"step\": 5}\n{\"step\": 10, \"loss_d\": 1}\n\n";
  fs::create_directories(dir / "checkpoints" / "step-0000005");
  fs::create_directories(dir / "checkpoints" / "step-0000010");
  fs::create_directories(dir / "checkpoints" / "step-0000015");  // no meta.json: not complete
  std::ofstream(dir / "checkpoints" / "step-0000005" / "meta.json") << "{\"step\": 5}";
  std::ofstream(dir / "checkpoints" / "step-0000010" / "meta.json") << "{\"step\": 10}";
  std::ofstream(dir / "restarts") << "2\n";
  std::ofstream(dir / "launch-state") << "RESTARTING 2/3 after exit 137\n";
  auto st = collect_status(dir.string());
  auto r = st["runs"][0];
  EXPECT_EQ(r["step"], 10);
  EXPECT_EQ(r["checkpoint_step"], 10);
  EXPECT_EQ(r["restarts"], 2);
  EXPECT_EQ(r["state"], "RESTARTING");
  EXPECT_EQ(r["state_from"], "files");
  std::ofstream(dir / "final.json") << "{\"step\": 10, \"digest_g\": \"a\", \"digest_d\": \"b\"}";
  EXPECT_EQ(collect_status(dir.string())["runs"][0]["state"], "COMPLETED");
  EXPECT_NE(format_status(collect_status(dir.string())).find("restarts:    2"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Quote, SurvivesTheShell) {
  std::string tricky = "a b'c\"$d";
  auto r = run_capture({"sh", "-c", "printf %s " + shell_quote(tricky)});
  EXPECT_EQ(r.out, tricky);
  EXPECT_EQ(shell_quote("plain-word_1.5"), "plain-word_1.5");
}
