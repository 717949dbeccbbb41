// Writing a whole file so that a failure is never silent: every write and the fsync are
// checked, and a failure (ENOSPC, EIO, ...) removes the partial file and throws a StorageError
// naming the path, the bytes needed and the bytes that were free on that file system.
#pragma once

#include <cstddef>
#include <string>

namespace gan {

// Creates or replaces `path` with `n` bytes from `data`, then fsyncs it.
void write_file_checked(const std::string& path, const void* data, size_t n);
inline void write_file_checked(const std::string& path, const std::string& bytes) {
  write_file_checked(path, bytes.data(), bytes.size());
}

// Free bytes for an unprivileged writer on the file system holding `path` (-1 if unknown).
long long free_bytes(const std::string& path);

}  // namespace gan
