#include "models/registry.h"

#include <stdexcept>
#include <utility>

#include "core/errors.h"

namespace gan::models {

// One line per model: the function its file defines. The order is that of `--help`.
#define GAN_MODEL_TABLE(X) \
  X(gan)                   \
  X(dcgan)                 \
  X(lsgan)                 \
  X(cgan)                  \
  X(infogan)               \
  X(wgan)                  \
  X(wgan_gp)               \
  X(ebgan)                 \
  X(began)                 \
  X(vae)

#define GAN_DECLARE(id) ModelInfo id##_model();
GAN_MODEL_TABLE(GAN_DECLARE)
#undef GAN_DECLARE

const std::vector<ModelInfo>& model_infos() {
#define GAN_ENTRY(id) id##_model(),
  static const std::vector<ModelInfo> infos{GAN_MODEL_TABLE(GAN_ENTRY)};
#undef GAN_ENTRY
  return infos;
}

ModelParam ModelParam::non_negative(std::string key, std::string help, double value) {
  return {std::move(key), std::move(help), value};
}
ModelParam ModelParam::positive(std::string key, std::string help, double value) {
  ModelParam p{std::move(key), std::move(help), value};
  p.lo_open = true;
  return p;
}
ModelParam ModelParam::in_range(std::string key, std::string help, double value, double lo,
                                double hi) {
  return {std::move(key), std::move(help), value, lo, hi};
}
ModelParam ModelParam::whole_number(std::string key, std::string help, double value, double lo,
                                    double hi) {
  ModelParam p{std::move(key), std::move(help), value, lo, hi};
  p.whole = true;
  return p;
}

const ModelParam* ModelInfo::find_param(const std::string& key) const {
  for (const auto& p : params)
    if (p.key == key) return &p;
  return nullptr;
}

const ModelInfo& model_info(const std::string& name) {
  for (const auto& info : model_infos())
    if (info.name == name) return info;
  std::string known;
  for (const auto& n : model_names()) known += " " + n;
  throw UsageError("unknown model '" + name + "' (known:" + known + ")");
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& info : model_infos()) names.push_back(info.name);
  return names;
}

double ModelOptions::param(const std::string& key) const {
  auto it = params.find(key);
  if (it == params.end())
    throw std::logic_error("model setting '" + key + "' is not among the model's declared ones");
  return it->second;
}

int64_t ModelOptions::int_param(const std::string& key) const {
  return static_cast<int64_t>(param(key));
}

std::unique_ptr<Model> make_model(const std::string& name, const ModelOptions& opts,
                                  dist::Collectives& coll) {
  const ModelInfo& info = model_info(name);
  ModelOptions o = opts;
  for (const auto& p : info.params) o.params.try_emplace(p.key, p.value);
  return info.make(o, coll);
}

}  // namespace gan::models
