// The model table: each model file defines `make_<name>`; registry.cpp lists it once.
#pragma once

#include <memory>

#include "models/model.h"

namespace gan::models {

using ModelFactory = std::unique_ptr<Model> (*)(const ModelOptions&, dist::Collectives&);

}  // namespace gan::models
