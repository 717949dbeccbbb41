// EXIF orientation: the TIFF-structured block of a JPEG APP1 "Exif" segment or a PNG eXIf
// chunk, parsed alone (the decoders hand it over as found), then applied to a small image.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dataio/image_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes: ASan then sees any read past the block.
  const std::vector<uint8_t> block(data, data + size);
  const int o =
      gan::dataio::parse_exif_orientation(block.empty() ? nullptr : block.data(), block.size());
  if (o < 1 || o > 8) __builtin_trap();
  const int w = 3, h = 2;
  std::vector<uint8_t> src(w * h * 3), dst;
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i);
  int ow = 0, oh = 0;
  gan::dataio::apply_orientation(o, src, w, h, 3, &dst, &ow, &oh);
  if (static_cast<size_t>(ow) * oh * 3 != dst.size() || ow * oh != w * h) __builtin_trap();
  return 0;
}
