// Glue of the gan_prep image recipe; the interesting parts live in image_decode/image_resize.
#include "dataio/image_prep.h"

#include <utility>

namespace gan::dataio {

std::string PrepRecipe::describe() const {
  std::string s = "crop=" + crop_spec_string(crop);
  s += crop.kind == CropSpec::Kind::kCentre ? " (centre)" : " (y,x,h,w)";
  s += " size=" + std::to_string(size);
  s += std::string(" filter=") + resize_filter_name(filter);
  s += small == SmallImagePolicy::kUpscale ? " small=upscale" : " small=skip";
  s += dct_scaling ? " dct_scaling=on" : " dct_scaling=off";
  if (!decode_jpeg_tail) s += " jpeg_tail=scan";  // absent when default: older keys still match
  s += " alpha=composite-on-black";
  return s;
}

ImagePrep::ImagePrep(PrepRecipe recipe) : recipe_(std::move(recipe)) {
  if (recipe_.size <= 0) throw UsageError("--size must be positive");
}

bool ImagePrep::process_file(const std::string& path, uint8_t* out, std::string* reason) {
  try {
    read_image_file(path, &bytes_, recipe_.max_file_bytes);
  } catch (const ImageError& e) {
    *reason = e.reason();
    return false;
  }
  return process_bytes(bytes_.data(), bytes_.size(), path, out, reason);
}

bool ImagePrep::process_bytes(const uint8_t* data, size_t size, const std::string& path,
                              uint8_t* out, std::string* reason) {
  DecodeOptions opts;
  opts.max_pixels = recipe_.max_pixels;
  opts.allow_dct_scaling = recipe_.dct_scaling;
  opts.min_side = recipe_.size;
  if (recipe_.crop.kind == CropSpec::Kind::kCentre) {
    opts.crop_w = opts.crop_h = recipe_.crop.size;  // 0 = whole image
  } else {
    opts.crop_w = recipe_.crop.box.w;
    opts.crop_h = recipe_.crop.box.h;
  }
  CropBox box;
  // Resolve the crop from the header, before any pixel is decoded: lets the decoder refuse
  // a too-small image early and reconstruct only the box (plus the filter's margin).
  opts.region = [this, &box](int w, int h, CropBox* b, std::string* why) {
    if (!resolve_crop(recipe_.crop, w, h, recipe_.small, &box, why)) return false;
    *b = box;
    return true;
  };
  opts.allow_roi = recipe_.roi_decoding;
  opts.decode_jpeg_tail = recipe_.decode_jpeg_tail;
  opts.resample_support = recipe_.filter == ResizeFilter::kArea       ? 0.5
                          : recipe_.filter == ResizeFilter::kBilinear ? 1.0
                                                                      : 3.0;
  try {
    decoder_.decode(data, size, opts, &image_, path);
  } catch (const ImageError& e) {
    *reason = e.reason();
    return false;
  } catch (const std::bad_alloc&) {
    *reason = "out of memory while decoding";
    return false;
  }
  // Full-resolution pixel edges map to edge / denom - offset in the decoded buffer: the box
  // may become fractional, which the resampler handles exactly.
  const double d = image_.scale_denom;
  const double ox = image_.offset_x, oy = image_.offset_y;
  resampler_.resize(image_.rgb.data(), image_.width, image_.height, 3, box.x / d - ox,
                    box.y / d - oy, (box.x + box.w) / d - ox, (box.y + box.h) / d - oy, out,
                    recipe_.size, recipe_.size, recipe_.filter);
  last_crop_ = box;
  last_denom_ = image_.scale_denom;
  return true;
}

}  // namespace gan::dataio
