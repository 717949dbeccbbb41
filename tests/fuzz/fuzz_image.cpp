// The image path of gan_prep celeba: JPEG (libjpeg-turbo) and PNG (libpng) decoding with EXIF
// orientation, DCT scaling, region-of-interest decoding and the JPEG tail check, then crop and
// resize. Every input goes through a plain decode and three gan_prep recipes that take the
// different decoder paths. The pixel cap is lowered from 2^26 so that a header claiming a
// huge image costs milliseconds, not a 192 MiB buffer; the cap check itself is the same.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "dataio/image_decode.h"
#include "dataio/image_prep.h"

namespace {

using namespace gan::dataio;

constexpr int64_t kFuzzMaxPixels = int64_t{1} << 20;

std::vector<PrepRecipe> recipes() {
  PrepRecipe a;  // celeba-like: centre crop, DCT scaling, ROI, tail structure check only
  a.crop = CropSpec::centre(32);
  a.size = 8;
  a.filter = ResizeFilter::kArea;
  a.decode_jpeg_tail = false;
  PrepRecipe b;  // whole image, full-size decode to EOI, Lanczos, small images refused
  b.crop = CropSpec::centre(0);
  b.size = 12;
  b.filter = ResizeFilter::kLanczos3;
  b.small = SmallImagePolicy::kSkip;
  b.dct_scaling = false;
  b.roi_decoding = false;
  PrepRecipe c;  // explicit box (which may not fit), bilinear, upscaling
  c.crop = CropSpec::explicit_box(CropBox{3, 2, 17, 19});
  c.size = 24;
  c.filter = ResizeFilter::kBilinear;
  std::vector<PrepRecipe> out{a, b, c};
  for (auto& r : out) r.max_pixels = kFuzzMaxPixels;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::unique_ptr<ImagePrep>> preps = [] {
    std::vector<std::unique_ptr<ImagePrep>> v;
    for (const auto& r : recipes()) v.push_back(std::make_unique<ImagePrep>(r));
    return v;
  }();
  DecodeOptions plain;
  plain.max_pixels = kFuzzMaxPixels;
  // ImageError (a DataError) is how the decoder refuses a file; gan_prep reports and skips it.
  try {
    const DecodedImage im = decode_image(data, size, plain, "fuzz");
    if (im.rgb.size() != static_cast<size_t>(im.width) * im.height * 3) __builtin_trap();
  } catch (const ImageError&) {
  } catch (const std::bad_alloc&) {
  }
  // process_bytes promises never to throw for bad input.
  std::string reason;
  for (const auto& prep : preps) {
    std::vector<uint8_t> out(prep->output_bytes());
    prep->process_bytes(data, size, "fuzz", out.data(), &reason);
  }
  return 0;
}
