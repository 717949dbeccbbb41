// Turns an MPI return code into a DistError naming the call and MPI's own message.
#pragma once

#include <mpi.h>

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

}  // namespace gan::dist
