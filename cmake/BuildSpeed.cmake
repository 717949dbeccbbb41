# What keeps the build short on a 2-core machine (figures: docs/ARCHITECTURE.md, "The build").
#
# Unity builds. Every file that compiles against LibTorch starts by loading the precompiled
# <torch/torch.h>, a 0.6 GB image that takes ~4 s to load before a line of the file is read
# (an empty file with it: 4.2 s; the whole of dist/digest.cpp after it: 0.7 s more). Compiling
# each target's files in a few batches loads it a few times instead of once per file.
# GAN_UNITY_BATCH files per batch: small enough that a changed file recompiles a batch, not
# the whole library. Files merged into a batch share one translation unit, so names private
# to a file (anonymous namespaces, static functions) must not repeat within a target.
option(GAN_UNITY_BUILD "Compile each target's files in batches (unity build)" ON)
set(GAN_UNITY_BATCH 6 CACHE STRING "Files per unity batch")
set(CMAKE_UNITY_BUILD ${GAN_UNITY_BUILD})
set(CMAKE_UNITY_BUILD_BATCH_SIZE ${GAN_UNITY_BATCH})
if(GAN_UNITY_BUILD AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ warns when a type from an anonymous namespace of an #included file is a base or field
  # of another, since a header may be included by many files; a batch includes each file once.
  add_compile_options(-Wno-subobject-linkage)
endif()

# Test code (tests/) compiles at -O1: a quarter less time than the programs' -O3 for the
# tests' own code (GoogleTest's macros), and g++ still accepts the -O3 precompiled header.
# The libraries the tests exercise are the programs' own, at -O3.
set(GAN_TEST_OPT -O1 CACHE STRING "Optimisation of the tests' own code")

# ccache, when installed (scripts/install-deps.sh installs it; -DGAN_CCACHE=OFF or
# CCACHE_DISABLE=1 to go without). The clone's root is the base directory, so paths inside the
# clone enter the cache key relative to it: a fresh clone in another folder, or a new build
# folder, gets its objects (the precompiled header's included) from the cache. The key holds
# the contents of the compiler, the command line and every file a compile reads, so a changed
# header recompiles exactly what includes it. Sloppiness as ccache's manual asks for
# precompiled headers (pch_defines, time_macros), plus file times: the contents decide, not
# when a clone wrote them.
option(GAN_CCACHE "Compile through ccache when it is installed" ON)
if(GAN_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(GAN_CCACHE_PROGRAM ccache)
  if(GAN_CCACHE_PROGRAM)
    set(_gan_launcher
        ${CMAKE_COMMAND} -E env "CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}"
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        ${GAN_CCACHE_PROGRAM})
    set(CMAKE_C_COMPILER_LAUNCHER ${_gan_launcher})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${_gan_launcher})
    # clang stamps a precompiled header with its file time and refuses it when the time
    # differs, as it does for one restored from the cache.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
      add_compile_options("SHELL:-Xclang -fno-pch-timestamp")
    endif()
    message(STATUS "gan_dist: compiling through ${GAN_CCACHE_PROGRAM}")
  endif()
endif()
