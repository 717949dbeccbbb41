// A feature network: the space in which generated and real images are compared (FD, KID,
// precision/recall). Two kinds: the project's own classifier (`gan_eval train-classifier`,
// its penultimate layer) and any TorchScript module that carries `gan_features.json`
// (input size, channels, value range, resize, feature dimension) inside its archive, such as
// the FID Inception network written by scripts/export-fid-inception.py.
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace gan::eval {

class FeatureNet {
 public:
  virtual ~FeatureNet() = default;
  // Features [n, dim()] (CPU float) of images NCHW in [-1, 1] with 1 or 3 channels; the
  // network's own conversion (channels, size, range) is applied first.
  virtual torch::Tensor features(const torch::Tensor& images) const = 0;
  virtual int64_t dim() const = 0;
  // sha256 of the network's file: identifies it in results and in cached real statistics.
  virtual std::string id() const = 0;
  virtual std::string name() const = 0;  // "classifier", or the metadata's name
  virtual std::string kind() const = 0;  // "classifier" or "torchscript"
  virtual std::string path() const = 0;
};

// The project classifier (a UsageError naming the file when unreadable).
std::unique_ptr<FeatureNet> load_classifier_features(const std::string& path);

// What a TorchScript feature network expects, from its `gan_features.json`:
//   {"input_size": [H, W], "channels": 1|3, "resize": "bilinear"|"none", "feature_dim": D,
//    "input_range": [lo, hi]            -- [-1, 1] maps linearly onto [lo, hi]
//    or "mean": [..], "std": [..]       -- torchvision style: (x01 - mean) / std per channel,
//                                          x01 the image in [0, 1]
//    "name": "..." (optional)}
struct InputSpec {
  int64_t height = 0, width = 0, channels = 0, feature_dim = 0;
  std::string resize = "bilinear";
  std::string name;
  // The value map as a per-channel affine map of x in [-1, 1]: x * scale[c] + shift[c].
  std::vector<double> scale, shift;
};

inline constexpr const char* kFeatureMetadataFile = "gan_features.json";

// Parses the metadata; a UsageError naming `where` (the network's file) and the field.
InputSpec parse_input_spec(const std::string& json_text, const std::string& where);

// Images NCHW in [-1, 1] -> the network's input: gray repeated to 3 channels when it wants 3,
// resized as the standard FID does (bilinear, align_corners = false, no antialiasing) when the
// size differs, then mapped to its value range. Float, CPU.
torch::Tensor prepare_input(const torch::Tensor& images, const InputSpec& spec);

// A TorchScript feature network. UsageError naming the file when it cannot be loaded, its
// metadata is missing or invalid, or a probe batch does not give [N, feature_dim].
std::unique_ptr<FeatureNet> load_torchscript_features(const std::string& path);

}  // namespace gan::eval
