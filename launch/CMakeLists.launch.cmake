# gan_launch: the cluster launcher (local mpirun, host lists, Slurm). No LibTorch, no MPI
# library: it only drives mpirun/srun/sbatch. Included from launch/CMakeLists.txt.
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(Threads REQUIRED)

add_library(gan_launch_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/launch_process.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launch_mpirun.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launch_slurm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/launch_status.cpp)
target_include_directories(gan_launch_core PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_compile_features(gan_launch_core PUBLIC cxx_std_17)
# Threads: the gan_dist checks of a sweep's tasks run a few at a time.
target_link_libraries(gan_launch_core PUBLIC nlohmann_json::nlohmann_json Threads::Threads)

add_executable(gan_launch ${CMAKE_CURRENT_LIST_DIR}/gan_launch_main.cpp)
target_link_libraries(gan_launch PRIVATE gan_launch_core CLI11::CLI11 spdlog::spdlog)
