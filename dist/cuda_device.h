// Which device a rank computes on, chosen explicitly and checked, and what the process runs
// with (torch, CUDA, cuDNN and NCCL versions). CUDA code exists only in a build against a
// CUDA LibTorch (GAN_TORCH_CUDA); a CPU build answers "no CUDA" everywhere.
#pragma once

#include <torch/types.h>

#include <string>

namespace gan::dist {

class World;

// True when this binary was built against a CUDA LibTorch.
bool built_with_cuda();
// "cpu" or "cuda13" (the CUDA major of the LibTorch built against), and the NCCL backend.
std::string build_flavour();

// Called before MPI_Init when the run asks for CUDA: makes the GPU of this rank's local rank
// (from the launcher's environment: Open MPI, Slurm, MPICH, torchrun) current, so that a
// CUDA-aware MPI opens its context there and not on GPU 0. Silent when no local rank is known.
void preselect_cuda_device_from_env();

// The GPU of this rank (local rank modulo the GPUs it sees), made current for LibTorch and
// the CUDA runtime. Collective: every rank calls it. Throws UsageError when this build or
// host has no GPU, and when two ranks would share a GPU (compared by UUID: NCCL does not
// support two ranks on one GPU and may hang).
torch::Device select_cuda_device(const World& world);

// --deterministic: deterministic cuDNN algorithms, cuDNN benchmark off, TF32 off for cuBLAS
// and cuDNN, and LibTorch's deterministic-algorithms mode (which needs CUBLAS_WORKSPACE_CONFIG,
// set here before cuBLAS starts unless the user set it).
void set_deterministic(bool on);

// One line for the start-up log: "torch 2.15.0, CUDA runtime 13.2 (driver 13.0), cuDNN 9.26.0,
// NCCL 2.30.7 on NVIDIA H200" or "torch 1.13.0 (CPU build)". Queries the CUDA runtime only
// when `device` is a CUDA device.
std::string runtime_versions(const torch::Device& device);

}  // namespace gan::dist
