#include "dist/digest.h"

#include "core/sha256.h"

namespace gan::dist {

std::string module_digest(const torch::nn::Module& module) {
  Sha256 h;
  auto feed = [&](const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU).contiguous();
    h.update(name.data(), name.size());
    h.update(c.data_ptr(), c.numel() * c.element_size());
  };
  for (const auto& p : module.named_parameters()) feed(p.key(), p.value());
  for (const auto& b : module.named_buffers()) feed(b.key(), b.value());
  return h.hex();
}

}  // namespace gan::dist
