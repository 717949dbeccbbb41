#include "eval/feature_net.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/sha256.h"
#include "eval/classifier.h"

namespace gan::eval {
namespace {

// Images per forward pass: bounded memory at 299 x 299 (a batch of 3-channel inputs is 17 MB).
constexpr int64_t kBatch = 50;

class ClassifierFeatures final : public FeatureNet {
 public:
  explicit ClassifierFeatures(const std::string& path)
      : fx_(FeatureExtractor::load(path)), path_(path), id_(sha256_file(path)) {}
  torch::Tensor features(const torch::Tensor& images) const override {
    return fx_.features(images);
  }
  int64_t dim() const override { return fx_.feature_size(); }
  std::string id() const override { return id_; }
  std::string name() const override { return "classifier"; }
  std::string kind() const override { return "classifier"; }
  std::string path() const override { return path_; }

 private:
  FeatureExtractor fx_;
  std::string path_, id_;
};

std::string shape_text(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

class TorchScriptFeatures final : public FeatureNet {
 public:
  TorchScriptFeatures(torch::jit::Module module, InputSpec spec, std::string path, std::string id)
      : module_(std::move(module)),
        spec_(std::move(spec)),
        path_(std::move(path)),
        id_(std::move(id)) {
    module_.eval();
  }

  torch::Tensor features(const torch::Tensor& images) const override {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> out;
    for (int64_t i = 0; i < images.size(0); i += kBatch) {
      torch::Tensor x =
          prepare_input(images.narrow(0, i, std::min(kBatch, images.size(0) - i)), spec_);
      out.push_back(forward(x));
    }
    if (out.empty()) return torch::zeros({0, spec_.feature_dim});
    return torch::cat(out);
  }
  int64_t dim() const override { return spec_.feature_dim; }
  std::string id() const override { return id_; }
  std::string name() const override { return spec_.name.empty() ? "torchscript" : spec_.name; }
  std::string kind() const override { return "torchscript"; }
  std::string path() const override { return path_; }

  // One batch already in the network's input form -> [n, feature_dim] float, or a UsageError
  // naming the file: a module that gives anything else cannot be a feature network here.
  torch::Tensor forward(const torch::Tensor& x) const {
    c10::IValue y;
    try {
      y = module_.forward({x});
    } catch (const c10::Error& e) {
      throw UsageError("feature network " + path_ + " failed on input " + shape_text(x) + ": " +
                       e.what_without_backtrace());
    }
    if (!y.isTensor())
      throw UsageError("feature network " + path_ + " returns " + y.tagKind() +
                       ", not a tensor [N, " + std::to_string(spec_.feature_dim) + "]");
    torch::Tensor t = y.toTensor();
    if (t.dim() != 2 || t.size(0) != x.size(0) || t.size(1) != spec_.feature_dim)
      throw UsageError("feature network " + path_ + " returns " + shape_text(t) + " for " +
                       std::to_string(x.size(0)) + " images; " + kFeatureMetadataFile +
                       " promises [N, " + std::to_string(spec_.feature_dim) + "]");
    return t.detach().to(torch::kCPU).to(torch::kFloat).contiguous();
  }

  const InputSpec& spec() const { return spec_; }

 private:
  mutable torch::jit::Module module_;  // forward() is not const in LibTorch
  InputSpec spec_;
  std::string path_, id_;
};

std::vector<double> per_channel(const nlohmann::json& v, int64_t channels, const char* field,
                                const std::string& where) {
  if (!v.is_array() || !(v.size() == 1 || static_cast<int64_t>(v.size()) == channels))
    throw UsageError(where + ": \"" + field + "\" must list 1 or " + std::to_string(channels) +
                     " numbers");
  std::vector<double> out;
  for (int64_t c = 0; c < channels; ++c) out.push_back(v.at(v.size() == 1 ? 0 : c).get<double>());
  return out;
}

}  // namespace

std::unique_ptr<FeatureNet> load_classifier_features(const std::string& path) {
  return std::make_unique<ClassifierFeatures>(path);
}

InputSpec parse_input_spec(const std::string& text, const std::string& file) {
  const std::string where = file + ": " + kFeatureMetadataFile;
  InputSpec s;
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object()) throw UsageError(where + " is not a JSON object");
    auto need = [&](const char* key) -> const nlohmann::json& {
      if (!j.contains(key)) throw UsageError(where + " has no \"" + key + "\"");
      return j.at(key);
    };
    const auto& size = need("input_size");
    if (!size.is_array() || size.size() != 2)
      throw UsageError(where + ": \"input_size\" must be [H, W]");
    s.height = size.at(0).get<int64_t>();
    s.width = size.at(1).get<int64_t>();
    if (s.height < 1 || s.width < 1 || s.height > 4096 || s.width > 4096)
      throw UsageError(where + ": \"input_size\" must be in [1, 4096]");
    s.channels = need("channels").get<int64_t>();
    if (s.channels != 1 && s.channels != 3)
      throw UsageError(where + ": \"channels\" must be 1 or 3");
    s.feature_dim = need("feature_dim").get<int64_t>();
    if (s.feature_dim < 1) throw UsageError(where + ": \"feature_dim\" must be positive");
    s.resize = j.value("resize", std::string("bilinear"));
    if (s.resize != "bilinear" && s.resize != "none")
      throw UsageError(where + ": \"resize\" must be \"bilinear\" or \"none\", not \"" + s.resize +
                       "\"");
    s.name = j.value("name", std::string());
    const bool range = j.contains("input_range"), stats = j.contains("mean") || j.contains("std");
    if (range == stats)
      throw UsageError(where + ": give either \"input_range\" [lo, hi] or \"mean\" and \"std\"");
    if (range) {
      const auto& r = j.at("input_range");
      if (!r.is_array() || r.size() != 2 || !(r.at(0).get<double>() < r.at(1).get<double>()))
        throw UsageError(where + ": \"input_range\" must be [lo, hi] with lo < hi");
      const double lo = r.at(0).get<double>(), hi = r.at(1).get<double>();
      s.scale.assign(s.channels, (hi - lo) / 2);
      s.shift.assign(s.channels, lo + (hi - lo) / 2);
    } else {
      auto mean = per_channel(need("mean"), s.channels, "mean", where);
      auto std = per_channel(need("std"), s.channels, "std", where);
      for (int64_t c = 0; c < s.channels; ++c) {
        if (!(std[c] > 0)) throw UsageError(where + ": \"std\" must be positive");
        // x01 = (x + 1) / 2, then (x01 - mean) / std.
        s.scale.push_back(1 / (2 * std[c]));
        s.shift.push_back((0.5 - mean[c]) / std[c]);
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(where + " is invalid: " + e.what());
  }
  return s;
}

torch::Tensor prepare_input(const torch::Tensor& images, const InputSpec& spec) {
  if (images.dim() != 4)
    throw UsageError("feature network input must be NCHW images, got " + shape_text(images));
  torch::Tensor x = images.detach().to(torch::kCPU).to(torch::kFloat);
  if (x.size(1) != spec.channels) {
    if (!(x.size(1) == 1 && spec.channels == 3))
      throw UsageError("the feature network takes " + std::to_string(spec.channels) +
                       "-channel images, not " + std::to_string(x.size(1)));
    x = x.expand({-1, 3, -1, -1});  // gray as equal R, G and B
  }
  if (x.size(2) != spec.height || x.size(3) != spec.width) {
    if (spec.resize == "none")
      throw UsageError("the feature network takes " + std::to_string(spec.height) + "x" +
                       std::to_string(spec.width) + " images without resizing, not " +
                       std::to_string(x.size(2)) + "x" + std::to_string(x.size(3)));
    x = torch::nn::functional::interpolate(x.contiguous(),
                                           torch::nn::functional::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{spec.height, spec.width})
                                               .mode(torch::kBilinear)
                                               .align_corners(false));
  }
  // Resizing before the value map, as pytorch-fid does; bilinear weights sum to one, so the
  // order changes only the rounding.
  auto scale = torch::tensor(spec.scale, torch::kDouble).to(torch::kFloat).view({1, -1, 1, 1});
  auto shift = torch::tensor(spec.shift, torch::kDouble).to(torch::kFloat).view({1, -1, 1, 1});
  return (x * scale + shift).contiguous();
}

std::unique_ptr<FeatureNet> load_torchscript_features(const std::string& path) {
  // One read: the bytes hashed are the bytes loaded.
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("feature network " + path + " cannot be opened");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UsageError("feature network " + path + " cannot be read");
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  const std::string id = h.hex();

  torch::jit::ExtraFilesMap extra{{kFeatureMetadataFile, ""}};
  torch::jit::Module module;
  try {
    std::istringstream stream(bytes);
    module = torch::jit::load(stream, torch::Device(torch::kCPU), extra);
  } catch (const c10::Error& e) {
    throw UsageError("feature network " + path +
                     " is not a TorchScript file: " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw UsageError("feature network " + path + " is not a TorchScript file: " + e.what());
  }
  const std::string& meta = extra[kFeatureMetadataFile];
  if (meta.empty())
    throw UsageError("feature network " + path + " has no " + kFeatureMetadataFile +
                     " (export it with scripts/export-fid-inception.py, or add that extra file: "
                     "input_size, channels, input_range or mean/std, feature_dim)");
  auto net = std::make_unique<TorchScriptFeatures>(std::move(module), parse_input_spec(meta, path),
                                                   path, id);
  // A probe batch of two images at the stated size finds a wrong output shape at load time,
  // before any image is generated.
  const auto& s = net->spec();
  net->forward(prepare_input(torch::zeros({2, s.channels, s.height, s.width}), s));
  return net;
}

}  // namespace gan::eval
