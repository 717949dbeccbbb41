#include "dataio/idx.h"

#include <zlib.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/errors.h"

namespace gan::dataio {
namespace {

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), f_(gzopen(path.c_str(), "rb")) {
    if (!f_) throw DataError("cannot open " + path);
  }
  ~GzFile() { gzclose(f_); }
  void read(void* dst, size_t n) {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      unsigned chunk = n > (1u << 30) ? (1u << 30) : static_cast<unsigned>(n);
      int got = gzread(f_, p, chunk);
      if (got <= 0) {
        int err = 0;
        const char* msg = gzerror(f_, &err);
        throw DataError(path_ + ": truncated or corrupt (" + (err ? msg : "unexpected end") + ")");
      }
      p += got;
      n -= static_cast<size_t>(got);
    }
  }
  // Reads n bytes into out. The size comes from the header, so the buffer grows with the data
  // that actually arrives (geometrically, by resize): a header claiming more than the file
  // holds ends as "truncated", not as an allocation of what it claims.
  void read_claimed(std::vector<uint8_t>* out, size_t n) {
    constexpr size_t kStep = size_t{1} << 20;
    out->clear();
    while (out->size() < n) {
      const size_t have = out->size(), take = std::min(kStep, n - have);
      out->resize(have + take);
      read(out->data() + have, take);
    }
  }
  uint32_t be32() {
    unsigned char b[4];
    read(b, 4);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3];
  }
  bool at_end() {
    char c;
    return gzread(f_, &c, 1) == 0;
  }

 private:
  std::string path_;
  gzFile f_;
};

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  GzFile f(path);
  uint32_t magic = f.be32();
  if (magic != 0x00000803)
    throw DataError(path + ": not an IDX image file (magic " + std::to_string(magic) +
                    ", expected 2051)");
  IdxImages out;
  out.count = f.be32();
  out.rows = f.be32();
  out.cols = f.be32();
  if (out.rows <= 0 || out.cols <= 0 || out.rows > 4096 || out.cols > 4096)
    throw DataError(path + ": implausible image size " + std::to_string(out.rows) + "x" +
                    std::to_string(out.cols));
  f.read_claimed(&out.pixels, static_cast<size_t>(out.count * out.rows * out.cols));
  if (!f.at_end())
    throw DataError(path + ": trailing bytes after " + std::to_string(out.count) + " images");
  return out;
}

std::vector<int64_t> read_idx_labels(const std::string& path) {
  GzFile f(path);
  uint32_t magic = f.be32();
  if (magic != 0x00000801)
    throw DataError(path + ": not an IDX label file (magic " + std::to_string(magic) +
                    ", expected 2049)");
  uint32_t n = f.be32();
  std::vector<uint8_t> raw;
  f.read_claimed(&raw, n);
  if (!f.at_end())
    throw DataError(path + ": trailing bytes after " + std::to_string(n) + " labels");
  return std::vector<int64_t>(raw.begin(), raw.end());
}

}  // namespace gan::dataio
