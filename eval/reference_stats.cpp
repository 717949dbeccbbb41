#include "eval/reference_stats.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "core/checked_io.h"
#include "core/sha256.h"

namespace gan::eval {
namespace fs = std::filesystem;
namespace {

// sha256 over the key and the bytes of every tensor: what was written is what is read.
std::string digest(const ReferenceKey& key, const ReferenceStats& s) {
  Sha256 h;
  const std::string k = key.text();
  h.update(k.data(), k.size());
  for (const torch::Tensor& t : {s.features, s.gaussian.mean, s.gaussian.cov}) {
    torch::Tensor c = t.to(torch::kCPU).contiguous();
    const std::string meta =
        std::string(c10::toString(c.scalar_type())) + ":" + std::to_string(c.numel()) + ";";
    h.update(meta.data(), meta.size());
    h.update(c.data_ptr(), c.nbytes());
  }
  return h.hex();
}

}  // namespace

std::string ReferenceKey::text() const {
  return "features=" + feature_id + " data=" + data_id + " n=" + std::to_string(n);
}

std::string data_identity(const std::string& data_dir) {
  return sha256_file((fs::path(data_dir) / "manifest.json").string());
}

std::string reference_cache_path(const std::string& data_dir, const ReferenceKey& key) {
  return (fs::path(data_dir) / "feature-stats" /
          (key.feature_id.substr(0, 16) + "-" + key.data_id.substr(0, 16) + "-n" +
           std::to_string(key.n) + ".pt"))
      .string();
}

std::optional<ReferenceStats> load_reference_stats(const std::string& path, const ReferenceKey& key,
                                                   std::string* why) {
  if (!fs::exists(path)) {
    *why = "no cache file";
    return std::nullopt;
  }
  ReferenceStats s;
  std::string stored_key, stored_digest;
  try {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw std::runtime_error("read error");
    torch::serialize::InputArchive ar;
    ar.load_from(bytes.data(), bytes.size());
    c10::IValue k, d;
    ar.read("key", k);
    ar.read("digest", d);
    stored_key = k.toStringRef();
    stored_digest = d.toStringRef();
    ar.read("features", s.features);
    ar.read("mean", s.gaussian.mean);
    ar.read("cov", s.gaussian.cov);
  } catch (const c10::Error& e) {
    *why = std::string("unreadable (") + e.what_without_backtrace() + ")";
    return std::nullopt;
  } catch (const std::exception& e) {  // LibTorch's unpickler also throws std:: errors
    *why = std::string("unreadable (") + e.what() + ")";
    return std::nullopt;
  }
  if (stored_key != key.text()) {
    *why = "made for another network, data or count (" + stored_key + ")";
    return std::nullopt;
  }
  const int64_t d = s.gaussian.mean.numel();
  if (s.features.dim() != 2 || s.features.size(0) != key.n || s.features.size(1) != d ||
      s.gaussian.cov.dim() != 2 || s.gaussian.cov.size(0) != d || s.gaussian.cov.size(1) != d ||
      digest(key, s) != stored_digest) {
    *why = "contents do not match their checksum";
    return std::nullopt;
  }
  return s;
}

void save_reference_stats(const std::string& path, const ReferenceKey& key,
                          const ReferenceStats& s) {
  torch::serialize::OutputArchive ar;
  ar.write("key", c10::IValue(key.text()));
  ar.write("digest", c10::IValue(digest(key, s)));
  ar.write("features", s.features.to(torch::kCPU).contiguous());
  ar.write("mean", s.gaussian.mean.to(torch::kCPU).contiguous());
  ar.write("cov", s.gaussian.cov.to(torch::kCPU).contiguous());
  std::string bytes;  // in memory, then one checked, atomic write
  ar.save_to([&bytes](const void* data, size_t n) -> size_t {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  fs::create_directories(fs::path(path).parent_path());
  write_file_atomic(path, bytes);
}

}  // namespace gan::eval
