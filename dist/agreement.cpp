#include "dist/agreement.h"

#include <map>
#include <sstream>

#include "core/errors.h"
#include "dist/world.h"

namespace gan::dist {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

std::map<std::string, std::string> parse_config_lines(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t") + 1);
      return s;
    };
    kv[trim(line.substr(0, eq))] = trim(line.substr(eq + 1));
  }
  return kv;
}

void agree_on_config(const World& world, const std::string& config) {
  if (world.size() == 1) return;
  auto hashes = world.allgather(fnv1a(config));
  bool same = true;
  for (auto h : hashes) same = same && h == hashes[0];
  if (same) return;

  auto all = world.allgather(config);
  auto ref = parse_config_lines(all[0]);
  std::ostringstream msg;
  msg << "ranks were started with different options:";
  for (int r = 1; r < world.size(); ++r) {
    if (hashes[r] == hashes[0]) continue;
    auto mine = parse_config_lines(all[r]);
    for (const auto& [key, value] : mine) {
      auto it = ref.find(key);
      std::string theirs = it == ref.end() ? "<unset>" : it->second;
      if (theirs != value)
        msg << "\n  " << key << ": rank " << r << " has " << value << ", rank 0 has " << theirs;
    }
    for (const auto& [key, value] : ref)
      if (!mine.count(key))
        msg << "\n  " << key << ": rank " << r << " has <unset>, rank 0 has " << value;
  }
  throw DistError(msg.str(), /*collective=*/true);
}

void agree_on_outcome(const World& world, int code, const std::string& message) {
  if (world.size() == 1) {
    if (code) throw Error(code, message, true);
    return;
  }
  int64_t worst = world.allreduce_max(code);
  if (worst == 0) return;
  auto all = world.allgather(message);
  std::string text;
  for (int r = 0; r < world.size(); ++r) {
    if (all[r].empty()) continue;
    bool repeated = false;
    for (int q = 0; q < r; ++q) repeated = repeated || all[q] == all[r];
    if (repeated) continue;
    if (!text.empty()) text += "\n";
    text += "rank " + std::to_string(r) + ": " + all[r];
  }
  throw Error(static_cast<int>(worst), text, true);
}

void check_replicas(const World& world, const std::string& what, const std::string& digest,
                    int64_t step) {
  if (world.size() == 1) return;
  uint64_t mine = fnv1a(digest);
  auto all = world.allgather(mine);
  std::ostringstream bad;
  for (int r = 0; r < world.size(); ++r)
    if (all[r] != all[0]) bad << " " << r;
  if (bad.str().empty()) return;
  throw DistError("replicas diverged at step " + std::to_string(step) + ": " + what +
                      " on rank(s)" + bad.str() + " differs from rank 0",
                  /*collective=*/true);
}

}  // namespace gan::dist
