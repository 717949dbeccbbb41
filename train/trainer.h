// The training loop: loader -> model step -> global metrics -> progress -> sample grids ->
// checkpoints, with preemption handling. Rank 0 writes; every rank reads on resume.
#pragma once

#include <memory>

#include "dist/world.h"
#include "train/options.h"

namespace gan::train {

class Trainer {
 public:
  Trainer(TrainOptions opts, dist::World& world);
  ~Trainer();
  // Trains to the end (returns 0) or until SIGTERM/SIGUSR1 (checkpoints, returns 75).
  int run();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace gan::train
