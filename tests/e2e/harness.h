// Runs the real binaries (under mpirun where asked) and reads what they leave behind.
#pragma once

#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gan::test {

struct Result {
  int code = -1;
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

Result run(const std::string& command);
// `mpirun -np N gan_dist ARGS` with the test data and an output folder.
std::string gan_dist(int np, const std::string& args);
std::string gan_prep(const std::string& args);
// A fresh, empty run folder for this test.
std::string fresh_dir(const std::string& name);
std::string testdata();  // the Fashion-MNIST test split as shards
std::vector<nlohmann::json> read_jsonl(const std::string& path);
nlohmann::json read_json(const std::string& path);
std::string read_text(const std::string& path);
// Every parameter of module `name` in a checkpoint's state.pt, flattened and concatenated in
// depth-first order (buffers such as BatchNorm statistics and spectral-norm u left out).
torch::Tensor checkpoint_params(const std::string& folder, const std::string& name);

}  // namespace gan::test
