#include "models/registry.h"

#include <sstream>

#include "core/errors.h"

namespace gan::models {

// One line per model: its --model name, the factory its file defines, and the defaults its
// paper uses where they differ from the generic ones ("option=value ...").
#define GAN_MODEL_TABLE(X)                                                          \
  X("gan", make_gan, "")                                                            \
  X("dcgan", make_dcgan, "")                                                        \
  X("lsgan", make_lsgan, "")                                                        \
  X("cgan", make_cgan, "")                                                          \
  X("infogan", make_infogan, "")                                                    \
  X("wgan", make_wgan, "optimizer=rmsprop lr=5e-05 n-critic=5 clip=0.01")           \
  X("wgan-gp", make_wgan_gp, "lr=0.0001 beta1=0 beta2=0.9 n-critic=5 gp-lambda=10") \
  X("ebgan", make_ebgan, "lr=0.0002")                                               \
  X("began", make_began, "lr=0.0001 gamma=0.75 lambda-k=0.001")                     \
  X("vae", make_vae, "lr=0.001")

#define GAN_DECLARE(name, factory, defaults) \
  std::unique_ptr<Model> factory(const ModelOptions&, dist::Collectives&);
GAN_MODEL_TABLE(GAN_DECLARE)
#undef GAN_DECLARE

namespace {

struct Entry {
  const char* name;
  ModelFactory factory;
  const char* defaults;
};

#define GAN_ENTRY(name, factory, defaults) {name, factory, defaults},
const Entry kModels[] = {GAN_MODEL_TABLE(GAN_ENTRY)};
#undef GAN_ENTRY

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : kModels) names.push_back(e.name);
  return names;
}

std::vector<std::pair<std::string, std::string>> model_defaults(const std::string& name) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : kModels) {
    if (name != e.name) continue;
    std::istringstream in(e.defaults);
    std::string kv;
    while (in >> kv) {
      auto eq = kv.find('=');
      out.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
  }
  return out;
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
