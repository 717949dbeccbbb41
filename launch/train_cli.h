// The gan_dist option set in one place: gan_dist parses the command line with it, gan_eval
// rebuilds a run's options from the resolved config text a checkpoint records.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "train/options.h"

namespace gan::launch {

void define_train_options(CLI::App& app, train::TrainOptions& o);
// After parsing: the model's own defaults for options the user did not set, then --lr-d from
// --lr, recorded as values so that config.toml and the rank agreement see them.
void resolve_train_options(CLI::App& app, train::TrainOptions& o);
// The options of a run from its resolved config ("key = value" lines); UsageError when broken.
train::TrainOptions options_from_config(const std::string& config_text);

}  // namespace gan::launch
