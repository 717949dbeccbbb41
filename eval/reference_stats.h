// Statistics of the real images in a feature space, cached next to the data: computing real
// features is the expensive side of FD and KID, and the same data, network and image count
// always give the same ones. DATA/feature-stats/<network sha256 prefix>-<manifest sha256
// prefix>-n<N>.pt holds the features [N, D] (KID, precision/recall need them), their mean and
// covariance (FD), the full key and a sha256 of all of it, so a stale or damaged file is
// recognised and recomputed, never used.
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>

#include "eval/frechet.h"

namespace gan::eval {

struct ReferenceKey {
  std::string feature_id;  // sha256 of the feature network's file
  std::string data_id;     // sha256 of the data's manifest.json (which lists every shard's)
  int64_t n = 0;           // the first n images of the data
  std::string text() const;
};

struct ReferenceStats {
  torch::Tensor features;  // [n, d] float
  Gaussian gaussian;       // fit_gaussian(features)
};

// sha256 of DATA/manifest.json: identifies the data, shard checksums included.
std::string data_identity(const std::string& data_dir);
std::string reference_cache_path(const std::string& data_dir, const ReferenceKey& key);

// The cached statistics, or nothing with the reason in `why` (missing, unreadable, made for
// another key, contents not matching their checksum). Never throws for a bad file.
std::optional<ReferenceStats> load_reference_stats(const std::string& path, const ReferenceKey& key,
                                                   std::string* why);
// Written atomically (core/checked_io); StorageError or std::filesystem errors when the folder
// cannot be written.
void save_reference_stats(const std::string& path, const ReferenceKey& key,
                          const ReferenceStats& stats);

}  // namespace gan::eval
