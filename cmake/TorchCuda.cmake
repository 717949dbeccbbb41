# The CUDA side of a CUDA LibTorch (the PyPI wheel, a libtorch archive, a cluster's own
# PyTorch). Included by the top CMakeLists.txt after find_package(Torch) when that LibTorch
# computes on CUDA. It guarantees three things, and fails configure rather than build
# something that would break at run time:
#  1. torch's CUDA major (the soname of the libcudart it needs) equals the toolkit's, since
#     the project compiles CUDA runtime calls against the toolkit's headers;
#  2. NCCL is the one torch itself loads (the wheel's nvidia/nccl), never a second copy from
#     the toolkit: two libnccl.so.2 in one process bind torch to whichever loads first;
#  3. every binary finds torch's own CUDA libraries at run time. The wheel's libtorch_cuda.so
#     has no RUNPATH (Python preloads its libraries), so binaries carry an old-style RPATH
#     (DT_RPATH, which also applies to their libraries' dependencies) naming torch/lib and
#     the wheel's nvidia/*/lib folders, ahead of the toolkit's libraries in ld.so.cache.
# Sets GAN_TORCH_CUDA_MAJOR, GAN_NCCL_INCLUDE_DIR, GAN_NCCL_LIBRARY, GAN_NCCL_VERSION.

get_filename_component(_gan_torch_lib "${TORCH_INSTALL_PREFIX}/lib" ABSOLUTE)
get_filename_component(_gan_nvidia "${TORCH_INSTALL_PREFIX}/../nvidia" ABSOLUTE)

find_library(GAN_TORCH_CUDA_LIB torch_cuda PATHS "${_gan_torch_lib}" NO_DEFAULT_PATH)
if(NOT GAN_TORCH_CUDA_LIB)
  message(FATAL_ERROR "gan_dist: this LibTorch has CUDA but no libtorch_cuda in ${_gan_torch_lib}")
endif()
find_program(GAN_READELF readelf REQUIRED)
execute_process(COMMAND "${GAN_READELF}" -d "${GAN_TORCH_CUDA_LIB}" OUTPUT_VARIABLE _gan_dyn
                RESULT_VARIABLE _gan_rc)
string(REGEX MATCH "libcudart\\.so\\.([0-9]+)" _gan_m "${_gan_dyn}")
if(NOT GAN_TORCH_CUDA_MAJOR)
  set(GAN_TORCH_CUDA_MAJOR "${CMAKE_MATCH_1}")
endif()
if(NOT GAN_TORCH_CUDA_MAJOR)
  message(FATAL_ERROR "gan_dist: cannot tell which CUDA ${GAN_TORCH_CUDA_LIB} was built for "
                      "(no libcudart.so.N among its dependencies); pass -DGAN_TORCH_CUDA_MAJOR=N")
endif()

find_package(CUDAToolkit REQUIRED)
if(NOT CUDAToolkit_VERSION_MAJOR STREQUAL GAN_TORCH_CUDA_MAJOR)
  message(FATAL_ERROR
    "gan_dist: LibTorch was built for CUDA ${GAN_TORCH_CUDA_MAJOR} but the toolkit at "
    "${CUDAToolkit_BIN_DIR} is CUDA ${CUDAToolkit_VERSION}. Install a torch wheel for CUDA "
    "${CUDAToolkit_VERSION_MAJOR}, or point CUDAToolkit_ROOT at a CUDA ${GAN_TORCH_CUDA_MAJOR} toolkit.")
endif()

# NCCL: the copy torch loads. -DGAN_NCCL_ROOT=... overrides (a LibTorch that links NCCL
# statically, or a cluster's own NCCL that its PyTorch was built against).
string(FIND "${_gan_dyn}" "libnccl.so" _gan_dynamic_nccl)
set(_gan_nccl_hints "${_gan_nvidia}/nccl" "${TORCH_INSTALL_PREFIX}")
if(GAN_NCCL_ROOT)
  set(_gan_nccl_hints "${GAN_NCCL_ROOT}")
elseif(GAN_WITH_NCCL AND _gan_dynamic_nccl EQUAL -1)
  message(FATAL_ERROR "gan_dist: ${GAN_TORCH_CUDA_LIB} does not load libnccl.so dynamically; "
                      "pass -DGAN_NCCL_ROOT=<the NCCL it was built with> or -DGAN_WITH_NCCL=OFF")
endif()
find_path(GAN_NCCL_INCLUDE_DIR nccl.h PATHS ${_gan_nccl_hints} PATH_SUFFIXES include
          NO_DEFAULT_PATH)
find_library(GAN_NCCL_LIBRARY NAMES nccl libnccl.so.2 PATHS ${_gan_nccl_hints}
             PATH_SUFFIXES lib lib64 NO_DEFAULT_PATH)
if(GAN_WITH_NCCL AND (NOT GAN_NCCL_INCLUDE_DIR OR NOT GAN_NCCL_LIBRARY))
  message(FATAL_ERROR "gan_dist: no nccl.h / libnccl.so.2 next to this LibTorch (looked in "
                      "${_gan_nccl_hints}); pass -DGAN_NCCL_ROOT=... or -DGAN_WITH_NCCL=OFF")
endif()
if(GAN_NCCL_INCLUDE_DIR)
  file(STRINGS "${GAN_NCCL_INCLUDE_DIR}/nccl.h" _gan_nccl_def
       REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  string(REGEX REPLACE ".*NCCL_MAJOR +([0-9]+).*NCCL_MINOR +([0-9]+).*NCCL_PATCH +([0-9]+).*"
                       "\\1.\\2.\\3" GAN_NCCL_VERSION "${_gan_nccl_def}")
endif()

# Run-time search path of every binary (see 3. above).
file(GLOB _gan_wheel_libs LIST_DIRECTORIES true "${_gan_nvidia}/*/lib")
set(_gan_rpath "${_gan_torch_lib}")
if(GAN_NCCL_LIBRARY)
  get_filename_component(_gan_nccl_dir "${GAN_NCCL_LIBRARY}" DIRECTORY)
  list(APPEND _gan_rpath "${_gan_nccl_dir}")
endif()
list(APPEND _gan_rpath ${_gan_wheel_libs})
list(REMOVE_DUPLICATES _gan_rpath)
set(CMAKE_SKIP_BUILD_RPATH ON)
foreach(_d ${_gan_rpath})
  add_link_options("LINKER:-rpath,${_d}")
endforeach()
add_link_options("LINKER:--disable-new-dtags")
