// `gan_prep celeba`: a folder of face images (plus optional CelebA lists) to HDF5 shards,
// split over MPI ranks and threads, resumable, with prep-report.json.
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}

namespace gan::launch {

struct CelebaArgs {
  std::string src, split = "all", out;
  // auto: look next to --src (dataio::find_celeba_list); none: do not use; else the file.
  std::string attr = "auto", partition = "auto";
  std::string crop = "128";
  std::string crop_box;  // y,x,h,w; the same as --crop y,x,h,w
  int size = 64;
  std::string filter = "area";
  std::string small = "upscale";
  bool no_dct_scaling = false;
  std::string jpeg_tail = "decode";
  int64_t shard_size = 20000;
  int64_t chunk = 64;
  int threads = 1;
  bool allow_skips = false;
  bool force = false;
};

void add_celeba_options(CLI::App* cmd, CelebaArgs* a);

// Runs on every rank (MPI is initialised here; a world of one without mpirun). Returns 0,
// or 3 when files were skipped and --allow-skips was not given; throws gan::Error otherwise.
int run_celeba(const CelebaArgs& a, int* argc, char*** argv);

}  // namespace gan::launch
