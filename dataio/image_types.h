// Small value types shared by the gan_image decode and resize headers.
#pragma once

namespace gan::dataio {

// A box in full-resolution, EXIF-oriented image pixels.
struct CropBox {
  int y = 0;
  int x = 0;
  int h = 0;
  int w = 0;
};

}  // namespace gan::dataio
