// The model table: each model file defines `ModelInfo <name>_model()` (its name, factory,
// settings and paper defaults, models/model.h); registry.cpp lists it once.
#pragma once

#include "models/model.h"
