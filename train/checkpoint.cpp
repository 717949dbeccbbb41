#include "train/checkpoint.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/checked_io.h"
#include "core/errors.h"
#include "core/sha256.h"
#include "dist/digest.h"

namespace gan::train {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// meta.json carries a checksum of its own content (the compact dump of every other key, which
// nlohmann writes with sorted keys, so it does not depend on the file's layout): a flipped byte
// that still parses, in a step number or a digest, is caught before the checkpoint is trusted.
std::string meta_checksum(json j) {
  j.erase("meta_sha256");
  const std::string canonical = j.dump();
  Sha256 sum;
  sum.update(canonical.data(), canonical.size());
  return sum.hex();
}

// An integer field of meta.json within [lo, hi]. nlohmann turns a JSON float into an integer
// with a plain cast, undefined when it does not fit (1e21 into int64_t), and an integer into
// an int by truncation: both are refused instead, as a damaged meta.json.
int64_t integer(const json& j, const char* key, const std::string& folder, int64_t lo, int64_t hi) {
  const json& v = j.at(key);
  if (!v.is_number_integer())
    throw CheckpointError(folder + ": meta.json " + key + " is not an integer (" +
                          (v.is_number() ? v.dump() : std::string(v.type_name())) + ")");
  // An unsigned value above INT64_MAX would turn negative in get<int64_t>().
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    throw CheckpointError(folder + ": meta.json " + key + " " + v.dump() + " is out of range");
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi)
    throw CheckpointError(folder + ": meta.json " + key + " " + v.dump() + " is out of range");
  return x;
}

}  // namespace

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%07lld", static_cast<long long>(step));
  return buf;
}

CheckpointStore::CheckpointStore(std::string dir, int keep) : dir_(std::move(dir)), keep_(keep) {}

std::vector<std::string> CheckpointStore::folders() const {
  std::vector<std::string> out;
  if (!fs::is_directory(dir_)) return out;
  for (const auto& e : fs::directory_iterator(dir_)) {
    auto name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded step numbers sort by step
  return out;
}

std::string CheckpointStore::save(const CheckpointMeta& meta, models::Model& model,
                                  const SaveExtra& extra) const {
  fs::create_directories(dir_);
  const fs::path final_dir = fs::path(dir_) / step_name(meta.step);
  const fs::path tmp =
      fs::path(dir_) / (".tmp-" + step_name(meta.step) + "-" + std::to_string(::getpid()));
  // Serialised in memory, then written with checked I/O: LibTorch's own file writer throws
  // from its destructor on a full disk (std::terminate). Any failure removes the temporary,
  // so the older checkpoints are all that is left, intact.
  try {
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    torch::serialize::OutputArchive ar;
    for (auto& [name, module] : model.modules()) {
      torch::serialize::OutputArchive sub;
      module->save(sub);
      ar.write("module." + name, sub);
    }
    model.save_state(ar);
    if (extra) extra(ar);
    ar.write("torch_rng", at::detail::getDefaultCPUGenerator().get_state());
    std::string state;
    ar.save_to([&state](const void* data, size_t n) -> size_t {
      state.append(static_cast<const char*>(data), n);
      return n;
    });
    Sha256 state_sum;
    state_sum.update(state.data(), state.size());

    json j;
    j["format_version"] = 2;
    j["step"] = meta.step;
    j["epoch"] = meta.epoch;
    j["world_size"] = meta.world_size;
    j["config"] = meta.config;
    for (const auto& [name, d] : meta.digests) {
      j["digests"][name] = d;
      std::string key = name;
      std::transform(key.begin(), key.end(), key.begin(), ::tolower);
      j["digest_" + key] = d;
    }
    if (meta.data.known())
      j["data"] = {{"h", meta.data.h},
                   {"w", meta.data.w},
                   {"c", meta.data.c},
                   {"classes", meta.data.classes}};
    j["files"]["state.pt"] = state_sum.hex();
    j["meta_sha256"] = meta_checksum(j);
    write_file_checked((tmp / "state.pt").string(), state);
    write_file_checked((tmp / "meta.json").string(), j.dump(2) + "\n");
    fs::remove_all(final_dir);  // a stale one from a run that died before pruning
    publish(tmp.string(), final_dir.string());
  } catch (const fs::filesystem_error& e) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw StorageError("cannot write checkpoint " + final_dir.string() + ": " + e.what() + " (" +
                       std::to_string(free_bytes(tmp.string())) + " bytes free)");
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
    throw;
  }
  auto all = folders();
  for (size_t i = 0; i + keep_ < all.size(); ++i) fs::remove_all(all[i]);
  return final_dir.string();
}

CheckpointMeta CheckpointStore::read_meta(const std::string& folder) {
  std::ifstream in(fs::path(folder) / "meta.json");
  if (!in) throw CheckpointError(folder + ": no meta.json");
  try {
    json j = json::parse(in);
    constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
    // Version 1 (before the self-checksum) is still read; from version 2 it is required.
    const int64_t version =
        j.contains("format_version") ? integer(j, "format_version", folder, 1, kMaxInt64) : 1;
    if (version >= 2 && j.value("meta_sha256", std::string()) != meta_checksum(j))
      throw CheckpointError(folder + ": meta.json does not match its checksum (meta_sha256)");
    CheckpointMeta m;
    m.step = integer(j, "step", folder, 0, kMaxInt64);
    m.epoch = integer(j, "epoch", folder, 0, kMaxInt64);
    m.world_size =
        static_cast<int>(integer(j, "world_size", folder, 1, std::numeric_limits<int>::max()));
    m.config = j.at("config").get<std::string>();
    for (auto& [k, v] : j.at("digests").items()) m.digests[k] = v.get<std::string>();
    if (j.contains("data")) {
      const json& d = j.at("data");
      m.data.h = integer(d, "h", folder, 1, 1 << 16);
      m.data.w = integer(d, "w", folder, 1, 1 << 16);
      m.data.c = integer(d, "c", folder, 1, 4);
      m.data.classes = integer(d, "classes", folder, 0, 1 << 24);
    }
    // load() hands state.pt to LibTorch, which crashes on some damaged archives: it must have
    // been hashed here first.
    if (!j.at("files").contains("state.pt"))
      throw CheckpointError(folder + ": meta.json has no checksum of state.pt");
    for (auto& [file, sum] : j.at("files").items()) {
      // Only plain names of this folder: "", ".", ".." or a path would hash something else
      // (the folder, a device that never ends, a file elsewhere).
      if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos)
        throw CheckpointError(folder + ": meta.json names a file '" + file + "' outside it");
      const auto path = (fs::path(folder) / file).string();
      // The error_code form: a name the system refuses (longer than NAME_MAX) would make the
      // throwing one raise a filesystem_error past the resume's fallback.
      std::error_code ec;
      const auto type = fs::status(path, ec).type();
      if (type == fs::file_type::not_found)
        throw CheckpointError(folder + ": " + file + " is missing");
      if (ec)
        throw CheckpointError(folder + ": " + file + " cannot be read (" + ec.message() + ")");
      if (type != fs::file_type::regular)
        throw CheckpointError(folder + ": " + file + " is not a file");
      std::string actual;
      try {
        actual = sha256_file(path);
      } catch (const std::exception& e) {
        throw CheckpointError(folder + ": " + file + " cannot be read (" + e.what() + ")");
      }
      if (actual != sum.get<std::string>())
        throw CheckpointError(folder + ": " + file + " does not match its checksum");
    }
    return m;
  } catch (const json::exception& e) {
    throw CheckpointError(folder + ": meta.json is unreadable (" + e.what() + ")");
  }
}

std::optional<std::string> CheckpointStore::latest_valid(std::vector<std::string>* rejected) const {
  auto all = folders();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      read_meta(*it);
      return *it;
    } catch (const Error& e) {
      if (rejected) rejected->push_back(e.what());
    }
  }
  return std::nullopt;
}

CheckpointMeta CheckpointStore::load(const std::string& folder, models::Model& model,
                                     const LoadExtra& extra) {
  CheckpointMeta meta = read_meta(folder);
  try {
    // Tensors land where the model lives, whatever device wrote them.
    torch::Device device(torch::kCPU);
    for (auto& [name, module] : model.modules())
      for (auto& p : module->parameters()) {
        device = p.device();
        break;
      }
    torch::serialize::InputArchive ar;
    ar.load_from((fs::path(folder) / "state.pt").string(), device);
    for (auto& [name, module] : model.modules()) {
      torch::serialize::InputArchive sub;
      ar.read("module." + name, sub);
      module->load(sub);
    }
    model.load_state(ar);
    if (extra) extra(ar);
    torch::Tensor rng;
    ar.read("torch_rng", rng);
    at::Generator global = at::detail::getDefaultCPUGenerator();
    global.set_state(rng.to(torch::kCPU));
  } catch (const c10::Error& e) {
    throw CheckpointError(folder + ": state.pt does not fit this model (" +
                          std::string(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {  // LibTorch's unpickler also throws std:: errors
    throw CheckpointError(folder + ": state.pt cannot be read (" + std::string(e.what()) + ")");
  }
  for (auto& [name, module] : model.modules()) {
    auto it = meta.digests.find(name);
    if (it == meta.digests.end() || it->second != dist::module_digest(*module))
      throw CheckpointError(folder + ": " + name + " after loading does not match its digest");
  }
  return meta;
}

}  // namespace gan::train
