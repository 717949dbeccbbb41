// JPEG (libjpeg-turbo, libjpeg API) and PNG (libpng) decoding to RGB8 with strict error
// handling, EXIF orientation and DCT scaling; plus the safe file reader in front of them.
#include "dataio/image_decode.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>

// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

namespace gan::dataio {

namespace {

std::string errno_reason(int err) {
  switch (err) {
    case ENOENT:
      return "no such file";
    case EACCES:
      return "permission denied";
    case ELOOP:
      return "symlink loop";
    case ENAMETOOLONG:
      return "path too long";
    case ENOTDIR:
      return "a path component is not a directory";
    default:
      return std::strerror(err);
  }
}

std::string file_type_reason(mode_t m) {
  if (S_ISDIR(m)) return "is a directory, not an image file";
  if (S_ISFIFO(m)) return "is a FIFO (named pipe), not a regular file";
  if (S_ISSOCK(m)) return "is a socket, not a regular file";
  if (S_ISCHR(m)) return "is a character device, not a regular file";
  if (S_ISBLK(m)) return "is a block device, not a regular file";
  return "not a regular file";
}

struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

bool ascii_printable(const uint8_t* d, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = d[i];
    if (!(c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f))) return false;
  }
  return n > 0;
}

}  // namespace

ImageFormat sniff_format(const uint8_t* d, size_t n, std::string* name) {
  auto set = [&](const char* s) {
    if (name) *name = s;
  };
  static const uint8_t kPngSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff) {
    set("JPEG");
    return ImageFormat::kJpeg;
  }
  if (n >= 8 && std::memcmp(d, kPngSig, 8) == 0) {
    set("PNG");
    return ImageFormat::kPng;
  }
  // Recognise common others only to give the report a useful reason.
  if (n >= 4 && std::memcmp(d, "GIF8", 4) == 0) {
    set("GIF");
  } else if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) {
    set("WebP");
  } else if (n >= 2 && d[0] == 'B' && d[1] == 'M') {
    set("BMP");
  } else if (n >= 4 && (std::memcmp(d, "II*\0", 4) == 0 || std::memcmp(d, "MM\0*", 4) == 0)) {
    set("TIFF");
  } else if (n >= 12 && std::memcmp(d + 4, "ftyp", 4) == 0) {
    set("ISO-BMFF (HEIF/AVIF/MP4)");
  } else if (ascii_printable(d, std::min<size_t>(n, 512))) {
    set("text");
  } else {
    set("unknown binary data");
  }
  return ImageFormat::kUnknown;
}

void read_image_file(const std::string& path, std::vector<uint8_t>* out, int64_t max_bytes) {
  out->clear();
  struct stat lst {};
  if (::lstat(path.c_str(), &lst) != 0) throw ImageError(path, errno_reason(errno));
  struct stat st = lst;
  if (S_ISLNK(lst.st_mode)) {
    if (::stat(path.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) throw ImageError(path, "dangling symlink (target does not exist)");
      if (err == ELOOP) throw ImageError(path, "symlink loop");
      throw ImageError(path, "cannot follow symlink: " + errno_reason(err));
    }
  }
  // Refuse non-regular files before open(): open() on a FIFO blocks until a writer appears.
  if (!S_ISREG(st.st_mode)) throw ImageError(path, file_type_reason(st.st_mode));
  if (st.st_size == 0) throw ImageError(path, "empty file");
  if (st.st_size > max_bytes) {
    throw ImageError(path, "file too large (" + std::to_string(st.st_size) + " bytes > cap " +
                               std::to_string(max_bytes) + ")");
  }
  // O_NONBLOCK: if the path was swapped for a FIFO after the stat, open() still returns.
  FdCloser fd{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)};
  if (fd.fd < 0) throw ImageError(path, "cannot open: " + errno_reason(errno));
  struct stat fst {};
  if (::fstat(fd.fd, &fst) != 0) throw ImageError(path, "fstat failed: " + errno_reason(errno));
  if (!S_ISREG(fst.st_mode)) throw ImageError(path, file_type_reason(fst.st_mode));
  if (fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
    throw ImageError(path, "file was replaced while being opened");
  }
  // Read until EOF rather than trusting st_size: the file may be growing or shrinking.
  const size_t cap = static_cast<size_t>(max_bytes);
  out->resize(std::min<size_t>(static_cast<size_t>(fst.st_size) + 1, cap + 1));
  size_t got = 0;
  for (;;) {
    if (got == out->size()) {
      if (got > cap) throw ImageError(path, "file too large (grew past the cap while reading)");
      out->resize(std::min(out->size() * 2, cap + 1));
    }
    const ssize_t r = ::read(fd.fd, out->data() + got, out->size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw ImageError(path, "read error: " + errno_reason(errno));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (got > cap) throw ImageError(path, "file too large (grew past the cap while reading)");
  out->resize(got);
  if (got == 0) throw ImageError(path, "empty file");
}

std::vector<uint8_t> read_image_file(const std::string& path, int64_t max_bytes) {
  std::vector<uint8_t> v;
  read_image_file(path, &v, max_bytes);
  return v;
}

// ---------------------------------------------------------------------------------------
// EXIF orientation

int parse_exif_orientation(const uint8_t* p, size_t n) {
  if (p == nullptr || n < 8) return 1;
  bool le;
  if (p[0] == 'I' && p[1] == 'I') {
    le = true;
  } else if (p[0] == 'M' && p[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  auto rd16 = [&](size_t o) -> uint32_t {
    return le ? (p[o] | (p[o + 1] << 8)) : ((p[o] << 8) | p[o + 1]);
  };
  auto rd32 = [&](size_t o) -> uint32_t {
    return le ? (uint32_t(p[o]) | (uint32_t(p[o + 1]) << 8) | (uint32_t(p[o + 2]) << 16) |
                 (uint32_t(p[o + 3]) << 24))
              : ((uint32_t(p[o]) << 24) | (uint32_t(p[o + 1]) << 16) | (uint32_t(p[o + 2]) << 8) |
                 uint32_t(p[o + 3]));
  };
  if (rd16(2) != 42) return 1;
  const size_t ifd = rd32(4);
  if (ifd > n || n - ifd < 2) return 1;
  const size_t count = rd16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e > n || n - e < 12) break;
    if (rd16(e) != 0x0112) continue;
    const uint32_t type = rd16(e + 2);
    uint32_t v = 0;
    if (type == 3) {
      v = rd16(e + 8);  // SHORT, left-justified in the 4-byte value field
    } else if (type == 4) {
      v = rd32(e + 8);
    } else {
      return 1;
    }
    return (v >= 1 && v <= 8) ? static_cast<int>(v) : 1;
  }
  return 1;
}

void apply_orientation(int o, const std::vector<uint8_t>& src, int w, int h, int c,
                       std::vector<uint8_t>* dst, int* out_w, int* out_h) {
  if (o < 1 || o > 8) o = 1;
  const bool swap = o >= 5;
  const int ow = swap ? h : w;
  const int oh = swap ? w : h;
  dst->resize(static_cast<size_t>(ow) * oh * c);
  *out_w = ow;
  *out_h = oh;
  if (o == 1) {
    std::copy(src.begin(), src.begin() + dst->size(), dst->begin());
    return;
  }
  // For each output pixel (r, col) find the stored pixel (sr, sc). The EXIF value says how
  // the stored image must be transformed for display: 6 = rotate 90 degrees clockwise, etc.
  for (int r = 0; r < oh; ++r) {
    uint8_t* drow = dst->data() + static_cast<size_t>(r) * ow * c;
    for (int col = 0; col < ow; ++col) {
      int sr, sc;
      switch (o) {
        case 2:
          sr = r;
          sc = w - 1 - col;
          break;  // mirror horizontal
        case 3:
          sr = h - 1 - r;
          sc = w - 1 - col;
          break;  // rotate 180
        case 4:
          sr = h - 1 - r;
          sc = col;
          break;  // mirror vertical
        case 5:
          sr = col;
          sc = r;
          break;  // transpose
        case 6:
          sr = h - 1 - col;
          sc = r;
          break;  // rotate 90 CW
        case 7:
          sr = h - 1 - col;
          sc = w - 1 - r;
          break;  // transverse
        default:
          sr = col;
          sc = w - 1 - r;
          break;  // 8: rotate 90 CCW
      }
      const uint8_t* s = src.data() + (static_cast<size_t>(sr) * w + sc) * c;
      std::memcpy(drow + static_cast<size_t>(col) * c, s, c);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Decoder state

namespace {

struct JpegErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

void jpeg_on_error_exit(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegErrorMgr*>(c->err);
  c->err->format_message(c, e->message);
  std::longjmp(e->jump, 1);
}

// libjpeg reports corrupt data as a warning (msg_level -1) and carries on, padding the image
// with gray. We stop instead, except for two warnings that cannot affect the pixels.
void jpeg_on_emit_message(j_common_ptr c, int msg_level) {
  if (msg_level >= 0) return;  // trace messages
  const int code = c->err->msg_code;
  if (code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC) return;
  auto* e = reinterpret_cast<JpegErrorMgr*>(c->err);
  c->err->format_message(c, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_silent_output(j_common_ptr) {}

constexpr int kPngMsgLen = 512;

struct PngReadState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[kPngMsgLen];
};

void png_on_error(png_structp png, png_const_charp msg) {
  auto* s = static_cast<PngReadState*>(png_get_error_ptr(png));
  std::snprintf(s->message, kPngMsgLen, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}

// libpng prefixes chunk warnings with the chunk name. An ancillary chunk (lower-case first
// letter: iCCP, gAMA, tEXt, ...) never changes the pixels we produce, so its warnings are
// ignored; every other warning (critical chunks, IDAT data) is fatal.
void png_on_warning(png_structp png, png_const_charp msg) {
  if (msg && std::strlen(msg) > 5 && msg[4] == ':' && msg[0] >= 'a' && msg[0] <= 'z') return;
  png_on_error(png, msg);
}

void png_read_from_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<PngReadState*>(png_get_io_ptr(png));
  if (s->size - s->pos < n) png_error(png, "truncated PNG data (unexpected end of file)");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

std::string pixels_str(int64_t w, int64_t h) { return std::to_string(w) + "x" + std::to_string(h); }

int pick_dct_denom(const DecodeOptions& o, int crop_w, int crop_h, int full_w, int full_h) {
  if (!o.allow_dct_scaling || o.min_side <= 0) return 1;
  const int64_t ew = crop_w > 0 ? std::min(crop_w, full_w) : full_w;
  const int64_t eh = crop_h > 0 ? std::min(crop_h, full_h) : full_h;
  for (int d : {8, 4, 2}) {
    if (ew >= int64_t{o.min_side} * d && eh >= int64_t{o.min_side} * d) return d;
  }
  return 1;
}

// Structure check of entropy-coded bytes that are not decoded (below the crop): up to the
// EOI marker, a 0xFF may only be a stuffed zero, a fill byte or a restart marker.
enum class TailShape {
  kEndsWithEoi,  // fine: nothing after the scan but EOI (anything past EOI is ignored)
  kNoEoi,        // the file is cut: what libjpeg reports as "Premature end of JPEG file"
  kOtherMarker,  // a marker (COM, APPn, DNL, or damage) before EOI: let libjpeg decide
};

TailShape entropy_tail_shape(const uint8_t* p, size_t n) {
  const uint8_t* end = p + n;
  while (p < end) {
    p = static_cast<const uint8_t*>(std::memchr(p, 0xFF, static_cast<size_t>(end - p)));
    if (!p) break;
    while (p < end && *p == 0xFF) ++p;  // fill bytes
    if (p == end) break;
    const uint8_t m = *p++;
    if (m == 0xD9) return TailShape::kEndsWithEoi;
    if (m != 0x00 && !(m >= 0xD0 && m <= 0xD7)) return TailShape::kOtherMarker;
  }
  return TailShape::kNoEoi;
}

}  // namespace

struct ImageDecoder::Impl {
  jpeg_decompress_struct jpeg{};
  JpegErrorMgr jerr{};
  PngReadState png_state{};
  // Buffers written between setjmp and longjmp live here (not in locals) so their state is
  // well defined after a longjmp.
  std::vector<uint8_t> raw;
  std::vector<JSAMPROW> rows;
  std::vector<uint8_t> tail;
  int raw_w = 0, raw_h = 0, raw_c = 0;

  Impl() {
    jpeg.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = jpeg_on_error_exit;
    jerr.pub.emit_message = jpeg_on_emit_message;
    jerr.pub.output_message = jpeg_silent_output;
    jpeg_create_decompress(&jpeg);
  }
  ~Impl() { jpeg_destroy_decompress(&jpeg); }

  bool ask_region(const DecodeOptions& opts, int full_w, int full_h, CropBox* box,
                  const std::string& path);
  void decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts, DecodedImage* out,
                   const std::string& path);
  void decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts, DecodedImage* out,
                  const std::string& path);
  void finish(int orientation, DecodedImage* out);
};

// Moves raw (RGB, raw_w x raw_h) into out, applying the orientation.
void ImageDecoder::Impl::finish(int orientation, DecodedImage* out) {
  if (orientation == 1) {
    out->rgb.swap(raw);
    out->width = raw_w;
    out->height = raw_h;
  } else {
    apply_orientation(orientation, raw, raw_w, raw_h, 3, &out->rgb, &out->width, &out->height);
  }
}

// How the oriented axes relate to the stored (raw) ones for EXIF orientation o: whether
// the oriented x axis runs along raw y, and whether each oriented axis runs backwards.
struct AxisMap {
  bool ox_is_raw_y;
  bool ox_rev;
  bool oy_rev;
};

AxisMap axis_map(int o) {
  switch (o) {
    case 2:
      return {false, true, false};
    case 3:
      return {false, true, true};
    case 4:
      return {false, false, true};
    case 5:
      return {true, false, false};
    case 6:
      return {true, true, false};
    case 7:
      return {true, true, true};
    case 8:
      return {true, false, true};
    default:
      return {false, false, false};
  }
}

// The EXIF orientation in a JPEG's saved APP1 markers (1 when there is none).
int jpeg_exif_orientation(const jpeg_decompress_struct* c) {
  for (jpeg_saved_marker_ptr m = c->marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      return parse_exif_orientation(m->data + 6, m->data_length - 6);
    }
  }
  return 1;
}

// A rectangle of the stored image in decoded (DCT-scaled) pixels: [x0, x1) x [y0, y1).
struct StoredRect {
  int x0, x1, y0, y1;
};

// The stored pixels that the oriented crop `box` needs, at DCT scale 1/denom of a w x h
// image decoded to sw x sh, widened by the resampler's support (so edge pixels of the crop
// resample as they would from the whole image) and clipped to the image.
StoredRect stored_rect_for_crop(const CropBox& box, const AxisMap& am, int64_t w, int64_t h,
                                int denom, int sw, int sh, const DecodeOptions& opts) {
  const int side = std::max(opts.min_side, 1);
  auto margin = [&](int len) {
    const double scaled = static_cast<double>(len) / denom;
    return static_cast<int>(std::ceil(opts.resample_support * std::max(scaled / side, 1.0))) + 2;
  };
  const int m_ox = margin(box.w), m_oy = margin(box.h);
  // Oriented interval -> stored interval on an axis of full length f.
  auto to_raw = [](int a0, int a1, bool rev, int64_t f, int* b0, int* b1) {
    *b0 = rev ? static_cast<int>(f - a1) : a0;
    *b1 = rev ? static_cast<int>(f - a0) : a1;
  };
  int x0, x1, y0, y1, mx, my;
  if (!am.ox_is_raw_y) {
    to_raw(box.x, box.x + box.w, am.ox_rev, w, &x0, &x1);
    to_raw(box.y, box.y + box.h, am.oy_rev, h, &y0, &y1);
    mx = m_ox, my = m_oy;
  } else {
    to_raw(box.y, box.y + box.h, am.oy_rev, w, &x0, &x1);
    to_raw(box.x, box.x + box.w, am.ox_rev, h, &y0, &y1);
    mx = m_oy, my = m_ox;
  }
  return {std::max(0, x0 / denom - mx), std::min(sw, (x1 + denom - 1) / denom + mx),
          std::max(0, y0 / denom - my), std::min(sh, (y1 + denom - 1) / denom + my)};
}

// CMYK (4 bytes a pixel) to RGB (3) in place: RGB = (1 - C)(1 - K). Adobe (Photoshop) writes
// the inks inverted, so the stored value already is 1 - C.
void cmyk_to_rgb(std::vector<uint8_t>* raw, size_t pixels, bool adobe_inverted) {
  uint8_t* p = raw->data();
  for (size_t i = 0; i < pixels; ++i) {
    uint32_t cc = p[4 * i], mm = p[4 * i + 1], yy = p[4 * i + 2], kk = p[4 * i + 3];
    if (!adobe_inverted) {
      cc = 255 - cc;
      mm = 255 - mm;
      yy = 255 - yy;
      kk = 255 - kk;
    }
    p[3 * i] = static_cast<uint8_t>((cc * kk + 127) / 255);
    p[3 * i + 1] = static_cast<uint8_t>((mm * kk + 127) / 255);
    p[3 * i + 2] = static_cast<uint8_t>((yy * kk + 127) / 255);
  }
  raw->resize(pixels * 3);
}

// Asks the caller's region callback for the box. Kept out of decode_jpeg so that no object
// with a destructor lives in the frame that a libjpeg longjmp returns to.
bool ImageDecoder::Impl::ask_region(const DecodeOptions& opts, int full_w, int full_h, CropBox* box,
                                    const std::string& path) {
  if (!opts.region) return false;
  std::string why;
  bool ok = false;
  try {
    ok = opts.region(full_w, full_h, box, &why);
  } catch (...) {
    jpeg_abort_decompress(&jpeg);
    throw;
  }
  if (!ok) {
    jpeg_abort_decompress(&jpeg);
    throw ImageError(path, why.empty() ? "refused by the crop" : why);
  }
  return true;
}

void ImageDecoder::Impl::decode_jpeg(const uint8_t* data, size_t size, const DecodeOptions& opts,
                                     DecodedImage* out, const std::string& path) {
  jpeg_decompress_struct* c = &jpeg;
  if (setjmp(jerr.jump)) {
    jpeg_abort_decompress(c);
    throw ImageError(path, std::string("corrupt JPEG: ") + jerr.message);
  }
  jpeg_mem_src(c, data, static_cast<unsigned long>(size));
  jpeg_save_markers(c, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(c, TRUE);

  const int64_t w = c->image_width, h = c->image_height;
  if (w * h > opts.max_pixels) {
    jpeg_abort_decompress(c);
    throw ImageError(path, "image dimensions " + pixels_str(w, h) + " exceed the cap of " +
                               std::to_string(opts.max_pixels) + " pixels");
  }
  const int orientation = opts.apply_exif_orientation ? jpeg_exif_orientation(c) : 1;
  const bool cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
  // libjpeg converts YCCK to CMYK but refuses CMYK to RGB: we take CMYK and convert below.
  c->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  const AxisMap am = axis_map(orientation);
  const int full_w = static_cast<int>(am.ox_is_raw_y ? h : w);
  const int full_h = static_cast<int>(am.ox_is_raw_y ? w : h);
  CropBox box;
  const bool have_box = ask_region(opts, full_w, full_h, &box, path);
  // Only trivially destructible locals from here on: a longjmp lands back at the setjmp.
  const int denom = pick_dct_denom(opts, have_box ? box.w : opts.crop_w,
                                   have_box ? box.h : opts.crop_h, full_w, full_h);
  c->scale_num = 1;
  c->scale_denom = static_cast<unsigned>(denom);
  c->dct_method = JDCT_ISLOW;  // exact and the same bits on every SIMD flavour

  jpeg_start_decompress(c);
  const int sw = static_cast<int>(c->output_width), sh = static_cast<int>(c->output_height);
  raw_c = c->output_components;
  if (raw_c != (cmyk ? 4 : 3)) {
    jpeg_abort_decompress(c);
    throw ImageError(path, "unexpected JPEG output components " + std::to_string(raw_c));
  }
  // The stored-image rectangle to reconstruct, in decoded (scaled) pixels.
  int rx0 = 0, rw = sw, ry0 = 0, rh = sh;
  if (have_box && opts.allow_roi) {
    const StoredRect r = stored_rect_for_crop(box, am, w, h, denom, sw, sh, opts);
    const int sx0 = r.x0, sx1 = r.x1, sy0 = r.y0, sy1 = r.y1;
    if (sx1 > sx0 && sy1 > sy0) {
      if (sx0 > 0 || sx1 < sw) {
        JDIMENSION xo = static_cast<JDIMENSION>(sx0), xw = static_cast<JDIMENSION>(sx1 - sx0);
        jpeg_crop_scanline(c, &xo, &xw);  // widens to an iMCU boundary on the left
        rx0 = static_cast<int>(xo);
        rw = static_cast<int>(xw);
      }
      ry0 = sy0;
      rh = sy1 - sy0;
    }
  }
  raw_w = rw;
  raw_h = rh;
  const size_t stride = static_cast<size_t>(raw_w) * raw_c;
  raw.resize(stride * raw_h);
  rows.resize(raw_h);
  for (int y = 0; y < raw_h; ++y) rows[y] = raw.data() + stride * y;
  if (ry0 > 0) jpeg_skip_scanlines(c, static_cast<JDIMENSION>(ry0));
  while (static_cast<int>(c->output_scanline) < ry0 + rh) {
    jpeg_read_scanlines(c, rows.data() + (c->output_scanline - ry0),
                        static_cast<JDIMENSION>(ry0 + rh) - c->output_scanline);
  }
  // Rows below the region. With decode_jpeg_tail unset, a single-scan file whose decoder
  // has met no marker but a restart stops here when the rest of its scan data has the
  // right structure up to EOI (the rows it codes are never used), and is refused when it
  // has no EOI (cut). Anything else is decoded to EOI, so scanning never refuses a file
  // that decoding accepts.
  TailShape shape = TailShape::kOtherMarker;
  const int m = c->unread_marker;  // already consumed from the input when set
  if (c->output_scanline < c->output_height && !opts.decode_jpeg_tail &&
      !jpeg_has_multiple_scans(c) && (m == 0 || (m >= 0xd0 && m <= 0xd7))) {
    shape = entropy_tail_shape(c->src->next_input_byte, c->src->bytes_in_buffer);
    if (shape == TailShape::kNoEoi) {
      jpeg_abort_decompress(c);
      throw ImageError(path, "corrupt JPEG: Premature end of JPEG file");
    }
  }
  if (c->output_scanline < c->output_height && shape != TailShape::kEndsWithEoi) {
    // Skipping to the very end would stop entropy decoding (libjpeg-turbo marks EOI as
    // reached), hiding a cut or corrupt tail. Skip all but the last row, then decode it.
    const JDIMENSION left = c->output_height - c->output_scanline;
    if (left > 1) jpeg_skip_scanlines(c, left - 1);
    tail.resize(stride);
    JSAMPROW t = tail.data();
    jpeg_read_scanlines(c, &t, 1);
  }
  const bool adobe_inverted = cmyk && c->saw_Adobe_marker;
  if (shape == TailShape::kEndsWithEoi) {
    jpeg_abort_decompress(c);
  } else {
    jpeg_finish_decompress(c);  // reads up to EOI: a file cut right after its last scan fails
  }

  if (cmyk) cmyk_to_rgb(&raw, static_cast<size_t>(raw_w) * raw_h, adobe_inverted);
  out->format = ImageFormat::kJpeg;
  out->full_width = full_w;
  out->full_height = full_h;
  out->scale_denom = denom;
  out->exif_orientation = orientation;
  // Buffer coordinate of oriented full-resolution u: u / d + shift - origin, where shift is
  // the partial last block that a mirrored axis moves to the front.
  auto axis_offset = [&](bool raw_y, bool rev) {
    const int r0 = raw_y ? ry0 : rx0, rl = raw_y ? rh : rw, s_len = raw_y ? sh : sw;
    const double f_len = static_cast<double>(raw_y ? h : w);
    const double origin = rev ? s_len - (r0 + rl) : r0;
    return origin - (rev ? s_len - f_len / denom : 0.0);
  };
  out->offset_x = axis_offset(am.ox_is_raw_y, am.ox_rev);
  out->offset_y = axis_offset(!am.ox_is_raw_y, am.oy_rev);
  finish(orientation, out);
}

void ImageDecoder::Impl::decode_png(const uint8_t* data, size_t size, const DecodeOptions& opts,
                                    DecodedImage* out, const std::string& path) {
  png_state = PngReadState{data, size, 0, {0}};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &png_state, png_on_error, png_on_warning);
  if (!png) throw ImageError(path, "libpng: out of memory");
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw ImageError(path, "libpng: out of memory");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw ImageError(path, std::string("corrupt PNG: ") + png_state.message);
  }
  png_set_read_fn(png, &png_state, png_read_from_memory);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  if (int64_t{w} * int64_t{h} > opts.max_pixels) {
    std::snprintf(png_state.message, kPngMsgLen, "%s",
                  ("image dimensions " + pixels_str(w, h) + " exceed the cap of " +
                   std::to_string(opts.max_pixels) + " pixels")
                      .c_str());
    png_destroy_read_struct(&png, &info, nullptr);
    throw ImageError(path, png_state.message);
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int ch = png_get_channels(png, info);
  const int bd = png_get_bit_depth(png, info);
  const size_t rowbytes = png_get_rowbytes(png, info);
  const int bps = bd == 16 ? 2 : 1;
  if ((ch != 3 && ch != 4) || (bd != 8 && bd != 16) ||
      rowbytes != static_cast<size_t>(w) * ch * bps) {
    png_error(png, "unexpected PNG layout after expansion");
  }
  raw_w = static_cast<int>(w);
  raw_h = static_cast<int>(h);
  raw_c = ch;
  raw.resize(rowbytes * h);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = raw.data() + rowbytes * y;
  png_read_image(png, rows.data());
  png_read_end(png, info);  // verifies the trailing chunks and IEND: a cut file is an error

  int orientation = 1;
  if (opts.apply_exif_orientation) {
    png_uint_32 exif_len = 0;
    png_bytep exif = nullptr;
    if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif) {
      orientation = parse_exif_orientation(exif, exif_len);
    }
  }
  png_destroy_read_struct(&png, &info, nullptr);

  // Convert to RGB8 in place. Alpha is composited on black (out = colour * alpha), the
  // same as pre-multiplying: transparent pixels become black, never their hidden colour.
  const size_t n = static_cast<size_t>(w) * h;
  uint8_t* p = raw.data();
  if (bd == 8 && ch == 4) {
    for (size_t i = 0; i < n; ++i) {
      const uint32_t a = p[4 * i + 3];
      for (int k = 0; k < 3; ++k)
        p[3 * i + k] = static_cast<uint8_t>((p[4 * i + k] * a + 127) / 255);
    }
  } else if (bd == 16) {
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* s = p + i * ch * 2;
      const uint64_t a = ch == 4 ? (uint64_t{s[6]} << 8 | s[7]) : 65535;
      uint8_t px[3];
      for (int k = 0; k < 3; ++k) {
        const uint64_t v = uint64_t{s[2 * k]} << 8 | s[2 * k + 1];
        // round(v * a / 65535 * 255 / 65535), exactly, in integers.
        const uint64_t den = uint64_t{65535} * 65535;
        px[k] = static_cast<uint8_t>((v * a * 255 + den / 2) / den);
      }
      std::memcpy(p + 3 * i, px, 3);  // never overtakes the source: 3*i <= 2*ch*i
    }
  }
  raw.resize(n * 3);
  out->format = ImageFormat::kPng;
  const bool swap = orientation >= 5;
  out->full_width = swap ? raw_h : raw_w;
  out->full_height = swap ? raw_w : raw_h;
  out->scale_denom = 1;
  out->offset_x = out->offset_y = 0.0;
  out->exif_orientation = orientation;
  finish(orientation, out);
  if (opts.region) {  // no ROI decoding for PNG, but the caller may still refuse the image
    CropBox box;
    std::string why;
    if (!opts.region(out->full_width, out->full_height, &box, &why)) {
      throw ImageError(path, why.empty() ? "refused by the crop" : why);
    }
  }
}

ImageDecoder::ImageDecoder() : impl_(new Impl) {}
ImageDecoder::~ImageDecoder() = default;

void ImageDecoder::decode(const uint8_t* data, size_t size, const DecodeOptions& opts,
                          DecodedImage* out, const std::string& path) {
  if (size == 0) throw ImageError(path, "empty file");
  std::string kind;
  switch (sniff_format(data, size, &kind)) {
    case ImageFormat::kJpeg:
      impl_->decode_jpeg(data, size, opts, out, path);
      return;
    case ImageFormat::kPng:
      impl_->decode_png(data, size, opts, out, path);
      return;
    default:
      throw ImageError(path, "not a JPEG or PNG file (content looks like " + kind + ")");
  }
}

DecodedImage decode_image(const uint8_t* data, size_t size, const DecodeOptions& opts,
                          const std::string& path) {
  ImageDecoder dec;
  DecodedImage out;
  dec.decode(data, size, opts, &out, path);
  return out;
}

DecodedImage decode_image_file(const std::string& path, const DecodeOptions& opts) {
  const std::vector<uint8_t> bytes = read_image_file(path);
  return decode_image(bytes.data(), bytes.size(), opts, path);
}

}  // namespace gan::dataio
