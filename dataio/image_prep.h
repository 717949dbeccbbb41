// The per-file gan_prep image recipe: safe read -> decode (DCT-scaled when the crop allows)
// -> crop -> resize to size x size RGB8. One ImagePrep per thread; no MPI, no torch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataio/image_decode.h"
#include "dataio/image_resize.h"

namespace gan::dataio {

struct PrepRecipe {
  CropSpec crop = CropSpec::centre(128);
  int size = 64;  // output is size x size x 3
  ResizeFilter filter = ResizeFilter::kArea;
  SmallImagePolicy small = SmallImagePolicy::kUpscale;
  // Decode JPEGs at 1/2, 1/4 or 1/8 when the crop is still >= size there. Faster; the
  // result differs from the full-size path by about one level on average (docs/prep.md).
  bool dct_scaling = true;
  // Reconstruct only the crop (plus the filter margin) of a JPEG. Same bytes as without.
  bool roi_decoding = true;
  // JPEG rows below the crop: entropy-decoded to EOI (true) or structure-checked only
  // (false; DecodeOptions::decode_jpeg_tail). The pixels are the same either way.
  bool decode_jpeg_tail = true;
  int64_t max_pixels = kDefaultMaxPixels;
  int64_t max_file_bytes = kDefaultMaxFileBytes;

  // One line describing the recipe, stored in shard attributes and the manifest.
  std::string describe() const;
};

class ImagePrep {
 public:
  explicit ImagePrep(PrepRecipe recipe);
  const PrepRecipe& recipe() const { return recipe_; }
  size_t output_bytes() const { return static_cast<size_t>(recipe_.size) * recipe_.size * 3; }

  // Processes one file into out[output_bytes()]. Returns false and sets *reason when the
  // file cannot become a sample (the reason goes into prep-report.json); out is then
  // untouched. Never throws for bad input data.
  bool process_file(const std::string& path, uint8_t* out, std::string* reason);
  bool process_bytes(const uint8_t* data, size_t size, const std::string& path, uint8_t* out,
                     std::string* reason);

  // Crop box (full-resolution pixels) and DCT scale used by the last successful call.
  const CropBox& last_crop() const { return last_crop_; }
  int last_scale_denom() const { return last_denom_; }

 private:
  PrepRecipe recipe_;
  ImageDecoder decoder_;
  Resampler resampler_;
  DecodedImage image_;
  std::vector<uint8_t> bytes_;
  CropBox last_crop_;
  int last_denom_ = 1;
};

}  // namespace gan::dataio
