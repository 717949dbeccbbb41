#include "models/registry.h"

#include "core/errors.h"

namespace gan::models {

// One line per model: its --model name and the factory its file defines.
#define GAN_MODEL_TABLE(X) \
  X("dcgan", make_dcgan)

#define GAN_DECLARE(name, factory) \
  std::unique_ptr<Model> factory(const ModelOptions&, dist::Collectives&);
GAN_MODEL_TABLE(GAN_DECLARE)
#undef GAN_DECLARE

namespace {

struct Entry {
  const char* name;
  ModelFactory factory;
};

#define GAN_ENTRY(name, factory) {name, factory},
const Entry kModels[] = {GAN_MODEL_TABLE(GAN_ENTRY)};
#undef GAN_ENTRY

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : kModels) names.push_back(e.name);
  return names;
}

std::unique_ptr<Model> make_model(const std::string& name, const ModelOptions& opts,
                                  dist::Collectives& coll) {
  for (const auto& e : kModels)
    if (name == e.name) return e.factory(opts, coll);
  std::string known;
  for (const auto& n : model_names()) known += " " + n;
  throw UsageError("unknown model '" + name + "' (known:" + known + ")");
}

}  // namespace gan::models
