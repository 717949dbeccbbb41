// A content digest of a module's parameters and buffers (sha256, hex), used to prove that
// replicas are identical and that a resumed run ends where an uninterrupted one does.
#pragma once

#include <torch/nn/module.h>

#include <string>

namespace gan::dist {

std::string module_digest(const torch::nn::Module& module);

}  // namespace gan::dist
