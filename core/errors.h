// Error types that carry the process's exit code (README "Exit codes", docs/ARCHITECTURE.md),
// so that guarded_main (core/program.h) can map any failure to the right code without knowing
// where it came from.
#pragma once

#include <stdexcept>
#include <string>

namespace gan {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,     // a bug or a diverged run (NaN loss)
  kExitUsage = 2,       // bad option or config
  kExitData = 3,        // unreadable, corrupt or missing data
  kExitDist = 4,        // ranks disagree, communication failed
  kExitCheckpoint = 5,  // checkpoint missing or corrupt
  kExitStorage = 6,     // an output could not be written (disk full, I/O error)
  kExitPreempted = 75,  // checkpoint written, requeue me (EX_TEMPFAIL)
};

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what, bool collective = false)
      : std::runtime_error(what), code_(code), collective_(collective) {}
  int code() const { return code_; }
  // True when every rank raised the same error at the same point, so the entry point can
  // exit normally instead of aborting the whole MPI job.
  bool collective() const { return collective_; }

 private:
  int code_;
  bool collective_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& w, bool collective = false)
      : Error(kExitUsage, w, collective) {}
};
struct DataError : Error {
  explicit DataError(const std::string& w, bool collective = false)
      : Error(kExitData, w, collective) {}
};
struct DistError : Error {
  explicit DistError(const std::string& w, bool collective = false)
      : Error(kExitDist, w, collective) {}
};
struct StorageError : Error {
  explicit StorageError(const std::string& w, bool collective = false)
      : Error(kExitStorage, w, collective) {}
};
struct CheckpointError : Error {
  explicit CheckpointError(const std::string& w, bool collective = false)
      : Error(kExitCheckpoint, w, collective) {}
};

}  // namespace gan
