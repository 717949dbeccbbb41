// The gan_dist option set and its rules in one place: gan_dist parses and validates a command
// line with it (a real run and `--check` alike), gan_eval rebuilds a run's options from the
// resolved config text a checkpoint records.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "train/options.h"

namespace gan::train {

void define_train_options(CLI::App& app, TrainOptions& o);
// After parsing: the model's own defaults for options the user did not set, then --lr-d from
// --lr, recorded as values so that config.toml and the rank agreement see them.
void resolve_train_options(CLI::App& app, TrainOptions& o);
// The options of a run from its resolved config ("key = value" lines); UsageError when broken.
TrainOptions options_from_config(const std::string& config_text);

// What the rules are applied against. A real run: its world and every path. `gan_dist --check`:
// the world size the launcher will start, and paths only when they can be seen from where it
// runs.
struct CheckScope {
  int world_size = 1;
  bool warn = true;  // print warnings (rank 0 of a real run)
  bool check_paths = true;
  std::vector<std::string>* unchecked = nullptr;  // with !check_paths: the rules left out
};

// Every rule a command line is held to before training starts (UsageError, or DataError for
// an unreadable manifest). A real run and --check call this one function, so the two cannot
// drift apart.
void validate_train_options(const TrainOptions& o, const CheckScope& scope);

}  // namespace gan::train
