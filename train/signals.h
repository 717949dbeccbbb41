// SIGTERM / SIGUSR1 (Slurm preemption) set a flag; the trainer finishes its step,
// checkpoints and exits 75 so the launcher can requeue.
#pragma once

namespace gan::train {

void install_stop_handlers();
int stop_signal();  // the signal received, or 0

}  // namespace gan::train
