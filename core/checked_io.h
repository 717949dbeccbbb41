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

// Replaces `path` as a whole or not at all: the bytes go to a temporary beside it (checked
// and fsynced), which publish() puts in place. On failure `path` is as it was and the
// temporary is gone. The one way the project writes a complete small file.
void write_file_atomic(const std::string& path, const std::string& bytes);

// Puts a finished temporary `tmp` (a file or a folder whose files are written, beside `path`)
// in place of `path`: fsyncs it, renames it over `path` and fsyncs the folder, so that after
// a crash `path` is either the old or the whole new one. On failure the temporary is removed
// and a StorageError names `path`. Writers that produce the temporary themselves (HDF5
// shards, checkpoint folders, TensorBoard files) finish through this; everything else uses
// write_file_atomic.
void publish(const std::string& tmp, const std::string& path);

// Appends `bytes` (whole lines) to `path`, created if missing, and fdatasyncs. A failed or
// short write is cut back to the file's previous length, so a reader never sees a torn line,
// and raises the StorageError of write_file_checked.
void append_checked(const std::string& path, const std::string& bytes);

// Raises the StorageError above for a writer that does its own I/O (HDF5): `what` failed on
// `path` with `err` (an errno, 0 if the library did not say), `needed` bytes (-1 if unknown).
[[noreturn]] void raise_storage_error(const std::string& path, const std::string& what, int err,
                                      long long needed);

// Free bytes for an unprivileged writer on the file system holding `path` (-1 if unknown).
long long free_bytes(const std::string& path);

}  // namespace gan
