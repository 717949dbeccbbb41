// The training loop: loader -> model step -> global metrics -> progress -> sample grids ->
// checkpoints, with preemption handling. Rank 0 writes; every rank reads on resume.
#pragma once

#include <memory>
#include <string>

#include "dist/world.h"
#include "train/options.h"

namespace gan::train {

// --overlap auto|true|false. auto: on for CUDA devices; on the CPU only when this host's ranks
// x threads leave a core free, because an MPI all-reduce needs CPU time to move on and, with
// every core computing, starting it during backward only slows backward (benchmarks/README.md:
// 3-8% per step at 2 ranks on 2 cores). On and off give bitwise-equal results. The trainer
// takes the minimum over all ranks, so every rank runs the same way.
bool resolve_overlap(Overlap setting, const std::string& device, int local_ranks, int threads,
                     int host_cores);

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
