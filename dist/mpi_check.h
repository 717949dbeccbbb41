// Turns an MPI return code into a DistError naming the call and MPI's own message; and the
// lock every MPI call in gan_dist holds.
#pragma once

#include <mpi.h>

#include <mutex>
#include <string>

#include "core/errors.h"

namespace gan::dist {

inline void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw DistError(std::string(what) + " failed: " + std::string(msg, len));
}

// MPI runs at MPI_THREAD_SERIALIZED, and besides the main thread the MPI backend's progress
// thread (mpi_communicator.cpp) calls into MPI while non-blocking collectives are in flight:
// every MPI call holds this lock. Never hold it across anything but MPI calls.
std::mutex& mpi_mutex();
inline std::unique_lock<std::mutex> mpi_lock() { return std::unique_lock<std::mutex>(mpi_mutex()); }

}  // namespace gan::dist
