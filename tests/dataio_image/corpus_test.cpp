// End-to-end over generated corpora: pixel agreement with PIL (crop 128 -> 64, every
// filter, DCT scaling on and off), and a folder mixing good images with every bad kind.
#include <gtest/gtest.h>
#include <png.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "dataio/image_prep.h"
#include "dataio/image_scan.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

TEST(Corpus, AgreesWithPil) {
  const std::string py = pil_python();
  if (py.empty()) GTEST_SKIP() << "/usr/bin/python3 with PIL and numpy not available";
  TempDir d;
  const int n = 12;
  ASSERT_EQ(run_command(py + " " GAN_TEST_GEN_CORPUS " " + d.path() + " " + std::to_string(n) +
                        " --refs 128 64"),
            0);
  const ScanResult scan = scan_image_folder(d.path());
  ASSERT_EQ(scan.files.size(), static_cast<size_t>(n));
  for (ResizeFilter f : {ResizeFilter::kArea, ResizeFilter::kBilinear, ResizeFilter::kLanczos3}) {
    for (bool dct : {false, true}) {
      PrepRecipe r;
      r.crop = CropSpec::centre(128);
      r.size = 64;
      r.filter = f;
      r.dct_scaling = dct;
      ImagePrep prep(r);
      std::vector<uint8_t> out(prep.output_bytes());
      double total = 0, worst = 0;
      for (const std::string& name : scan.files) {
        std::string why;
        ASSERT_TRUE(prep.process_file(d / name, out.data(), &why)) << why;
        EXPECT_EQ(prep.last_scale_denom(), dct ? 2 : 1);
        const auto ref = read_file(d / (name + "." + resize_filter_name(f) + ".rgb"));
        ASSERT_EQ(ref.size(), out.size());
        const double mad = mean_abs_diff(out.data(), ref.data(), out.size());
        total += mad;
        worst = std::max(worst, mad);
        EXPECT_LE(mad, 2.0) << name << " " << resize_filter_name(f) << " dct=" << dct;
      }
      std::printf("[ PIL MAD ] filter=%-8s dct_scaling=%d mean=%.3f worst=%.3f levels\n",
                  resize_filter_name(f), dct, total / n, worst);
    }
  }
}

TEST(Corpus, MixedFolderEveryBadKindReported) {
  TempDir d;
  const auto good = encode_jpeg(natural_rgb(178, 218, 1), 178, 218, JpegColor::kRgb, 95);
  write_file(d / "000001.jpg", good);
  write_file(d / "000002.jpg",
             encode_jpeg(natural_rgb(178, 218, 2), 178, 218, JpegColor::kRgb, 95));
  // Good but unusual: gray, CMYK, 16-bit PNG, palette, alpha, rotated.
  std::vector<uint8_t> gray(178 * 218, 90);
  write_file(d / "gray.jpg", encode_jpeg(gray, 178, 218, JpegColor::kGray, 95));
  std::vector<uint8_t> cmyk(178 * 218 * 4, 200);
  write_file(d / "cmyk.jpg", encode_jpeg(cmyk, 178, 218, JpegColor::kCmykAdobe, 95));
  PngSpec p16;
  p16.w = 178, p16.h = 218, p16.color_type = PNG_COLOR_TYPE_RGB, p16.bit_depth = 16;
  p16.data.assign(size_t(178) * 218 * 6, 0x80);
  write_file(d / "deep.png", encode_png(p16));
  PngSpec pal;
  pal.w = 178, pal.h = 218, pal.color_type = PNG_COLOR_TYPE_PALETTE, pal.bit_depth = 8;
  pal.palette = {255, 0, 0, 0, 0, 255};
  pal.data.assign(size_t(178) * 218, 1);
  write_file(d / "palette.png", encode_png(pal));
  PngSpec rgba;
  rgba.w = 178, rgba.h = 218, rgba.color_type = PNG_COLOR_TYPE_RGB_ALPHA, rgba.bit_depth = 8;
  rgba.data.assign(size_t(178) * 218 * 4, 255);
  write_file(d / "alpha.png", encode_png(rgba));
  write_file(d / "rotated.jpg", encode_jpeg(natural_rgb(218, 178, 3), 218, 178, JpegColor::kRgb, 95,
                                            true, make_exif_app1(6, true)));
  // Bad.
  write_file(d / "truncated.jpg",
             std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 2));
  write_file(d / "empty.jpg", std::string());
  write_file(d / "text.jpg", std::string("<html>not an image</html>\n"));
  auto huge = good;
  for (size_t i = 2; i + 9 < huge.size(); ++i) {
    if (huge[i] == 0xff && huge[i + 1] == 0xc0) {
      huge[i + 5] = huge[i + 7] = 0xea;  // 60000 x 60000: under libjpeg's own 65500 limit
      huge[i + 6] = huge[i + 8] = 0x60;
      break;
    }
  }
  write_file(d / "huge.jpg", huge);
  write_file(d / "small.jpg", encode_jpeg(natural_rgb(60, 50, 4), 60, 50, JpegColor::kRgb, 95));
  ASSERT_EQ(symlink("gone.jpg", (d / "dangling.jpg").c_str()), 0);
  ASSERT_EQ(symlink("loop.jpg", (d / "loop.jpg").c_str()), 0);
  ASSERT_EQ(mkfifo((d / "fifo.jpg").c_str(), 0644), 0);
  ASSERT_EQ(mkdir((d / "folder.jpg").c_str(), 0755), 0);
  write_file(d / "README.txt", std::string("ignored: not an image name"));

  const std::map<std::string, std::string> expected_bad = {
      {"dangling.jpg", "dangling symlink"},
      {"empty.jpg", "empty file"},
      {"fifo.jpg", "FIFO"},
      {"folder.jpg", "directory"},
      {"huge.jpg", "60000x60000 exceed the cap"},
      {"loop.jpg", "symlink loop"},
      {"small.jpg", "smaller than the 128 crop"},
      {"text.jpg", "looks like text"},
      {"truncated.jpg", "Premature end of JPEG file"},
  };

  PrepRecipe r;
  r.small = SmallImagePolicy::kSkip;
  ImagePrep prep(r);
  const ScanResult scan = scan_image_folder(d.path());
  std::vector<BadFile> bad = scan.bad;
  std::vector<uint8_t> out(prep.output_bytes());
  int ok = 0;
  for (const std::string& f : scan.files) {
    std::string why;
    if (prep.process_file(d / f, out.data(), &why)) {
      ++ok;
    } else {
      bad.push_back({f, why});
    }
  }
  sort_bad_files(&bad);
  EXPECT_EQ(ok, 8);
  ASSERT_EQ(bad.size(), expected_bad.size()) << bad_files_json(bad).dump(1);
  for (const BadFile& b : bad) {
    auto it = expected_bad.find(b.path);
    ASSERT_NE(it, expected_bad.end()) << "unexpected bad file " << b.path << ": " << b.reason;
    EXPECT_NE(b.reason.find(it->second), std::string::npos) << b.path << ": " << b.reason;
  }

  // With --small upscale the small image becomes a sample (largest centred square, 50x50).
  r.small = SmallImagePolicy::kUpscale;
  ImagePrep up(r);
  std::string why;
  ASSERT_TRUE(up.process_file(d / "small.jpg", out.data(), &why)) << why;
  EXPECT_EQ(up.last_crop().w, 50);
  EXPECT_EQ(up.last_crop().x, 5);
  // Rotated file: the crop is taken from the upright 178x218 image.
  ASSERT_TRUE(up.process_file(d / "rotated.jpg", out.data(), &why)) << why;
  EXPECT_EQ(up.last_crop().y, 45);
  EXPECT_EQ(up.last_crop().x, 25);
}
