#include "eval/distributed.h"

#include <filesystem>

#include "core/errors.h"
#include "dataio/loader.h"
#include "eval/frechet.h"

namespace fs = std::filesystem;

namespace gan::eval {

torch::Tensor gathered_features(dist::Communicator& comm, const FeatureNet& net,
                                const ImageRange& images, int64_t total) {
  const int ws = comm.size(), rank = comm.rank();
  const int64_t per = (total + ws - 1) / ws;
  const int64_t r0 = std::min(rank * per, total), rn = std::min(per, total - r0);
  // Ranks past the end send zero rows (allgather wants one shape everywhere); dropped below.
  torch::Tensor mine = torch::zeros({per, net.dim()});
  if (rn > 0) mine.narrow(0, 0, rn).copy_(net.features(images(r0, rn)));
  if (ws == 1) return mine.narrow(0, 0, rn);
  torch::Tensor all = comm.allgather(mine).reshape({-1, net.dim()});
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < ws; ++r) {
    int64_t s0 = std::min(r * per, total), sn = std::min(per, total - s0);
    if (sn > 0) parts.push_back(all.narrow(0, r * per, sn));
  }
  return torch::cat(parts);
}

ReferenceStats reference_stats(dist::World& world, dist::Communicator& comm,
                               const std::string& data, const dataio::Manifest& manifest,
                               const FeatureNet& net, int64_t n_real, bool use_cache,
                               nlohmann::json& report, const Log& log) {
  const ReferenceKey key{net.id(), data_identity(data), n_real};
  const std::string path = reference_cache_path(data, key);
  const std::string what = "reference features of " + std::to_string(n_real) + " real images";
  std::optional<ReferenceStats> cached;
  if (world.is_root() && use_cache) {
    std::string why;
    cached = load_reference_stats(path, key, &why);
    log(cached ? what + ": cached in " + path : what + ": computing (" + path + ": " + why + ")");
  }
  const bool hit = world.broadcast(cached ? "1" : "0") == "1";
  report = {{"cache", use_cache ? nlohmann::json(path) : nlohmann::json(nullptr)},
            {"from_cache", hit}};
  if (hit) return world.is_root() ? *cached : ReferenceStats{};

  torch::Tensor features = gathered_features(
      comm, net,
      [&](int64_t first, int64_t n) {
        auto pixels = dataio::read_image_range(data, manifest, first, n);
        return dataio::to_float_nchw(pixels.data(), n, manifest.shape);
      },
      n_real);
  if (!world.is_root()) return {};
  ReferenceStats stats{features, fit_gaussian(features)};
  if (use_cache) {
    // The cache only saves time: a data folder that cannot take it costs a recomputation
    // next time, not this result.
    auto not_cached = [&](const std::exception& e) {
      log(std::string("reference features not cached: ") + e.what());
      report["cache"] = nullptr;
    };
    try {
      save_reference_stats(path, key, stats);
      log(what + " written to " + path);
    } catch (const StorageError& e) {
      not_cached(e);
    } catch (const fs::filesystem_error& e) {
      not_cached(e);
    }
  }
  return stats;
}

nlohmann::json fd_and_kid(const torch::Tensor& fake, const ReferenceStats& real,
                          const KidOptions& kid_options) {
  const double fd = frechet_distance(fit_gaussian(fake), real.gaussian);
  const Kid kid = kernel_inception_distance(fake, real.features, kid_options);
  return {{"fd", fd},
          {"kid", kid.mean},
          {"kid_std_error", kid.std_error},
          {"kid_subsets", kid.subsets},
          {"kid_subset_size", kid.subset_size}};
}

}  // namespace gan::eval
