// What every program (apps/) does around its real work, in one place: one logger, and every
// failure mapped to an exit code (core/errors.h) with one clear message.
#pragma once

#include <functional>
#include <string>

namespace gan {

// Where this process stands in a job of several ranks. A lone process: rank 0 of 1, no abort.
struct ProcessPlace {
  int rank = 0;
  int size = 1;
  // Ends the whole job with `code` (MPI_Abort): called when this rank failed alone, so that
  // no other rank is left waiting in a collective.
  std::function<void(int code)> abort;
};

// spdlog's default logger writes "PROGRAM: message" to stderr, warnings and errors as
// "PROGRAM: warning: message" and "PROGRAM: error: message".
void init_logging(const std::string& program);

// Runs `body` and returns its exit code, or the code of the error it threw after logging the
// error once: a collective error (raised identically on every rank) by rank 0 alone, any
// other by the rank that raised it, which then aborts the job.
int guarded_main(const std::string& program, const std::function<int()>& body,
                 const ProcessPlace& place = {});

// Limits OpenBLAS's own thread pool (its env variable is read at load time, before main).
void set_blas_threads(int threads);

}  // namespace gan
