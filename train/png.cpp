#include "train/png.h"

#include <png.h>

#include <stdexcept>

#include "core/checked_io.h"
#include "core/errors.h"

namespace gan::train {

std::string encode_png(const uint8_t* pixels, int64_t h, int64_t w, int64_t c) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("libpng failed to encode a " + std::to_string(w) + "x" +
                             std::to_string(h) + " image");
  }
  // Into memory: the file is then written in one checked, atomic step.
  png_set_write_fn(
      png, &out,
      [](png_structp p, png_bytep data, png_size_t n) {
        static_cast<std::string*>(png_get_io_ptr(p))->append(reinterpret_cast<char*>(data), n);
      },
      nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(w), static_cast<png_uint_32>(h), 8,
               c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t y = 0; y < h; ++y) png_write_row(png, const_cast<png_bytep>(pixels + y * w * c));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t h, int64_t w, int64_t c) {
  write_file_atomic(path, encode_png(pixels, h, w, c));
}

torch::Tensor image_grid(const torch::Tensor& images, int64_t cols) {
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t rows = (n + cols - 1) / cols, pad = 2;
  torch::Tensor u8 = ((images.detach().to(torch::kCPU).clamp(-1, 1) + 1) * 127.5)
                         .round()
                         .to(torch::kUInt8)
                         .permute({0, 2, 3, 1})
                         .contiguous();
  torch::Tensor grid =
      torch::full({rows * (h + pad) + pad, cols * (w + pad) + pad, c}, 32, torch::kUInt8);
  for (int64_t i = 0; i < n; ++i) {
    int64_t y = pad + (i / cols) * (h + pad), x = pad + (i % cols) * (w + pad);
    grid.narrow(0, y, h).narrow(1, x, w).copy_(u8[i]);
  }
  return grid;
}

void write_grid_png(const std::string& path, const torch::Tensor& images, int64_t cols) {
  torch::Tensor g = image_grid(images, cols);
  write_png(path, g.data_ptr<uint8_t>(), g.size(0), g.size(1), g.size(2));
}

}  // namespace gan::train
