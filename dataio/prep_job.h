// Data preparation as one job with two sources: `gan_prep idx` (IDX files) and `gan_prep
// celeba` (a folder of images), on one rank or many. The job plans (the inputs in a fixed
// order and the recipe), makes this rank's shards (each followed by a sidecar, so a re-run
// keeps every shard still valid), and finishes on rank 0 (manifest.json with statistics from
// the sidecars' exact sums, prep-report.json). dataio knows nothing of MPI: the job sees its
// ranks through PrepGroup, which gan_prep fills from dist::World.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gan::dataio {

// The ranks of a preparation job, as the job needs them.
class PrepGroup {
 public:
  virtual ~PrepGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void barrier() const = 0;
  // Every rank's string, in rank order.
  virtual std::vector<std::string> allgather(const std::string& value) const = 0;
  // Rank 0's string, on every rank.
  virtual std::string broadcast(const std::string& value) const = 0;
  // Runs `fn` on rank 0 alone; an error it throws is raised identically on every rank
  // (a collective gan::Error), so no rank is left waiting.
  virtual void on_root(const std::function<void()>& fn) const = 0;
  // Runs `fn` on every rank; if it throws on any, every rank raises one collective gan::Error
  // (the largest exit code, each distinct message with its rank).
  virtual void on_every_rank(const std::function<void()>& fn) const = 0;
};

// `gan_prep idx`: MNIST-style IDX images (and labels) to shards.
struct IdxPrepArgs {
  std::string images, labels, out;
  int64_t shard_size = 20000;
  int64_t chunk = 64;
  bool force = false;
};
// Runs on every rank of `group`; returns 0 or throws gan::Error.
int prepare_idx(const IdxPrepArgs& a, const PrepGroup& group);

// `gan_prep celeba`: a folder of face images, cropped and resized, with optional CelebA lists.
struct ImagePrepArgs {
  std::string src, split = "all", out;
  // auto: look next to --src (find_celeba_list); none: do not use; else the file.
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
// Runs on every rank of `group`. Returns 0, or 3 when files were skipped and allow_skips is
// off; throws gan::Error otherwise.
int prepare_images(const ImagePrepArgs& a, const PrepGroup& group);

// `gan_prep verify`: re-hashes and reads every shard; DataError naming the first bad one.
int verify_dataset(const std::string& dir);

}  // namespace gan::dataio
