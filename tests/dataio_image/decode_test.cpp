// Decoder tests: colour models with known expected pixels, EXIF orientation (all 8, both
// byte orders, JPEG and PNG), corrupt/truncated/huge files, DCT scale selection.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <cstring>

#include "dataio/image_decode.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

namespace {

const uint8_t* px(const DecodedImage& im, int x, int y) {
  return im.rgb.data() + (static_cast<size_t>(y) * im.width + x) * 3;
}

void expect_px(const DecodedImage& im, int x, int y, int r, int g, int b, int tol,
               const std::string& what) {
  const uint8_t* p = px(im, x, y);
  EXPECT_NEAR(p[0], r, tol) << what << " R at " << x << "," << y;
  EXPECT_NEAR(p[1], g, tol) << what << " G at " << x << "," << y;
  EXPECT_NEAR(p[2], b, tol) << what << " B at " << x << "," << y;
}

std::string decode_error(const std::vector<uint8_t>& bytes, const DecodeOptions& o = {}) {
  try {
    decode_image(bytes.data(), bytes.size(), o);
  } catch (const ImageError& e) {
    return e.reason();
  }
  return "";
}

std::vector<uint8_t> celeba_like_jpeg(uint32_t seed = 1) {
  return encode_jpeg(natural_rgb(178, 218, seed), 178, 218, JpegColor::kRgb, 95);
}

}  // namespace

TEST(Decode, RgbJpegMatchesSource) {
  const auto src = natural_rgb(178, 218, 7);
  const auto jpg = encode_jpeg(src, 178, 218, JpegColor::kRgb, 95);
  const DecodedImage im = decode_image(jpg.data(), jpg.size());
  ASSERT_EQ(im.width, 178);
  ASSERT_EQ(im.height, 218);
  EXPECT_EQ(im.format, ImageFormat::kJpeg);
  EXPECT_EQ(im.scale_denom, 1);
  EXPECT_LT(mean_abs_diff(im.rgb.data(), src.data(), src.size()), 3.0);
}

TEST(Decode, GrayscaleJpegBecomesEqualRgb) {
  std::vector<uint8_t> g(64 * 48);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) g[y * 64 + x] = static_cast<uint8_t>(x * 4);
  const auto jpg = encode_jpeg(g, 64, 48, JpegColor::kGray, 95);
  const DecodedImage im = decode_image(jpg.data(), jpg.size());
  ASSERT_EQ(im.width, 64);
  for (int y = 0; y < 48; y += 7) {
    for (int x = 0; x < 64; x += 5) {
      const uint8_t* p = px(im, x, y);
      EXPECT_EQ(p[0], p[1]);
      EXPECT_EQ(p[1], p[2]);
      EXPECT_NEAR(p[0], x * 4, 3);
    }
  }
}

// Four flat 16x16 blocks of CMYK inks; expected RGB = (255-C)(255-K)/255 etc.
struct Ink {
  int c, m, y, k;
};
const Ink kInks[4] = {{0, 0, 0, 0}, {255, 0, 0, 0}, {0, 128, 255, 0}, {30, 60, 90, 100}};

std::vector<uint8_t> cmyk_blocks(bool store_inverted) {
  std::vector<uint8_t> v(32 * 32 * 4);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const Ink& ink = kInks[(y / 16) * 2 + x / 16];
      const int vals[4] = {ink.c, ink.m, ink.y, ink.k};
      for (int k = 0; k < 4; ++k) {
        v[(y * 32 + x) * 4 + k] = static_cast<uint8_t>(store_inverted ? 255 - vals[k] : vals[k]);
      }
    }
  }
  return v;
}

void check_cmyk(const std::vector<uint8_t>& jpg, const std::string& what) {
  const DecodedImage im = decode_image(jpg.data(), jpg.size());
  ASSERT_EQ(im.width, 32) << what;
  for (int b = 0; b < 4; ++b) {
    const Ink& ink = kInks[b];
    const int x = (b % 2) * 16 + 8, y = (b / 2) * 16 + 8;
    auto conv = [&](int ch) { return std::lround((255.0 - ch) * (255.0 - ink.k) / 255.0); };
    expect_px(im, x, y, conv(ink.c), conv(ink.m), conv(ink.y), 4, what);
  }
}

TEST(Decode, CmykJpegAdobeInverted) {
  // Photoshop convention: an Adobe APP14 marker and inverted ink values.
  check_cmyk(encode_jpeg(cmyk_blocks(true), 32, 32, JpegColor::kCmykAdobe, 100, false),
             "CMYK+Adobe");
}

TEST(Decode, CmykJpegWithoutAdobeMarkerIsNotInverted) {
  check_cmyk(encode_jpeg(cmyk_blocks(false), 32, 32, JpegColor::kCmykPlain, 100, false),
             "CMYK plain");
}

TEST(Decode, YcckJpeg) {
  check_cmyk(encode_jpeg(cmyk_blocks(true), 32, 32, JpegColor::kYcckAdobe, 100, false), "YCCK");
}

TEST(Decode, Png16BitRgbRoundsTo8) {
  PngSpec s;
  s.w = 4, s.h = 1, s.color_type = PNG_COLOR_TYPE_RGB, s.bit_depth = 16;
  const uint16_t vals[12] = {0,   65535, 0x1234, 257,    32767,  32768,
                             128, 129,   65407,  0x8080, 0x7f80, 1000};
  for (uint16_t v : vals) s.data.push_back(v >> 8), s.data.push_back(v & 0xff);
  const auto png = encode_png(s);
  const DecodedImage im = decode_image(png.data(), png.size());
  ASSERT_EQ(im.width, 4);
  EXPECT_EQ(im.format, ImageFormat::kPng);
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(im.rgb[i], std::lround(vals[i] * 255.0 / 65535.0)) << "sample " << i;
  }
}

TEST(Decode, PngPaletteWithTransparency) {
  PngSpec s;
  s.w = 4, s.h = 2, s.color_type = PNG_COLOR_TYPE_PALETTE, s.bit_depth = 8;
  s.palette = {10, 20, 30, 200, 100, 50, 255, 255, 255};
  s.trns = {255, 128, 0};  // entry 1 half transparent, entry 2 fully transparent
  s.data = {0, 1, 2, 0, 2, 1, 0, 0};
  const auto png = encode_png(s);
  const DecodedImage im = decode_image(png.data(), png.size());
  ASSERT_EQ(im.width, 4);
  expect_px(im, 0, 0, 10, 20, 30, 0, "opaque palette");
  expect_px(im, 1, 0, (200 * 128 + 127) / 255, (100 * 128 + 127) / 255, (50 * 128 + 127) / 255, 0,
            "half transparent composited on black");
  expect_px(im, 2, 0, 0, 0, 0, 0, "transparent white becomes black");
}

TEST(Decode, PngRgbaAndGrayAlphaCompositeOnBlack) {
  PngSpec s;
  s.w = 2, s.h = 1, s.color_type = PNG_COLOR_TYPE_RGB_ALPHA, s.bit_depth = 8;
  s.data = {200, 100, 50, 255, 200, 100, 50, 64};
  auto png = encode_png(s);
  DecodedImage im = decode_image(png.data(), png.size());
  expect_px(im, 0, 0, 200, 100, 50, 0, "opaque");
  expect_px(im, 1, 0, (200 * 64 + 127) / 255, (100 * 64 + 127) / 255, (50 * 64 + 127) / 255, 0,
            "alpha 64");

  PngSpec g;
  g.w = 2, g.h = 1, g.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, g.bit_depth = 8;
  g.data = {180, 255, 180, 100};
  png = encode_png(g);
  im = decode_image(png.data(), png.size());
  expect_px(im, 0, 0, 180, 180, 180, 0, "gray opaque");
  const int e = (180 * 100 + 127) / 255;
  expect_px(im, 1, 0, e, e, e, 0, "gray alpha 100");

  PngSpec g16;  // 16-bit gray + alpha
  g16.w = 1, g16.h = 1, g16.color_type = PNG_COLOR_TYPE_GRAY_ALPHA, g16.bit_depth = 16;
  g16.data = {0xc0, 0x00, 0x80, 0x00};  // gray 0xc000, alpha 0x8000
  png = encode_png(g16);
  im = decode_image(png.data(), png.size());
  const long e16 = std::lround(0xc000 / 65535.0 * 0x8000 / 65535.0 * 255.0);
  expect_px(im, 0, 0, e16, e16, e16, 0, "16-bit gray alpha");
}

TEST(Decode, PngLowBitGray) {
  PngSpec s;
  s.w = 8, s.h = 1, s.color_type = PNG_COLOR_TYPE_GRAY, s.bit_depth = 1;
  s.data = {0xa5};  // 10100101
  const auto png = encode_png(s);
  const DecodedImage im = decode_image(png.data(), png.size());
  const int bits[8] = {1, 0, 1, 0, 0, 1, 0, 1};
  for (int x = 0; x < 8; ++x)
    expect_px(im, x, 0, bits[x] * 255, bits[x] * 255, bits[x] * 255, 0, "1-bit");
}

// --- EXIF orientation ------------------------------------------------------------------

// Displayed image A: 32 wide, 16 tall, four 16x8 quadrants of distinct colours.
const uint8_t kQuad[4][3] = {{250, 20, 20}, {20, 250, 20}, {20, 20, 250}, {240, 240, 30}};

int quad_of(int x, int y) { return (y >= 8 ? 2 : 0) + (x >= 16 ? 1 : 0); }

// The stored pixels for orientation o (store_for_orientation follows the EXIF spec's wording).
std::vector<uint8_t> stored_for(int o, int* sw, int* sh) {
  const int W = 32, H = 16;
  std::vector<uint8_t> upright(W * H * 3);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) std::memcpy(&upright[(y * W + x) * 3], kQuad[quad_of(x, y)], 3);
  return store_for_orientation(upright, W, H, o, sw, sh);
}

void check_upright(const DecodedImage& im, int o, const std::string& what) {
  ASSERT_EQ(im.width, 32) << what << " orientation " << o;
  ASSERT_EQ(im.height, 16) << what << " orientation " << o;
  EXPECT_EQ(im.exif_orientation, o);
  for (int q = 0; q < 4; ++q) {
    const int x = (q % 2) * 16 + 8, y = (q / 2) * 8 + 4;
    expect_px(im, x, y, kQuad[q][0], kQuad[q][1], kQuad[q][2], 12,
              what + " orientation " + std::to_string(o));
  }
}

TEST(Decode, ExifOrientationAllEightJpeg) {
  for (bool le : {true, false}) {
    for (int o = 1; o <= 8; ++o) {
      int sw, sh;
      const auto stored = stored_for(o, &sw, &sh);
      const auto jpg =
          encode_jpeg(stored, sw, sh, JpegColor::kRgb, 100, false, make_exif_app1(o, le));
      check_upright(decode_image(jpg.data(), jpg.size()), o, le ? "JPEG II" : "JPEG MM");
    }
  }
}

TEST(Decode, ExifOrientationAllEightPng) {
  for (int o = 1; o <= 8; ++o) {
    int sw, sh;
    PngSpec s;
    s.data = stored_for(o, &sw, &sh);
    s.w = sw, s.h = sh, s.color_type = PNG_COLOR_TYPE_RGB, s.bit_depth = 8;
    const auto app1 = make_exif_app1(o, o % 2 == 0);
    s.exif.assign(app1.begin() + 6, app1.end());  // eXIf holds the TIFF block only
    const auto png = encode_png(s);
    const DecodedImage im = decode_image(png.data(), png.size());
    check_upright(im, o, "PNG");
    // PNG is lossless: the orientation must be exact, pixel for pixel.
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 32; ++x) ASSERT_EQ(0, std::memcmp(px(im, x, y), kQuad[quad_of(x, y)], 3));
  }
}

TEST(Decode, ExifOrientationCanBeIgnored) {
  int sw, sh;
  const auto stored = stored_for(6, &sw, &sh);
  const auto jpg =
      encode_jpeg(stored, sw, sh, JpegColor::kRgb, 100, false, make_exif_app1(6, true));
  DecodeOptions o;
  o.apply_exif_orientation = false;
  const DecodedImage im = decode_image(jpg.data(), jpg.size(), o);
  EXPECT_EQ(im.width, 16);
  EXPECT_EQ(im.height, 32);
}

TEST(Decode, ExifParserRejectsGarbage) {
  const uint8_t junk[] = {'I', 'I', 42, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0};
  EXPECT_EQ(parse_exif_orientation(junk, sizeof junk), 1);  // IFD offset out of range
  EXPECT_EQ(parse_exif_orientation(nullptr, 0), 1);
  auto ok = make_exif_app1(7, false);
  EXPECT_EQ(parse_exif_orientation(ok.data() + 6, ok.size() - 6), 7);
  EXPECT_EQ(parse_exif_orientation(ok.data() + 6, ok.size() - 10), 7);  // only next-IFD cut
  EXPECT_EQ(parse_exif_orientation(ok.data() + 6, ok.size() - 14), 1);  // entry cut off
}

// --- bad data ---------------------------------------------------------------------------

TEST(Decode, TruncatedJpegIsAnErrorNotGrayPixels) {
  const auto jpg = celeba_like_jpeg();
  for (double frac : {0.3, 0.6, 0.95}) {
    std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() * frac));
    const std::string r = decode_error(cut);
    EXPECT_NE(r.find("Premature end"), std::string::npos) << frac << ": " << r;
    DecodeOptions scaled;  // the DCT-scaled path must catch it too
    scaled.crop_w = scaled.crop_h = 128;
    scaled.min_side = 64;
    EXPECT_FALSE(decode_error(cut, scaled).empty()) << frac;
  }
  // Only the EOI marker missing: all pixels decodable, still refused (file is cut).
  std::vector<uint8_t> no_eoi(jpg.begin(), jpg.end() - 2);
  EXPECT_FALSE(decode_error(no_eoi).empty());
}

TEST(Decode, CorruptSegmentIsAnError) {
  auto jpg = celeba_like_jpeg(3);
  // An EOI marker in the middle of the entropy-coded data.
  std::vector<uint8_t> bad = jpg;
  bad[bad.size() / 2] = 0xff;
  bad[bad.size() / 2 + 1] = 0xd9;
  EXPECT_NE(decode_error(bad).find("Corrupt JPEG data"), std::string::npos) << decode_error(bad);
  // A bogus restart marker.
  bad = jpg;
  bad[bad.size() / 3] = 0xff;
  bad[bad.size() / 3 + 1] = 0xd3;
  EXPECT_FALSE(decode_error(bad).empty());
}

// Patch the SOF0 width/height of a valid JPEG.
std::vector<uint8_t> with_jpeg_dims(std::vector<uint8_t> jpg, int w, int h) {
  for (size_t i = 2; i + 9 < jpg.size(); ++i) {
    if (jpg[i] == 0xff && (jpg[i + 1] == 0xc0 || jpg[i + 1] == 0xc2)) {
      jpg[i + 5] = h >> 8, jpg[i + 6] = h & 0xff, jpg[i + 7] = w >> 8, jpg[i + 8] = w & 0xff;
      return jpg;
    }
  }
  ADD_FAILURE() << "no SOF marker";
  return jpg;
}

TEST(Decode, HugeDimensionsRefusedFromTheHeader) {
  const auto jpg = with_jpeg_dims(celeba_like_jpeg(), 65000, 65000);
  const std::string r = decode_error(jpg);
  EXPECT_NE(r.find("65000x65000 exceed the cap"), std::string::npos) << r;

  // PNG 30000x30000: under libpng's own 1e6 x 1e6 limit, over our 2^26 pixel cap.
  PngSpec s;
  s.w = 1, s.h = 1, s.color_type = PNG_COLOR_TYPE_RGB, s.bit_depth = 8, s.data = {1, 2, 3};
  auto png = encode_png(s);
  // IHDR data starts at 16; width/height are big-endian; the CRC covers type + data.
  const uint32_t big = 30000;
  for (int k = 0; k < 4; ++k) png[16 + k] = png[20 + k] = (big >> (24 - 8 * k)) & 0xff;
  const uint32_t crc = crc32(0, png.data() + 12, 17);
  for (int k = 0; k < 4; ++k) png[29 + k] = (crc >> (24 - 8 * k)) & 0xff;
  const std::string rp = decode_error(png);
  EXPECT_NE(rp.find("30000x30000 exceed the cap"), std::string::npos) << rp;

  DecodeOptions small_cap;  // the cap is an option
  small_cap.max_pixels = 1000;
  EXPECT_NE(decode_error(celeba_like_jpeg(), small_cap).find("exceed the cap"), std::string::npos);
}

TEST(Decode, TruncatedAndCorruptPngAreErrors) {
  PngSpec s;
  s.w = 64, s.h = 64, s.color_type = PNG_COLOR_TYPE_RGB, s.bit_depth = 8;
  s.data = natural_rgb(64, 64, 5);
  const auto png = encode_png(s);
  EXPECT_EQ(decode_error(png), "");
  std::vector<uint8_t> cut(png.begin(), png.begin() + png.size() / 2);
  EXPECT_NE(decode_error(cut), "");
  std::vector<uint8_t> no_iend(png.begin(), png.end() - 12);
  EXPECT_NE(decode_error(no_iend), "");
  std::vector<uint8_t> flipped = png;
  flipped[png.size() / 2] ^= 0x55;  // inside IDAT: CRC or zlib error
  EXPECT_NE(decode_error(flipped), "");
}

TEST(Decode, TypeComesFromMagicBytesNotName) {
  std::string name;
  const std::string text = "hello, I am not a JPEG\n";
  EXPECT_EQ(sniff_format(reinterpret_cast<const uint8_t*>(text.data()), text.size(), &name),
            ImageFormat::kUnknown);
  EXPECT_EQ(name, "text");
  const uint8_t gif[] = {'G', 'I', 'F', '8', '9', 'a', 0, 0};
  sniff_format(gif, sizeof gif, &name);
  EXPECT_EQ(name, "GIF");
  const std::vector<uint8_t> t(text.begin(), text.end());
  EXPECT_NE(decode_error(t).find("not a JPEG or PNG"), std::string::npos);
}

// --- DCT scaling ------------------------------------------------------------------------

TEST(Decode, DctScaleChosenFromCropAndOutputSize) {
  const auto jpg = celeba_like_jpeg();
  struct Case {
    int crop, min_side;
    bool allow;
    int denom, w, h;
  } cases[] = {
      {128, 64, true, 2, 89, 109},  {128, 32, true, 4, 45, 55},    {128, 16, true, 8, 23, 28},
      {128, 65, true, 1, 178, 218}, {128, 64, false, 1, 178, 218}, {0, 64, true, 2, 89, 109},
      {108, 64, true, 1, 178, 218}, {0, 0, true, 1, 178, 218},
  };
  for (const Case& c : cases) {
    DecodeOptions o;
    o.crop_w = o.crop_h = c.crop;
    o.min_side = c.min_side;
    o.allow_dct_scaling = c.allow;
    const DecodedImage im = decode_image(jpg.data(), jpg.size(), o);
    EXPECT_EQ(im.scale_denom, c.denom) << c.crop << "->" << c.min_side;
    EXPECT_EQ(im.width, c.w);
    EXPECT_EQ(im.height, c.h);
    EXPECT_EQ(im.full_width, 178);
    EXPECT_EQ(im.full_height, 218);
  }
}

TEST(Decode, DecoderObjectIsReusableAfterErrors) {
  ImageDecoder dec;
  DecodedImage im;
  const auto good = celeba_like_jpeg(9);
  std::vector<uint8_t> cut(good.begin(), good.begin() + good.size() / 2);
  for (int i = 0; i < 3; ++i) {
    EXPECT_THROW(dec.decode(cut.data(), cut.size(), {}, &im), ImageError);
    dec.decode(good.data(), good.size(), {}, &im);
    EXPECT_EQ(im.width, 178);
    const DecodedImage fresh = decode_image(good.data(), good.size());
    EXPECT_EQ(im.rgb, fresh.rgb);
  }
}
