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
