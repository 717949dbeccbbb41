# gan_image: image side of gan_prep (decode, crop/resize, folder scan, CelebA lists).
# include()d from dataio/CMakeLists.txt; paths are relative to this file's directory.
find_package(libjpeg-turbo REQUIRED)  # provides libjpeg-turbo::jpeg (+ ::turbojpeg)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)

add_library(gan_image STATIC
  ${CMAKE_CURRENT_LIST_DIR}/image_decode.cpp
  ${CMAKE_CURRENT_LIST_DIR}/image_resize.cpp
  ${CMAKE_CURRENT_LIST_DIR}/image_scan.cpp
  ${CMAKE_CURRENT_LIST_DIR}/image_prep.cpp
  ${CMAKE_CURRENT_LIST_DIR}/celeba_prep.cpp)
# Headers are included as "dataio/image_decode.h", "core/errors.h": the repo root.
target_include_directories(gan_image PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
target_compile_features(gan_image PUBLIC cxx_std_17)
target_link_libraries(gan_image PUBLIC libjpeg-turbo::jpeg PNG::PNG ZLIB::ZLIB Threads::Threads)
set_target_properties(gan_image PROPERTIES POSITION_INDEPENDENT_CODE ON)
# Resampling weights are computed in double and quantised: forbid FMA contraction so the
# quantised weights (hence shard bytes) do not depend on -march. -O3: the integer
# multiply-add loops vectorise (results are exact integers, so bytes do not change).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/image_resize.cpp
  PROPERTIES COMPILE_OPTIONS "-ffp-contract=off;-O3")
