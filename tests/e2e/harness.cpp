#include "tests/e2e/harness.h"

#include <sys/wait.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace gan::test {

Result run(const std::string& command) {
  // Test machines and CI run as root; one BLAS thread per rank, as gan_launch sets it.
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  setenv("OPENBLAS_NUM_THREADS", "1", 1);
  Result r;
  auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string gan_dist(int np, const std::string& args) {
  std::string cmd = std::string(GAN_MPIEXEC) + " -np " + std::to_string(np) +
                    " --oversubscribe --bind-to none " + GAN_DIST_BIN + " " + args;
  return cmd;
}

std::string gan_prep(const std::string& args) { return std::string(GAN_PREP_BIN) + " " + args; }

std::string fresh_dir(const std::string& name) {
  fs::path p = fs::path(GAN_RUNS) / name;
  fs::remove_all(p);
  fs::create_directories(p.parent_path());
  return p.string();
}

std::string testdata() { return std::string(GAN_TESTDATA) + "/fm10k"; }

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

const char* const kBufferNames[] = {"running_mean", "running_var", "num_batches_tracked", "u"};

// Module::save nests one archive per submodule: collect the tensors depth first.
void collect(torch::serialize::InputArchive& ar, std::vector<torch::Tensor>& out) {
  for (const auto& key : ar.keys()) {
    if (std::find(std::begin(kBufferNames), std::end(kBufferNames), key) != std::end(kBufferNames))
      continue;
    torch::Tensor t;
    torch::serialize::InputArchive sub;
    if (ar.try_read(key, t))
      out.push_back(t.flatten().to(torch::kDouble));
    else if (ar.try_read(key, sub))
      collect(sub, out);
  }
}

}  // namespace

torch::Tensor checkpoint_params(const std::string& folder, const std::string& name) {
  torch::serialize::InputArchive ar, sub;
  ar.load_from(folder + "/state.pt");
  ar.read("module." + name, sub);
  std::vector<torch::Tensor> parts;
  collect(sub, parts);
  return torch::cat(parts);
}

}  // namespace gan::test
