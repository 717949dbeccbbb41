// An exponential moving average of the generator's weights, the network most GAN code bases
// sample and evaluate with (StyleGAN, BigGAN, StudioGAN). Every rank keeps the same average
// without communicating: the replicas it averages are identical after each all-reduce.
#pragma once

#include <torch/nn/module.h>
#include <torch/serialize/archive.h>

#include <string>
#include <vector>

namespace gan::train {

// How fast the average forgets. Either a constant `decay` (beta per step), or a half-life in
// images (`half_life_images`: after that many images an old weight counts half), which does
// not change meaning with the batch size; `rampup` > 0 caps the half-life at rampup x the
// images seen so far, so early averages are not dominated by the random initialisation
// (StyleGAN2-ADA's ema_kimg and ema_rampup).
struct EmaSchedule {
  double decay = 0;
  double half_life_images = 0;
  double rampup = 0;
  bool enabled() const { return decay > 0 || half_life_images > 0; }
  // beta for a step of `batch` images after `images_seen` images (the step included).
  double beta(int64_t images_seen, int64_t batch) const;
};

class ModuleEma {
 public:
  // Starts as a copy of `module`'s parameters. Buffers (BatchNorm statistics) are not
  // averaged: they are copied from the module at each update.
  ModuleEma(torch::nn::Module& module, EmaSchedule schedule, int64_t batch);
  // After an optimizer step: average <- beta * average + (1 - beta) * weights.
  void update(int64_t images_seen);
  // The average's content digest, computed as dist::module_digest computes a module's.
  std::string digest() const;
  void save(torch::serialize::OutputArchive& ar) const;
  // CheckpointError-free: throws c10::Error when the archive has no average of this shape.
  void load(torch::serialize::InputArchive& ar);
  // Writes the average into the module's parameters (gan_eval, which has no training to undo).
  void copy_into_module();

  // For its lifetime the module holds the average (to sample or evaluate), then its own
  // weights again.
  class Applied {
   public:
    explicit Applied(ModuleEma* ema);  // nullptr: nothing is swapped
    ~Applied();
    Applied(const Applied&) = delete;
    Applied& operator=(const Applied&) = delete;

   private:
    void swap();
    ModuleEma* ema_;
  };

 private:
  torch::nn::Module& module_;
  EmaSchedule schedule_;
  int64_t batch_;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> params_;   // the module's parameters, in named order
  std::vector<torch::Tensor> average_;  // their averages
  std::vector<std::pair<std::string, torch::Tensor>> buffers_;  // the module's, by reference
};

}  // namespace gan::train
