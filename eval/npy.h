// NumPy's .npy format (version 1.0, little-endian, C order) for float32, float64 and int64
// tensors: gan_eval --dump-features writes features that numpy.load reads as they are, and
// tests read back what numpy computed.
#pragma once

#include <torch/types.h>

#include <string>

namespace gan::eval {

// Written atomically (core/checked_io); a StorageError when it cannot be.
void write_npy(const std::string& path, const torch::Tensor& t);
// A DataError naming the file when it is not an .npy array of those dtypes.
torch::Tensor read_npy(const std::string& path);

}  // namespace gan::eval
