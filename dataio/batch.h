// One rank's share of a global batch, as the loader hands it to a model.
#pragma once

#include <torch/types.h>

namespace gan::dataio {

struct Batch {
  int64_t step = 0;
  int64_t epoch = 0;
  torch::Tensor images;  // float [b, C, H, W] in [-1, 1]
  torch::Tensor labels;  // int64 [b] or [b, K]; undefined when the data has none
};

}  // namespace gan::dataio
