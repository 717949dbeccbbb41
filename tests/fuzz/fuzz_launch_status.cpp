// `gan_launch status RUN_DIR`: everything it reads from a run folder (launch.json, metrics.jsonl,
// the newest checkpoint's meta.json, restarts, launch-state, final.json, task-N folders) and
// from Slurm (squeue and scontrol output, served by stand-in scripts first on PATH). The input
// is nine parts separated by lines holding only "----": metrics.jsonl, checkpoint meta.json,
// restarts, launch-state, final.json, launch.json, squeue output, scontrol output, task folder
// names (one per line). An empty part means the file is absent.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "core/errors.h"
#include "launch/launch_status.h"
#include "tests/fuzz/fuzz_util.h"

namespace fs = std::filesystem;

namespace {

const fs::path& root() {
  static const fs::path dir = gan::fuzz::scratch_dir();
  return dir;
}

void put(const fs::path& path, const std::string& text) {
  if (!text.empty()) gan::fuzz::write_file(path.string(), text);
}

bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > 24) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const fs::path bin = root() / "bin";
  fs::create_directories(bin);
  for (const char* tool : {"squeue", "scontrol"}) {
    gan::fuzz::write_file((bin / tool).string(), "#!/bin/sh\nexec cat \"$GAN_FUZZ_SLURM/" +
                                                     std::string(tool) + ".out\"\n");
    fs::permissions(bin / tool, fs::perms::owner_all);
  }
  const char* path = std::getenv("PATH");
  setenv("PATH", (bin.string() + ":" + (path ? path : "/usr/bin:/bin")).c_str(), 1);
  setenv("GAN_FUZZ_SLURM", root().c_str(), 1);
  // run_status prints the report; libFuzzer reports on stderr.
  if (!std::freopen("/dev/null", "w", stdout)) return 1;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto p = gan::fuzz::split_parts(data, size, 9);
  const fs::path run = root() / "run";
  fs::remove_all(run);
  fs::create_directories(run);
  fs::remove(root() / "squeue.out");
  fs::remove(root() / "scontrol.out");
  put(run / "metrics.jsonl", p[0]);
  if (!p[1].empty()) {
    fs::create_directories(run / "checkpoints" / "step-0000005");
    put(run / "checkpoints" / "step-0000005" / "meta.json", p[1]);
  }
  put(run / "restarts", p[2]);
  put(run / "launch-state", p[3]);
  put(run / "final.json", p[4]);
  put(run / "launch.json", p[5]);
  put(root() / "squeue.out", p[6]);
  put(root() / "scontrol.out", p[7]);
  std::istringstream names(p[8]);
  std::string name;
  for (int n = 0; std::getline(names, name) && n < 8; ++n) {
    if (!plain_name(name)) continue;
    fs::create_directories(run / name);
    put(run / name / "metrics.jsonl", p[0]);
  }
  // UsageError (exit 2): the run folder or its launch.json is unusable. The input's length
  // picks the text or the --json report: each query of the stand-in Slurm costs two forks.
  try {
    gan::launch::run_status(run.string(), /*as_json=*/size % 2 == 1);
  } catch (const gan::UsageError&) {
  }
  return 0;
}
