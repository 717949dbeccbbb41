// Start-of-run and periodic checks that every rank runs the same job on the same replica:
// a rank started with other options, or whose parameters drifted, stops the job with a
// message naming what differs instead of hanging or training garbage.
#pragma once

#include <cstdint>
#include <exception>
#include <map>
#include <string>

#include "core/errors.h"

namespace gan::dist {

class World;

// "key = value" lines (the resolved config) as a map; other lines are ignored.
std::map<std::string, std::string> parse_config_lines(const std::string& text);

// `config` is "key = value" lines. Throws a collective DistError naming the keys that differ
// from rank 0 (and the ranks that have them) when the ranks disagree.
void agree_on_config(const World& world, const std::string& config);

// Throws a collective DistError naming `what` and `step` when ranks hold different digests.
void check_replicas(const World& world, const std::string& what, const std::string& digest,
                    int64_t step);

// Agrees on the outcome of a step every rank runs: returns normally only if it succeeded
// everywhere; otherwise every rank throws one collective error (the largest exit code, each
// distinct message with its rank), so no rank is left waiting in a collective.
void agree_on_outcome(const World& world, int code, const std::string& message);

template <typename Fn>
void all_or_none(const World& world, Fn&& fn) {
  int code = 0;
  std::string msg;
  try {
    fn();
  } catch (const Error& e) {
    if (e.collective()) throw;
    code = e.code();
    msg = e.what();
  } catch (const std::exception& e) {
    code = kExitFailure;
    msg = e.what();
  }
  agree_on_outcome(world, code, msg);
}

}  // namespace gan::dist
