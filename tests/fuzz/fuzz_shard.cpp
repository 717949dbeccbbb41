// One HDF5 shard as the loader opens it: ShardReader, then every image and label through the
// loader's block reader (read_image_range) and the float conversion of a batch. The manifest is
// the shard's own claims, as gan_prep would have written it, limited to what Manifest::load
// accepts (the loader refuses a shard whose count or shape differs from the manifest).
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "core/errors.h"
#include "dataio/loader.h"
#include "dataio/manifest.h"
#include "dataio/shard.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

bool plausible(int64_t v, int64_t max) { return v >= 1 && v <= max; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = gan::fuzz::scratch_dir() + "/data";
    std::filesystem::create_directories(d);
    return d;
  }();
  const std::string path = dir + "/shard-00000.h5";
  gan::fuzz::write_file(path, data, size);
  try {
    gan::dataio::Manifest m;
    {
      gan::dataio::ShardReader r(path);
      m.shape = r.shape();
      m.chunk_images = r.chunk_images();
      m.label_dims = r.label_dims();
      m.total = r.count();
      // Small images and shards only: what is read is allocated.
      if (!plausible(m.shape.h, 4096) || !plausible(m.shape.w, 4096) || !plausible(m.shape.c, 4) ||
          !plausible(m.total, 1 << 16) || !plausible(m.chunk_images, 1 << 16) ||
          m.label_dims > 64 || m.total * m.shape.bytes() > (int64_t{16} << 20))
        return 0;
    }
    m.shards.push_back({"shard-00000.h5", m.total, ""});
    std::vector<int64_t> labels;
    const auto images = gan::dataio::read_image_range(dir, m, 0, m.total, &labels);
    const int64_t n = std::min<int64_t>(m.total, 4);
    gan::dataio::to_float_nchw(images.data(), n, m.shape);
  } catch (const gan::DataError&) {
    // the documented answer to a corrupt shard (exit 3)
  }
  // Every reader is gone: a shard left open would serve its cached metadata to the next open.
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE) != 0) __builtin_trap();
  return 0;
}
