// One HDF5 shard: dataset `images` uint8 [N,H,W,C] chunked by blocks of images, optional
// `labels` int64 [N] or [N,K], and file attributes describing how it was made.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace gan::dataio {

constexpr int kShardFormatVersion = 1;

struct ImageShape {
  int64_t h = 0, w = 0, c = 0;
  int64_t bytes() const { return h * w * c; }
  bool operator==(const ImageShape& o) const { return h == o.h && w == o.w && c == o.c; }
};

struct Recipe {
  std::string source;                 // "idx", "celeba", ...
  std::array<int64_t, 4> crop_box{};  // y, x, h, w in the source image (zeros: no crop)
  std::string filter = "none";        // resize filter, "none" when images were not resized
};

class ShardWriter {
 public:
  // label_dims: 0 no labels, 1 for [N], K > 1 for [N, K]. Writes `path`.tmp, renamed by close().
  ShardWriter(std::string path, ImageShape shape, int64_t label_dims, int64_t chunk_images,
              const Recipe& recipe);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void append(const uint8_t* images, const int64_t* labels, int64_t n);
  int64_t count() const { return count_; }
  void close();  // flush, fsync, rename into place

 private:
  std::string path_, tmp_;
  ImageShape shape_;
  int64_t label_dims_;
  int64_t count_ = 0;
  int64_t file_ = -1, images_ = -1, labels_ = -1;  // hid_t, kept out of the header
};

class ShardReader {
 public:
  explicit ShardReader(const std::string& path);  // DataError naming the file when unreadable
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  int64_t count() const { return count_; }
  ImageShape shape() const { return shape_; }
  int64_t label_dims() const { return label_dims_; }
  int64_t chunk_images() const { return chunk_images_; }
  void read_images(int64_t start, int64_t n, uint8_t* dst) const;
  void read_labels(int64_t start, int64_t n, int64_t* dst) const;

 private:
  std::string path_;
  ImageShape shape_;
  int64_t count_ = 0, label_dims_ = 0, chunk_images_ = 0;
  int64_t file_ = -1, images_ = -1, labels_ = -1;
};

}  // namespace gan::dataio
