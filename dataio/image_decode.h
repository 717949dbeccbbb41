// Safe reading and decoding of JPEG/PNG files to 8-bit RGB (HWC) for gan_prep: refuses
// anything that is not a plain, complete image of a sane size, with a reason for the report.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "dataio/image_types.h"

namespace gan::dataio {

// A file that cannot become training pixels. reason() is the short human-readable cause
// that goes into prep-report.json; what() adds the path.
class ImageError : public DataError {
 public:
  ImageError(const std::string& path, const std::string& reason)
      : DataError(path.empty() ? reason : path + ": " + reason), reason_(reason) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

// Decided from the first bytes only (never from the extension). `name` is set to a short
// description of what was found ("JPEG", "PNG", "GIF", "text", ...), for error messages.
ImageFormat sniff_format(const uint8_t* data, size_t size, std::string* name = nullptr);

// Largest image we agree to decode: 2^26 pixels (e.g. 8192x8192) = 192 MiB of RGB. Checked
// from the header, before any pixel buffer is allocated.
constexpr int64_t kDefaultMaxPixels = int64_t{1} << 26;
// Largest file we read into memory.
constexpr int64_t kDefaultMaxFileBytes = int64_t{256} << 20;

// Reads a whole file after checking it is safe to open: lstat/stat first, regular files only
// (FIFOs, sockets, devices and directories are refused without opening them), opened with
// O_NONBLOCK so a FIFO swapped in after the stat cannot block either, fstat re-checked.
// Throws ImageError (dangling symlink, symlink loop, permission denied, empty file, ...).
std::vector<uint8_t> read_image_file(const std::string& path,
                                     int64_t max_bytes = kDefaultMaxFileBytes);
// Same, into a caller-owned buffer that keeps its capacity between files.
void read_image_file(const std::string& path, std::vector<uint8_t>* out,
                     int64_t max_bytes = kDefaultMaxFileBytes);

struct DecodeOptions {
  int64_t max_pixels = kDefaultMaxPixels;
  // DCT-scaling hint. The caller will crop a crop_w x crop_h region (full-resolution pixels,
  // after EXIF orientation; clamped to the image) and needs at least min_side pixels on each
  // side of that region after scaling. The decoder then picks the smallest JPEG scale
  // 1/8, 1/4, 1/2 or 1 that keeps the region >= min_side. min_side == 0: full size.
  int crop_w = 0;
  int crop_h = 0;
  int min_side = 0;
  bool allow_dct_scaling = true;
  bool apply_exif_orientation = true;

  // Optional region of interest. Called once the header is read, with the oriented
  // full-resolution size; it returns the box the caller will use (oriented full-resolution
  // pixels), or false with a reason to refuse the image (the reason becomes the ImageError).
  // The box then replaces crop_w/crop_h for the DCT-scale choice, and, when allow_roi is
  // set, a JPEG is only reconstructed (IDCT, upsampling, colour) inside the box plus a
  // margin for the resampling filter: `resample_support` output pixels (0.5 area, 1 bilinear,
  // 3 Lanczos-3) scaled to decoded pixels, plus 2. Rows above the box are entropy-decoded
  // (libjpeg cannot skip them otherwise) without IDCT.
  std::function<bool(int full_w, int full_h, CropBox* box, std::string* reason)> region;
  bool allow_roi = true;
  double resample_support = 3.0;
  // Rows below the box: true decodes the entropy-coded data to the EOI marker, so every
  // decoder warning anywhere in the file is an error. false (single-scan JPEGs) stops after
  // the box when the rest of the scan data has a valid structure up to EOI (stuffed zeros,
  // restart markers), refuses it when EOI is missing (a cut file), and decodes to EOI in
  // every other case, so it never refuses a file that true accepts. For a centred 128 crop
  // of a 178x218 image that skips ~20% of the Huffman decoding, ~10% of the whole path.
  // Progressive files are decoded whole either way.
  bool decode_jpeg_tail = true;
};

struct DecodedImage {
  int width = 0;       // of the rgb buffer: oriented, DCT-scaled, and only the ROI when one
  int height = 0;      // was decoded
  int full_width = 0;  // oriented size at full resolution
  int full_height = 0;
  // The JPEG was decoded at 1/scale_denom. An oriented full-resolution coordinate u maps to
  // u / scale_denom - offset in this buffer. offset holds the ROI origin and, for axes the
  // orientation mirrors, the partial last DCT block (ceil(W/d) - W/d) that ends up first.
  int scale_denom = 1;
  double offset_x = 0.0;
  double offset_y = 0.0;
  int exif_orientation = 1;  // 1..8 as found in the file (1 when absent or not applied)
  ImageFormat format = ImageFormat::kUnknown;
  std::vector<uint8_t> rgb;  // height * width * 3, row-major HWC
};

// Decodes JPEG or PNG bytes. Every libjpeg/libpng warning about the pixel data (truncated
// file, corrupt segment, bad Huffman code) is an error: a half-gray image is never returned.
// Colour handling: grayscale -> R=G=B; CMYK and YCCK JPEG -> RGB with R = (1-C)(1-K)
// (Adobe-inverted CMYK when an Adobe APP14 marker is present); 16-bit PNG -> 8 bits
// rounded; palette expanded; alpha composited on black (RGB * alpha). EXIF orientation
// (JPEG APP1, PNG eXIf) is applied, all 8 values. `path` is only used in messages.
// Reusing one ImageDecoder per thread keeps libjpeg/libpng state and buffers warm.
class ImageDecoder {
 public:
  ImageDecoder();
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  void decode(const uint8_t* data, size_t size, const DecodeOptions& opts, DecodedImage* out,
              const std::string& path = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

DecodedImage decode_image(const uint8_t* data, size_t size, const DecodeOptions& opts = {},
                          const std::string& path = "");
DecodedImage decode_image_file(const std::string& path, const DecodeOptions& opts = {});

// EXIF helpers, exposed for tests. parse_exif_orientation reads a TIFF-structured EXIF
// block (starting at "II*\0" or "MM\0*") and returns 1..8, or 1 when absent or malformed.
int parse_exif_orientation(const uint8_t* tiff, size_t size);
// Applies orientation `o` (1..8) to an HWC image with `c` channels; swaps w/h for 5..8.
void apply_orientation(int o, const std::vector<uint8_t>& src, int w, int h, int c,
                       std::vector<uint8_t>* dst, int* out_w, int* out_h);

}  // namespace gan::dataio
