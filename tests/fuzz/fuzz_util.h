// Helpers shared by the fuzz targets: a scratch folder per process for readers that take a
// path, and the splitting of one input into several files.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gan::fuzz {

// A private folder, removed at exit: under $GAN_FUZZ_TMP (scripts/fuzz.sh sets it), else
// /dev/shm when writable (no disk writes per execution), else the temporary folder.
inline const std::string& scratch_dir() {
  struct Dir {
    std::string path;
    Dir() {
      std::string base;
      if (const char* t = std::getenv("GAN_FUZZ_TMP"); t && *t) {
        base = t;
        std::filesystem::create_directories(base);
      } else if (::access("/dev/shm", W_OK) == 0) {
        base = "/dev/shm";
      } else {
        base = std::filesystem::temp_directory_path().string();
      }
      std::string templ = base + "/gan_fuzz_XXXXXX";
      if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp under " + base + " failed");
      path = templ;
    }
    ~Dir() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const Dir dir;
  return dir.path;
}

inline void write_file(const std::string& path, const void* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("cannot write " + path);
}

inline void write_file(const std::string& path, std::string_view text) {
  write_file(path, text.data(), text.size());
}

// Splits an input into `n` parts at lines that hold only "----" (the seeds are readable text;
// libFuzzer picks the separator up from them). Lines keep their newline; missing parts are
// empty, and separators past the n-th part are ordinary text of the last one.
inline std::vector<std::string> split_parts(const uint8_t* data, size_t size, size_t n) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts(1);
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    const std::string_view line = text.substr(pos, end - pos);
    if ((line == "----\n" || line == "----") && parts.size() < n) {
      parts.emplace_back();
    } else {
      parts.back() += line;
    }
    pos = end;
  }
  parts.resize(n);
  return parts;
}

}  // namespace gan::fuzz
