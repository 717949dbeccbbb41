// TensorBoard event files written natively (protobuf records, no TensorFlow): rank 0's
// scalars, sample grids and the resolved config, for `tensorboard --logdir OUT/tb`.
//
// A file is a sequence of records: uint64 length (little-endian), masked CRC32C of those 8
// bytes, the serialized Event, masked CRC32C of the Event. Records are buffered and appended
// by flush() through the project's checked I/O; a failed write or sync is cut back to the last
// whole record and raises a StorageError (exit 6), so a file never holds a torn record in
// front of good ones. A crash loses at most what was added since the last flush().
// Not thread-safe: one writer per process (rank 0), used from one thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gan::train {

struct TensorBoardOptions {
  // On resume: the checkpoint step the run continues from. What the interrupted run wrote
  // after it is first dropped from the event files already in the folder (as
  // MetricsSink::drop_after does for metrics.jsonl), and nothing at a step <= it is written
  // again, so each (tag, step) appears once and equals metrics.jsonl.
  std::optional<int64_t> resume_after_step;
  // Buffered records are written out once they exceed this, even between two flush() calls.
  size_t max_buffered_bytes = size_t{8} << 20;
};

// What TensorBoardWriter::drop_after changed in a folder.
struct TensorBoardTrim {
  int files_rewritten = 0;
  int64_t records_dropped = 0;  // Events at steps after the given one
  // Files whose tail was torn or failed its checksum: cut before the first bad record.
  std::vector<std::string> damaged;
};

class TensorBoardWriter {
 public:
  // Creates `dir` if needed and a new file events.out.tfevents.<unix-seconds>.<host>.<pid>.<n>
  // in it (named to sort after the files already there: TensorBoard reads a folder's files in
  // name order), whose first record, written at once, is the file version "brain.Event:2".
  explicit TensorBoardWriter(const std::string& dir, TensorBoardOptions options = {});
  // Flushes and closes; an error there is printed to stderr (call close() to get it thrown).
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // Each add_* buffers one Event and returns false when the step was skipped (step <=
  // resume_after_step). Scalars travel as float32 (TensorBoard's simple_value); NaN and
  // infinities are kept.
  bool add_scalar(const std::string& tag, int64_t step, double value);
  // All values of a step in one Event, tagged by their names.
  bool add_scalars(int64_t step, const std::map<std::string, double>& values);
  bool add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // `png`: a whole PNG file's bytes; channels 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA).
  bool add_image(const std::string& tag, int64_t step, std::string_view png, int height, int width,
                 int channels);
  // Reads a PNG file (a sample grid) and takes its size and channels from its header.
  bool add_png_file(const std::string& tag, int64_t step, const std::string& path);
  // Markdown, shown by TensorBoard's text dashboard (e.g. the resolved config in a code block).
  bool add_text(const std::string& tag, int64_t step, const std::string& markdown);

  // Appends the buffered records with core/checked_io.h's append_checked (write + fdatasync;
  // call it once per log interval). On failure the file is cut back to its last whole record
  // and a StorageError names the path, the bytes needed and the bytes free; the writer is then
  // broken: every later call throws a StorageError too.
  void flush();
  // flush(); idempotent. Nothing may be added afterwards.
  void close();

  const std::string& path() const { return path_; }
  // What the constructor's resume trim did (empty without resume_after_step).
  const TensorBoardTrim& trim() const { return trim_; }

  // Rewrites the event files in `dir` without the Events at steps > `step` (the file version
  // record stays), each through a temporary and a rename. Files with nothing to drop are left
  // untouched. A torn or corrupt tail is cut off and the file listed in `damaged`.
  static TensorBoardTrim drop_after(const std::string& dir, int64_t step);

 private:
  bool skip(int64_t step) const;
  void append_event(const std::string& serialized_event);
  void check_usable() const;

  std::string path_;
  TensorBoardOptions options_;
  TensorBoardTrim trim_;
  bool closed_ = false;
  std::string pending_;  // framed records not yet written
  std::string broken_;   // the error that broke the writer, if any
};

// The record framing, exposed for tests.
namespace tensorboard_record {
// CRC32C (Castagnoli) of `data`, masked as TensorFlow's record format does.
uint32_t masked_crc32c(std::string_view data);
// The framed record for one serialized Event.
std::string frame(std::string_view event);
// Splits a file's bytes into records, checking both checksums of each; stops at the first
// torn or corrupt record and says why in `*damage` (left empty when the whole file is good).
std::vector<std::string> split(std::string_view file_bytes, std::string* damage);
}  // namespace tensorboard_record

}  // namespace gan::train
