#include "dist/cuda_device.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <cstdlib>
#include <string>

#include "core/errors.h"
#include "dist/world.h"

#ifdef GAN_TORCH_CUDA
#include <ATen/Context.h>
#include <c10/cuda/CUDAFunctions.h>
#include <cuda_runtime.h>
#endif
#ifdef GAN_WITH_NCCL
#include <nccl.h>
#endif

namespace gan::dist {
namespace {

std::string torch_version() {
  return "torch " + std::to_string(TORCH_VERSION_MAJOR) + "." +
         std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
}

#ifdef GAN_TORCH_CUDA

// CUDA's version numbers: 1000 * major + 10 * minor.
std::string version_of(int v) {
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}
#endif

}  // namespace

bool built_with_cuda() {
#ifdef GAN_TORCH_CUDA
  return true;
#else
  return false;
#endif
}

std::string build_flavour() {
  std::string f = torch_version();
#ifdef GAN_TORCH_CUDA
  f += ", CUDA " + version_of(CUDART_VERSION) + " compiled in (GAN_TORCH_CUDA)";
#else
  f += ", CPU only";
#endif
#ifdef GAN_WITH_NCCL
  f += ", NCCL backend " + std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
       std::to_string(NCCL_PATCH);
#else
  f += ", no NCCL backend";
#endif
  return f;
}

void preselect_cuda_device_from_env() {
#ifdef GAN_TORCH_CUDA
  for (const char* var : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID",
                          "PMI_LOCAL_RANK", "LOCAL_RANK"}) {
    const char* v = std::getenv(var);
    if (!v || !*v) continue;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) return;  // reported later
    const int local = std::atoi(v);
    if (local < count) cudaSetDevice(local);  // too many ranks: refused after MPI_Init
    return;
  }
#endif
}

torch::Device select_cuda_device(const World& world) {
#ifdef GAN_TORCH_CUDA
  // Local rank modulo the GPUs this process sees: local rank r on a host with every GPU
  // visible, GPU 0 under a per-task CUDA_VISIBLE_DEVICES (srun --gpus-per-task=1).
  std::string failure, mine;
  int index = 0;
  try {
    const int count = torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0;
    if (count == 0)
      throw UsageError("--device cuda: no usable GPU on " + world.host() +
                       " (CUDA driver missing, or CUDA_VISIBLE_DEVICES empty)");
    index = world.local_rank() % count;
    // LibTorch's notion first; the runtime's explicitly too, since LibTorch may skip the call
    // when it believes the device is already current.
    c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
    cudaDeviceProp prop{};
    if (cudaSetDevice(index) != cudaSuccess || cudaGetDeviceProperties(&prop, index) != cudaSuccess)
      throw DistError("cudaSetDevice(" + std::to_string(index) + ") failed on " + world.host());
    mine = world.host() + " GPU " + std::string(prop.uuid.bytes, sizeof prop.uuid.bytes);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // Every rank takes part, failed or not (the caller turns one rank's error into everyone's).
  const auto all = world.allgather(mine);
  if (!failure.empty()) throw UsageError(failure);
  // NCCL does not support two ranks on one GPU (it may hang): name the pair that would.
  for (int r = 0; r < world.size(); ++r)
    for (int q = r + 1; q < world.size(); ++q)
      if (!all[r].empty() && all[r] == all[q])
        throw UsageError("--device cuda: ranks " + std::to_string(r) + " and " + std::to_string(q) +
                         " would share one GPU on host " + all[r].substr(0, all[r].find(" GPU ")) +
                         " (" + std::to_string(world.local_size()) +
                         " ranks there, fewer GPUs visible to them); NCCL needs one GPU per "
                         "rank: start at most as many ranks per host as it has GPUs");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
#else
  throw UsageError("--device cuda: this gan_dist was built against a CPU-only LibTorch (" +
                   build_flavour() + "); build the CUDA flavour (scripts/build.sh --cuda)");
#endif
}

void set_deterministic(bool on) {
  if (!on) return;
  auto& ctx = at::globalContext();
  ctx.setDeterministicCuDNN(true);
  ctx.setBenchmarkCuDNN(false);
#ifdef GAN_TORCH_CUDA
  // cuBLAS is deterministic only with a fixed workspace (read when cuBLAS starts).
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  ctx.setAllowTF32CuBLAS(false);
  ctx.setAllowTF32CuDNN(false);
  ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
#endif
}

std::string runtime_versions(const torch::Device& device) {
  std::string v = torch_version();
#ifdef GAN_TORCH_CUDA
  if (!device.is_cuda()) return v + " (CUDA build, running on the CPU)";
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  v += ", CUDA runtime " + version_of(runtime) + " (driver " + version_of(driver) + ")";
  const long cudnn = at::Context::versionCuDNN();
  v += ", cuDNN " +
       (cudnn > 0 ? std::to_string(cudnn / 10000) + "." + std::to_string((cudnn / 100) % 100) +
                        "." + std::to_string(cudnn % 100)
                  : std::string("none"));
#ifdef GAN_WITH_NCCL
  int nccl = 0;
  ncclGetVersion(&nccl);
  v += ", NCCL " + std::to_string(nccl / 10000) + "." + std::to_string((nccl / 100) % 100) + "." +
       std::to_string(nccl % 100);
#endif
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device.index()) == cudaSuccess)
    v += " on " + std::string(prop.name);
  return v;
#else
  (void)device;
  return v + " (CPU build)";
#endif
}

}  // namespace gan::dist
