// The collective watchdog ends the process with exit 4 and a message naming the collective,
// its label and the step, after running the abort hooks (where the NCCL communicator aborts
// itself), when an operation stays in flight too long or a backend reports an asynchronous
// error; completed operations never trigger it. Each case runs in a forked child (death test)
// that would block forever if the watchdog did nothing (ctest's timeout would then fail it).
#include "dist/watchdog.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>

namespace wd = gan::dist::watchdog;

namespace {
[[noreturn]] void block_forever() {
  for (;;) pause();
}
}  // namespace

TEST(WatchdogDeathTest, StuckCollectiveExits4NamingItAndRunsAbortHooks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        wd::start(0.3, 1);
        wd::add_abort_hook([](const std::string& why) {
          fprintf(stderr, "abort hook saw: %s\n", why.substr(0, 7).c_str());
        });
        wd::set_step(57);
        wd::Label label("D step, bucket 2/3");
        const uint64_t id = wd::begin("ncclAllReduce of 1000 Float", [] { return false; });
        (void)id;
        block_forever();
      },
      ::testing::ExitedWithCode(4),
      "rank 1: collective timeout: ncclAllReduce of 1000 Float \\(D step, bucket 2/3\\) at "
      "step 57 did not complete within [0-9.]+ s \\(--collective-timeout 0.3\\)(.|\n)*abort hook "
      "saw: rank 1");
}

TEST(WatchdogDeathTest, BlockingCallInScopeTimesOut) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        wd::start(0.2, 0);
        wd::Scope scope("MPI_Allreduce of 3 doubles");
        block_forever();
      },
      ::testing::ExitedWithCode(4), "MPI_Allreduce of 3 doubles at step 0 did not complete");
}

TEST(WatchdogDeathTest, AsynchronousBackendErrorExits4) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        wd::start(1000, 0);  // the timeout cannot be what ends it
        wd::add_health_check([]() -> std::optional<std::string> {
          return std::string("NCCL: remote process exited or there was a network error");
        });
        block_forever();
      },
      ::testing::ExitedWithCode(4),
      "asynchronous communication error at step 0: NCCL: remote process exited");
}

// Operations that complete (ended, or polled done) leave the table; the process lives on. The
// test counts the watchdog's own periods (a health check that is polled every period) until
// more than the timeout has passed in them: it waits for events, never for a time.
TEST(Watchdog, CompletedOperationsDoNotTrigger) {
  wd::start(0.2, 0);  // a period is 0.01 s: 40 periods are twice the timeout
  std::atomic<bool> polled{false};
  std::atomic<int> periods{0};
  for (int i = 0; i < 20; ++i) wd::end(wd::begin("quick"));
  wd::begin("polled", [&] { return polled.exchange(true) || true; });
  const uint64_t counter = wd::add_health_check([&]() -> std::optional<std::string> {
    ++periods;
    return std::nullopt;
  });
  while (periods.load() < 40) std::this_thread::yield();
  EXPECT_TRUE(polled.load()) << "the watchdog never polled the operation";
  wd::remove(counter);
  wd::stop();
}

// A removed health check never runs again: remove() waits for a round of polls that holds a
// copy of it, so its owner may go at once (~NcclCommunicator removes its check, then destroys
// the communicator the check polls). Each round the check, once started, waits until remove()
// has been called; when remove() returns the check must have finished, and it must not run in
// the two rounds that follow. Events only: no pause decides the outcome.
TEST(Watchdog, RemovedCheckNeverRunsAfterRemove) {
  wd::start(0.2, 0);  // polls every 0.01 s; no operation is in flight to time out
  for (int round = 0; round < 20; ++round) {
    struct Owner {
      std::atomic<bool> entered{false};
      std::atomic<bool> running{false};
      std::atomic<bool> remove_called{false};
    };
    auto owner = std::make_shared<Owner>();
    Owner* o = owner.get();
    const uint64_t id = wd::add_health_check([o]() -> std::optional<std::string> {
      o->running = true;
      o->entered = true;
      while (!o->remove_called.load()) std::this_thread::yield();
      o->running = false;
      return std::nullopt;
    });
    while (!o->entered.load()) std::this_thread::yield();
    o->remove_called = true;
    wd::remove(id);
    EXPECT_FALSE(o->running.load()) << "round " << round << ": remove() returned mid-poll";
    o->entered = false;
    // Two more rounds of polls: a check still listed would run in them.
    std::atomic<int> rounds{0};
    const uint64_t rounds_id = wd::add_health_check([&]() -> std::optional<std::string> {
      ++rounds;
      return std::nullopt;
    });
    while (rounds.load() < 2) std::this_thread::yield();
    wd::remove(rounds_id);
    EXPECT_FALSE(o->entered.load()) << "round " << round << ": the removed check ran again";
  }
  wd::stop();
}
