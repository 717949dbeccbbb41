// IDX files (gan_prep idx): the same bytes as an image file and as a label file, plain or
// gzip (zlib decides from the first bytes, as it does for the real files).
#include <cstddef>
#include <cstdint>

#include "core/errors.h"
#include "dataio/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = gan::fuzz::scratch_dir() + "/input.idx.gz";
  gan::fuzz::write_file(path, data, size);
  // DataError is the documented answer to a bad file (gan_prep exits 3).
  try {
    const auto images = gan::dataio::read_idx_images(path);
    if (images.pixels.size() != static_cast<size_t>(images.count * images.rows * images.cols))
      __builtin_trap();
  } catch (const gan::DataError&) {
  }
  try {
    gan::dataio::read_idx_labels(path);
  } catch (const gan::DataError&) {
  }
  return 0;
}
