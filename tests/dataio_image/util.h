// Test helpers for gan_image: temp folders, in-memory JPEG/PNG encoders (libjpeg, libpng)
// with full control of colour space, bit depth, Adobe marker and EXIF, and the Python hook.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gan::test {

// A fresh folder under /tmp (mode 0755 so a dropped-privilege child can enter it), removed
// recursively at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
void write_file(const std::string& path, const std::string& text);
std::vector<uint8_t> read_file(const std::string& path);

// "Exif\0\0" + a TIFF block whose IFD0 holds one Orientation tag.
std::vector<uint8_t> make_exif_app1(int orientation, bool little_endian);

enum class JpegColor { kRgb, kGray, kCmykAdobe, kCmykPlain, kYcckAdobe };
// pixels: h*w*components (3 for RGB, 1 gray, 4 CMYK/YCCK input as stored CMYK values).
// subsample=false -> 4:4:4, so flat colour blocks decode almost exactly.
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& pixels, int w, int h, JpegColor color,
                                 int quality = 95, bool subsample = true,
                                 const std::vector<uint8_t>& app1 = {}, bool progressive = false,
                                 int restart_rows = 0);

struct PngSpec {
  int w = 0, h = 0;
  int color_type = 2;  // PNG_COLOR_TYPE_*
  int bit_depth = 8;
  std::vector<uint8_t> data;     // packed rows as libpng wants them (16-bit big-endian)
  std::vector<uint8_t> palette;  // 3 bytes per entry, for palette images
  std::vector<uint8_t> trns;     // palette alpha entries
  std::vector<uint8_t> exif;     // raw TIFF block for an eXIf chunk
};
std::vector<uint8_t> encode_png(const PngSpec& spec);

// 178x218-style "natural" RGB content: smooth gradients, a few shapes, mild noise.
std::vector<uint8_t> natural_rgb(int w, int h, uint32_t seed);

// The stored RGB pixels (*sw x *sh) that display as `img` (w x h) under EXIF orientation o,
// written from the EXIF spec's wording ("0th row is the visual right-hand side, 0th column the
// visual top" for 6, ...), not from the decoder.
std::vector<uint8_t> store_for_orientation(const std::vector<uint8_t>& img, int w, int h, int o,
                                           int* sw, int* sh);

double mean_abs_diff(const uint8_t* a, const uint8_t* b, size_t n);

// Debian's python with PIL + numpy, or "" when it is not usable.
std::string pil_python();
// Runs a command, returns its exit status.
int run_command(const std::string& cmd);

}  // namespace gan::test
