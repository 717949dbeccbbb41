#include "dataio/manifest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/checked_io.h"
#include "core/errors.h"
#include "core/sha256.h"

namespace gan::dataio {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// HDF5 refuses chunks over 4 GiB, so no shard of ours can hold a block (chunk) larger than that.
constexpr int64_t kMaxChunkBytes = int64_t{1} << 32;
constexpr int64_t kMaxSide = int64_t{1} << 20;  // per dimension of an image; keeps bytes() exact

// nlohmann turns a JSON float into an integer with a plain cast, undefined when it does not fit
// (1e21 into int64_t): integer fields must be JSON integers.
int64_t integer(const json& v, const std::string& path) {
  if (!v.is_number_integer())
    throw DataError(path + ": expected an integer, found " +
                    (v.is_number() ? v.dump() : std::string(v.type_name())));
  return v.get<int64_t>();
}

std::vector<int64_t> integers(const json& v, const std::string& path) {
  if (!v.is_array()) throw DataError(path + ": expected a list of integers");
  std::vector<int64_t> out;
  for (const auto& x : v) out.push_back(integer(x, path));
  return out;
}

}  // namespace

void channel_stats(const std::vector<uint64_t>& sum, const std::vector<uint64_t>& sum_sq,
                   uint64_t pixels, std::vector<double>* mean, std::vector<double>* std) {
  mean->assign(sum.size(), 0.0);
  std->assign(sum.size(), 0.0);
  if (pixels == 0) return;
  for (size_t c = 0; c < sum.size(); ++c) {
    const double m = static_cast<double>(sum[c]) / pixels;
    const double var = std::max(0.0, static_cast<double>(sum_sq[c]) / pixels - m * m);
    (*mean)[c] = m / 255.0;
    (*std)[c] = std::sqrt(var) / 255.0;
  }
}

std::string shard_file_name(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(index));
  return buf;
}

Manifest Manifest::load(const std::string& dir) {
  const std::string path = (fs::path(dir) / "manifest.json").string();
  if (!fs::is_directory(dir)) throw DataError("data folder " + dir + " does not exist");
  std::ifstream in(path);
  if (!in) throw DataError(path + ": missing (is " + dir + " a folder made by gan_prep?)");
  Manifest m;
  try {
    json j = json::parse(in);
    const int64_t version = integer(j.at("format_version"), path);
    if (version != kShardFormatVersion)
      throw DataError(path + ": format_version " + std::to_string(version) +
                      " is not supported (expected " + std::to_string(kShardFormatVersion) + ")");
    auto shape = integers(j.at("image_shape"), path);
    if (shape.size() != 3) throw DataError(path + ": image_shape must be [H, W, C]");
    for (int64_t v : shape)
      if (v < 1 || v > kMaxSide) throw DataError(path + ": implausible image_shape");
    m.shape = {shape[0], shape[1], shape[2]};
    m.label_dims = j.contains("label_dims") ? integer(j["label_dims"], path) : 0;
    m.num_classes = j.contains("num_classes") ? integer(j["num_classes"], path) : 0;
    if (m.label_dims < 0 || m.num_classes < 0)
      throw DataError(path + ": label_dims and num_classes cannot be negative");
    m.chunk_images = integer(j.at("chunk_images"), path);
    // The readers step through shards by chunk_images and allocate one chunk at a time.
    if (m.chunk_images < 1 || m.chunk_images > kMaxChunkBytes / m.shape.bytes())
      throw DataError(path + ": chunk_images " + std::to_string(m.chunk_images) +
                      " is not a possible HDF5 chunk of " + std::to_string(m.shape.bytes()) +
                      "-byte images");
    m.total = integer(j.at("total"), path);
    const auto& r = j.at("recipe");
    m.recipe.source = r.at("source").get<std::string>();
    auto box = integers(r.at("crop_box"), path);
    for (size_t i = 0; i < 4 && i < box.size(); ++i) m.recipe.crop_box[i] = box[i];
    m.recipe.filter = r.at("filter").get<std::string>();
    m.label_names = j.value("label_names", std::vector<std::string>{});
    m.mean = j.at("mean").get<std::vector<double>>();
    m.std = j.at("std").get<std::vector<double>>();
    int64_t sum = 0;
    for (const auto& s : j.at("shards")) {
      ShardEntry e{s.at("name").get<std::string>(), integer(s.at("count"), path),
                   s.at("sha256").get<std::string>()};
      if (e.name.find('/') != std::string::npos || e.count <= 0)
        throw DataError(path + ": bad shard entry " + e.name);
      if (e.count > m.total - sum)  // checked before adding: the sum cannot overflow
        throw DataError(path + ": shard counts add up to more than total " +
                        std::to_string(m.total));
      sum += e.count;
      m.shards.push_back(e);
    }
    if (sum != m.total || m.shards.empty())
      throw DataError(path + ": shard counts add up to " + std::to_string(sum) + ", total says " +
                      std::to_string(m.total));
  } catch (const json::exception& e) {
    throw DataError(path + ": " + e.what());
  }
  return m;
}

void Manifest::save(const std::string& dir) const {
  json j;
  j["format"] = "gan_dist-shards";
  j["format_version"] = format_version;
  j["image_shape"] = {shape.h, shape.w, shape.c};
  j["layout"] = "NHWC uint8";
  j["label_dims"] = label_dims;
  j["num_classes"] = num_classes;
  j["label_names"] = label_names;
  j["chunk_images"] = chunk_images;
  j["total"] = total;
  j["recipe"] = {{"source", recipe.source},
                 {"crop_box", recipe.crop_box},
                 {"filter", recipe.filter},
                 {"size", {shape.h, shape.w}}};
  j["mean"] = mean;
  j["std"] = std;
  j["shards"] = json::array();
  for (const auto& s : shards)
    j["shards"].push_back({{"name", s.name}, {"count", s.count}, {"sha256", s.sha256}});
  const std::string final_path = (fs::path(dir) / "manifest.json").string();
  write_file_atomic(final_path, j.dump(2) + "\n");
}

ShardSetWriter::ShardSetWriter(std::string dir, ImageShape shape, int64_t label_dims,
                               int64_t shard_size, int64_t chunk_images, Recipe recipe)
    : dir_(std::move(dir)), shard_size_(shard_size) {
  m_.shape = shape;
  m_.label_dims = label_dims;
  m_.chunk_images = std::min(chunk_images, shard_size);
  m_.recipe = std::move(recipe);
  sum_.assign(shape.c, 0);
  sum_sq_.assign(shape.c, 0);
  fs::create_directories(dir_);
}

ShardSetWriter::~ShardSetWriter() = default;

void ShardSetWriter::add(const uint8_t* image, const int64_t* labels) {
  const int64_t bytes = m_.shape.bytes();
  pending_images_.insert(pending_images_.end(), image, image + bytes);
  if (m_.label_dims > 0)
    pending_labels_.insert(pending_labels_.end(), labels, labels + m_.label_dims);
  for (int64_t i = 0; i < bytes; ++i) {
    const uint64_t v = image[i];
    sum_[i % m_.shape.c] += v;
    sum_sq_[i % m_.shape.c] += v * v;
  }
  pixels_ += static_cast<uint64_t>(m_.shape.h * m_.shape.w);
  ++pending_;
  if (pending_ == m_.chunk_images) flush_chunk();
}

void ShardSetWriter::flush_chunk() {
  if (pending_ == 0) return;
  if (!writer_) {
    std::string name = shard_file_name(static_cast<int64_t>(m_.shards.size()));
    writer_ = std::make_unique<ShardWriter>((fs::path(dir_) / name).string(), m_.shape,
                                            m_.label_dims, m_.chunk_images, m_.recipe);
    m_.shards.push_back({name, 0, ""});
  }
  int64_t room = shard_size_ - writer_->count();
  int64_t n = std::min(room, pending_);
  writer_->append(pending_images_.data(), pending_labels_.data(), n);
  pending_images_.erase(pending_images_.begin(), pending_images_.begin() + n * m_.shape.bytes());
  pending_labels_.erase(pending_labels_.begin(), pending_labels_.begin() + n * m_.label_dims);
  pending_ -= n;
  if (writer_->count() == shard_size_) close_shard();
  if (pending_ > 0) flush_chunk();
}

void ShardSetWriter::close_shard() {
  writer_->close();
  auto& e = m_.shards.back();
  e.count = writer_->count();
  e.sha256 = sha256_file((fs::path(dir_) / e.name).string());
  m_.total += e.count;
  writer_.reset();
}

Manifest ShardSetWriter::finish(int64_t num_classes, std::vector<std::string> label_names) {
  flush_chunk();
  if (writer_) close_shard();
  if (m_.total == 0) throw DataError("no images to write to " + dir_);
  m_.num_classes = num_classes;
  m_.label_names = std::move(label_names);
  channel_stats(sum_, sum_sq_, pixels_, &m_.mean, &m_.std);
  m_.save(dir_);
  return m_;
}

std::vector<VerifyProblem> verify_shards(const std::string& dir, const Manifest& m, bool read_all,
                                         int offset, int stride) {
  std::vector<VerifyProblem> problems;
  for (size_t i = 0; i < m.shards.size(); ++i) {
    if (static_cast<int>(i % stride) != offset) continue;
    const auto& e = m.shards[i];
    const std::string path = (fs::path(dir) / e.name).string();
    try {
      std::string got = sha256_file(path);
      if (got != e.sha256) {
        problems.push_back({e.name, "sha256 mismatch (manifest " + e.sha256.substr(0, 12) +
                                        "…, file " + got.substr(0, 12) + "…)"});
        continue;
      }
      ShardReader r(path);
      if (r.count() != e.count)
        problems.push_back({e.name, "holds " + std::to_string(r.count()) +
                                        " images, manifest says " + std::to_string(e.count)});
      else if (!(r.shape() == m.shape))
        problems.push_back({e.name, "image shape differs from the manifest"});
      else if (m.label_dims > 0 && r.label_dims() != m.label_dims)
        problems.push_back({e.name, "holds " + std::to_string(r.label_dims()) +
                                        " labels per image, manifest says " +
                                        std::to_string(m.label_dims)});
      else if (read_all) {
        const int64_t block = std::min(m.chunk_images, r.count());
        std::vector<uint8_t> buf(static_cast<size_t>(m.shape.bytes() * block));
        for (int64_t s = 0; s < r.count(); s += m.chunk_images) {
          int64_t n = std::min(m.chunk_images, r.count() - s);
          r.read_images(s, n, buf.data());
        }
      }
    } catch (const std::exception& ex) {
      problems.push_back({e.name, ex.what()});
    }
  }
  return problems;
}

}  // namespace gan::dataio
