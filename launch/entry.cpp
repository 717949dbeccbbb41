#include "launch/entry.h"

#include <dlfcn.h>

#include <cstdlib>
#include <iostream>

#include "core/errors.h"
#include "dist/world.h"

namespace gan::launch {

int guarded_main(const std::string& program, const gan::dist::World* world,
                 const std::function<int()>& body) {
  const int size = world ? world->size() : 1;
  const int rank = world ? world->rank() : 0;
  const std::string who = size > 1 ? program + " [rank " + std::to_string(rank) + "]" : program;
  int code = kExitFailure;
  bool collective = false;
  try {
    return body();
  } catch (const Error& e) {
    code = e.code();
    collective = e.collective();
    // A collective error was raised identically everywhere: rank 0 speaks for all.
    if (!collective || rank == 0) std::cerr << who << ": error: " << e.what() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << who << ": error: " << e.what() << std::endl;
  }
  if (!collective && size > 1) world->abort(code);
  return code;
}

void set_blas_threads(int threads) {
  if (std::getenv("OPENBLAS_NUM_THREADS")) return;  // the user decided
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    fn(threads);
}

}  // namespace gan::launch
