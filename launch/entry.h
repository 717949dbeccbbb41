// What every entry point does around its real work: map exceptions to the exit codes of
// DESIGN.md, print one clear message, and abort the whole MPI job when only one rank failed.
#pragma once

#include <functional>
#include <string>

namespace gan::dist {
class World;
}

namespace gan::launch {

// Runs `body` and returns its exit code, or the code of the error it threw.
int guarded_main(const std::string& program, const gan::dist::World* world,
                 const std::function<int()>& body);

// Limits OpenBLAS's own thread pool (its env variable is read at load time, before main).
void set_blas_threads(int threads);

}  // namespace gan::launch
