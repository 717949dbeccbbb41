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

namespace {

[[noreturn]] void storage_failure(const std::string& path, const std::string& what, int err,
                                  long long needed, long long free) {
  auto count = [](long long v) { return v >= 0 ? std::to_string(v) : std::string("unknown"); };
  throw StorageError("cannot write " + path + ": " + what +
                     " failed: " + (err ? std::strerror(err) : "no space left or I/O error") +
                     " (" + count(needed) + " bytes needed, " + count(free) + " bytes free)");
}

// Writes all `n` bytes to `fd`; returns 0 or the errno of the write that failed (ENOSPC for a
// write that makes no progress).
int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return w < 0 ? errno : ENOSPC;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

// fsync of a file or a folder; best effort (its writer checked the writes themselves).
void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void fsync_folder_of(const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path();
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_file_checked(const std::string& path, const void* data, size_t n) {
  const long long free = free_bytes(path);  // before this file took any of it
  auto fail = [&](const char* what, int err) {
    ::unlink(path.c_str());
    storage_failure(path, what, err, static_cast<long long>(n), free);
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("open", errno);
  if (int err = write_all(fd, static_cast<const char*>(data), n)) {
    ::close(fd);
    fail("write", err);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail("fsync", err);
  }
  if (::close(fd) != 0) fail("close", errno);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  write_file_checked(tmp, bytes);  // removes the temporary itself when it fails
  publish(tmp, path);
}

void publish(const std::string& tmp, const std::string& path) {
  fsync_path(tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
    storage_failure(path, "rename", err, -1, free_bytes(path));
  }
  fsync_folder_of(path);
}

void append_checked(const std::string& path, const std::string& bytes) {
  const long long free = free_bytes(path);
  const auto n = static_cast<long long>(bytes.size());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) storage_failure(path, "open", errno, n, free);
  const off_t before = ::lseek(fd, 0, SEEK_END);
  int err = write_all(fd, bytes.data(), bytes.size());
  const char* what = "write";
  if (err == 0 && ::fdatasync(fd) != 0) err = errno, what = "fdatasync";
  if (err != 0) {
    if (before >= 0 && ::ftruncate(fd, before) == 0) ::fdatasync(fd);  // no torn line
    ::close(fd);
    storage_failure(path, what, err, n, free);
  }
  if (::close(fd) != 0) storage_failure(path, "close", errno, n, free);
}

void raise_storage_error(const std::string& path, const std::string& what, int err,
                         long long needed) {
  storage_failure(path, what, err, needed, free_bytes(path));
}

}  // namespace gan
