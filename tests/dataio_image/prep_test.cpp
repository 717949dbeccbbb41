// The ImagePrep recipe: ROI decoding (also with --jpeg-tail scan) gives the same bytes as a
// full decode, for every filter, orientation, colour model and DCT scale; cut files are
// still caught with ROI; EXIF-mirrored axes map the crop correctly into DCT-scaled images;
// --jpeg-tail scan keeps the pixels and still refuses cut files.
#include <gtest/gtest.h>

#include <cstring>

#include "dataio/image_prep.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

namespace {

std::vector<uint8_t> run(const PrepRecipe& r, const std::vector<uint8_t>& file, int* denom) {
  ImagePrep prep(r);
  std::vector<uint8_t> out(prep.output_bytes());
  std::string why;
  EXPECT_TRUE(prep.process_bytes(file.data(), file.size(), "mem", out.data(), &why)) << why;
  if (denom) *denom = prep.last_scale_denom();
  return out;
}

}  // namespace

TEST(Prep, RoiDecodingIsByteIdenticalToFullDecode) {
  const auto upright = natural_rgb(178, 218, 42);
  std::vector<std::vector<uint8_t>> files;
  for (int o = 1; o <= 8; ++o) {
    int sw, sh;
    const auto stored = store_for_orientation(upright, 178, 218, o, &sw, &sh);
    files.push_back(
        encode_jpeg(stored, sw, sh, JpegColor::kRgb, 95, o % 2 == 0, make_exif_app1(o, o < 5)));
  }
  files.push_back(encode_jpeg(upright, 178, 218, JpegColor::kRgb, 92, true, {}, true));
  files.push_back(encode_jpeg(upright, 178, 218, JpegColor::kRgb, 92, true, {}, false, 1));
  std::vector<uint8_t> gray(300 * 250);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = upright[i % upright.size()];
  files.push_back(encode_jpeg(gray, 300, 250, JpegColor::kGray, 90));
  std::vector<uint8_t> cmyk(178 * 218 * 4);
  for (size_t i = 0; i < cmyk.size(); ++i) cmyk[i] = upright[i % upright.size()];
  files.push_back(encode_jpeg(cmyk, 178, 218, JpegColor::kCmykAdobe, 90));

  int cases = 0, scaled = 0;
  for (const char* crop : {"128", "108", "full", "40,20,138,120"}) {
    for (int size : {64, 32, 27}) {
      for (ResizeFilter f :
           {ResizeFilter::kArea, ResizeFilter::kBilinear, ResizeFilter::kLanczos3}) {
        for (bool dct : {true, false}) {
          PrepRecipe r;
          ASSERT_TRUE(parse_crop_spec(crop, &r.crop));
          r.size = size;
          r.filter = f;
          r.dct_scaling = dct;
          for (size_t i = 0; i < files.size(); ++i) {
            r.roi_decoding = false;
            int denom = 0;
            const auto full = run(r, files[i], &denom);
            r.roi_decoding = true;
            const auto roi = run(r, files[i], nullptr);
            ASSERT_EQ(full, roi) << "crop " << crop << " size " << size << " "
                                 << resize_filter_name(f) << " dct " << dct << " file " << i;
            r.decode_jpeg_tail = false;  // --jpeg-tail scan
            const auto scan = run(r, files[i], nullptr);
            r.decode_jpeg_tail = true;
            ASSERT_EQ(full, scan) << "jpeg-tail scan: crop " << crop << " size " << size << " "
                                  << resize_filter_name(f) << " dct " << dct << " file " << i;
            ++cases;
            scaled += denom > 1;
          }
        }
      }
    }
  }
  EXPECT_GT(scaled, cases / 4);  // the DCT-scaled ROI path was really exercised
}

TEST(Prep, OrientationMapsCropIntoScaledImage) {
  // The same picture stored upright and stored with each orientation must give nearly the
  // same output even at 1/4 and 1/8 scale, where 178 and 218 are not multiples of the
  // scale (a mirrored axis then starts with a partial block).
  const auto upright = natural_rgb(178, 218, 7);
  for (int size : {32, 16}) {
    PrepRecipe r;
    r.crop = CropSpec::centre(128);
    r.size = size;
    int denom = 0;
    const auto ref = run(r, encode_jpeg(upright, 178, 218, JpegColor::kRgb, 95, false), &denom);
    EXPECT_EQ(denom, 128 / size);
    for (int o = 2; o <= 8; ++o) {
      int sw, sh;
      const auto stored = store_for_orientation(upright, 178, 218, o, &sw, &sh);
      const auto out =
          run(r, encode_jpeg(stored, sw, sh, JpegColor::kRgb, 95, false, make_exif_app1(o, true)),
              nullptr);
      EXPECT_LT(mean_abs_diff(out.data(), ref.data(), out.size()), 1.5)
          << "orientation " << o << " size " << size;
    }
  }
}

TEST(Prep, CutFileCaughtWithRoi) {
  const auto src = natural_rgb(178, 218, 3);
  for (int kind = 0; kind < 3; ++kind) {  // baseline, progressive, restart markers
    const auto jpg =
        encode_jpeg(src, 178, 218, JpegColor::kRgb, 95, true, {}, kind == 1, kind == 2 ? 2 : 0);
    PrepRecipe r;  // crop 128 centred: rows 45..172, the cut lands below the crop
    ImagePrep prep(r);
    std::vector<uint8_t> out(prep.output_bytes());
    for (double frac : {0.9, 0.97}) {
      std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + static_cast<long>(jpg.size() * frac));
      std::string why;
      EXPECT_FALSE(prep.process_bytes(cut.data(), cut.size(), "cut.jpg", out.data(), &why)) << frac;
      EXPECT_NE(why.find("Premature end"), std::string::npos) << why << " kind " << kind;
    }
    std::string why;
    EXPECT_TRUE(prep.process_bytes(jpg.data(), jpg.size(), "ok.jpg", out.data(), &why)) << why;
  }
}

TEST(Prep, JpegTailScanKeepsThePixelsAndStillCatchesCutFiles) {
  // --jpeg-tail scan: the rows below the crop are checked for structure, not decoded.
  const auto src = natural_rgb(178, 218, 11);
  PrepRecipe decode_all, scan_tail;
  scan_tail.decode_jpeg_tail = false;
  ImagePrep strict(decode_all), fast(scan_tail);
  std::vector<uint8_t> a(strict.output_bytes()), b(fast.output_bytes());
  for (int kind = 0; kind < 3; ++kind) {  // baseline, progressive, restart markers
    const auto jpg =
        encode_jpeg(src, 178, 218, JpegColor::kRgb, 95, true, {}, kind == 1, kind == 2 ? 2 : 0);
    std::string why;
    ASSERT_TRUE(strict.process_bytes(jpg.data(), jpg.size(), "ok.jpg", a.data(), &why)) << why;
    ASSERT_TRUE(fast.process_bytes(jpg.data(), jpg.size(), "ok.jpg", b.data(), &why)) << why;
    EXPECT_EQ(a, b) << "kind " << kind;
    // Cut below the crop, or only the EOI marker missing: still refused.
    for (size_t keep : {jpg.size() * 9 / 10, jpg.size() * 97 / 100, jpg.size() - 2}) {
      std::vector<uint8_t> cut(jpg.begin(), jpg.begin() + static_cast<long>(keep));
      EXPECT_FALSE(fast.process_bytes(cut.data(), cut.size(), "cut.jpg", b.data(), &why)) << keep;
      EXPECT_NE(why.find("Premature end"), std::string::npos) << why << " kind " << kind;
    }
    if (kind == 1) continue;  // progressive files are decoded whole: nothing below is scanned
    // A foreign marker spliced into the scan data below the crop: decoded, and refused.
    auto spliced = jpg;
    spliced[jpg.size() * 95 / 100] = 0xff;
    spliced[jpg.size() * 95 / 100 + 1] = 0xc4;
    EXPECT_FALSE(fast.process_bytes(spliced.data(), spliced.size(), "x.jpg", b.data(), &why));
    EXPECT_NE(why.find("Corrupt JPEG data"), std::string::npos) << why;
    // A comment between the scan and EOI is valid JPEG: both modes accept it.
    auto commented = jpg;
    const std::vector<uint8_t> com{0xff, 0xfe, 0x00, 0x04, 'h', 'i'};
    commented.insert(commented.end() - 2, com.begin(), com.end());
    ASSERT_TRUE(strict.process_bytes(commented.data(), commented.size(), "c.jpg", a.data(), &why))
        << why;
    ASSERT_TRUE(fast.process_bytes(commented.data(), commented.size(), "c.jpg", b.data(), &why))
        << why;
    EXPECT_EQ(a, b);
    // Bytes overwritten below the crop without breaking the structure: the strict mode
    // refuses the file; the scan mode keeps it, and its pixels are those of the clean file
    // (the damaged rows are never read).
    auto damaged = jpg;
    for (size_t i = jpg.size() * 96 / 100; i < jpg.size() * 98 / 100; ++i) damaged[i] = 0x5a;
    EXPECT_FALSE(strict.process_bytes(damaged.data(), damaged.size(), "d.jpg", a.data(), &why));
    ASSERT_TRUE(fast.process_bytes(damaged.data(), damaged.size(), "d.jpg", b.data(), &why)) << why;
    ASSERT_TRUE(strict.process_bytes(jpg.data(), jpg.size(), "ok.jpg", a.data(), &why));
    EXPECT_EQ(a, b) << "kind " << kind;
  }
}
