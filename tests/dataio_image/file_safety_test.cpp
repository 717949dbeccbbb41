// Safe-open tests: FIFOs never block, and each kind of non-image is refused with its reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <future>

#include "dataio/image_decode.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

namespace {

std::string read_reason(const std::string& path) {
  try {
    read_image_file(path);
  } catch (const ImageError& e) {
    return e.reason();
  }
  return "";
}

}  // namespace

TEST(FileSafety, FifoNamedJpgDoesNotBlock) {
  TempDir d;
  const std::string fifo = d / "x.jpg";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  auto fut = std::async(std::launch::async, [&] { return read_reason(fifo); });
  if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // Release the blocked reader so the test can end, then fail.
    const int w = open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) close(w);
    FAIL() << "read_image_file blocked on a FIFO";
  }
  EXPECT_NE(fut.get().find("FIFO"), std::string::npos);
}

TEST(FileSafety, EachBadKindHasItsReason) {
  TempDir d;
  write_file(d / "empty.jpg", std::string());
  ASSERT_EQ(mkdir((d / "dir.jpg").c_str(), 0755), 0);
  ASSERT_EQ(symlink("does-not-exist.jpg", (d / "dangling.jpg").c_str()), 0);
  ASSERT_EQ(symlink("loop_b.jpg", (d / "loop_a.jpg").c_str()), 0);
  ASSERT_EQ(symlink("loop_a.jpg", (d / "loop_b.jpg").c_str()), 0);
  ASSERT_EQ(symlink("/dev/null", (d / "devnull.jpg").c_str()), 0);

  EXPECT_EQ(read_reason(d / "empty.jpg"), "empty file");
  EXPECT_NE(read_reason(d / "dir.jpg").find("directory"), std::string::npos);
  EXPECT_NE(read_reason(d / "dangling.jpg").find("dangling symlink"), std::string::npos);
  EXPECT_NE(read_reason(d / "loop_a.jpg").find("symlink loop"), std::string::npos);
  EXPECT_NE(read_reason(d / "devnull.jpg").find("character device"), std::string::npos);
  EXPECT_NE(read_reason(d / "missing.jpg").find("no such file"), std::string::npos);

  // Size cap applies before reading.
  write_file(d / "big.jpg", std::vector<uint8_t>(5000, 0xff));
  try {
    read_image_file(d / "big.jpg", 4096);
    ADD_FAILURE() << "size cap not applied";
  } catch (const ImageError& e) {
    EXPECT_NE(e.reason().find("too large"), std::string::npos);
  }
}

TEST(FileSafety, SymlinkToGoodFileIsFollowed) {
  TempDir d;
  const auto jpg = encode_jpeg(natural_rgb(32, 32, 1), 32, 32, JpegColor::kRgb, 90);
  write_file(d / "real.jpg", jpg);
  ASSERT_EQ(symlink("real.jpg", (d / "link.jpg").c_str()), 0);
  EXPECT_EQ(read_image_file(d / "link.jpg"), jpg);
  EXPECT_EQ(decode_image_file(d / "link.jpg").width, 32);
}

TEST(FileSafety, TextAndPngUnderJpgNameJudgedByContent) {
  TempDir d;
  write_file(d / "notes.jpg", std::string("this is a text file\n"));
  try {
    decode_image_file(d / "notes.jpg");
    ADD_FAILURE() << "text accepted as an image";
  } catch (const ImageError& e) {
    EXPECT_NE(e.reason().find("looks like text"), std::string::npos) << e.reason();
  }
  PngSpec s;
  s.w = 2, s.h = 1, s.color_type = 2, s.bit_depth = 8, s.data = {1, 2, 3, 4, 5, 6};
  write_file(d / "really_png.jpg", encode_png(s));
  const DecodedImage im = decode_image_file(d / "really_png.jpg");
  EXPECT_EQ(im.format, ImageFormat::kPng);
  EXPECT_EQ(im.rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
}

// Root reads mode-000 files, so as root the check runs in a child that drops to nobody.
TEST(FileSafety, UnreadableFile) {
  TempDir d;
  const std::string f = d / "secret.jpg";
  write_file(f, encode_jpeg(natural_rgb(16, 16, 2), 16, 16, JpegColor::kRgb, 90));
  ASSERT_EQ(chmod(f.c_str(), 0), 0);
  if (geteuid() != 0) {
    EXPECT_NE(read_reason(f).find("permission denied"), std::string::npos) << read_reason(f);
    return;
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    const std::string r = read_reason(f);
    _exit(r.find("permission denied") != std::string::npos ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  if (WEXITSTATUS(st) == 2) GTEST_SKIP() << "cannot drop privileges to uid 65534";
  EXPECT_EQ(WEXITSTATUS(st), 0) << "an unprivileged reader was not refused";
}
