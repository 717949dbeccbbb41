// The MPI-free core of `gan_prep celeba`: the file plan (scan + CelebA lists + split), shard
// ranges over the file list, and multi-threaded preparation of one shard's images whose
// bytes do not depend on the thread or rank count.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataio/image_prep.h"
#include "dataio/image_scan.h"

namespace gan::dataio {

struct CelebaSources {
  std::string image_dir;       // img_align_celeba/ or any folder of images
  std::string attr_file;       // list_attr_celeba.txt, optional
  std::string partition_file;  // list_eval_partition.txt, optional
  std::string split = "all";   // all | train | valid | test (needs partition_file)
};

struct PrepPlan {
  std::vector<std::string> files;        // relative to image_dir, byte-wise sorted
  int64_t label_dims = 0;                // 0 or K (attributes)
  std::vector<int64_t> labels;           // files.size() * label_dims, 0/1
  std::vector<std::string> label_names;  // K attribute names
  std::vector<BadFile> excluded;         // refused while planning (scan, list lookups)
  int64_t other_split = 0;               // files left out because they belong to another split
};

// The CelebA list file `name` (list_attr_celeba.txt, list_eval_partition.txt) that belongs
// to an image folder: looked for in the folder, its parent and its grandparent, each also in
// Anno/ and Eval/ (torchvision's flat layout and the official Img/, Anno/, Eval/ one), then
// the same from the folder's real path when it is reached through a symlink. Returns the
// first regular file found, or "" when there is none.
std::string find_celeba_list(const std::string& image_dir, const std::string& name);

// Scans the folder and joins the lists. A file missing from a given attribute or partition
// list is excluded with a reason (so the report shows it); files of other splits are
// dropped silently (counted in other_split). Throws UsageError for a bad split name and
// DataError (file:line) for malformed lists.
PrepPlan plan_celeba(const CelebaSources& src);

// Shard k holds the usable images of files [k * shard_size, (k + 1) * shard_size): a
// shard's content depends only on its own files, so any rank can make any shard, and a
// resumed run can keep the shards it already verified.
struct ShardRange {
  int64_t index = 0;
  int64_t begin = 0;
  int64_t end = 0;
};
std::vector<ShardRange> plan_shards(int64_t num_files, int64_t shard_size);
// Round-robin ownership: shard k belongs to rank k % world_size.
inline bool rank_owns(const ShardRange& s, int rank, int world_size) {
  return s.index % world_size == rank;
}

struct ShardBatch {
  int64_t count = 0;               // images that made it
  std::vector<uint8_t> images;     // count * size * size * 3, in file order
  std::vector<int64_t> labels;     // count * label_dims
  std::vector<std::string> files;  // the source file of each image
  std::vector<BadFile> bad;        // files of this range that were refused, in file order
  CropBox first_crop;              // crop box of the first image that made it (for the record)
  // Exact per-channel sums over all pixels (0..255), so mean/std combine across shards and
  // ranks to the same value whatever the split.
  std::array<uint64_t, 3> sum{};
  std::array<uint64_t, 3> sum_sq{};
};

// Prepares files [range.begin, range.end) of the plan with `threads` worker threads (each
// with its own ImagePrep). Thread t handles files t, t + threads, ...; results are placed by
// file index, so the batch is byte-identical for any thread count.
ShardBatch prepare_shard(const PrepPlan& plan, const std::string& image_dir,
                         const ShardRange& range, const PrepRecipe& recipe, int threads);

}  // namespace gan::dataio
