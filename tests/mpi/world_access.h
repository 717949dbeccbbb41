// The job's World, for tests running inside mpi_main.
#pragma once

#include "dist/world.h"

namespace gan::test {
extern dist::World* g_world;
}
