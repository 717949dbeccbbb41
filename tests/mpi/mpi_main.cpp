// GoogleTest main for tests that run on every rank of an mpirun job. Rank 0 reports; the job
// fails if any rank failed.
#include <gtest/gtest.h>

#include "dist/world.h"
#include "tests/mpi/world_access.h"

namespace gan::test {
dist::World* g_world = nullptr;
}

int main(int argc, char** argv) {
  gan::dist::World world(&argc, &argv);
  gan::test::g_world = &world;
  ::testing::InitGoogleTest(&argc, argv);
  if (world.rank() != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
  }
  int failed = RUN_ALL_TESTS() != 0;
  return static_cast<int>(world.allreduce_max(failed));
}
