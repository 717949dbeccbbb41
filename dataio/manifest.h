// manifest.json: the table of contents of a shard folder (names, counts, sha256, shape,
// recipe, channel statistics), and the writer that produces shards plus manifest.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dataio/shard.h"

namespace gan::dataio {

struct ShardEntry {
  std::string name;
  int64_t count = 0;
  std::string sha256;
};

struct Manifest {
  int format_version = kShardFormatVersion;
  ImageShape shape;
  int64_t label_dims = 0;
  int64_t num_classes = 0;  // for integer labels; 0 when unknown or multi-label
  int64_t chunk_images = 0;
  int64_t total = 0;
  Recipe recipe;
  std::vector<std::string> label_names;
  std::vector<double> mean, std;  // per channel, pixels scaled to [0, 1]
  std::vector<ShardEntry> shards;

  // DataError naming the folder or the field when missing, unparsable or inconsistent.
  static Manifest load(const std::string& dir);
  void save(const std::string& dir) const;  // atomic: temp file, fsync, rename
};

// Streams images into shard-00000.h5, shard-00001.h5, ... of `shard_size` images each, then
// writes manifest.json. Nothing is renamed into place until it is complete.
class ShardSetWriter {
 public:
  ShardSetWriter(std::string dir, ImageShape shape, int64_t label_dims, int64_t shard_size,
                 int64_t chunk_images, Recipe recipe);
  ~ShardSetWriter();
  void add(const uint8_t* image, const int64_t* labels);  // one image, HWC
  Manifest finish(int64_t num_classes = 0, std::vector<std::string> label_names = {});

 private:
  void flush_chunk();
  void close_shard();
  std::string dir_;
  Manifest m_;
  int64_t shard_size_;
  std::unique_ptr<ShardWriter> writer_;
  std::vector<uint8_t> pending_images_;
  std::vector<int64_t> pending_labels_;
  int64_t pending_ = 0;
  std::vector<uint64_t> sum_, sum_sq_;  // exact, per channel (channel_stats)
  uint64_t pixels_ = 0;
};

struct VerifyProblem {
  std::string shard;
  std::string reason;
};

// Per-channel mean and std in [0, 1] units from exact sums of the 0-255 values (and of their
// squares) over `pixels` pixels per channel: the manifest's statistics, whatever the source,
// combined from shards or ranks to the same value whatever the split.
void channel_stats(const std::vector<uint64_t>& sum, const std::vector<uint64_t>& sum_sq,
                   uint64_t pixels, std::vector<double>* mean, std::vector<double>* std);

// The file name of shard `index` in a dataset folder: shard-NNNNN.h5.
std::string shard_file_name(int64_t index);

// Re-hashes every shard against the manifest and, when `read_all`, reads every image back.
// Shards can be split over ranks: only those with index % stride == offset are checked.
std::vector<VerifyProblem> verify_shards(const std::string& dir, const Manifest& m, bool read_all,
                                         int offset = 0, int stride = 1);

}  // namespace gan::dataio
