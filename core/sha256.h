// Incremental SHA-256 (OpenSSL) with a hex result: shard checksums, checkpoint checksums and
// parameter digests all use it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace gan {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t n);
  std::string hex();  // finishes the hash

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hex SHA-256 of a whole file; throws std::runtime_error naming the file if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace gan
