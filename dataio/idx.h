// Reader for IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gan::dataio {

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
};

// Throw DataError naming the file on a bad magic number, a short file or inconsistent sizes.
IdxImages read_idx_images(const std::string& path);
std::vector<int64_t> read_idx_labels(const std::string& path);

}  // namespace gan::dataio
