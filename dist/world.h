// The process's place in the job: rank, size, local rank and host, from MPI (a world of one
// when started without mpirun), plus the few byte-level collectives that need no tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/program.h"

namespace gan::dist {

class World {
 public:
  // Initialises MPI (MPI_THREAD_SERIALIZED: one thread in MPI at a time).
  World(int* argc, char*** argv);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  const std::string& host() const { return host_; }
  bool is_root() const { return rank_ == 0; }

  void barrier() const;
  // Aborts every rank of the job with `code` (for errors only one rank saw).
  [[noreturn]] void abort(int code) const;
  // This rank's place for guarded_main (core/program.h), aborting through this world.
  ProcessPlace place() const {
    return {rank_, size_, [this](int code) { abort(code); }};
  }

  std::vector<uint64_t> allgather(uint64_t value) const;
  int64_t allreduce_max(int64_t value) const;
  int64_t allreduce_min(int64_t value) const;
  std::vector<double> allreduce_sum(std::vector<double> values) const;
  // Rank `root`'s string, on every rank.
  std::string broadcast(const std::string& value, int root = 0) const;
  // Every rank's string, in rank order.
  std::vector<std::string> allgather(const std::string& value) const;

 private:
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::string host_;
};

}  // namespace gan::dist
