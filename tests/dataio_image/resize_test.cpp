// Crop geometry, small-image policy, and resampler exactness against a plain double-precision
// reference written here; determinism across runs and threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>

#include "dataio/image_prep.h"
#include "dataio/image_resize.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

TEST(Crop, CelebaCentreCrops) {
  struct {
    int side, y, x;
  } cases[] = {{108, 55, 35}, {128, 45, 25}, {160, 29, 9}, {178, 20, 0}};
  for (const auto& c : cases) {
    CropBox b;
    std::string why;
    ASSERT_TRUE(
        resolve_crop(CropSpec::centre(c.side), 178, 218, SmallImagePolicy::kSkip, &b, &why));
    EXPECT_EQ(b.y, c.y) << c.side;
    EXPECT_EQ(b.x, c.x) << c.side;
    EXPECT_EQ(b.h, c.side);
    EXPECT_EQ(b.w, c.side);
  }
}

TEST(Crop, SmallImagePolicy) {
  CropBox b;
  std::string why;
  EXPECT_FALSE(resolve_crop(CropSpec::centre(128), 100, 80, SmallImagePolicy::kSkip, &b, &why));
  EXPECT_EQ(why, "image 100x80 smaller than the 128 crop");
  ASSERT_TRUE(resolve_crop(CropSpec::centre(128), 100, 80, SmallImagePolicy::kUpscale, &b, &why));
  EXPECT_EQ(b.h, 80);  // largest centred square that fits, no padding
  EXPECT_EQ(b.w, 80);
  EXPECT_EQ(b.y, 0);
  EXPECT_EQ(b.x, 10);
  ASSERT_TRUE(resolve_crop(CropSpec::centre(0), 178, 218, SmallImagePolicy::kSkip, &b, &why));
  EXPECT_EQ(b.h, 178);
  EXPECT_EQ(b.y, 20);
}

TEST(Crop, ExplicitBoxAndParsing) {
  CropSpec s;
  ASSERT_TRUE(parse_crop_spec("40,20,138,138", &s));
  EXPECT_EQ(s.kind, CropSpec::Kind::kBox);
  EXPECT_EQ(s.box.y, 40);
  EXPECT_EQ(s.box.w, 138);
  CropBox b;
  std::string why;
  EXPECT_TRUE(resolve_crop(s, 178, 218, SmallImagePolicy::kUpscale, &b, &why));
  EXPECT_FALSE(resolve_crop(s, 150, 218, SmallImagePolicy::kUpscale, &b, &why));
  EXPECT_NE(why.find("outside"), std::string::npos);
  ASSERT_TRUE(parse_crop_spec("128", &s));
  EXPECT_EQ(s.kind, CropSpec::Kind::kCentre);
  EXPECT_EQ(s.size, 128);
  for (const char* bad : {"", "0", "-5", "1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,0,4", "12x"}) {
    EXPECT_FALSE(parse_crop_spec(bad, &s)) << bad;
  }
  ResizeFilter f;
  EXPECT_TRUE(parse_resize_filter("lanczos", &f));
  EXPECT_EQ(f, ResizeFilter::kLanczos3);
  EXPECT_FALSE(parse_resize_filter("cubic", &f));
}

namespace {

std::vector<uint8_t> random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(static_cast<size_t>(w) * h * 3);
  for (auto& x : v) x = static_cast<uint8_t>(rng() & 0xff);
  return v;
}

// Plain reference: exact area average over a real-valued box, in double.
std::vector<uint8_t> ref_area(const std::vector<uint8_t>& src, int w, int h, double x0, double y0,
                              double x1, double y1, int ow, int oh) {
  std::vector<uint8_t> out(static_cast<size_t>(ow) * oh * 3);
  const double sx = (x1 - x0) / ow, sy = (y1 - y0) / oh;
  for (int i = 0; i < oh; ++i) {
    for (int j = 0; j < ow; ++j) {
      const double a0 = y0 + i * sy, a1 = a0 + sy, b0 = x0 + j * sx, b1 = b0 + sx;
      double acc[3] = {0, 0, 0}, wsum = 0;
      for (int y = std::max(0, int(std::floor(a0))); y < std::min(h, int(std::ceil(a1))); ++y) {
        const double wy = std::min(a1, y + 1.0) - std::max(a0, double(y));
        for (int x = std::max(0, int(std::floor(b0))); x < std::min(w, int(std::ceil(b1))); ++x) {
          const double wx = std::min(b1, x + 1.0) - std::max(b0, double(x));
          for (int k = 0; k < 3; ++k) acc[k] += wx * wy * src[(size_t(y) * w + x) * 3 + k];
          wsum += wx * wy;
        }
      }
      for (int k = 0; k < 3; ++k)
        out[(size_t(i) * ow + j) * 3 + k] = uint8_t(std::lround(acc[k] / wsum));
    }
  }
  return out;
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

}  // namespace

TEST(Resize, AreaTwoToOneIsExactBlockAverage) {
  const auto src = random_image(128, 128, 1);
  std::vector<uint8_t> out(64 * 64 * 3);
  resize_region(src.data(), 128, 128, 3, 0, 0, 128, 128, out.data(), 64, 64, ResizeFilter::kArea);
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) {
      for (int k = 0; k < 3; ++k) {
        auto s = [&](int yy, int xx) { return int(src[(size_t(yy) * 128 + xx) * 3 + k]); };
        const int sum =
            s(2 * y, 2 * x) + s(2 * y, 2 * x + 1) + s(2 * y + 1, 2 * x) + s(2 * y + 1, 2 * x + 1);
        ASSERT_EQ(out[(size_t(y) * 64 + x) * 3 + k], (sum + 2) / 4) << x << "," << y;
      }
    }
  }
}

TEST(Resize, AreaMatchesReferenceOnFractionalBoxes) {
  const auto src = random_image(89, 109, 2);
  struct Box {
    double x0, y0, x1, y1;
    int o;
  } boxes[] = {{12.5, 22.5, 76.5, 86.5, 64}, {0, 0, 89, 109, 48}, {3.25, 7.75, 70.1, 99.9, 37}};
  for (const Box& b : boxes) {
    std::vector<uint8_t> out(size_t(b.o) * b.o * 3);
    resize_region(src.data(), 89, 109, 3, b.x0, b.y0, b.x1, b.y1, out.data(), b.o, b.o,
                  ResizeFilter::kArea);
    const auto ref = ref_area(src, 89, 109, b.x0, b.y0, b.x1, b.y1, b.o, b.o);
    EXPECT_LE(max_abs_diff(out, ref), 1) << b.x0 << " " << b.o;
  }
}

TEST(Resize, FlatStaysFlatForEveryFilter) {
  std::vector<uint8_t> src(50 * 40 * 3);
  for (size_t i = 0; i < src.size(); ++i) src[i] = i % 3 == 0 ? 7 : i % 3 == 1 ? 128 : 251;
  for (ResizeFilter f : {ResizeFilter::kArea, ResizeFilter::kBilinear, ResizeFilter::kLanczos3}) {
    for (int o : {13, 40, 97}) {
      std::vector<uint8_t> out(size_t(o) * o * 3);
      resize_region(src.data(), 50, 40, 3, 1.5, 0.25, 49.0, 39.0, out.data(), o, o, f);
      for (size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i], src[i % 3]) << resize_filter_name(f) << " o=" << o << " i=" << i;
      }
    }
  }
}

TEST(Resize, BilinearEnlargingIsPlainInterpolation) {
  const uint8_t src[6] = {0, 0, 0, 255, 255, 255};  // 2x1
  uint8_t out[12];
  resize_region(src, 2, 1, 3, 0, 0, 2, 1, out, 4, 1, ResizeFilter::kBilinear);
  const int expect[4] = {0, 64, 191, 255};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[3 * i], expect[i]) << i;
  // area falls back to bilinear when enlarging, rather than nearest-neighbour blocks
  resize_region(src, 2, 1, 3, 0, 0, 2, 1, out, 4, 1, ResizeFilter::kArea);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[3 * i], expect[i]) << i;
}

TEST(Resize, LanczosOvershootIsClamped) {
  std::vector<uint8_t> src(32 * 1 * 3);
  for (int x = 16; x < 32; ++x) src[3 * x] = src[3 * x + 1] = src[3 * x + 2] = 255;
  std::vector<uint8_t> out(24 * 3);
  resize_region(src.data(), 32, 1, 3, 0, 0, 32, 1, out.data(), 24, 1, ResizeFilter::kLanczos3);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[3 * 23], 255);
  bool ringing_visible = false;  // the step is sharp: some sample between the plateaus
  for (int i = 0; i < 24; ++i) ringing_visible |= out[3 * i] > 0 && out[3 * i] < 255;
  EXPECT_TRUE(ringing_visible);
}

TEST(Resize, DeterministicAcrossRunsAndThreads) {
  TempDir d;
  for (int i = 0; i < 6; ++i) {
    write_file(d / ("img" + std::to_string(i) + ".jpg"),
               encode_jpeg(natural_rgb(178, 218, 100 + i), 178, 218, JpegColor::kRgb, 95));
  }
  for (ResizeFilter f : {ResizeFilter::kArea, ResizeFilter::kBilinear, ResizeFilter::kLanczos3}) {
    PrepRecipe r;
    r.filter = f;
    auto run = [&](std::vector<uint8_t>* out) {
      ImagePrep prep(r);
      out->resize(6 * prep.output_bytes());
      for (int i = 0; i < 6; ++i) {
        std::string why;
        ASSERT_TRUE(prep.process_file(d / ("img" + std::to_string(i) + ".jpg"),
                                      out->data() + i * prep.output_bytes(), &why))
            << why;
      }
    };
    std::vector<uint8_t> a, b, c;
    run(&a);
    run(&b);
    std::thread t1([&] { run(&c); });
    std::vector<uint8_t> e;
    run(&e);
    t1.join();
    EXPECT_EQ(a, b) << resize_filter_name(f);
    EXPECT_EQ(a, c) << resize_filter_name(f);
    EXPECT_EQ(a, e) << resize_filter_name(f);
  }
}

TEST(Resize, SimdAndScalarGiveSameBytes) {
  const auto src = random_image(181, 219, 5);
  int compared = 0;
  for (ResizeFilter f : {ResizeFilter::kArea, ResizeFilter::kBilinear, ResizeFilter::kLanczos3}) {
    for (int o : {16, 27, 64, 200}) {
      for (double x0 : {0.0, 12.5, 3.3}) {
        std::vector<uint8_t> a(size_t(o) * o * 3), b(a.size());
        Resampler fast, slow;
        slow.set_use_simd(false);
        fast.resize(src.data(), 181, 219, 3, x0, 1.0, 181.0, 218.5, a.data(), o, o, f);
        slow.resize(src.data(), 181, 219, 3, x0, 1.0, 181.0, 218.5, b.data(), o, o, f);
        ASSERT_EQ(a, b) << resize_filter_name(f) << " " << o << " " << x0;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 36);
}
