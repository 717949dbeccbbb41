// What every model shares: named parts (a network and its optimizer), noise drawn for the
// global batch so that any world size sees the same samples, gradient sync before each
// optimizer step, and the state a bitwise resume needs.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dist/device_timer.h"
#include "models/model.h"
#include "models/nets.h"

namespace gan::models {

class ModelBase : public Model {
 public:
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> modules() override;
  torch::Tensor noise(int64_t n, torch::Generator& gen) const override;
  void save_state(torch::serialize::OutputArchive& ar) override;
  void load_state(torch::serialize::InputArchive& ar) override;
  PhaseTimes take_phase_times(bool wait = false) override;

 protected:
  ModelBase(const ModelOptions& opts, dist::Collectives& coll);

  // Registers a replicated network; `optimizer` may be null for parts stepped by others.
  void add_part(const std::string& name, std::shared_ptr<torch::nn::Module> module,
                std::unique_ptr<torch::optim::Optimizer> optimizer);
  torch::nn::Module& part(const std::string& name);
  // zero_grad, backward, all-reduce (average) the part's gradients, optimizer step.
  void update(const std::string& name, const torch::Tensor& loss);
  // This rank's rows of a noise draw for the whole global batch.
  torch::Tensor batch_noise(int64_t local_batch);
  // Same contract for any other per-sample random tensor a model needs (codes, labels).
  torch::Tensor batch_draw(int64_t local_batch,
                           const std::function<torch::Tensor(int64_t, torch::Generator&)>& draw);

  // `rows` x `cols` samples for pictures(): row r gets code(r), each column one z shared down
  // the rows, so a column shows one z under every code.
  torch::Tensor code_grid(int64_t rows, int64_t cols, torch::Generator& gen,
                          const std::function<torch::Tensor(int64_t row)>& code);

  // Adam(beta1, beta2) or RMSProp, as --optimizer says.
  std::unique_ptr<torch::optim::Optimizer> optimizer(torch::nn::Module& m, double lr) const;
  // --lr-halve-every: lr = base_lr * 0.5^floor(step / N), a function of the global step alone,
  // so a resumed run continues the schedule exactly.
  void apply_lr_schedule(int64_t step);

  // Model-specific state beyond parameters and optimizers (BEGAN's k_t, say).
  virtual void save_extra(torch::serialize::OutputArchive&) {}
  virtual void load_extra(torch::serialize::InputArchive&) {}

  ModelOptions opts_;
  dist::Collectives& coll_;
  torch::Generator gen_;  // identical stream on every rank

 private:
  struct Part {
    std::string name;
    std::shared_ptr<torch::nn::Module> module;
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    double base_lr = 0;
  };
  std::vector<Part> parts_;
  // Backward and optimizer time on opts_.device: GPU time there, read back lazily by
  // take_phase_times (only intervals the GPU has finished; the rest count in a later call).
  torch::Device device_;
  dist::DeviceTimer backward_timer_, optimizer_timer_;
};

// Specs of the shared nets from the options (widths, --norm, --spectral-norm in D): G with
// `in_features` inputs; D with `extra_channels` input channels beyond the image's.
ConvNetSpec g_spec(const ModelOptions& o, dist::Collectives& coll, int64_t in_features);
ConvNetSpec d_spec(const ModelOptions& o, dist::Collectives& coll, int64_t extra_channels = 0);

// Switches a network's parameters out of autograd for a scope (D during the G step), so
// backward does not compute gradients that would be thrown away.
class Frozen {
 public:
  explicit Frozen(torch::nn::Module& m);
  ~Frozen();

 private:
  std::vector<torch::Tensor> params_;
};

}  // namespace gan::models
