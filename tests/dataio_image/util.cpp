// Implementation of the gan_image test helpers (encoders write to memory; see util.h).
#include "util.h"

#include <jpeglib.h>
#include <png.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace gan::test {

TempDir::TempDir() {
  char tmpl[] = "/tmp/gan_image_test.XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  chmod(path_.c_str(), 0755);
}

TempDir::~TempDir() {
  // chmod first: the tests make unreadable files and folders.
  run_command("chmod -R u+rwx '" + path_ + "' 2>/dev/null; rm -rf '" + path_ + "'");
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream o(path, std::ios::binary);
  o.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!o) throw std::runtime_error("cannot write " + path);
}

void write_file(const std::string& path, const std::string& text) {
  write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::vector<uint8_t> make_exif_app1(int orientation, bool le) {
  std::vector<uint8_t> v = {'E', 'x', 'i', 'f', 0, 0};
  auto p16 = [&](uint32_t x) {
    if (le) {
      v.push_back(x & 0xff), v.push_back((x >> 8) & 0xff);
    } else {
      v.push_back((x >> 8) & 0xff), v.push_back(x & 0xff);
    }
  };
  auto p32 = [&](uint32_t x) {
    if (le) {
      p16(x & 0xffff), p16(x >> 16);
    } else {
      p16(x >> 16), p16(x & 0xffff);
    }
  };
  if (le) {
    v.push_back('I'), v.push_back('I');
  } else {
    v.push_back('M'), v.push_back('M');
  }
  p16(42);
  p32(8);  // IFD0 right after the header
  p16(2);  // two entries: an unrelated one first, so the parser has to walk
  p16(0x010f), p16(2), p32(4), v.push_back('a'), v.push_back('b'), v.push_back('c'),
      v.push_back(0);  // Make = "abc"
  p16(0x0112), p16(3), p32(1), p16(static_cast<uint32_t>(orientation)), p16(0);
  p32(0);  // no next IFD
  return v;
}

std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& pixels, int w, int h, JpegColor color,
                                 int quality, bool subsample, const std::vector<uint8_t>& app1,
                                 bool progressive, int restart_rows) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = w;
  c.image_height = h;
  switch (color) {
    case JpegColor::kRgb:
      c.input_components = 3, c.in_color_space = JCS_RGB;
      break;
    case JpegColor::kGray:
      c.input_components = 1, c.in_color_space = JCS_GRAYSCALE;
      break;
    default:
      c.input_components = 4, c.in_color_space = JCS_CMYK;
      break;
  }
  jpeg_set_defaults(&c);
  if (color == JpegColor::kYcckAdobe) jpeg_set_colorspace(&c, JCS_YCCK);
  if (color == JpegColor::kCmykAdobe || color == JpegColor::kCmykPlain) {
    jpeg_set_colorspace(&c, JCS_CMYK);
  }
  if (color == JpegColor::kCmykPlain) c.write_Adobe_marker = FALSE;
  jpeg_set_quality(&c, quality, TRUE);
  if (!subsample) {
    for (int i = 0; i < c.num_components; ++i) {
      c.comp_info[i].h_samp_factor = 1;
      c.comp_info[i].v_samp_factor = 1;
    }
  }
  if (progressive) jpeg_simple_progression(&c);
  c.restart_in_rows = restart_rows;
  jpeg_start_compress(&c, TRUE);
  if (!app1.empty()) {
    jpeg_write_marker(&c, JPEG_APP0 + 1, app1.data(), static_cast<unsigned>(app1.size()));
  }
  const size_t stride = static_cast<size_t>(w) * c.input_components;
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels.data() + stride * c.next_scanline);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  jpeg_destroy_compress(&c);
  free(buf);
  return out;
}

namespace {
void png_to_vector(png_structp png, png_bytep data, png_size_t n) {
  auto* v = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  v->insert(v->end(), data, data + n);
}
void png_no_flush(png_structp) {}
}  // namespace

std::vector<uint8_t> encode_png(const PngSpec& s) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("png encode failed");
  }
  png_set_write_fn(png, &out, png_to_vector, png_no_flush);
  png_set_IHDR(png, info, s.w, s.h, s.bit_depth, s.color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_color> pal;
  if (!s.palette.empty()) {
    for (size_t i = 0; i + 2 < s.palette.size(); i += 3) {
      pal.push_back(png_color{s.palette[i], s.palette[i + 1], s.palette[i + 2]});
    }
    png_set_PLTE(png, info, pal.data(), static_cast<int>(pal.size()));
  }
  if (!s.trns.empty()) {
    png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  }
  if (!s.exif.empty()) {
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(s.exif.size()),
                   const_cast<png_bytep>(s.exif.data()));
  }
  png_write_info(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  for (int y = 0; y < s.h; ++y) {
    png_write_row(png, s.data.data() + rowbytes * y);
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<uint8_t> natural_rgb(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 3.0);
  std::vector<uint8_t> img(static_cast<size_t>(w) * h * 3);
  const double cx = w * (0.3 + 0.4 * u(rng)), cy = h * (0.3 + 0.4 * u(rng));
  const double rx = w * (0.15 + 0.2 * u(rng)), ry = h * (0.15 + 0.2 * u(rng));
  double base[3], face[3], slope[3];
  for (int k = 0; k < 3; ++k) {
    base[k] = 40 + 160 * u(rng);
    face[k] = 40 + 180 * u(rng);
    slope[k] = 80 * (u(rng) - 0.5);
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double dx = (x - cx) / rx, dy = (y - cy) / ry;
      const double r2 = dx * dx + dy * dy;
      const double inside = 1.0 / (1.0 + std::exp((r2 - 1.0) * 12.0));  // soft ellipse edge
      const bool bar = (x / 9 + y / 13) % 7 == 0;
      for (int k = 0; k < 3; ++k) {
        double v = base[k] + slope[k] * (double(x) / w + double(y) / h);
        v = v * (1 - inside) + (face[k] + 25 * std::sin(x * 0.11 + k)) * inside;
        if (bar) v = 0.7 * v + 30;
        v += noise(rng);
        img[(static_cast<size_t>(y) * w + x) * 3 + k] =
            static_cast<uint8_t>(std::lround(std::min(255.0, std::max(0.0, v))));
      }
    }
  }
  return img;
}

std::vector<uint8_t> store_for_orientation(const std::vector<uint8_t>& img, int w, int h, int o,
                                           int* sw, int* sh) {
  const bool swap = o >= 5;
  *sw = swap ? h : w;
  *sh = swap ? w : h;
  std::vector<uint8_t> s(img.size());
  for (int r = 0; r < *sh; ++r) {
    for (int c = 0; c < *sw; ++c) {
      int ar = 0, ac = 0;  // the visual row and column stored at (r, c)
      switch (o) {
        case 1:
          ar = r, ac = c;
          break;
        case 2:
          ar = r, ac = w - 1 - c;
          break;
        case 3:
          ar = h - 1 - r, ac = w - 1 - c;
          break;
        case 4:
          ar = h - 1 - r, ac = c;
          break;
        case 5:
          ar = c, ac = r;
          break;  // row0 = left,  col0 = top
        case 6:
          ar = c, ac = w - 1 - r;
          break;  // row0 = right, col0 = top
        case 7:
          ar = h - 1 - c, ac = w - 1 - r;
          break;  // row0 = right, col0 = bottom
        case 8:
          ar = h - 1 - c, ac = r;
          break;  // row0 = left,  col0 = bottom
      }
      std::memcpy(&s[(size_t(r) * *sw + c) * 3], &img[(size_t(ar) * w + ac) * 3], 3);
    }
  }
  return s;
}

double mean_abs_diff(const uint8_t* a, const uint8_t* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::abs(int(a[i]) - int(b[i]));
  return n ? s / n : 0.0;
}

int run_command(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  if (st == -1) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

std::string pil_python() {
  static const std::string py = [] {
    const std::string p = "/usr/bin/python3";
    if (access(p.c_str(), X_OK) != 0) return std::string();
    if (run_command(p + " -c 'import PIL, numpy' >/dev/null 2>&1") != 0) return std::string();
    return p;
  }();
  return py;
}

}  // namespace gan::test
