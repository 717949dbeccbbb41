// The image job of `gan_prep celeba`. Shard k is made from files [k*S, (k+1)*S) of the sorted
// plan, by rank k % world_size, with --threads decoding threads; its content therefore depends
// on nothing but its own files. Each finished shard gets a sidecar (.prep/shard-NNNNN.json:
// recipe key, sha256, exact channel sums, bad files) written after the shard is renamed into
// place, so a re-run with the same arguments keeps every shard whose sidecar and sha256 still
// match and makes the rest. Rank 0 then writes manifest.json and prep-report.json.
#include "dataio/prep_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/checked_io.h"
#include "core/errors.h"
#include "core/sha256.h"
#include "dataio/celeba_prep.h"
#include "dataio/idx.h"
#include "dataio/image_scan.h"
#include "dataio/manifest.h"
#include "dataio/shard.h"

namespace gan::dataio {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string sidecar_path(const std::string& out, int64_t index) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "shard-%05lld.json", static_cast<long long>(index));
  return (fs::path(out) / ".prep" / buf).string();
}

struct Sidecar {
  std::string key;
  int64_t index = -1, begin = 0, end = 0, count = 0;
  std::string sha256;
  std::array<uint64_t, 3> sum{}, sum_sq{};
  std::vector<BadFile> bad;
  CropBox crop;
};

std::string sidecar_json(const Sidecar& s) {
  json j;
  j["key"] = s.key;
  j["index"] = s.index;
  j["begin"] = s.begin;
  j["end"] = s.end;
  j["count"] = s.count;
  j["sha256"] = s.sha256;
  j["sum"] = s.sum;
  j["sum_sq"] = s.sum_sq;
  j["crop"] = {s.crop.y, s.crop.x, s.crop.h, s.crop.w};
  // Paths may hold any bytes; hex keeps them exact through the JSON round trip.
  json bad = json::array();
  for (const auto& b : s.bad) bad.push_back({to_hex(b.path), to_hex(b.reason)});
  j["bad_hex"] = bad;
  return j.dump() + "\n";
}

bool load_sidecar(const std::string& path, Sidecar* s) {
  std::ifstream in(path);
  if (!in) return false;
  try {
    const json j = json::parse(in);
    s->key = j.at("key").get<std::string>();
    s->index = j.at("index").get<int64_t>();
    s->begin = j.at("begin").get<int64_t>();
    s->end = j.at("end").get<int64_t>();
    s->count = j.at("count").get<int64_t>();
    s->sha256 = j.at("sha256").get<std::string>();
    s->sum = j.at("sum").get<std::array<uint64_t, 3>>();
    s->sum_sq = j.at("sum_sq").get<std::array<uint64_t, 3>>();
    const auto c = j.at("crop").get<std::array<int, 4>>();
    s->crop = {c[0], c[1], c[2], c[3]};
    s->bad.clear();
    for (const auto& b : j.at("bad_hex")) {
      s->bad.push_back(
          {from_hex(b.at(0).get<std::string>()), from_hex(b.at(1).get<std::string>())});
    }
  } catch (const std::exception&) {
    return false;  // unreadable or half-written: the shard is made again
  }
  return true;
}

// The shard is kept only if its sidecar matches this run and the file hashes as recorded.
bool shard_verified(const std::string& out, const ShardRange& r, const std::string& key) {
  Sidecar s;
  if (!load_sidecar(sidecar_path(out, r.index), &s)) return false;
  if (s.key != key || s.index != r.index || s.begin != r.begin || s.end != r.end) return false;
  const std::string path = (fs::path(out) / shard_file_name(r.index)).string();
  if (s.count == 0) return !fs::exists(path);
  if (!fs::exists(path)) return false;
  try {
    return sha256_file(path) == s.sha256;
  } catch (const std::exception&) {
    return false;
  }
}

std::string recipe_key(const PrepRecipe& r, const ImagePrepArgs& a, const std::string& plan_hash) {
  Sha256 h;
  const std::string s = r.describe() + "|shard_size=" + std::to_string(a.shard_size) +
                        "|chunk=" + std::to_string(a.chunk) + "|plan=" + plan_hash;
  h.update(s.data(), s.size());
  return h.hex();
}

std::string plan_hash(const PrepPlan& p) {
  Sha256 h;
  for (const auto& f : p.files) h.update(f.c_str(), f.size() + 1);
  h.update(p.labels.data(), p.labels.size() * sizeof(int64_t));
  for (const auto& n : p.label_names) h.update(n.c_str(), n.size() + 1);
  return h.hex();
}

void prepare_out_dir(const ImagePrepArgs& a, const std::string& key) {
  const fs::path out(a.out), prep = out / ".prep", key_file = prep / "key";
  if (a.force && fs::exists(out)) {
    for (const auto& e : fs::directory_iterator(out)) {
      const std::string n = e.path().filename().string();
      if ((n.rfind("shard-", 0) == 0 && n.find(".h5") != std::string::npos) ||
          n == "manifest.json" || n == "prep-report.json" || n == ".prep") {
        fs::remove_all(e.path());
      }
    }
  }
  if (fs::exists(key_file)) {
    std::ifstream in(key_file);
    std::string old;
    std::getline(in, old);
    if (old != key) {
      throw UsageError("--out " + a.out +
                       " holds shards made with other arguments or other files; use --force to "
                       "replace them");
    }
  } else if (fs::exists(out / "manifest.json")) {
    throw UsageError("--out " + a.out + " already holds a dataset (use --force to replace it)");
  }
  fs::create_directories(prep);
  write_file_atomic(key_file.string(), key + "\n");
}

std::string report_json(const ImagePrepArgs& a, const PrepRecipe& r, const PrepPlan& plan,
                        int64_t written, int64_t shards, const std::vector<BadFile>& bad) {
  const nlohmann::json j{{"tool", "gan_prep celeba"},
                         {"source", readable_utf8(a.src)},
                         {"recipe", r.describe()},
                         {"split", a.split},
                         {"attr_file", readable_utf8(a.attr)},
                         {"partition_file", readable_utf8(a.partition)},
                         {"planned_files", plan.files.size()},
                         {"other_split_files", plan.other_split},
                         {"written", written},
                         {"shards", shards},
                         {"skipped", bad.size()},
                         {"bad_files", bad_files_json(bad)}};
  return j.dump(2) + "\n";
}

// --attr / --partition: "auto" finds the list next to the images (or nothing), "none"
// turns it off, anything else must be an existing file.
std::string resolve_list(const std::string& opt, const char* flag, const std::string& src,
                         const std::string& name) {
  if (opt == "none") return "";
  if (opt == "auto") return find_celeba_list(src, name);
  std::error_code ec;
  if (!fs::is_regular_file(opt, ec))
    throw UsageError(std::string(flag) + " " + opt + ": no such file");
  return opt;
}

// Resolves both lists on every rank. The ranks must agree (shared filesystem): a rank that
// sees another file, or an error, stops all of them with the same message instead of
// leaving the others waiting in a collective.
void resolve_lists(const ImagePrepArgs& given, const PrepGroup& world, ImagePrepArgs* a) {
  std::string mine;
  try {
    a->attr = resolve_list(given.attr, "--attr", a->src, "list_attr_celeba.txt");
    a->partition = resolve_list(given.partition, "--partition", a->src, "list_eval_partition.txt");
    if (a->split != "all" && a->partition.empty()) {
      throw UsageError("--split " + a->split + " needs list_eval_partition.txt" +
                       (given.partition == "auto" ? ": none found next to " + a->src : "") +
                       " (give --partition FILE)");
    }
    mine = "lists: attr '" + a->attr + "', partition '" + a->partition + "'";
  } catch (const UsageError& e) {
    mine = std::string("error: ") + e.what();
  }
  const auto all = world.allgather(mine);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r].rfind("error: ", 0) == 0) throw UsageError(all[r].substr(7), true);
  }
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] != all[0]) {
      throw DistError("rank " + std::to_string(r) + " sees " + all[r] + ", rank 0 " + all[0] +
                          " (is " + a->src + " on a shared filesystem?)",
                      true);
    }
  }
}

// The image recipe from the options (the same on every rank, so its errors are collective).
PrepRecipe recipe_of(const ImagePrepArgs& a) {
  PrepRecipe recipe;
  const std::string crop_spec = a.crop_box.empty() ? a.crop : a.crop_box;
  if (!parse_crop_spec(crop_spec, &recipe.crop) ||
      (!a.crop_box.empty() && recipe.crop.kind != CropSpec::Kind::kBox)) {
    throw UsageError(
        a.crop_box.empty()
            ? "--crop must be a side (108, 128, ...), 'full' or y,x,h,w, not '" + a.crop + "'"
            : "--crop-box must be y,x,h,w (four integers), not '" + a.crop_box + "'",
        true);
  }
  if (!parse_resize_filter(a.filter, &recipe.filter)) {
    throw UsageError("--filter must be area, bilinear or lanczos, not '" + a.filter + "'", true);
  }
  if (!parse_small_policy(a.small, &recipe.small)) {
    throw UsageError("--small must be upscale or skip, not '" + a.small + "'", true);
  }
  recipe.size = a.size;
  recipe.dct_scaling = !a.no_dct_scaling;
  recipe.decode_jpeg_tail = a.jpeg_tail != "scan";
  return recipe;
}

// Every rank plans on its own (same folder, same lists) and they must agree. Options and list
// files are the same on every rank, so are their errors: collective.
PrepPlan agreed_plan(const ImagePrepArgs& a, const ImagePrepArgs& given, const PrepGroup& world,
                     std::string* plan_id) {
  PrepPlan plan;
  try {
    plan = plan_celeba({a.src, a.attr, a.partition, a.split});
  } catch (const Error& e) {
    throw Error(e.code(), e.what(), true);
  }
  const std::string phash = plan_hash(plan);
  for (const auto& h : world.allgather(phash)) {
    if (h != phash) {
      throw DistError(
          "ranks see different file lists under " + a.src + " (is it on a shared filesystem?)",
          true);
    }
  }
  if (plan.files.empty()) {
    int64_t unlisted = 0;
    for (const auto& b : plan.excluded) unlisted += b.reason.rfind("no entry in ", 0) == 0;
    throw DataError(
        "no usable image files under " + a.src +
            (unlisted > 0 ? " (" + std::to_string(unlisted) +
                                " are not in the CelebA lists used: " + a.attr + " " + a.partition +
                                "; --attr none / --partition none "
                                "if those lists are not for these images)"
                          : ""),
        true);
  }
  if (world.rank() == 0) {  // lists found by "auto" are easy to miss: say which were used
    if (a.attr.empty()) {
      spdlog::info("labels: none ({})",
                   given.attr == "none" ? "--attr none" : "no list_attr_celeba.txt found");
    } else {
      spdlog::info("labels: {} attributes from {}", plan.label_dims, a.attr);
    }
    if (!a.partition.empty()) {
      spdlog::info("split {} from {} ({} files of other splits left out)", a.split, a.partition,
                   plan.other_split);
    }
  }
  *plan_id = phash;
  return plan;
}

// This rank's shards (k % ranks == rank): each kept when its sidecar and hash still match,
// else made and followed by its sidecar.
void make_shards(const ImagePrepArgs& a, const PrepPlan& plan, const PrepRecipe& recipe,
                 const std::vector<ShardRange>& ranges, const std::string& key,
                 const PrepGroup& world) {
  const ImageShape shape{a.size, a.size, 3};
  for (const auto& r : ranges) {
    if (!rank_owns(r, world.rank(), world.size())) continue;
    const std::string name = shard_file_name(r.index);
    const std::string path = (fs::path(a.out) / name).string();
    if (shard_verified(a.out, r, key)) {
      spdlog::info("{}: kept (verified)", name);
      continue;
    }
    ShardBatch b = prepare_shard(plan, a.src, r, recipe, a.threads);
    fs::remove(path);
    Sidecar s;
    s.key = key;
    s.index = r.index;
    s.begin = r.begin;
    s.end = r.end;
    s.count = b.count;
    s.sum = b.sum;
    s.sum_sq = b.sum_sq;
    s.bad = b.bad;
    s.crop = b.first_crop;
    if (b.count > 0) {
      const auto& c = b.first_crop;
      Recipe rec{"celeba:" + fs::path(a.src).filename().string(),
                 {c.y, c.x, c.h, c.w},
                 resize_filter_name(recipe.filter)};
      ShardWriter w(path, shape, plan.label_dims, a.chunk, rec);
      w.append(b.images.data(), plan.label_dims > 0 ? b.labels.data() : nullptr, b.count);
      w.close();
      s.sha256 = sha256_file(path);
    }
    write_file_atomic(sidecar_path(a.out, r.index), sidecar_json(s));
    spdlog::info("{}: {} images, {} skipped", name, b.count, b.bad.size());
  }
}

// Rank 0, once every shard is made: manifest.json from the sidecars (exact channel sums, so
// the statistics do not depend on the split) and prep-report.json. Returns the files skipped.
int64_t finish(const ImagePrepArgs& a, const PrepPlan& plan, const PrepRecipe& recipe,
               const std::vector<ShardRange>& ranges, const std::string& key) {
  const ImageShape shape{a.size, a.size, 3};
  Manifest m;
  m.shape = shape;
  m.label_dims = plan.label_dims;
  m.chunk_images = a.chunk;
  m.label_names = plan.label_names;
  std::vector<BadFile> bad = plan.excluded;
  std::array<uint64_t, 3> sum{}, sum_sq{};
  bool have_crop = false;
  for (const auto& r : ranges) {
    Sidecar s;
    if (!load_sidecar(sidecar_path(a.out, r.index), &s) || s.key != key) {
      throw DataError("shard " + shard_file_name(r.index) + " was not finished (did a rank fail?)");
    }
    bad.insert(bad.end(), s.bad.begin(), s.bad.end());
    if (s.count == 0) continue;
    if (!have_crop) {
      m.recipe = {"celeba:" + fs::path(a.src).filename().string(),
                  {s.crop.y, s.crop.x, s.crop.h, s.crop.w},
                  resize_filter_name(recipe.filter)};
      have_crop = true;
    }
    m.shards.push_back({shard_file_name(r.index), s.count, s.sha256});
    m.total += s.count;
    for (int c = 0; c < 3; ++c) sum[c] += s.sum[c], sum_sq[c] += s.sum_sq[c];
  }
  sort_bad_files(&bad);
  write_file_atomic(
      (fs::path(a.out) / "prep-report.json").string(),
      report_json(a, recipe, plan, m.total, static_cast<int64_t>(m.shards.size()), bad));
  if (m.total == 0) {
    throw DataError("none of the " + std::to_string(plan.files.size()) + " files under " + a.src +
                    " could be used (see " + a.out + "/prep-report.json)");
  }
  channel_stats({sum.begin(), sum.end()}, {sum_sq.begin(), sum_sq.end()},
                static_cast<uint64_t>(m.total) * a.size * a.size, &m.mean, &m.std);
  m.save(a.out);
  spdlog::info(
      "wrote {} images {}x{}x3 in {} shard(s) to {}; {} file(s) skipped (prep-report.json)",
      m.total, a.size, a.size, m.shards.size(), a.out, bad.size());
  return static_cast<int64_t>(bad.size());
}

}  // namespace

int prepare_images(const ImagePrepArgs& given, const PrepGroup& world) {
  ImagePrepArgs a = given;
  resolve_lists(given, world, &a);
  const PrepRecipe recipe = recipe_of(a);
  std::string plan_id;
  const PrepPlan plan = agreed_plan(a, given, world, &plan_id);
  const std::string key = recipe_key(recipe, a, plan_id);
  world.on_root([&] { prepare_out_dir(a, key); });
  const auto ranges = plan_shards(static_cast<int64_t>(plan.files.size()), a.shard_size);
  make_shards(a, plan, recipe, ranges, key, world);
  world.barrier();
  int64_t skipped = 0;
  world.on_root([&] { skipped = finish(a, plan, recipe, ranges, key); });
  skipped = std::stoll(world.broadcast(std::to_string(skipped)));
  if (skipped > 0 && !a.allow_skips) {
    if (world.rank() == 0) {
      spdlog::error(
          "{} file(s) skipped, listed in {}/prep-report.json; the shards are complete without "
          "them (use --allow-skips to exit 0)",
          skipped, a.out);
    }
    return kExitData;
  }
  return kExitOk;
}

int prepare_idx(const IdxPrepArgs& a) {
  if (fs::exists(fs::path(a.out) / "manifest.json") && !a.force)
    throw UsageError("--out " + a.out + " already holds a dataset (use --force to replace it)");
  auto images = read_idx_images(a.images);
  std::vector<int64_t> labels;
  if (!a.labels.empty()) {
    labels = read_idx_labels(a.labels);
    if (static_cast<int64_t>(labels.size()) != images.count)
      throw DataError(a.labels + " has " + std::to_string(labels.size()) + " labels for " +
                      std::to_string(images.count) + " images in " + a.images);
  }
  Recipe recipe{"idx:" + fs::path(a.images).filename().string(), {0, 0, 0, 0}, "none"};
  ShardSetWriter w(a.out, {images.rows, images.cols, 1}, labels.empty() ? 0 : 1, a.shard_size,
                   a.chunk, recipe);
  const int64_t bytes = images.rows * images.cols;
  for (int64_t i = 0; i < images.count; ++i)
    w.add(images.pixels.data() + i * bytes, labels.empty() ? nullptr : &labels[i]);
  const int64_t classes = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  const auto m = w.finish(classes);
  spdlog::info("wrote {} images {}x{}x{} in {} shard(s) to {}", m.total, m.shape.h, m.shape.w,
               m.shape.c, m.shards.size(), a.out);
  return 0;
}

int verify_dataset(const std::string& dir) {
  const auto m = Manifest::load(dir);
  const auto problems = verify_shards(dir, m, /*read_all=*/true);
  for (const auto& p : problems) spdlog::error("{}: {}", p.shard, p.reason);
  if (!problems.empty())
    throw DataError(std::to_string(problems.size()) + " bad shard(s) in " + dir + ", first " +
                    problems[0].shard);
  spdlog::info("ok: {} shard(s), {} images verified in {}", m.shards.size(), m.total, dir);
  return 0;
}

}  // namespace gan::dataio
