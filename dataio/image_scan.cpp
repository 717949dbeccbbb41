// Folder walk (opendir/fstatat, no symlink-following into directories), CelebA annotation
// parsers with file:line errors, and the bad-file JSON record.
#include "dataio/image_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/errors.h"

namespace gan::dataio {

void sort_bad_files(std::vector<BadFile>* bad) {
  std::sort(bad->begin(), bad->end(), [](const BadFile& a, const BadFile& b) {
    return a.path != b.path ? a.path < b.path : a.reason < b.reason;
  });
}

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_len(const std::string& s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t min;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  uint32_t cp = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) {
    const auto d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string readable_utf8(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n > 0) {
      o.append(s, i, n);
      i += n;
      continue;
    }
    // Not UTF-8: the byte as the code point of the same value (0xff reads as U+00FF).
    const auto c = static_cast<unsigned char>(s[i++]);
    o += static_cast<char>(0xc0 | (c >> 6));
    o += static_cast<char>(0x80 | (c & 0x3f));
  }
  return o;
}

bool is_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string o;
  o.reserve(2 * bytes.size());
  for (unsigned char c : bytes) o += digits[c >> 4], o += digits[c & 15];
  return o;
}

std::string from_hex(const std::string& hex) {
  std::string o;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    o += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return o;
}

nlohmann::json bad_files_json(const std::vector<BadFile>& bad) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& b : bad) {
    nlohmann::json j{{"path", readable_utf8(b.path)}, {"reason", readable_utf8(b.reason)}};
    if (!is_utf8(b.path)) j["path_hex"] = to_hex(b.path);
    out.push_back(std::move(j));
  }
  return out;
}

bool has_image_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ext == "jpg" || ext == "jpeg" || ext == "png";
}

namespace {

void walk(int dirfd, const std::string& rel, const std::string& root, ScanResult* out) {
  DIR* d = fdopendir(dirfd);  // takes ownership of dirfd
  if (!d) {
    out->bad.push_back(
        {rel.empty() ? root : rel, std::string("cannot list directory: ") + std::strerror(errno)});
    ::close(dirfd);
    return;
  }
  std::vector<std::pair<std::string, bool>> subdirs;
  errno = 0;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = rel.empty() ? name : rel + "/" + name;
    struct stat st {};
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      out->bad.push_back({path, std::string("cannot stat: ") + std::strerror(errno)});
      continue;
    }
    const bool image_name = has_image_extension(name);
    if (S_ISDIR(st.st_mode)) {
      if (image_name) {
        out->bad.push_back({path, "is a directory, not an image file"});
      } else {
        subdirs.emplace_back(name, true);
      }
    } else if (image_name) {
      out->files.push_back(path);
    }
    errno = 0;
  }
  if (errno != 0) {
    out->bad.push_back({rel.empty() ? root : rel,
                        std::string("error while listing directory: ") + std::strerror(errno)});
  }
  for (const auto& sd : subdirs) {
    const std::string path = rel.empty() ? sd.first : rel + "/" + sd.first;
    const int fd = openat(dirfd, sd.first.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      out->bad.push_back({path, std::string("cannot open directory: ") + std::strerror(errno)});
      continue;
    }
    walk(fd, path, root, out);
  }
  closedir(d);
}

}  // namespace

ScanResult scan_image_folder(const std::string& root) {
  ScanResult out;
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw DataError("image folder " + root + ": " + std::strerror(errno));
  }
  walk(fd, "", root, &out);
  // std::string compares through char_traits<char>, which orders as unsigned bytes (memcmp).
  std::sort(out.files.begin(), out.files.end());
  sort_bad_files(&out.bad);
  return out;
}

// ---------------------------------------------------------------------------------------
// Annotation files

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw DataError(path + ": read error");
  return ss.str();
}

std::vector<std::string> split_ws(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i) out.emplace_back(line, i, j - i);
    i = j;
  }
  return out;
}

// Splits into lines (LF or CRLF) and calls fn(line_number, tokens) for each line that is
// not blank. Blank lines are tolerated (trailing newline at the end of the file).
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    ++line_no;
    std::vector<std::string> tok = split_ws(text.substr(pos, nl - pos));
    if (!tok.empty()) fn(line_no, tok);
    pos = nl + 1;
  }
}

[[noreturn]] void fail(const std::string& file, int line, const std::string& msg) {
  throw DataError(file + ":" + std::to_string(line) + ": " + msg);
}

}  // namespace

const int64_t* AttrTable::row(const std::string& file) const {
  auto it = index.find(file);
  return it == index.end() ? nullptr : &labels[it->second * names.size()];
}

AttrTable parse_attr_text(const std::string& text, const std::string& file) {
  AttrTable t;
  long long declared = -1;
  int last_line = 0;
  for_each_line(text, [&](int ln, const std::vector<std::string>& tok) {
    last_line = ln;
    if (declared < 0) {
      char* end = nullptr;
      declared = std::strtoll(tok[0].c_str(), &end, 10);
      if (tok.size() != 1 || *end != '\0' || declared < 0) {
        fail(file, ln, "expected the image count on the first line, got '" + tok[0] + "'");
      }
      return;
    }
    if (t.names.empty()) {
      t.names = tok;
      return;
    }
    const size_t k = t.names.size();
    if (tok.size() != k + 1) {
      fail(file, ln,
           "expected " + std::to_string(k) + " values after '" + tok[0] + "', got " +
               std::to_string(tok.size() - 1));
    }
    if (!t.index.emplace(tok[0], t.files.size()).second) {
      fail(file, ln, "duplicate image name '" + tok[0] + "'");
    }
    t.files.push_back(tok[0]);
    for (size_t i = 1; i <= k; ++i) {
      if (tok[i] == "1") {
        t.labels.push_back(1);
      } else if (tok[i] == "-1") {
        t.labels.push_back(0);
      } else {
        fail(file, ln,
             "value '" + tok[i] + "' for attribute " + t.names[i - 1] + " is not -1 or 1");
      }
    }
  });
  if (declared < 0) fail(file, 1, "empty file");
  if (t.names.empty()) fail(file, last_line + 1, "missing the attribute-name line");
  if (static_cast<long long>(t.files.size()) != declared) {
    fail(file, last_line,
         "header declares " + std::to_string(declared) + " images but " +
             std::to_string(t.files.size()) + " rows follow");
  }
  return t;
}

AttrTable parse_attr_file(const std::string& path) {
  return parse_attr_text(read_text_file(path), path);
}

const char* split_name(Split s) {
  switch (s) {
    case Split::kTrain:
      return "train";
    case Split::kValid:
      return "valid";
    case Split::kTest:
      return "test";
  }
  return "?";
}

bool PartitionTable::lookup(const std::string& file, Split* out) const {
  auto it = split.find(file);
  if (it == split.end()) return false;
  *out = it->second;
  return true;
}

PartitionTable parse_partition_text(const std::string& text, const std::string& file) {
  PartitionTable t;
  for_each_line(text, [&](int ln, const std::vector<std::string>& tok) {
    if (tok.size() != 2) {
      fail(file, ln, "expected 'name 0|1|2', got " + std::to_string(tok.size()) + " fields");
    }
    Split s;
    if (tok[1] == "0") {
      s = Split::kTrain;
    } else if (tok[1] == "1") {
      s = Split::kValid;
    } else if (tok[1] == "2") {
      s = Split::kTest;
    } else {
      fail(file, ln, "partition '" + tok[1] + "' for '" + tok[0] + "' is not 0, 1 or 2");
    }
    if (!t.split.emplace(tok[0], s).second) {
      fail(file, ln, "duplicate image name '" + tok[0] + "'");
    }
    t.files.push_back(tok[0]);
  });
  if (t.files.empty()) fail(file, 1, "no entries");
  return t;
}

PartitionTable parse_partition_file(const std::string& path) {
  return parse_partition_text(read_text_file(path), path);
}

}  // namespace gan::dataio
