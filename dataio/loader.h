// Streams this rank's batches from the shards on a background thread: reads whole blocks
// (bounded LRU cache), converts to float NCHW in [-1, 1], keeps a few batches ready.
#pragma once

#include <torch/types.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "dataio/batch.h"
#include "dataio/manifest.h"
#include "dataio/sampler.h"

namespace gan::dataio {

struct LoaderOptions {
  SamplerOptions sampler;
  int64_t start_step = 0;  // the loader's position: a resumed run starts where it stopped
  int64_t end_step = 0;
  int prefetch = 4;         // batches kept ready
  bool pin_memory = false;  // page-locked batches, for asynchronous copies to a GPU
};

class Loader {
 public:
  Loader(std::string dir, Manifest manifest, LoaderOptions opts);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  Batch next();  // blocks until ready; rethrows the reader thread's error
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  double take_wait_seconds();
  // Bytes of images and labels read from the shards so far (whole blocks, on cache misses):
  // about the dataset per epoch when sampling is invariant, about 1/N of it when sharded.
  int64_t bytes_read() const { return bytes_read_.load(); }

 private:
  void run();
  Batch make_batch(int64_t step);

  std::string dir_;
  Manifest m_;
  LoaderOptions opts_;
  int64_t steps_per_epoch_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  double wait_seconds_ = 0;
  std::atomic<int64_t> bytes_read_{0};
};

// Images [first, first + n) of the dataset in concatenation order as uint8 NHWC (no thread);
// their labels ([n * label_dims]) into `labels` when given and the data has labels.
std::vector<uint8_t> read_image_range(const std::string& dir, const Manifest& m, int64_t first,
                                      int64_t n, std::vector<int64_t>* labels = nullptr);
// uint8 NHWC -> float NCHW in [-1, 1].
torch::Tensor to_float_nchw(const uint8_t* data, int64_t n, const ImageShape& shape);
// The same into `out`, a contiguous CPU float tensor of n * C * H * W elements the caller
// allocated (page-locked memory, say), so nothing is copied a second time.
void to_float_nchw(const uint8_t* data, int64_t n, const ImageShape& shape,
                   const torch::Tensor& out);

}  // namespace gan::dataio
