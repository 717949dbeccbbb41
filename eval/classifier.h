// The project's own image classifier (trained by `gan_eval train-classifier`, nothing is
// downloaded): its penultimate layer is the feature space of FD and precision/recall. It
// learns integer classes (Fashion-MNIST: softmax, cross-entropy) or, for data with several
// binary labels per image (CelebA's 40 attributes), one sigmoid per label with binary
// cross-entropy.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gan::eval {

struct ClassifierTrainOptions {
  std::string data;       // shard folder with integer labels or binary attributes
  std::string test_data;  // held-out shard folder; empty: the last `holdout` of `data`
  double holdout = 0.1;
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t max_images = 0;  // 0: all of `data`
};

struct ClassifierReport {
  int64_t train_images = 0, test_images = 0;
  // Held-out accuracy; for attributes the mean over attributes of each one's accuracy.
  double test_accuracy = 0;
  double seconds = 0;
  bool multi_label = false;
  // Attributes only: each attribute's held-out accuracy and, as the bar to beat, the mean
  // held-out accuracy of always answering each attribute's majority value in training.
  std::vector<std::string> attribute_names;
  std::vector<double> attribute_accuracy;
  double majority_baseline = 0;
};

class FeatureExtractor {
 public:
  static FeatureExtractor load(const std::string& path);  // UsageError naming the file
  // Penultimate activations [n, feature_size()] of images NCHW in [-1, 1], in eval mode.
  torch::Tensor features(const torch::Tensor& images) const;
  // Class indices [n], or for attributes 0/1 [n, attributes].
  torch::Tensor predict(const torch::Tensor& images) const;
  int64_t feature_size() const;
  int64_t channels() const;

  struct Net;

 private:
  friend ClassifierReport train_classifier(const ClassifierTrainOptions&, const std::string&,
                                           const std::function<void(const std::string&)>&);
  std::shared_ptr<Net> net_;
};

// Trains a classifier, writes it to `out_path` (atomically) and reports held-out accuracy.
ClassifierReport train_classifier(const ClassifierTrainOptions& opts, const std::string& out_path,
                                  const std::function<void(const std::string&)>& log);

}  // namespace gan::eval
