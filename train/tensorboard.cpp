#include "train/tensorboard.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "core/checked_io.h"
#include "core/errors.h"
#include "proto/tensorboard_event.pb.h"

namespace gan::train {

namespace fs = std::filesystem;
namespace pb = gan::tensorboard;

namespace tensorboard_record {

namespace {
// CRC-32C (Castagnoli): the reflected polynomial 0x82F63B78, processed a byte at a time
// through a 256-entry table made at compile time.
constexpr std::array<uint32_t, 256> kCrc32cTable = [] {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}();
}  // namespace

uint32_t masked_crc32c(std::string_view data) {
  // All-ones initial value and final xor.
  uint32_t c = 0xFFFFFFFFu;
  for (const char ch : data)
    c = kCrc32cTable[(c ^ static_cast<unsigned char>(ch)) & 0xFFu] ^ (c >> 8);
  c ^= 0xFFFFFFFFu;
  // The format stores a rotated, offset CRC so that a CRC of data holding CRCs stays strong.
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

namespace {
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t get_le(std::string_view in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}
}  // namespace

std::string frame(std::string_view event) {
  std::string out;
  out.reserve(event.size() + 16);
  put_le(out, event.size(), 8);
  put_le(out, masked_crc32c(std::string_view(out.data(), 8)), 4);
  out.append(event);
  put_le(out, masked_crc32c(event), 4);
  return out;
}

std::vector<std::string> split(std::string_view bytes, std::string* damage) {
  std::vector<std::string> records;
  damage->clear();
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where =
        "record " + std::to_string(records.size()) + " at byte " + std::to_string(at) + ": ";
    if (bytes.size() - at < 12) {
      *damage = where + "torn header";
      break;
    }
    const std::string_view header = bytes.substr(at, 8);
    if (masked_crc32c(header) != get_le(bytes.substr(at + 8), 4)) {
      *damage = where + "length checksum mismatch";
      break;
    }
    const uint64_t n = get_le(header, 8);
    if (n > bytes.size() - at - 12 || bytes.size() - at - 12 - n < 4) {
      *damage = where + "torn data";
      break;
    }
    const std::string_view data = bytes.substr(at + 12, n);
    if (masked_crc32c(data) != get_le(bytes.substr(at + 12 + n), 4)) {
      *damage = where + "data checksum mismatch";
      break;
    }
    records.emplace_back(data);
    at += 16 + n;
  }
  return records;
}

}  // namespace tensorboard_record

namespace {

constexpr const char* kFileVersion = "brain.Event:2";
constexpr std::string_view kPngSignature("\x89PNG\r\n\x1a\n", 8);

// TensorBoard's loader takes every file whose name contains this.
bool is_event_file(const fs::path& p) {
  return p.filename().string().find("tfevents") != std::string::npos;
}

double wall_time_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::string read_whole_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::string bytes;
  if (in) {
    bytes.resize(static_cast<size_t>(in.tellg()));
    in.seekg(0);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  if (!in) throw StorageError("cannot read " + path.string() + ": " + std::strerror(errno));
  return bytes;
}

pb::Event new_event(int64_t step) {
  pb::Event ev;
  ev.set_wall_time(wall_time_now());
  ev.set_step(step);
  return ev;
}

std::string serialize(const pb::Event& ev) {
  std::string out;
  if (!ev.SerializeToString(&out)) throw std::runtime_error("tensorboard: cannot serialize");
  return out;
}

}  // namespace

TensorBoardTrim TensorBoardWriter::drop_after(const std::string& dir, int64_t step) {
  TensorBoardTrim trim;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return trim;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && is_event_file(entry.path())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const std::string bytes = read_whole_file(file);
    std::string damage;
    const auto records = tensorboard_record::split(bytes, &damage);
    std::string kept;
    int64_t dropped = 0;
    for (const auto& rec : records) {
      pb::Event ev;
      if (!ev.ParseFromString(rec)) {
        damage = "an Event that does not parse";
        break;
      }
      if (ev.step() > step && !ev.has_file_version()) {
        ++dropped;
        continue;
      }
      kept += tensorboard_record::frame(rec);
    }
    if (!damage.empty()) trim.damaged.push_back(file.string() + " (" + damage + ")");
    if (kept.size() == bytes.size()) continue;  // nothing dropped, nothing cut
    // The temporary's name lacks "tfevents", so a crash here leaves nothing TensorBoard reads.
    const std::string tmp = (fs::path(dir) / ".tb-trim.tmp").string();
    write_file_checked(tmp, kept);
    publish(tmp, file.string());
    ++trim.files_rewritten;
    trim.records_dropped += dropped;
  }
  return trim;
}

TensorBoardWriter::TensorBoardWriter(const std::string& dir, TensorBoardOptions options)
    : options_(options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw StorageError("cannot create " + dir + ": " + ec.message());
  if (options_.resume_after_step) trim_ = drop_after(dir, *options_.resume_after_step);

  std::string newest;  // the new file must sort after every event file already there
  for (const auto& entry : fs::directory_iterator(dir))
    if (is_event_file(entry.path())) newest = std::max(newest, entry.path().string());
  static std::atomic<int> counter{0};  // several writers in one process and second
  const std::string host = host_name();
  const long long pid = ::getpid();
  long long secs = static_cast<long long>(std::time(nullptr));
  for (int attempt = 0;; ++attempt) {
    path_ = (fs::path(dir) / ("events.out.tfevents." + std::to_string(secs) + "." + host + "." +
                              std::to_string(pid) + "." + std::to_string(counter++)))
                .string();
    if (path_ <= newest) {
      ++secs;
      continue;
    }
    // O_EXCL: never append to a file another writer (or process) owns.
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      break;
    }
    const int err = errno;
    if (err != EEXIST || attempt > 100) raise_storage_error(path_, "open", err, 0);
  }

  pb::Event ev;
  ev.set_wall_time(wall_time_now());
  ev.set_file_version(kFileVersion);
  try {
    append_event(serialize(ev));
    flush();  // a file TensorBoard can identify from the start
  } catch (...) {
    ::unlink(path_.c_str());  // no empty event file left behind
    throw;
  }
}

TensorBoardWriter::~TensorBoardWriter() {
  try {
    close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "TensorBoard writer: %s\n", e.what());
  }
}

void TensorBoardWriter::check_usable() const {
  if (!broken_.empty())
    throw StorageError("TensorBoard writer stopped after an earlier error: " + broken_);
  if (closed_) throw std::logic_error("TensorBoard writer used after close(): " + path_);
}

bool TensorBoardWriter::skip(int64_t step) const {
  return options_.resume_after_step && step <= *options_.resume_after_step;
}

void TensorBoardWriter::append_event(const std::string& serialized_event) {
  check_usable();
  pending_ += tensorboard_record::frame(serialized_event);
  if (pending_.size() > options_.max_buffered_bytes) flush();
}

bool TensorBoardWriter::add_scalar(const std::string& tag, int64_t step, double value) {
  return add_scalars(step, std::vector<std::pair<std::string, double>>{{tag, value}});
}

bool TensorBoardWriter::add_scalars(int64_t step, const std::map<std::string, double>& values) {
  return add_scalars(step,
                     std::vector<std::pair<std::string, double>>(values.begin(), values.end()));
}

bool TensorBoardWriter::add_scalars(int64_t step,
                                    const std::vector<std::pair<std::string, double>>& values) {
  check_usable();
  if (skip(step) || values.empty()) return false;
  pb::Event ev = new_event(step);
  for (const auto& [tag, value] : values) {
    auto* v = ev.mutable_summary()->add_value();
    v->set_tag(tag);
    v->set_simple_value(static_cast<float>(value));
  }
  append_event(serialize(ev));
  return true;
}

bool TensorBoardWriter::add_image(const std::string& tag, int64_t step, std::string_view png,
                                  int height, int width, int channels) {
  check_usable();
  if (height <= 0 || width <= 0 || channels < 1 || channels > 4 ||
      png.substr(0, kPngSignature.size()) != kPngSignature)
    throw std::invalid_argument("tensorboard image " + tag + ": not a PNG of " +
                                std::to_string(height) + "x" + std::to_string(width) + "x" +
                                std::to_string(channels));
  if (skip(step)) return false;
  pb::Event ev = new_event(step);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  auto* img = v->mutable_image();
  img->set_height(height);
  img->set_width(width);
  img->set_colorspace(channels);  // the format's colorspace codes equal the channel counts
  img->set_encoded_image_string(png.data(), png.size());
  append_event(serialize(ev));
  return true;
}

bool TensorBoardWriter::add_png_file(const std::string& tag, int64_t step,
                                     const std::string& path) {
  check_usable();
  if (skip(step)) return false;
  const std::string png = read_whole_file(path);
  // IHDR is always the first chunk: width and height (big-endian) at 16 and 20, colour type
  // at 25.
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
    return static_cast<int>(v);
  };
  if (png.size() < 33 || png.compare(12, 4, "IHDR") != 0)
    throw std::invalid_argument("tensorboard image " + tag + ": " + path + " is not a PNG");
  int channels = 0;
  switch (static_cast<unsigned char>(png[25])) {
    case 0:
      channels = 1;
      break;  // gray
    case 2:
      channels = 3;
      break;  // RGB
    case 4:
      channels = 2;
      break;  // gray + alpha
    case 6:
      channels = 4;
      break;  // RGBA
    default:  // palette: TensorBoard decodes it anyway; call it RGB
      channels = 3;
  }
  return add_image(tag, step, png, be32(20), be32(16), channels);
}

bool TensorBoardWriter::add_text(const std::string& tag, int64_t step,
                                 const std::string& markdown) {
  check_usable();
  if (skip(step)) return false;
  pb::Event ev = new_event(step);
  auto* v = ev.mutable_summary()->add_value();
  v->set_tag(tag);
  // TensorBoard's text plugin reads a string tensor tagged with its plugin name.
  auto* meta = v->mutable_metadata();
  meta->mutable_plugin_data()->set_plugin_name("text");
  meta->set_data_class(pb::DATA_CLASS_TENSOR);
  auto* t = v->mutable_tensor();
  t->set_dtype(pb::DT_STRING);
  t->mutable_tensor_shape();  // present and without dimensions: a scalar string
  t->add_string_val(markdown);
  append_event(serialize(ev));
  return true;
}

void TensorBoardWriter::flush() {
  check_usable();
  if (pending_.empty()) return;
  try {
    // Checked append + fdatasync; a failed or short write is cut back to the previous length,
    // so the file keeps whole records only and nothing torn hides the ones before it.
    append_checked(path_, pending_);
  } catch (const StorageError& e) {
    // Later records would follow a gap in the run's history: stop for good.
    broken_ = e.what();
    pending_.clear();
    throw;
  }
  pending_.clear();
}

void TensorBoardWriter::close() {
  if (closed_ || !broken_.empty()) return;  // a broken writer threw its error already
  flush();
  closed_ = true;
}

}  // namespace gan::train
