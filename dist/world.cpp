#include "dist/world.h"

#include <mpi.h>

#include <cstdlib>

#include "core/errors.h"
#include "dist/mpi_check.h"
#include "dist/watchdog.h"

namespace gan::dist {

std::mutex& mpi_mutex() {
  static std::mutex m;
  return m;
}

World::World(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    // Open MPI 4.1's default MPI_Iallreduce (libnbc) reduces to a root and broadcasts back
    // when there are fewer than 4 ranks: 2-3x slower than MPI_Allreduce (measured: see
    // docs/ARCHITECTURE.md, Why it is built this way). The reducer lives on MPI_Iallreduce,
    // so ask for Rabenseifner (reduce-scatter + allgather; ring for tiny buffers) unless the
    // environment chose an algorithm (a setting in mca-params.conf is overridden). Not
    // before 4.1.2: libnbc's in-place ring summed wrongly (open-mpi/ompi#9385). Read at MPI_Init.
#if defined(OPEN_MPI) && \
    (OMPI_MAJOR_VERSION * 10000 + OMPI_MINOR_VERSION * 100 + OMPI_RELEASE_VERSION) >= 40102
    setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "3", /*overwrite=*/0);
#endif
    int provided = 0;
    // SERIALIZED: the reducer's hooks may run on an autograd thread while the main thread
    // waits in backward(); never two threads in MPI at once.
    mpi_check(MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    if (provided < MPI_THREAD_SERIALIZED)
      throw DistError("this MPI library does not provide MPI_THREAD_SERIALIZED");
  }
  // Errors come back as codes so they can be reported with context instead of aborting.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);

  MPI_Comm local;
  mpi_check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &local_rank_);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);

  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, len);
}

World::~World() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void World::barrier() const {
  watchdog::Scope w("MPI_Barrier");
  auto lock = mpi_lock();
  mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void World::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return, but the compiler cannot know that
}

std::vector<uint64_t> World::allgather(uint64_t value) const {
  watchdog::Scope w("MPI_Allgather of one integer");
  auto lock = mpi_lock();
  std::vector<uint64_t> all(size_);
  mpi_check(MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD),
            "MPI_Allgather");
  return all;
}

int64_t World::allreduce_max(int64_t value) const {
  watchdog::Scope w("MPI_Allreduce (max) of one integer");
  auto lock = mpi_lock();
  int64_t out = 0;
  mpi_check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

int64_t World::allreduce_min(int64_t value) const {
  watchdog::Scope w("MPI_Allreduce (min) of one integer");
  auto lock = mpi_lock();
  int64_t out = 0;
  mpi_check(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}

std::vector<double> World::allreduce_sum(std::vector<double> values) const {
  if (size_ == 1 || values.empty()) return values;
  watchdog::Scope w("MPI_Allreduce of " + std::to_string(values.size()) + " doubles");
  auto lock = mpi_lock();
  mpi_check(MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE,
                          MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  // Rank 0's sum goes to everyone: the standard does not promise every rank the same bits.
  mpi_check(
      MPI_Bcast(values.data(), static_cast<int>(values.size()), MPI_DOUBLE, 0, MPI_COMM_WORLD),
      "MPI_Bcast");
  return values;
}

std::string World::broadcast(const std::string& value, int root) const {
  watchdog::Scope w("MPI_Bcast of a string");
  auto lock = mpi_lock();
  uint64_t n = value.size();
  mpi_check(MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == root ? value : std::string(n, '\0');
  mpi_check(MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, root, MPI_COMM_WORLD),
            "MPI_Bcast");
  return out;
}

std::vector<std::string> World::allgather(const std::string& value) const {
  watchdog::Scope w("MPI_Allgatherv of strings");
  auto lock = mpi_lock();
  int n = static_cast<int>(value.size());
  std::vector<int> counts(size_), displs(size_);
  mpi_check(MPI_Allgather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD),
            "MPI_Allgather");
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    displs[r] = total;
    total += counts[r];
  }
  std::string all(total, '\0');
  mpi_check(MPI_Allgatherv(value.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(),
                           MPI_CHAR, MPI_COMM_WORLD),
            "MPI_Allgatherv");
  std::vector<std::string> out(size_);
  for (int r = 0; r < size_; ++r) out[r] = all.substr(displs[r], counts[r]);
  return out;
}

}  // namespace gan::dist
