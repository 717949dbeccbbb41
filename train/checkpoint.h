// Checkpoints: checkpoints/step-NNNNNNN/{state.pt, meta.json}, written to a temp folder,
// fsynced and renamed, checksummed, the last K kept. A corrupt newest checkpoint is
// detected on resume and the previous one is used.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/model.h"

namespace gan::train {

// The training data's image shape and class count: what a model is built for, so that a
// checkpoint rebuilds its model without the data (all 0 in checkpoints from before it was
// recorded: the data's manifest is then needed).
struct DataShape {
  int64_t h = 0, w = 0, c = 0, classes = 0;
  bool known() const { return h > 0; }
};

struct CheckpointMeta {
  int64_t step = 0;
  int64_t epoch = 0;
  int world_size = 1;
  std::string config;                          // resolved config, "key = value" lines
  std::map<std::string, std::string> digests;  // module name -> parameter digest
  DataShape data;
};

// State kept beside the model (the generator's moving average), in the same archive.
using SaveExtra = std::function<void(torch::serialize::OutputArchive&)>;
using LoadExtra = std::function<void(torch::serialize::InputArchive&)>;

class CheckpointStore {
 public:
  CheckpointStore(std::string dir, int keep);
  // Writes a checkpoint of `model` (call on one rank) and prunes old ones; returns its folder.
  std::string save(const CheckpointMeta& meta, models::Model& model,
                   const SaveExtra& extra = {}) const;
  // Newest checkpoint whose files match their checksums; `rejected` gets "folder: reason"
  // for every newer one that did not.
  std::optional<std::string> latest_valid(std::vector<std::string>* rejected) const;
  // Restores `model` (parameters, optimizers, RNG streams) and returns the meta.
  // CheckpointError when files are missing, corrupt, or the digests do not match after load.
  // (train/restore.h's restore_checkpoint is the one caller outside tests.)
  static CheckpointMeta load(const std::string& folder, models::Model& model,
                             const LoadExtra& extra = {});
  static CheckpointMeta read_meta(const std::string& folder);

 private:
  std::vector<std::string> folders() const;  // oldest first
  std::string dir_;
  int keep_;
};

std::string step_name(int64_t step);  // "step-0000120"

}  // namespace gan::train
