#include "core/checked_io.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.h"

namespace gan {

long long free_bytes(const std::string& path) {
  struct statvfs st {};
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.f_bavail) * static_cast<long long>(st.f_frsize);
}

void write_file_checked(const std::string& path, const void* data, size_t n) {
  const long long free = free_bytes(path);  // before this file took any of it
  auto fail = [&](const char* what, int err) {
    ::unlink(path.c_str());
    throw StorageError("cannot write " + path + ": " + what + " failed: " + std::strerror(err) +
                       " (" + std::to_string(n) + " bytes needed, " +
                       (free >= 0 ? std::to_string(free) : std::string("unknown")) +
                       " bytes free)");
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open", errno);
  const char* p = static_cast<const char*>(data);
  size_t left = n;
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = w < 0 ? errno : ENOSPC;
      ::close(fd);
      fail("write", err);
    }
    p += w;
    left -= static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("fsync", err);
  }
  if (::close(fd) != 0) fail("close", errno);
}

}  // namespace gan
