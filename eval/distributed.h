// Scoring spread over the ranks of a job, for gan_eval and for evaluation during training:
// each rank computes the features of one contiguous share of the images and every rank gets
// all of them, in order; the real images' statistics come from the cache under the data
// folder (eval/reference_stats.h) or are computed that way once and cached.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "dataio/manifest.h"
#include "dist/communicator.h"
#include "dist/world.h"
#include "eval/feature_net.h"
#include "eval/kid.h"
#include "eval/reference_stats.h"

namespace gan::eval {

// Images [n, C, H, W] in [-1, 1]: rows [first, first + n) of the set being scored.
using ImageRange = std::function<torch::Tensor(int64_t first, int64_t n)>;
using Log = std::function<void(const std::string&)>;

// Features of `total` images, every row on every rank. `comm` gathers CPU tensors (MPI).
// Every rank calls it with the same arguments.
torch::Tensor gathered_features(dist::Communicator& comm, const FeatureNet& net,
                                const ImageRange& images, int64_t total);

// The features and Gaussian of the first `n_real` images of `data`: from the cache when rank 0
// finds a valid one (it tells the others), else computed over all ranks and, with `use_cache`,
// written there. Only rank 0's result is filled in. `report` gets {"cache": path or null,
// "from_cache": bool}; `log` (rank 0) says which happened.
ReferenceStats reference_stats(dist::World& world, dist::Communicator& comm,
                               const std::string& data, const dataio::Manifest& manifest,
                               const FeatureNet& net, int64_t n_real, bool use_cache,
                               nlohmann::json& report, const Log& log);

// FD and KID of generated features against the reference, as one JSON object:
// {"fd", "kid", "kid_std_error", "kid_subsets", "kid_subset_size"}.
nlohmann::json fd_and_kid(const torch::Tensor& fake, const ReferenceStats& real,
                          const KidOptions& kid);

}  // namespace gan::eval
