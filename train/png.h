// PNG output (libpng) and the sample-grid layout of generated images.
#pragma once

#include <torch/types.h>

#include <string>

namespace gan::train {

// uint8 HWC pixels, c = 1 or 3, as the bytes of a PNG file.
std::string encode_png(const uint8_t* pixels, int64_t h, int64_t w, int64_t c);
// The same, written with write_file_atomic: never half a file; a full disk is a StorageError.
void write_png(const std::string& path, const uint8_t* pixels, int64_t h, int64_t w, int64_t c);
// Images NCHW in [-1, 1] tiled `cols` per row with a 2-pixel border, as uint8 HWC.
torch::Tensor image_grid(const torch::Tensor& images, int64_t cols);
void write_grid_png(const std::string& path, const torch::Tensor& images, int64_t cols);

}  // namespace gan::train
