// TensorBoardWriter (train/tensorboard.h) checked by TensorBoard's own reader: each test writes
// event files and an expected.json, then runs read_events.py with the project's virtual
// environment (GAN_TB_PYTHON), which loads them with tensorboard's loaders and compares.
#include "train/tensorboard.h"

#include <gtest/gtest.h>
#include <png.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/errors.h"

namespace fs = std::filesystem;
using gan::train::TensorBoardOptions;
using gan::train::TensorBoardWriter;
namespace record = gan::train::tensorboard_record;

namespace {

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(GAN_TB_WORK) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Everything a test wrote, for read_events.py: scalars as C hex floats (exact, NaN/inf kept).
struct Expected {
  nlohmann::json j = {{"scalars", nlohmann::json::array()},
                      {"images", nlohmann::json::array()},
                      {"texts", nlohmann::json::array()}};
  void scalar(const std::string& tag, int64_t step, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", v);
    j["scalars"].push_back({tag, step, buf});
  }
  void image(const std::string& tag, int64_t step, const std::string& png, const std::string& raw,
             int h, int w, int c) {
    j["images"].push_back({{"tag", tag},
                           {"step", step},
                           {"png", png},
                           {"raw", raw},
                           {"height", h},
                           {"width", w},
                           {"channels", c}});
  }
  void text(const std::string& tag, int64_t step, const std::string& t) {
    j["texts"].push_back({{"tag", tag}, {"step", step}, {"text", t}});
  }
  std::string save(const std::string& dir) const {
    const std::string path = dir + "/expected.json";
    std::ofstream(path) << j.dump(1);
    return path;
  }
};

// A PNG written with libpng (as train/png.cpp writes the sample grids), plus its raw pixels.
struct Png {
  std::string path, raw_path, bytes;
  int h, w, c;
};
Png make_png(const std::string& dir, const std::string& name, int h, int w, int c, bool noise) {
  std::vector<uint8_t> px(static_cast<size_t>(h) * w * c);
  std::mt19937 rng(h * 131 + w * 7 + c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(static_cast<size_t>(y) * w + x) * c + k] =
            noise ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>((x * 7 + y * 13 + k * 80));
  Png p{dir + "/" + name + ".png", dir + "/" + name + ".raw", "", h, w, c};
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = w;
  img.height = h;
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&img, p.path.c_str(), 0, px.data(), 0, nullptr))
    throw std::runtime_error(std::string("libpng: ") + img.message);
  p.bytes = read_file(p.path);
  write_bytes(p.raw_path, std::string(px.begin(), px.end()));
  return p;
}

// Runs read_events.py with the venv's python; the output is printed and returned.
struct ReaderResult {
  int code;
  std::string output;
};
ReaderResult run_reader(const std::vector<std::string>& args) {
  if (::access(GAN_TB_PYTHON, X_OK) != 0)
    return {127, std::string("no TensorBoard reader: ") + GAN_TB_PYTHON +
                     " does not exist; run scripts/install-deps.sh (it creates the project's "
                     "virtual environment with tensorboard) and re-run cmake"};
  std::string cmd;
  auto add_quoted = [&](const std::string& s) {  // one shell word, whatever it holds
    cmd += cmd.empty() ? "'" : " '";
    for (char ch : s) cmd += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    cmd += '\'';
  };
  add_quoted(GAN_TB_PYTHON);
  add_quoted(GAN_TB_READER);
  for (const auto& a : args) add_quoted(a);
  cmd += " 2>&1";
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return {127, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = ::pclose(f);
  std::printf("--- %s\n%s", cmd.c_str(), out.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, out};
}

#define EXPECT_READER_OK(...)                                         \
  do {                                                                \
    const ReaderResult r_ = run_reader(__VA_ARGS__);                  \
    EXPECT_EQ(r_.code, 0) << "read_events.py failed:\n" << r_.output; \
  } while (0)

// The offsets of each record in an event file (its framing, walked by the length fields).
std::vector<size_t> record_offsets(const std::string& bytes) {
  std::vector<size_t> at;
  size_t pos = 0;
  while (pos + 12 <= bytes.size()) {
    at.push_back(pos);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
      n |= uint64_t{static_cast<unsigned char>(bytes[pos + i])} << (8 * i);
    pos += 16 + n;
  }
  return at;
}

}  // namespace

TEST(TensorBoardRecord, Crc32cMaskAndFraming) {
  // CRC-32C check value of "123456789" (RFC 3720 / the Castagnoli catalogue).
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(record::masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  // RFC 3720 B.4's 32-byte vectors: zeros, ones, bytes 0..31 ascending and 31..0 descending.
  const auto masked = [](uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; };
  std::string zeros(32, '\0'), ones(32, '\xff'), up(32, '\0'), down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(record::masked_crc32c(zeros), masked(0x8A9136AAu));
  EXPECT_EQ(record::masked_crc32c(ones), masked(0x62A8AB43u));
  EXPECT_EQ(record::masked_crc32c(up), masked(0x46DD794Eu));
  EXPECT_EQ(record::masked_crc32c(down), masked(0x113FDB5Cu));
  EXPECT_EQ(record::masked_crc32c(""), masked(0u));
  const std::string ev = "an event's bytes";
  const std::string framed = record::frame(ev);
  ASSERT_EQ(framed.size(), ev.size() + 16);
  EXPECT_EQ(static_cast<unsigned char>(framed[0]), ev.size());
  EXPECT_EQ(framed.substr(1, 7), std::string(7, '\0'));
  EXPECT_EQ(framed.substr(12, ev.size()), ev);
  std::string damage;
  auto recs = record::split(framed + framed, &damage);
  EXPECT_EQ(recs.size(), 2u);
  EXPECT_TRUE(damage.empty());
  recs = record::split(framed + framed.substr(0, 20), &damage);
  EXPECT_EQ(recs.size(), 1u);
  EXPECT_NE(damage.find("torn"), std::string::npos) << damage;
  std::string flipped = framed;
  flipped[14] ^= 0x01;
  recs = record::split(flipped, &damage);
  EXPECT_EQ(recs.size(), 0u);
  EXPECT_NE(damage.find("data checksum"), std::string::npos) << damage;
}

TEST(TensorBoardRecord, RejectsWhatIsNotAPng) {
  const std::string dir = fresh_dir("not_png");
  TensorBoardWriter w(dir);
  EXPECT_THROW(w.add_image("x", 1, "GIF89a....", 2, 2, 3), std::invalid_argument);
  EXPECT_THROW(w.add_image("x", 1, "\x89PNG\r\n\x1a\n....", 2, 2, 5), std::invalid_argument);
}

// Many steps of several tags (NaN, infinities, signed zero, subnormals, overflow to float,
// huge steps), an RGB and a gray image, a markdown text: all read back as written.
TEST(TensorBoardReader, ScalarsImagesAndTextReadBackExactly) {
  const std::string dir = fresh_dir("roundtrip");
  const std::string tb = dir + "/tb";
  Expected exp;
  const Png rgb = make_png(dir, "grid_rgb", 34, 66, 3, false);
  const Png gray = make_png(dir, "grid_gray", 30, 30, 1, true);
  std::ofstream jsonl(dir + "/metrics.jsonl");  // as MetricsSink writes it: NaN/inf are null
  const std::string config =
      "```toml\nmodel = \"dcgan\"\nbatch-size = 64\nlr = 0.0002\n# é ü ✓\n```\n";
  {
    TensorBoardWriter w(tb);
    EXPECT_TRUE(w.add_text("config", 0, config));
    exp.text("config", 0, config);
    const double special[] = {std::numeric_limits<double>::quiet_NaN(),
                              std::numeric_limits<double>::infinity(),
                              -std::numeric_limits<double>::infinity(),
                              -0.0,
                              0.0,
                              1e-42,  // a float32 subnormal
                              1e300,  // beyond float32: +inf, as simple_value holds it
                              3.4028234663852886e38,
                              0.1,
                              -123456.789};
    for (int64_t step = 0; step <= 3000; step += 10) {
      const double t = static_cast<double>(step);
      std::map<std::string, double> row = {{"loss/d", std::sin(t / 100.0) + 1.5},
                                           {"loss/g", std::exp(-t / 700.0) * 3.0},
                                           {"lr", 2e-4 * std::pow(0.5, step / 1000)}};
      EXPECT_TRUE(w.add_scalars(step, row));
      for (const auto& [k, v] : row) exp.scalar(k, step, v);
      const double odd = special[(step / 10) % std::size(special)];
      EXPECT_TRUE(w.add_scalar("edge/values", step, odd));
      exp.scalar("edge/values", step, odd);
      nlohmann::ordered_json line = {{"step", step}};
      for (const auto& [k, v] : row) line[k] = v;
      line["edge/values"] = odd;
      jsonl << line.dump() << "\n";
      if (step % 200 == 0) w.flush();  // one log interval
    }
    for (int64_t step :
         {int64_t{1} << 40, (int64_t{1} << 62) + 1, std::numeric_limits<int64_t>::max()}) {
      EXPECT_TRUE(w.add_scalar("edge/large_step", step, static_cast<double>(step % 1000)));
      exp.scalar("edge/large_step", step, static_cast<double>(step % 1000));
    }
    EXPECT_TRUE(w.add_png_file("samples", 1000, rgb.path));
    exp.image("samples", 1000, rgb.path, rgb.raw_path, rgb.h, rgb.w, rgb.c);
    EXPECT_TRUE(w.add_image("samples", 2000, gray.bytes, gray.h, gray.w, gray.c));
    exp.image("samples", 2000, gray.path, gray.raw_path, gray.h, gray.w, gray.c);
    w.close();
    EXPECT_EQ(fs::path(w.path()).filename().string().rfind("events.out.tfevents.", 0), 0u);
  }
  jsonl.close();
  exp.j["files"] = 1;
  EXPECT_READER_OK({"check", exp.save(dir), tb});
  EXPECT_READER_OK({"metrics", dir + "/metrics.jsonl", tb});
}

// A resumed run: the interrupted one logged past its checkpoint (step 60) and died in the
// middle of a record. The resumed writer cuts the old file back to step 60, skips what it is
// given up to 60 and writes the rest to a new file: every (tag, step) once, the new values
// after the checkpoint, as metrics.jsonl has them after MetricsSink::drop_after.
TEST(TensorBoardReader, ResumeWritesEachStepOnce) {
  const std::string dir = fresh_dir("resume");
  const std::string tb = dir + "/tb";
  Expected exp;
  const Png img1 = make_png(dir, "img1", 20, 20, 3, false);
  const Png img2 = make_png(dir, "img2", 20, 20, 3, true);
  std::string first_file;
  {
    TensorBoardWriter w(tb);
    first_file = w.path();
    w.add_text("config", 0, "run 1");
    for (int64_t step = 0; step <= 100; step += 10) {
      w.add_scalar("loss", step, 1000.0 + step);
      if (step <= 60) exp.scalar("loss", step, 1000.0 + step);
    }
    w.add_image("samples", 50, img1.bytes, img1.h, img1.w, img1.c);
    w.add_image("samples", 100, img1.bytes, img1.h, img1.w, img1.c);
    w.close();
  }
  exp.text("config", 0, "run 1");
  exp.image("samples", 50, img1.path, img1.raw_path, img1.h, img1.w, img1.c);
  // The crash: half of one more record at the end of the file.
  const std::string torn = record::frame(std::string(40, 'x')).substr(0, 30);
  std::ofstream(first_file, std::ios::binary | std::ios::app) << torn;

  TensorBoardOptions opts;
  opts.resume_after_step = 60;
  TensorBoardWriter w(tb, opts);
  EXPECT_NE(w.path(), first_file);
  EXPECT_GT(w.path(), first_file) << "the new file must sort after the old one";
  EXPECT_EQ(w.trim().files_rewritten, 1);
  EXPECT_EQ(w.trim().records_dropped, 5);  // loss at 70..100 and the image at 100
  ASSERT_EQ(w.trim().damaged.size(), 1u);
  EXPECT_NE(w.trim().damaged[0].find("torn"), std::string::npos) << w.trim().damaged[0];
  // The resumed run re-logs from its checkpoint on: up to 60 must be skipped.
  EXPECT_FALSE(w.add_text("config", 0, "run 2"));
  for (int64_t step = 0; step <= 200; step += 10) {
    EXPECT_EQ(w.add_scalar("loss", step, 2000.0 + step), step > 60) << step;
    if (step > 60) exp.scalar("loss", step, 2000.0 + step);
  }
  EXPECT_FALSE(w.add_image("samples", 50, img2.bytes, img2.h, img2.w, img2.c));
  EXPECT_TRUE(w.add_image("samples", 100, img2.bytes, img2.h, img2.w, img2.c));
  exp.image("samples", 100, img2.path, img2.raw_path, img2.h, img2.w, img2.c);
  w.close();
  exp.j["files"] = 2;
  EXPECT_READER_OK({"check", exp.save(dir), tb});

  // Resuming again at the end touches nothing already there.
  const std::string before = read_file(first_file) + read_file(w.path());
  TensorBoardOptions at_end;
  at_end.resume_after_step = 200;
  TensorBoardWriter again(tb, at_end);
  EXPECT_EQ(again.trim().files_rewritten, 0);
  EXPECT_TRUE(again.trim().damaged.empty());
  EXPECT_FALSE(again.add_scalar("loss", 200, 0.0));
  again.close();
  EXPECT_EQ(read_file(first_file) + read_file(w.path()), before);
  exp.j["files"] = 3;
  EXPECT_READER_OK({"check", exp.save(dir), tb});
}

// One flipped byte (in a record's data, or in its length) and a file cut in the middle of a
// record: TensorBoard's reader itself rejects the record by its checksum or as truncated,
// and shows nothing of it.
TEST(TensorBoardReader, CorruptOrTruncatedRecordIsRejectedByTheReader) {
  const std::string dir = fresh_dir("corrupt");
  std::string good_file;
  {
    TensorBoardWriter w(dir + "/good");
    good_file = w.path();
    for (int64_t step = 1; step <= 10; ++step) w.add_scalar("loss", step, 0.5 * step);
    w.close();
  }
  const std::string bytes = read_file(good_file);
  const auto at = record_offsets(bytes);
  ASSERT_EQ(at.size(), 11u);  // file version + 10 scalars
  const size_t bad = 6;       // the record of step 6; 6 good ones before it
  const size_t data_end = at[bad + 1] - 4;

  auto variant = [&](const std::string& name, const std::string& content) {
    const std::string d = fresh_dir("corrupt/" + name);
    const std::string path = d + "/" + fs::path(good_file).filename().string();
    write_bytes(path, content);
    return path;
  };
  // The float of simple_value is the last 4 bytes of this Event: the flip still parses as an
  // Event (with another loss), so only the checksum can tell.
  std::string flipped = bytes;
  flipped[data_end - 2] ^= 0x40;
  std::string length = bytes;
  length[at[bad]] ^= 0x01;
  const std::string cut = bytes.substr(0, at[bad] + 12 + (data_end - at[bad] - 12) / 2);

  EXPECT_READER_OK({"corrupt", variant("data_byte", flipped), std::to_string(bad),
                    "failed event crc32 check", "6"});
  EXPECT_READER_OK({"corrupt", variant("length_byte", length), std::to_string(bad),
                    "failed header crc32 check", "6"});
  EXPECT_READER_OK(
      {"corrupt", variant("truncated", cut), std::to_string(bad), "truncated record in data", "6"});
  // The untouched file fails the same check (exit 1: no DataLossError, all 11 records read):
  // the reader itself is what rejects the others.
  const ReaderResult r =
      run_reader({"corrupt", good_file, std::to_string(bad), "failed event crc32 check"});
  EXPECT_EQ(r.code, 1) << r.output;
}

// A disk that fills up: the flush that does not fit raises StorageError (the message names
// the path, the bytes needed and free), the file keeps exactly the records flushed before,
// and the writer refuses further use. Needs root for a small tmpfs; skipped otherwise.
TEST(TensorBoardDiskFull, FlushThatDoesNotFitRaisesStorageErrorAndKeepsWholeRecords) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  const std::string dir = fresh_dir("disk_full");
  const std::string mnt = dir + "/mnt";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  struct Unmount {
    std::string p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};

  const Png noise = make_png(dir, "noise", 48, 48, 3, true);  // ~7 KB, incompressible
  Expected exp;
  const std::string tb = mnt + "/tb";
  TensorBoardWriter w(tb);
  std::string error;
  int64_t step = 0;
  for (; step < 100 && error.empty(); ++step) {
    w.add_scalar("loss", step, step * 0.25);
    w.add_image("samples", step, noise.bytes, noise.h, noise.w, noise.c);
    try {
      w.flush();
      exp.scalar("loss", step, step * 0.25);
      exp.image("samples", step, noise.path, noise.raw_path, noise.h, noise.w, noise.c);
    } catch (const gan::StorageError& e) {
      EXPECT_EQ(e.code(), gan::kExitStorage);
      error = e.what();
    }
  }
  ASSERT_FALSE(error.empty()) << "64 KB never filled up";
  std::printf("full after %lld flushes: %s\n", static_cast<long long>(step - 1), error.c_str());
  EXPECT_NE(error.find("cannot write " + w.path()), std::string::npos) << error;
  EXPECT_NE(error.find("bytes needed"), std::string::npos) << error;
  EXPECT_NE(error.find("bytes free"), std::string::npos) << error;
  EXPECT_THROW(w.add_scalar("loss", step, 1.0), gan::StorageError);
  EXPECT_THROW(w.flush(), gan::StorageError);
  EXPECT_NO_THROW(w.close());  // the error was raised already

  std::string damage;
  const std::string left = read_file(w.path());
  const auto recs = record::split(left, &damage);
  EXPECT_TRUE(damage.empty()) << "a torn record was left: " << damage;
  EXPECT_EQ(recs.size(), 1u + 2u * static_cast<size_t>(step - 1));
  EXPECT_READER_OK({"check", exp.save(dir), tb});

  // A new writer on the full disk cannot even write its first record.
  EXPECT_THROW(TensorBoardWriter(mnt + "/tb2"), gan::StorageError);
}
