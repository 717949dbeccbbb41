// Crop resolution and fixed-point separable resampling. Built with -ffp-contract=off (see
// CMakeLists.image.cmake) so the double-precision weight computation, and therefore the
// quantised weights, cannot change with -march flags that enable FMA.
#include "dataio/image_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace gan::dataio {

bool parse_resize_filter(const std::string& s, ResizeFilter* out) {
  if (s == "area" || s == "box") {
    *out = ResizeFilter::kArea;
  } else if (s == "bilinear") {
    *out = ResizeFilter::kBilinear;
  } else if (s == "lanczos" || s == "lanczos3") {
    *out = ResizeFilter::kLanczos3;
  } else {
    return false;
  }
  return true;
}

const char* resize_filter_name(ResizeFilter f) {
  switch (f) {
    case ResizeFilter::kArea:
      return "area";
    case ResizeFilter::kBilinear:
      return "bilinear";
    case ResizeFilter::kLanczos3:
      return "lanczos3";
  }
  return "?";
}

bool parse_small_policy(const std::string& s, SmallImagePolicy* out) {
  if (s == "upscale") {
    *out = SmallImagePolicy::kUpscale;
  } else if (s == "skip") {
    *out = SmallImagePolicy::kSkip;
  } else {
    return false;
  }
  return true;
}

namespace {

bool parse_int(const std::string& s, int* v) {
  if (s.empty() || s.size() > 9) return false;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
  }
  *v = std::atoi(s.c_str());
  return true;
}

}  // namespace

bool parse_crop_spec(const std::string& s, CropSpec* out) {
  if (s == "full") {
    *out = CropSpec::centre(0);
    return true;
  }
  if (s.find(',') == std::string::npos) {
    int side = 0;
    if (!parse_int(s, &side) || side <= 0) return false;
    *out = CropSpec::centre(side);
    return true;
  }
  int v[4];
  size_t start = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t comma = s.find(',', start);
    const bool last = i == 3;
    if (last != (comma == std::string::npos)) return false;
    const std::string part = s.substr(start, last ? std::string::npos : comma - start);
    if (!parse_int(part, &v[i])) return false;
    start = comma + 1;
  }
  if (v[2] <= 0 || v[3] <= 0) return false;
  *out = CropSpec::explicit_box(CropBox{v[0], v[1], v[2], v[3]});
  return true;
}

std::string crop_spec_string(const CropSpec& c) {
  if (c.kind == CropSpec::Kind::kCentre) return c.size == 0 ? "full" : std::to_string(c.size);
  return std::to_string(c.box.y) + "," + std::to_string(c.box.x) + "," + std::to_string(c.box.h) +
         "," + std::to_string(c.box.w);
}

bool resolve_crop(const CropSpec& spec, int w, int h, SmallImagePolicy small, CropBox* out,
                  std::string* reason) {
  if (w <= 0 || h <= 0) {
    *reason = "empty image";
    return false;
  }
  if (spec.kind == CropSpec::Kind::kBox) {
    const CropBox& b = spec.box;
    if (b.y < 0 || b.x < 0 || b.h <= 0 || b.w <= 0 || int64_t{b.y} + b.h > h ||
        int64_t{b.x} + b.w > w) {
      *reason = "crop box y,x,h,w=" + crop_spec_string(spec) + " outside the " + std::to_string(w) +
                "x" + std::to_string(h) + " image";
      return false;
    }
    *out = b;
    return true;
  }
  int side = spec.size;
  const int fit = std::min(w, h);
  if (side == 0) {
    side = fit;
  } else if (side > fit) {
    if (small == SmallImagePolicy::kSkip) {
      *reason = "image " + std::to_string(w) + "x" + std::to_string(h) + " smaller than the " +
                std::to_string(side) + " crop";
      return false;
    }
    side = fit;  // largest centred square that fits; never pad with black
  }
  *out = CropBox{(h - side) / 2, (w - side) / 2, side, side};
  return true;
}

// ---------------------------------------------------------------------------------------

namespace {

constexpr int kCoefBits = 14;
constexpr int32_t kCoefOne = 1 << kCoefBits;

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos3(double x) {
  if (x <= -3.0 || x >= 3.0) return 0.0;
  return sinc(x) * sinc(x / 3.0);
}

}  // namespace

Resampler::Taps Resampler::compute_taps(int in_size, double b0, double b1, int out_size,
                                        ResizeFilter f) {
  if (in_size <= 0 || out_size <= 0 || !(b1 > b0)) {
    throw std::invalid_argument("resize: empty source or output");
  }
  const double scale = (b1 - b0) / out_size;  // source pixels per output pixel
  if (f == ResizeFilter::kArea && scale < 1.0) f = ResizeFilter::kBilinear;
  const double fscale = std::max(scale, 1.0);
  const double support = f == ResizeFilter::kArea       ? 0.5 * scale
                         : f == ResizeFilter::kBilinear ? 1.0 * fscale
                                                        : 3.0 * fscale;
  Taps t;
  t.first.resize(out_size);
  t.count.resize(out_size);
  // +2: floor/ceil of the support edges can each add one pixel.
  t.max_taps = static_cast<int>(std::ceil(2.0 * support)) + 2;
  t.coef.assign(static_cast<size_t>(out_size) * t.max_taps, 0);
  std::vector<double> wts(t.max_taps);
  for (int i = 0; i < out_size; ++i) {
    const double centre = b0 + (i + 0.5) * scale;
    int lo = static_cast<int>(std::floor(centre - support));
    int hi = static_cast<int>(std::ceil(centre + support));  // exclusive
    lo = std::max(lo, 0);
    hi = std::min(hi, in_size);
    if (hi <= lo) {  // box entirely outside the image: use the nearest edge pixel
      lo = std::min(std::max(static_cast<int>(std::floor(centre)), 0), in_size - 1);
      hi = lo + 1;
    }
    double sum = 0.0;
    int n = hi - lo;
    if (n > t.max_taps) n = t.max_taps, hi = lo + n;
    for (int k = 0; k < n; ++k) {
      const int j = lo + k;
      double wgt;
      if (f == ResizeFilter::kArea) {
        // overlap of source pixel [j, j+1) with the footprint [centre-s, centre+s)
        const double a = std::max<double>(j, centre - support);
        const double b = std::min<double>(j + 1, centre + support);
        wgt = b > a ? b - a : 0.0;
      } else {
        const double x = (j + 0.5 - centre) / fscale;
        wgt = f == ResizeFilter::kBilinear ? triangle(x) : lanczos3(x);
      }
      wts[k] = wgt;
      sum += wgt;
    }
    if (sum == 0.0) {  // degenerate footprint: nearest pixel
      for (int k = 0; k < n; ++k) wts[k] = 0.0;
      const int j = std::min(std::max(static_cast<int>(std::floor(centre)), lo), hi - 1);
      wts[j - lo] = 1.0;
      sum = 1.0;
    }
    // Trim zero taps at both ends so the inner loops do less work.
    int k0 = 0, k1 = n;
    while (k0 < k1 - 1 && wts[k0] == 0.0) ++k0;
    while (k1 - 1 > k0 && wts[k1 - 1] == 0.0) --k1;
    int32_t* c = &t.coef[static_cast<size_t>(i) * t.max_taps];
    int32_t qsum = 0;
    int big = 0;
    for (int k = k0; k < k1; ++k) {
      const int32_t q = static_cast<int32_t>(std::lround(wts[k] / sum * kCoefOne));
      c[k - k0] = q;
      qsum += q;
      if (std::abs(q) > std::abs(c[big])) big = k - k0;
    }
    c[big] += kCoefOne - qsum;  // rows sum exactly to one: flat areas stay flat
    t.first[i] = lo + k0;
    t.count[i] = k1 - k0;
    for (int k = 0; k < k1 - k0; ++k) t.max_abs_coef = std::max(t.max_abs_coef, std::abs(c[k]));
  }
  return t;
}

const Resampler::Taps& Resampler::taps_for(Key k, bool horizontal) {
  Key& cached = horizontal ? hkey_ : vkey_;
  Taps& taps = horizontal ? htaps_ : vtaps_;
  if (!(cached == k)) {
    taps = compute_taps(k.in, k.b0, k.b1, k.out, k.f);
    cached = k;
  }
  return taps;
}

void Resampler::resize(const uint8_t* src, int w, int h, int c, double x0, double y0, double x1,
                       double y1, uint8_t* dst, int ow, int oh, ResizeFilter f) {
  const Taps& ht = taps_for(Key{w, ow, x0, x1, f}, true);
  const Taps& vt = taps_for(Key{h, oh, y0, y1, f}, false);
  // Only the source rows some output row reads go through the horizontal pass.
  int row_lo = h, row_hi = 0;
  for (int i = 0; i < oh; ++i) {
    row_lo = std::min(row_lo, vt.first[i]);
    row_hi = std::max(row_hi, vt.first[i] + vt.count[i]);
  }
  const int rows = row_hi - row_lo;
  const size_t trow = static_cast<size_t>(ow) * c;
  tmp_.resize(trow * rows + 4);  // +4: the SIMD store of the last pixel writes one extra int
  // Horizontal pass. The Q14 sums are rounded to Q6 (1/64 level) so that the vertical pass
  // fits int32 (|Q14 weight sum| * 255 * 64 * 1.3 < 2^31) and vectorises.
  constexpr int kMidBits = 6;
  constexpr int32_t kMidHalf = 1 << (kCoefBits - kMidBits - 1);
#if defined(__SSE2__)
  // SSE2 path for RGB: one pixel per 128-bit lane group, pmaddwd against (w, 0) pairs.
  // Same integer arithmetic as the scalar loop, so the same bytes. Needs every weight to
  // fit int16 (normalised Q14 weights are about 1.0 at most; checked, not assumed).
  const bool simd = use_simd_ && c == 3 && ht.max_abs_coef <= 32767;
#else
  const bool simd = false;
#endif
  for (int r = 0; r < rows; ++r) {
    const uint8_t* s = src + static_cast<size_t>(row_lo + r) * w * c;
    int32_t* t = tmp_.data() + trow * r;
#if defined(__SSE2__)
    if (simd) {
      const __m128i zero = _mm_setzero_si128();
      const __m128i mid_half = _mm_set1_epi32(kMidHalf);
      for (int i = 0; i < ow; ++i) {
        const int32_t* cf = &ht.coef[static_cast<size_t>(i) * ht.max_taps];
        const int j0 = ht.first[i];
        const int n = ht.count[i];
        __m128i acc = _mm_setzero_si128();
        for (int k = 0; k < n; ++k) {
          uint32_t px = 0;
          // 4-byte load except at the row's last pixel, where the 4th byte is past the end.
          const uint8_t* p = s + 3 * static_cast<size_t>(j0 + k);
          if (j0 + k < w - 1) {
            std::memcpy(&px, p, 4);
          } else {
            px = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16;
          }
          __m128i v = _mm_cvtsi32_si128(static_cast<int>(px));
          v = _mm_unpacklo_epi16(_mm_unpacklo_epi8(v, zero), zero);  // r, g, b, x as (v, 0)
          const __m128i wk = _mm_set1_epi32(static_cast<int32_t>(static_cast<uint16_t>(cf[k])));
          acc = _mm_add_epi32(acc, _mm_madd_epi16(v, wk));
        }
        acc = _mm_srai_epi32(_mm_add_epi32(acc, mid_half), kCoefBits - kMidBits);
        // Writes 4 ints; the 4th is overwritten by the next pixel (tmp_ has one spare).
        _mm_storeu_si128(reinterpret_cast<__m128i*>(t + 3 * i), acc);
      }
      continue;
    }
#endif
    for (int i = 0; i < ow; ++i) {
      const int32_t* cf = &ht.coef[static_cast<size_t>(i) * ht.max_taps];
      const uint8_t* sp = s + static_cast<size_t>(ht.first[i]) * c;
      const int n = ht.count[i];
      if (c == 3) {
        int32_t a0 = 0, a1 = 0, a2 = 0;
        for (int k = 0; k < n; ++k) {
          a0 += cf[k] * sp[3 * k];
          a1 += cf[k] * sp[3 * k + 1];
          a2 += cf[k] * sp[3 * k + 2];
        }
        t[3 * i] = (a0 + kMidHalf) >> (kCoefBits - kMidBits);
        t[3 * i + 1] = (a1 + kMidHalf) >> (kCoefBits - kMidBits);
        t[3 * i + 2] = (a2 + kMidHalf) >> (kCoefBits - kMidBits);
      } else {
        for (int ch = 0; ch < c; ++ch) {
          int32_t a = 0;
          for (int k = 0; k < n; ++k) a += cf[k] * sp[c * k + ch];
          t[c * i + ch] = (a + kMidHalf) >> (kCoefBits - kMidBits);
        }
      }
    }
  }
  // Vertical pass, row at a time so the inner loop is a plain vectorisable multiply-add.
  // Result is Q20: round half up, clamp (Lanczos overshoots).
  constexpr int kShift = kCoefBits + kMidBits;
  constexpr int32_t kHalf = 1 << (kShift - 1);
  acc_.resize(trow);
  for (int i = 0; i < oh; ++i) {
    const int32_t* cf = &vt.coef[static_cast<size_t>(i) * vt.max_taps];
    const int n = vt.count[i];
    const int32_t* base = tmp_.data() + trow * (vt.first[i] - row_lo);
    int32_t* __restrict acc = acc_.data();
    for (size_t x = 0; x < trow; ++x) acc[x] = kHalf;
    for (int k = 0; k < n; ++k) {
      const int32_t wk = cf[k];
      const int32_t* __restrict row = base + trow * k;
      for (size_t x = 0; x < trow; ++x) acc[x] += wk * row[x];
    }
    uint8_t* d = dst + trow * i;
    for (size_t x = 0; x < trow; ++x) {
      const int32_t v = acc[x] >> kShift;
      d[x] = static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
}

void resize_region(const uint8_t* src, int w, int h, int c, double x0, double y0, double x1,
                   double y1, uint8_t* dst, int ow, int oh, ResizeFilter f) {
  Resampler r;
  r.resize(src, w, h, c, x0, y0, x1, y1, dst, ow, oh, f);
}

}  // namespace gan::dataio
