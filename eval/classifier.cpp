#include "eval/classifier.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>

#include "core/checked_io.h"
#include "core/errors.h"
#include "dataio/loader.h"
#include "dataio/manifest.h"

namespace gan::eval {
namespace nn = torch::nn;
namespace fs = std::filesystem;

// Two conv-ReLU-maxpool stages, an adaptive pool (any image size), a 128-unit ReLU feature
// layer and the outputs (class logits, or one logit per attribute). Small on purpose: a few
// epochs on one core reach ~90% on Fashion-MNIST, and the features are what FD needs, not
// state-of-the-art accuracy.
struct FeatureExtractor::Net : nn::Module {
  Net(int64_t channels, int64_t outputs, bool multi_label)
      : channels(channels), outputs(outputs), multi_label(multi_label) {
    trunk = register_module(
        "trunk",
        nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, 16, 3).padding(1)), nn::ReLU(),
                       nn::MaxPool2d(2), nn::Conv2d(nn::Conv2dOptions(16, 32, 3).padding(1)),
                       nn::ReLU(), nn::MaxPool2d(2), nn::AdaptiveAvgPool2d(4), nn::Flatten(),
                       nn::Linear(32 * 16, 128), nn::ReLU()));
    head = register_module("head", nn::Linear(128, outputs));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head->forward(trunk->forward(x)); }
  int64_t channels, outputs;
  bool multi_label;
  nn::Sequential trunk{nullptr};
  nn::Linear head{nullptr};
};

namespace {

constexpr int64_t kEvalBatch = 500;

struct LabelledSet {
  torch::Tensor images, labels;
};

bool is_multi_label(const dataio::Manifest& m) { return m.label_dims > 1; }

// Labels: class indices [n] (long), or attributes [n, K] as 0/1 floats (gan_prep stores
// CelebA's -1/1 as 0/1; either is accepted).
LabelledSet read_set(const std::string& dir, int64_t first, int64_t n, const dataio::Manifest& m) {
  std::vector<int64_t> labels;
  auto pixels = dataio::read_image_range(dir, m, first, n, &labels);
  torch::Tensor images = dataio::to_float_nchw(pixels.data(), n, m.shape);
  if (!is_multi_label(m)) return {images, torch::tensor(labels, torch::kLong)};
  for (int64_t v : labels)
    if (v < -1 || v > 1)
      throw DataError(dir + ": attribute value " + std::to_string(v) + " is not -1, 0 or 1");
  torch::Tensor t = torch::tensor(labels, torch::kLong).view({n, m.label_dims});
  return {images, t.gt(0).to(torch::kFloat)};
}

}  // namespace

FeatureExtractor FeatureExtractor::load(const std::string& path) {
  FeatureExtractor f;
  try {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    torch::Tensor meta;
    ar.read("classifier_meta", meta);
    // [channels, outputs] (integer classes) or [channels, outputs, 1] (attributes).
    f.net_ = std::make_shared<Net>(meta[0].item<int64_t>(), meta[1].item<int64_t>(),
                                   meta.numel() > 2 && meta[2].item<int64_t>() == 1);
    f.net_->load(ar);
  } catch (const c10::Error& e) {
    throw UsageError("classifier " + path +
                     " is unreadable (make one with gan_eval "
                     "train-classifier): " +
                     e.what_without_backtrace());
  }
  f.net_->eval();
  return f;
}

int64_t FeatureExtractor::feature_size() const { return 128; }
int64_t FeatureExtractor::channels() const { return net_->channels; }

torch::Tensor FeatureExtractor::features(const torch::Tensor& images) const {
  torch::NoGradGuard no_grad;
  if (images.dim() != 4 || images.size(1) != net_->channels)
    throw UsageError(
        "the classifier takes " + std::to_string(net_->channels) + "-channel images, not " +
        (images.dim() == 4 ? std::to_string(images.size(1)) : std::string("non-NCHW")));
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images.size(0); i += kEvalBatch)
    out.push_back(net_->trunk->forward(images.narrow(0, i, std::min(kEvalBatch, images.size(0) - i))
                                           .to(torch::kCPU)
                                           .to(torch::kFloat)));
  return torch::cat(out);
}

torch::Tensor FeatureExtractor::predict(const torch::Tensor& images) const {
  torch::NoGradGuard no_grad;
  torch::Tensor logits = net_->head->forward(features(images));
  return net_->multi_label ? logits.gt(0).to(torch::kLong) : logits.argmax(1);
}

namespace {

// The manifest of shards it is about to read whole, checked against them first (hashes, and
// each shard's image count): a count no shard holds is a DataError naming the shard, not an
// allocation sized by it.
dataio::Manifest load_verified(const std::string& dir) {
  auto m = dataio::Manifest::load(dir);
  auto problems = dataio::verify_shards(dir, m, false);
  if (!problems.empty()) throw DataError(dir + "/" + problems[0].shard + ": " + problems[0].reason);
  return m;
}

}  // namespace

ClassifierReport train_classifier(const ClassifierTrainOptions& o, const std::string& out_path,
                                  const std::function<void(const std::string&)>& log) {
  auto t0 = std::chrono::steady_clock::now();
  auto m = load_verified(o.data);
  const bool multi = is_multi_label(m);
  if (!multi && (m.label_dims != 1 || m.num_classes < 2))
    throw DataError(o.data +
                    ": the classifier needs one integer label per image (num_classes >= 2) or "
                    "several binary attributes (label_dims " +
                    std::to_string(m.label_dims) + ", num_classes " +
                    std::to_string(m.num_classes) + ")");
  const int64_t outputs = multi ? m.label_dims : m.num_classes;
  int64_t total = o.max_images > 0 ? std::min(o.max_images, m.total) : m.total;
  LabelledSet train, test;
  if (o.test_data.empty()) {
    int64_t n_test = std::max<int64_t>(1, static_cast<int64_t>(total * o.holdout));
    train = read_set(o.data, 0, total - n_test, m);
    test = read_set(o.data, total - n_test, n_test, m);
  } else {
    auto tm = load_verified(o.test_data);
    if (!(tm.shape == m.shape))
      throw DataError(o.test_data + ": image shape differs from " + o.data);
    if (tm.label_dims != m.label_dims)
      throw DataError(o.test_data + ": " + std::to_string(tm.label_dims) + " labels per image, " +
                      o.data + " has " + std::to_string(m.label_dims));
    train = read_set(o.data, 0, total, m);
    test = read_set(o.test_data, 0, tm.total, tm);
  }

  torch::manual_seed(o.seed);
  auto net = std::make_shared<FeatureExtractor::Net>(m.shape.c, outputs, multi);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(o.lr));
  const int64_t n = train.images.size(0);
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    net->train();
    torch::Tensor order = torch::randperm(n, torch::kLong);
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i + o.batch_size <= n; i += o.batch_size) {
      torch::Tensor idx = order.narrow(0, i, o.batch_size);
      torch::Tensor x = train.images.index_select(0, idx);
      // Random horizontal flips: cheap augmentation that keeps Fashion-MNIST classes and
      // face attributes.
      if (torch::rand({1}).item<float>() < 0.5) x = x.flip({3});
      torch::Tensor logits = net->forward(x), y = train.labels.index_select(0, idx);
      torch::Tensor loss = multi
                               ? torch::nn::functional::binary_cross_entropy_with_logits(logits, y)
                               : torch::nn::functional::cross_entropy(logits, y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      loss_sum += loss.item<double>();
      ++batches;
    }
    log("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs) + ": train loss " +
        std::to_string(loss_sum / std::max<int64_t>(batches, 1)));
  }

  net->eval();
  FeatureExtractor fx;
  fx.net_ = net;
  ClassifierReport r;
  r.train_images = n;
  r.test_images = test.images.size(0);
  r.multi_label = multi;
  torch::Tensor correct = fx.predict(test.images).eq(test.labels).to(torch::kDouble);
  r.test_accuracy = correct.mean().item<double>();  // for attributes: the mean of the means
  if (multi) {
    torch::Tensor per = correct.mean(0);
    r.attribute_accuracy.assign(per.data_ptr<double>(), per.data_ptr<double>() + per.numel());
    r.attribute_names = m.label_names;
    torch::Tensor majority = train.labels.mean(0).ge(0.5).to(torch::kFloat);
    r.majority_baseline =
        test.labels.eq(majority.unsqueeze(0)).to(torch::kDouble).mean().item<double>();
  }

  torch::serialize::OutputArchive ar;
  net->save(ar);
  ar.write("classifier_meta", multi ? torch::tensor({m.shape.c, outputs, int64_t(1)}, torch::kLong)
                                    : torch::tensor({m.shape.c, outputs}, torch::kLong));
  if (fs::path(out_path).has_parent_path())
    fs::create_directories(fs::path(out_path).parent_path());
  std::string bytes;  // in memory, then one checked write (as checkpoints are)
  ar.save_to([&bytes](const void* data, size_t n) -> size_t {
    bytes.append(static_cast<const char*>(data), n);
    return n;
  });
  write_file_atomic(out_path, bytes);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace gan::eval
