// The collective watchdog: no rank waits forever on a peer. Every collective registers while
// it is in flight (blocking calls for their duration, non-blocking ones until they are seen
// complete); a thread looks at them every fraction of the timeout. One that stays in flight
// longer than --collective-timeout, or an asynchronous error a backend reports (NCCL's), ends
// this process with exit 4 and a message naming the collective, its bucket and the training
// step. The launcher (mpirun, srun --kill-on-bad-exit) then ends the other ranks; their own
// watchdogs would also fire, since they wait on the same stuck peer.
//
// Before the process exits, the abort hooks run (the NCCL communicator registers
// ncclCommAbort), so nothing waits on a GPU that will never be released. The watchdog never
// calls MPI: the main thread may be inside an MPI call (MPI_THREAD_SERIALIZED), and _exit is
// what lets the launcher see the failure at once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace gan::dist::watchdog {

// Starts the watchdog thread (idempotent; timeout <= 0 leaves it off). `rank` prefixes the
// message.
void start(double timeout_s, int rank);
void stop();
bool enabled();

// The training step now running, for the messages.
void set_step(int64_t step);

// A label for the collectives issued by this thread until the Label ends ("D bucket 2/3"),
// so the communicator need not know who called it.
class Label {
 public:
  explicit Label(std::string what);
  ~Label();
  Label(const Label&) = delete;
  Label& operator=(const Label&) = delete;

 private:
  std::string previous_;
};
std::string current_label();

// Registers an operation in flight. `done`, when given, is polled by the watchdog thread and
// ends the registration once it returns true (a CUDA event that has fired); otherwise call
// end(). Returns 0 when the watchdog is off.
uint64_t begin(std::string what, std::function<bool()> done = {});
void end(uint64_t id);

// Collectives issued by this thread inside the scope are not watched: waits that follow work
// only one rank does (others wait in a barrier while rank 0 checkpoints or evaluates), whose
// length has nothing to do with a peer being stuck.
class Unwatched {
 public:
  Unwatched();
  ~Unwatched();
  Unwatched(const Unwatched&) = delete;
  Unwatched& operator=(const Unwatched&) = delete;
};

// A blocking call for the duration of a scope.
class Scope {
 public:
  explicit Scope(std::string what) : id_(begin(std::move(what))) {}
  ~Scope() { end(id_); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  uint64_t id_;
};

// A backend's asynchronous health: returns an error text once something failed
// (ncclCommGetAsyncError). Polled with the operations.
uint64_t add_health_check(std::function<std::optional<std::string>()> check);
// Run, newest first, with the message, before the process exits on a timeout or
// a fatal error (abort the NCCL communicator, write the message to the rank's log).
uint64_t add_abort_hook(std::function<void(const std::string&)> hook);
// A health check or abort hook. On return the check is not running and will not run again,
// so what it points to may go (a poll in progress is waited for). Blocks for good once the
// process is failing (its hooks may be running and must not lose what they point to).
void remove(uint64_t id);

// Ends the process now with `code` after printing `message` and running the abort hooks:
// the path of every error that must not wait on peers.
[[noreturn]] void fail(int code, const std::string& message);

}  // namespace gan::dist::watchdog
