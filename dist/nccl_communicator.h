// NCCL backend for CUDA tensors: one communicator per job bootstrapped over MPI (rank 0's
// unique id broadcast), one GPU per local rank, collectives on a dedicated stream ordered
// against the compute stream with CUDA events.
#pragma once

#include <memory>

#include "dist/communicator.h"

namespace gan::dist {

std::unique_ptr<Communicator> make_nccl_communicator(World& world, const torch::Device& device);

}  // namespace gan::dist
