// Listing a folder of images in a rank-splittable order, the CelebA annotation files
// (list_attr_celeba.txt, list_eval_partition.txt), and the bad-file record of prep-report.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace gan::dataio {

// A file that was not turned into a sample, and why.
struct BadFile {
  std::string path;
  std::string reason;
};

// Sorted by path (then reason), so the report is the same whatever the rank/thread count.
void sort_bad_files(std::vector<BadFile>* bad);
// The bad files as prep-report.json lists them: [{"path", "reason"}, ...]. Paths may hold
// any byte: a byte that is not UTF-8 reads as the code point of its value (0xff as U+00FF),
// and such a path also gets "path_hex", its exact bytes.
nlohmann::json bad_files_json(const std::vector<BadFile>& bad);
// `s` with every byte that is not part of valid UTF-8 read as the code point of its value.
std::string readable_utf8(const std::string& s);
bool is_utf8(const std::string& s);
// Bytes as lower-case hex digits and back (file names kept exact through JSON).
std::string to_hex(const std::string& bytes);
std::string from_hex(const std::string& hex);

struct ScanResult {
  // Image candidates relative to the root, '/'-separated, sorted byte-wise (memcmp order),
  // so every rank computes the same list and can take its own contiguous slice.
  std::vector<std::string> files;
  // Entries refused during the walk (unreadable subfolder, a directory named like an image).
  std::vector<BadFile> bad;
};

// Recursive walk of `root`. Candidates are entries whose name ends in .jpg, .jpeg or .png
// (any case) and that are not directories: regular files, symlinks, and also FIFOs/devices
// so that they show up in the report when decoding refuses them (read_image_file never
// blocks on them). The content type is decided later from the magic bytes. Directories are
// descended except a directory with an image name (reported as bad, not descended);
// symlinks to directories are not followed (no cycles). Hidden entries are included.
// Throws DataError when `root` itself is not a readable directory.
ScanResult scan_image_folder(const std::string& root);

// True for names ending in .jpg/.jpeg/.png, case-insensitive.
bool has_image_extension(const std::string& name);

// list_attr_celeba.txt: line 1 the image count, line 2 the K attribute names, then one line
// per image `name v1 .. vK` with vi in {-1, 1}. Labels become 0/1, row-major [N, K].
struct AttrTable {
  std::vector<std::string> names;                 // K attribute names
  std::vector<std::string> files;                 // N image names, in file order
  std::vector<int64_t> labels;                    // N * K, 0 or 1
  std::unordered_map<std::string, size_t> index;  // file name -> row
  size_t num_attrs() const { return names.size(); }
  // Row of `file` or nullptr when absent.
  const int64_t* row(const std::string& file) const;
};
// Throws DataError naming the file and line on any malformed input (bad count, wrong number
// of values, value not -1/1, duplicate name, missing or extra rows).
AttrTable parse_attr_file(const std::string& path);
AttrTable parse_attr_text(const std::string& text, const std::string& name_for_errors);

enum class Split : int8_t { kTrain = 0, kValid = 1, kTest = 2 };
const char* split_name(Split s);

// list_eval_partition.txt: `name 0|1|2` per line (0 train, 1 valid, 2 test).
struct PartitionTable {
  std::vector<std::string> files;  // in file order
  std::unordered_map<std::string, Split> split;
  // Split of `file`, or false when absent.
  bool lookup(const std::string& file, Split* out) const;
};
PartitionTable parse_partition_file(const std::string& path);
PartitionTable parse_partition_text(const std::string& text, const std::string& name_for_errors);

}  // namespace gan::dataio
