#include "dataio/loader.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <list>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include "core/errors.h"

namespace gan::dataio {
namespace fs = std::filesystem;

namespace {

// Maps global image indices to (shard, offset) and serves whole blocks from an LRU cache,
// so memory stays bounded whatever the dataset size.
class BlockReader {
 public:
  // `bytes_read`, when given, counts the bytes read from the shards (cache misses).
  BlockReader(const std::string& dir, const Manifest& m, size_t capacity,
              std::atomic<int64_t>* bytes_read = nullptr)
      : m_(m), capacity_(capacity), bytes_read_(bytes_read) {
    int64_t first = 0;
    for (const auto& s : m.shards) {
      readers_.push_back(std::make_unique<ShardReader>((fs::path(dir) / s.name).string()));
      // The block buffers are sized from the manifest: the shard must agree with it, labels
      // included (HDF5 writes a shard's own label width into them).
      const ShardReader& r = *readers_.back();
      if (r.count() != s.count || !(r.shape() == m.shape) ||
          (m.label_dims > 0 && r.label_dims() != m.label_dims))
        throw DataError(s.name + ": does not match manifest.json (count, shape or labels)");
      starts_.push_back(first);
      first += s.count;
    }
    starts_.push_back(first);
  }

  // Copies image `index` (and its labels) into the destinations.
  void get(int64_t index, uint8_t* image, int64_t* labels) {
    size_t s = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), index) -
                                   starts_.begin() - 1);
    int64_t local = index - starts_[s];
    int64_t block_start = local / m_.chunk_images * m_.chunk_images;
    const Block& b = block(s, block_start);
    int64_t k = local - block_start;
    std::copy_n(b.images.data() + k * m_.shape.bytes(), m_.shape.bytes(), image);
    if (labels && m_.label_dims > 0)
      std::copy_n(b.labels.data() + k * m_.label_dims, m_.label_dims, labels);
  }

 private:
  struct Block {
    std::vector<uint8_t> images;
    std::vector<int64_t> labels;
  };
  using Key = std::pair<size_t, int64_t>;
  struct KeyHash {
    size_t operator()(const Key& k) const { return k.first * 1000003u ^ size_t(k.second); }
  };

  const Block& block(size_t shard, int64_t start) {
    Key key{shard, start};
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      return it->second.first;
    }
    const ShardReader& r = *readers_[shard];
    int64_t n = std::min(m_.chunk_images, r.count() - start);
    Block b;
    b.images.resize(static_cast<size_t>(n * m_.shape.bytes()));
    r.read_images(start, n, b.images.data());
    if (m_.label_dims > 0) {
      b.labels.resize(static_cast<size_t>(n * m_.label_dims));
      r.read_labels(start, n, b.labels.data());
    }
    if (bytes_read_)
      *bytes_read_ += static_cast<int64_t>(b.images.size() + b.labels.size() * sizeof(int64_t));
    if (cache_.size() >= capacity_) {
      cache_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.push_front(key);
    return cache_.emplace(key, std::make_pair(std::move(b), lru_.begin())).first->second.first;
  }

  const Manifest& m_;
  size_t capacity_;
  std::atomic<int64_t>* bytes_read_;
  std::vector<std::unique_ptr<ShardReader>> readers_;
  std::vector<int64_t> starts_;
  std::list<Key> lru_;
  std::unordered_map<Key, std::pair<Block, std::list<Key>::iterator>, KeyHash> cache_;
};

}  // namespace

torch::Tensor to_float_nchw(const uint8_t* data, int64_t n, const ImageShape& shape) {
  torch::Tensor out = torch::empty({n, shape.c, shape.h, shape.w}, torch::kFloat);
  to_float_nchw(data, n, shape, out);
  return out;
}

void to_float_nchw(const uint8_t* data, int64_t n, const ImageShape& shape,
                   const torch::Tensor& out) {
  if (!out.device().is_cpu() || out.scalar_type() != torch::kFloat || !out.is_contiguous() ||
      out.numel() != n * shape.bytes())
    throw std::invalid_argument("to_float_nchw: `out` must be a contiguous CPU float tensor of " +
                                std::to_string(n * shape.bytes()) + " elements");
  // A 256-entry table replaces the multiply-add; the channel loop is outside so that writes
  // run contiguously through each plane.
  static const auto lut = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v) * (2.0f / 255.0f) - 1.0f;
    return t;
  }();
  float* dst = out.data_ptr<float>();
  const int64_t hw = shape.h * shape.w, c = shape.c;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* src = data + i * shape.bytes();
    float* d = dst + i * shape.bytes();
    for (int64_t ch = 0; ch < c; ++ch) {
      float* plane = d + ch * hw;
      const uint8_t* s = src + ch;
      for (int64_t p = 0; p < hw; ++p) plane[p] = lut[s[p * c]];
    }
  }
}

std::vector<uint8_t> read_image_range(const std::string& dir, const Manifest& m, int64_t first,
                                      int64_t n, std::vector<int64_t>* labels) {
  BlockReader reader(dir, m, 2);
  std::vector<uint8_t> out(static_cast<size_t>(n * m.shape.bytes()));
  const bool want = labels && m.label_dims > 0;
  if (want) labels->assign(static_cast<size_t>(n * m.label_dims), 0);
  for (int64_t i = 0; i < n; ++i)
    reader.get(first + i, out.data() + i * m.shape.bytes(),
               want ? labels->data() + i * m.label_dims : nullptr);
  return out;
}

Loader::Loader(std::string dir, Manifest manifest, LoaderOptions opts)
    : dir_(std::move(dir)), m_(std::move(manifest)), opts_(opts) {
  std::vector<int64_t> counts;
  for (const auto& s : m_.shards) counts.push_back(s.count);
  steps_per_epoch_ = DistributedSampler(counts, m_.chunk_images, opts_.sampler).steps_per_epoch();
  thread_ = std::thread([this] { run(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Loader::run() {
  try {
    std::vector<int64_t> counts;
    for (const auto& s : m_.shards) counts.push_back(s.count);
    DistributedSampler sampler(counts, m_.chunk_images, opts_.sampler);
    BlockReader reader(dir_, m_, static_cast<size_t>(2 * opts_.sampler.window_blocks + 2),
                       &bytes_read_);
    const int64_t b = sampler.local_batch();
    std::vector<uint8_t> images(static_cast<size_t>(b * m_.shape.bytes()));
    for (int64_t step = opts_.start_step; step < opts_.end_step; ++step) {
      Batch batch;
      batch.step = step;
      batch.epoch = sampler.epoch_of(step);
      auto idx = sampler.indices(step);
      // With pin_memory the batch is allocated page-locked and filled in place (needs CUDA at
      // run time; a CPU run never asks for it).
      const auto pinned = torch::TensorOptions().pinned_memory(opts_.pin_memory);
      torch::Tensor labels;
      if (m_.label_dims > 0)
        labels = m_.label_dims == 1 ? torch::empty({b}, pinned.dtype(torch::kInt64))
                                    : torch::empty({b, m_.label_dims}, pinned.dtype(torch::kInt64));
      for (int64_t j = 0; j < b; ++j)
        reader.get(idx[j], images.data() + j * m_.shape.bytes(),
                   labels.defined() ? labels.data_ptr<int64_t>() + j * m_.label_dims : nullptr);
      if (opts_.pin_memory) {
        batch.images =
            torch::empty({b, m_.shape.c, m_.shape.h, m_.shape.w}, pinned.dtype(torch::kFloat));
        to_float_nchw(images.data(), b, m_.shape, batch.images);
      } else {
        batch.images = to_float_nchw(images.data(), b, m_.shape);
      }
      batch.labels = labels;
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stop_ || static_cast<int>(ready_.size()) < opts_.prefetch; });
      if (stop_) return;
      ready_.push_back(std::move(batch));
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lk(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

Batch Loader::next() {
  auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return !ready_.empty() || error_; });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ready_.empty()) std::rethrow_exception(error_);
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  cv_.notify_all();
  return b;
}

double Loader::take_wait_seconds() {
  std::lock_guard<std::mutex> lk(mu_);
  double s = wait_seconds_;
  wait_seconds_ = 0;
  return s;
}

}  // namespace gan::dataio
