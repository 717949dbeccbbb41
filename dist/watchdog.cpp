#include "dist/watchdog.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "core/errors.h"

namespace gan::dist::watchdog {
namespace {

using Clock = std::chrono::steady_clock;

struct Op {
  std::string what;
  std::string label;
  int64_t step;
  Clock::time_point since;
  std::function<bool()> done;
};

struct State {
  std::mutex mu;
  std::condition_variable wake;
  std::thread thread;
  bool running = false;
  bool stopping = false;
  double timeout_s = 0;
  int rank = 0;
  uint64_t next_id = 1;
  std::map<uint64_t, Op> ops;
  std::map<uint64_t, std::function<std::optional<std::string>()>> checks;
  std::map<uint64_t, std::function<void(const std::string&)>> hooks;
  // True while the thread runs copies of the callbacks outside the lock: remove() waits for
  // the round to end, so no check it removed is still running or about to run.
  bool polling = false;
  std::condition_variable poll_done;
};

State& state() {
  static State* s = new State;  // never destroyed: the thread may outlive static teardown
  return *s;
}

std::atomic<int64_t> g_step{0};
std::atomic<bool> g_failing{false};
thread_local std::string t_label;
thread_local int t_unwatched = 0;

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

void loop() {
  auto& s = state();
  const auto interval = std::chrono::duration<double>(std::clamp(s.timeout_s / 20, 0.01, 1.0));
  for (;;) {
    // The callbacks (cudaEventQuery, ncclCommGetAsyncError) run without the lock: a driver
    // call that blocks must not block every begin()/end() of the main thread too.
    std::vector<std::pair<uint64_t, std::function<bool()>>> polls;
    std::vector<std::function<std::optional<std::string>()>> checks;
    {
      std::unique_lock<std::mutex> lk(s.mu);
      s.wake.wait_for(lk, interval);
      if (s.stopping) return;
      for (auto& [id, op] : s.ops)
        if (op.done) polls.emplace_back(id, op.done);
      for (auto& [id, check] : s.checks) checks.push_back(check);
      s.polling = true;
    }
    std::vector<uint64_t> finished;
    for (auto& [id, done] : polls)
      if (done()) finished.push_back(id);
    std::string why;
    for (auto& check : checks)
      if (auto err = check()) {
        why = "rank " + std::to_string(s.rank) + ": asynchronous communication error at step " +
              std::to_string(g_step.load()) + ": " + *err;
        break;
      }
    {
      std::lock_guard<std::mutex> lk(s.mu);
      for (uint64_t id : finished) s.ops.erase(id);  // completed: forget it (and its event)
      const auto now = Clock::now();
      for (auto& [id, op] : s.ops) {
        if (!why.empty()) break;
        const double waited = std::chrono::duration<double>(now - op.since).count();
        if (waited <= s.timeout_s) continue;
        why = "rank " + std::to_string(s.rank) + ": collective timeout: " + op.what +
              (op.label.empty() ? "" : " (" + op.label + ")") + " at step " +
              std::to_string(op.step) + " did not complete within " + seconds(waited) +
              " s (--collective-timeout " + seconds(s.timeout_s) +
              "); a peer stopped joining (stuck, stopped or dead)";
      }
    }
    polls.clear();  // drops the callbacks' captures (events) outside the lock
    checks.clear();
    {
      std::lock_guard<std::mutex> lk(s.mu);
      s.polling = false;
    }
    s.poll_done.notify_all();
    if (!why.empty()) fail(kExitDist, why);
  }
}

}  // namespace

void start(double timeout_s, int rank) {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (s.running || timeout_s <= 0) return;
  s.timeout_s = timeout_s;
  s.rank = rank;
  s.stopping = false;
  s.running = true;
  s.thread = std::thread(loop);
}

void stop() {
  auto& s = state();
  {
    std::lock_guard<std::mutex> lk(s.mu);
    if (!s.running) return;
    s.stopping = true;
  }
  s.wake.notify_all();
  s.thread.join();
  std::lock_guard<std::mutex> lk(s.mu);
  s.running = false;
  s.ops.clear();
}

bool enabled() {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.running;
}

void set_step(int64_t step) { g_step = step; }

Label::Label(std::string what) : previous_(std::move(t_label)) { t_label = std::move(what); }
Label::~Label() { t_label = std::move(previous_); }
std::string current_label() { return t_label; }

Unwatched::Unwatched() { ++t_unwatched; }
Unwatched::~Unwatched() { --t_unwatched; }

uint64_t begin(std::string what, std::function<bool()> done) {
  if (t_unwatched > 0) return 0;
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (!s.running) return 0;
  const uint64_t id = s.next_id++;
  s.ops.emplace(id, Op{std::move(what), t_label, g_step.load(), Clock::now(), std::move(done)});
  return id;
}

void end(uint64_t id) {
  if (id == 0) return;
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.ops.erase(id);
}

uint64_t add_health_check(std::function<std::optional<std::string>()> check) {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  const uint64_t id = s.next_id++;
  s.checks.emplace(id, std::move(check));
  return id;
}

uint64_t add_abort_hook(std::function<void(const std::string&)> hook) {
  auto& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  const uint64_t id = s.next_id++;
  s.hooks.emplace(id, std::move(hook));
  return id;
}

void remove(uint64_t id) {
  // While the process is failing, its hooks may be running: their owners must not go away.
  if (g_failing.load())
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  auto& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  // A round of polls may hold a copy of this check: wait until it has ended. (Never called
  // from a check itself, which runs on the watchdog thread.)
  s.poll_done.wait(lk, [&] { return !s.polling; });
  s.checks.erase(id);
  s.hooks.erase(id);
}

void fail(int code, const std::string& message) {
  // One failure speaks; a second thread failing meanwhile just waits for the exit.
  if (g_failing.exchange(true))
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  std::fprintf(stderr, "gan_dist: error: %s\n", message.c_str());
  std::fflush(stderr);
  // A hook that hangs (ncclCommAbort can) must not keep the process alive.
  std::thread([code] {
    std::this_thread::sleep_for(std::chrono::seconds(10));
    std::fprintf(stderr, "gan_dist: abort hooks did not finish within 10 s; exiting\n");
    _exit(code);
  }).detach();
  std::vector<std::function<void(const std::string&)>> hooks;
  {
    auto& s = state();
    std::lock_guard<std::mutex> lk(s.mu);
    for (auto& [id, h] : s.hooks) hooks.push_back(h);
  }
  // Newest first: the log line before the communicator's abort.
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) try {
      (*it)(message);
    } catch (...) {
    }
  std::fflush(nullptr);
  _exit(code);
}

}  // namespace gan::dist::watchdog
