// A closed set of choices and the words that name them. An option's word becomes its enum
// once, when the command line is parsed (train/cli.cpp), and is written back as the same word
// in config.toml and logs; code past the parser compares enums, never strings.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace gan {

// (word, value) pairs, in the order --help lists them.
template <typename E>
using Names = std::vector<std::pair<std::string, E>>;

template <typename E>
const std::string& name_of(const Names<E>& names, E value) {
  for (const auto& [word, e] : names)
    if (e == value) return word;
  throw std::logic_error("a choice without a name in its table");
}

// The value a word names; nullptr when it names none.
template <typename E>
const E* value_of(const Names<E>& names, const std::string& word) {
  for (const auto& [w, e] : names)
    if (w == word) return &e;
  return nullptr;
}

}  // namespace gan
