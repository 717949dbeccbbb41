// Folder scan order and filtering; CelebA list parsers on good and malformed input; JSON.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/errors.h"
#include "dataio/image_scan.h"
#include "util.h"

using namespace gan::dataio;
using namespace gan::test;

TEST(Scan, RecursiveSortedBytewise) {
  TempDir d;
  for (const char* f : {"b.jpg", "a.png", "Z.JPG", "notes.txt", "\xc3\xbc.jpg", "c.jpeg"}) {
    write_file(d / f, std::string("x"));
  }
  ASSERT_EQ(mkdir((d / "sub").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((d / "sub/deeper").c_str(), 0755), 0);
  write_file(d / "sub/000002.jpg", std::string("x"));
  write_file(d / "sub/deeper/1.png", std::string("x"));
  ASSERT_EQ(mkdir((d / "dir.jpg").c_str(), 0755), 0);
  write_file(d / "dir.jpg/inner.jpg", std::string("x"));      // not reached: dir.jpg is refused
  ASSERT_EQ(symlink("sub", (d / "link_to_sub").c_str()), 0);  // not followed
  ASSERT_EQ(symlink("nowhere.jpg", (d / "dangling.jpg").c_str()), 0);
  ASSERT_EQ(mkfifo((d / "pipe.jpg").c_str(), 0644), 0);

  const ScanResult r = scan_image_folder(d.path());
  const std::vector<std::string> expect = {
      "Z.JPG",        "a.png",    "b.jpg",          "c.jpeg",
      "dangling.jpg", "pipe.jpg", "sub/000002.jpg", "sub/deeper/1.png",
      "\xc3\xbc.jpg"};
  EXPECT_EQ(r.files, expect);
  ASSERT_EQ(r.bad.size(), 1u);
  EXPECT_EQ(r.bad[0].path, "dir.jpg");
  EXPECT_NE(r.bad[0].reason.find("directory"), std::string::npos);

  EXPECT_THROW(scan_image_folder(d / "nope"), gan::DataError);
}

// Root lists mode-000 folders, so as root the scan runs in a child that drops to nobody.
TEST(Scan, UnreadableSubfolderIsReported) {
  TempDir d;
  ASSERT_EQ(mkdir((d / "locked").c_str(), 0), 0);
  write_file(d / "a.jpg", std::string("x"));
  auto check = [&]() -> bool {
    const ScanResult r = scan_image_folder(d.path());
    return r.files == std::vector<std::string>{"a.jpg"} && r.bad.size() == 1 &&
           r.bad[0].path == "locked" &&
           r.bad[0].reason.find("Permission denied") != std::string::npos;
  };
  if (geteuid() != 0) {
    EXPECT_TRUE(check());
    return;
  }
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(2);
    _exit(check() ? 0 : 1);
  }
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  if (WEXITSTATUS(st) == 2) GTEST_SKIP() << "cannot drop privileges to uid 65534";
  EXPECT_EQ(WEXITSTATUS(st), 0) << "unreadable folder not reported";
}

namespace {

std::string attr_text(const std::string& rows, const std::string& count = "3") {
  return count + "\nSmiling Young Male\n" + rows;
}

std::string attr_error(const std::string& text) {
  try {
    parse_attr_text(text, "list_attr_celeba.txt");
  } catch (const gan::DataError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(CelebaLists, AttrParsesToZeroOne) {
  // Real file layout: double spaces, CRLF line ends, trailing newline.
  const std::string text =
      attr_text("000001.jpg  1 -1  1\r\n000002.jpg -1 -1 -1\r\n000003.jpg  1  1 -1\r\n");
  const AttrTable t = parse_attr_text(text, "x");
  ASSERT_EQ(t.num_attrs(), 3u);
  EXPECT_EQ(t.names[2], "Male");
  ASSERT_EQ(t.files.size(), 3u);
  EXPECT_EQ(t.labels, (std::vector<int64_t>{1, 0, 1, 0, 0, 0, 1, 1, 0}));
  ASSERT_NE(t.row("000003.jpg"), nullptr);
  EXPECT_EQ(t.row("000003.jpg")[1], 1);
  EXPECT_EQ(t.row("missing.jpg"), nullptr);
}

TEST(CelebaLists, AttrErrorsNameFileAndLine) {
  EXPECT_EQ(attr_error(attr_text("000001.jpg 1 -1 1\n000002.jpg 1 1\n000003.jpg 1 1 1\n")),
            "list_attr_celeba.txt:4: expected 3 values after '000002.jpg', got 2");
  EXPECT_EQ(attr_error(attr_text("000001.jpg 1 -1 1\n000002.jpg 1 0 1\n000003.jpg 1 1 1\n")),
            "list_attr_celeba.txt:4: value '0' for attribute Young is not -1 or 1");
  EXPECT_EQ(attr_error(attr_text("000001.jpg 1 -1 1\n000001.jpg 1 1 1\n000003.jpg 1 1 1\n")),
            "list_attr_celeba.txt:4: duplicate image name '000001.jpg'");
  EXPECT_NE(attr_error(attr_text("000001.jpg 1 -1 1\n")).find("declares 3 images but 1"),
            std::string::npos);
  EXPECT_EQ(attr_error("many\nA B\n"),
            "list_attr_celeba.txt:1: expected the image count on the first line, got 'many'");
  EXPECT_NE(attr_error(""), "");
  EXPECT_NE(attr_error("0\n"), "");  // no name line
}

TEST(CelebaLists, Partition) {
  const PartitionTable p = parse_partition_text("a.jpg 0\nb.jpg 1\r\nc.jpg 2\n\n", "p.txt");
  Split s;
  ASSERT_TRUE(p.lookup("b.jpg", &s));
  EXPECT_EQ(s, Split::kValid);
  ASSERT_TRUE(p.lookup("c.jpg", &s));
  EXPECT_EQ(s, Split::kTest);
  EXPECT_FALSE(p.lookup("d.jpg", &s));
  EXPECT_EQ(p.files.size(), 3u);
  auto err = [](const std::string& t) {
    try {
      parse_partition_text(t, "list_eval_partition.txt");
    } catch (const gan::DataError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(err("a.jpg 0\nb.jpg 3\n"),
            "list_eval_partition.txt:2: partition '3' for 'b.jpg' is not 0, 1 or 2");
  EXPECT_EQ(err("a.jpg 0\nb.jpg\n"),
            "list_eval_partition.txt:2: expected 'name 0|1|2', got 1 fields");
  EXPECT_EQ(err("a.jpg 0\na.jpg 1\n"), "list_eval_partition.txt:2: duplicate image name 'a.jpg'");
}

TEST(BadFiles, JsonKeepsAnyFileNameAndSorts) {
  std::vector<BadFile> bad = {{"z\"q.jpg", "empty file"},
                              {"a\\b\n.jpg", "x"},
                              {"bad\xff.jpg", "not UTF-8"},
                              {"\xc3\xa9t\xc3\xa9.jpg", "ok"}};
  sort_bad_files(&bad);
  EXPECT_EQ(bad[0].path, "a\\b\n.jpg");
  const nlohmann::json js = bad_files_json(bad);
  const std::string j = js.dump(1);
  ASSERT_EQ(js.size(), 4u) << j;
  EXPECT_EQ(js[0]["path"], "a\\b\n.jpg") << j;
  EXPECT_EQ(js[1]["path"], "bad\xc3\xbf.jpg") << j;       // 0xff reads as U+00FF ...
  EXPECT_EQ(js[1]["path_hex"], "626164ff2e6a7067") << j;  // ... and its exact bytes are kept
  EXPECT_EQ(from_hex(js[1]["path_hex"]), "bad\xff.jpg");
  EXPECT_EQ(js[2]["path"], "z\"q.jpg") << j;
  EXPECT_EQ(js[3]["path"], "\xc3\xa9t\xc3\xa9.jpg") << j;  // valid UTF-8 kept
  EXPECT_FALSE(js[3].contains("path_hex")) << j;
  EXPECT_EQ(bad_files_json({}).dump(), "[]");
  const std::string py = pil_python();
  if (!py.empty()) {  // a real JSON parser must accept it
    TempDir d;
    write_file(d / "r.json", j);
    EXPECT_EQ(
        run_command(py + " -c 'import json,sys; assert len(json.load(open(sys.argv[1])))==4' " +
                    d / "r.json"),
        0);
  }
}
