// Crop geometry (CelebA centre crop, explicit box, small-image policy) and deterministic
// separable resampling (area, antialiased bilinear, Lanczos-3) of RGB8 images for gan_prep.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dataio/image_types.h"

namespace gan::dataio {

enum class ResizeFilter { kArea, kBilinear, kLanczos3 };

// "area" | "bilinear" | "lanczos" (also "lanczos3", "box").
bool parse_resize_filter(const std::string& s, ResizeFilter* out);
const char* resize_filter_name(ResizeFilter f);

// What to do when the image is smaller than the requested centre crop.
enum class SmallImagePolicy {
  kUpscale,  // use the largest centred square that fits, resized (up) to the output size
  kSkip,     // record the file as skipped, with the reason
};
bool parse_small_policy(const std::string& s, SmallImagePolicy* out);

struct CropSpec {
  enum class Kind {
    kCentre,  // square of side `size` centred on the image; size 0 = largest centred square
    kBox,     // the literal `box`, which must lie inside the image
  };
  Kind kind = Kind::kCentre;
  int size = 0;
  CropBox box;

  static CropSpec centre(int side) { return CropSpec{Kind::kCentre, side, {}}; }
  static CropSpec explicit_box(CropBox b) { return CropSpec{Kind::kBox, 0, b}; }
};

// "108" / "128" / any positive int -> centre crop; "full" -> largest centred square;
// "y,x,h,w" -> explicit box. Returns false on malformed text.
bool parse_crop_spec(const std::string& s, CropSpec* out);
std::string crop_spec_string(const CropSpec& c);

// The crop for an image of w x h full-resolution pixels. The centre crop starts at
// y0 = floor((h - side) / 2), x0 = floor((w - side) / 2): on the 178x218 aligned CelebA
// image a 108 crop is (y 55, x 35), 128 is (45, 25), the classic DCGAN/BEGAN recipe.
// Returns false and sets *reason when the file must be skipped.
bool resolve_crop(const CropSpec& spec, int w, int h, SmallImagePolicy small, CropBox* out,
                  std::string* reason);

// Separable resampler with weights cached for the last geometry (gan_prep sees the same
// geometry for every CelebA image). Fixed-point integer arithmetic, no threads: the same
// input gives the same bytes on every run, rank and thread count.
//
// The source region is a real-valued box [x0, x1) x [y0, y1) in source pixels (it may be
// fractional after DCT scaling). Filter taps may read source pixels just outside the box
// (bilinear/Lanczos support), clamped to the image, weights renormalised at the borders.
//  - area: exact coverage-weighted average of the source pixels under each output pixel
//    (box filter); when enlarging it falls back to bilinear (as OpenCV INTER_AREA does),
//    since area sampling of an enlarged image is nearest-neighbour.
//  - bilinear: triangle filter, widened by the scale factor when reducing (antialiased,
//    as PIL does); plain bilinear interpolation when enlarging.
//  - lanczos: Lanczos-3 windowed sinc, widened by the scale factor when reducing.
class Resampler {
 public:
  void resize(const uint8_t* src, int w, int h, int c, double x0, double y0, double x1, double y1,
              uint8_t* dst, int ow, int oh, ResizeFilter f);

  struct Taps {
    std::vector<int> first;     // first source index per output index
    std::vector<int> count;     // taps per output index
    std::vector<int32_t> coef;  // out_size * max_taps, Q14 fixed point, rows sum to 2^14
    int max_taps = 0;
    int32_t max_abs_coef = 0;
  };
  // Tests only: force the portable scalar loops (the SSE2 path must give the same bytes).
  void set_use_simd(bool on) { use_simd_ = on; }
  static Taps compute_taps(int in_size, double b0, double b1, int out_size, ResizeFilter f);

 private:
  struct Key {
    int in, out;
    double b0, b1;
    ResizeFilter f;
    bool operator==(const Key& o) const {
      return in == o.in && out == o.out && b0 == o.b0 && b1 == o.b1 && f == o.f;
    }
  };
  const Taps& taps_for(Key k, bool horizontal);
  Key hkey_{-1, -1, 0, 0, ResizeFilter::kArea}, vkey_{-1, -1, 0, 0, ResizeFilter::kArea};
  Taps htaps_, vtaps_;
  std::vector<int32_t> tmp_;
  std::vector<int32_t> acc_;
  bool use_simd_ = true;
};

// One-shot convenience wrapper.
void resize_region(const uint8_t* src, int w, int h, int c, double x0, double y0, double x1,
                   double y1, uint8_t* dst, int ow, int oh, ResizeFilter f);

}  // namespace gan::dataio
