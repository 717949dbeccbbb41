// The preparation job of `gan_prep idx` and `gan_prep celeba`: one job over two sources
// (PrepSource, below). Shard k is made from inputs [k*S, (k+1)*S) of the source's fixed order,
// by rank k % world_size; its content therefore depends on nothing but its own inputs. Each
// finished shard gets a sidecar (.prep/shard-NNNNN.json: job key, sha256, exact channel sums,
// bad files) written after the shard is renamed into place, so a re-run with the same
// arguments keeps every shard whose sidecar and sha256 still match and makes the rest. Rank 0
// then writes manifest.json and prep-report.json from the sidecars.
#include "dataio/prep_job.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
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

// What the ranks must agree on before they write anything (the lists they found, the files they
// planned, the data they read), each rank computing its own with `local`. An error on any rank
// stops every rank (PrepGroup::on_every_rank); a rank whose value differs from rank 0's stops
// every rank with `differs(R, value, rank 0's value)`. Nobody is left waiting in a collective.
void agree(
    const PrepGroup& world, const std::function<std::string()>& local,
    const std::function<std::string(size_t, const std::string&, const std::string&)>& differs) {
  std::string mine;
  world.on_every_rank([&] { mine = local(); });
  const auto all = world.allgather(mine);
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) throw DistError(differs(r, all[r], all[0]), true);
}

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

std::string plan_hash(const PrepPlan& p) {
  Sha256 h;
  for (const auto& f : p.files) h.update(f.c_str(), f.size() + 1);
  h.update(p.labels.data(), p.labels.size() * sizeof(int64_t));
  for (const auto& n : p.label_names) h.update(n.c_str(), n.size() + 1);
  return h.hex();
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
  agree(
      world,
      [&] {
        a->attr = resolve_list(given.attr, "--attr", a->src, "list_attr_celeba.txt");
        a->partition =
            resolve_list(given.partition, "--partition", a->src, "list_eval_partition.txt");
        if (a->split != "all" && a->partition.empty()) {
          throw UsageError("--split " + a->split + " needs list_eval_partition.txt" +
                           (given.partition == "auto" ? ": none found next to " + a->src : "") +
                           " (give --partition FILE)");
        }
        return "lists: attr '" + a->attr + "', partition '" + a->partition + "'";
      },
      [&](size_t r, const std::string& theirs, const std::string& first) {
        return "rank " + std::to_string(r) + " sees " + theirs + ", rank 0 " + first + " (is " +
               a->src + " on a shared filesystem?)";
      });
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
  agree(
      world,
      [&] {
        plan = plan_celeba({a.src, a.attr, a.partition, a.split});
        *plan_id = plan_hash(plan);
        return *plan_id;
      },
      [&](size_t r, const std::string&, const std::string&) {
        return "rank " + std::to_string(r) + " sees other files under " + a.src +
               " than rank 0 (is it on a shared filesystem?)";
      });
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
  return plan;
}

// What the job packs: `items()` inputs in a fixed order, of which shard k holds the usable
// images of items [k * shard_size, (k + 1) * shard_size). The two sources are an image folder
// (CelebaSource: files, cropped and resized) and IDX files (IdxSource: images already packed).
class PrepSource {
 public:
  virtual ~PrepSource() = default;
  virtual int64_t items() const = 0;
  virtual ImageShape shape() const = 0;
  virtual int64_t label_dims() const = 0;
  virtual int64_t num_classes() const { return 0; }  // integer labels: the largest + 1
  virtual std::vector<std::string> label_names() const { return {}; }
  // What is made of each input, and which inputs (a hash): with the layout, the job's key; a
  // re-run keeps a shard only under the same key.
  virtual std::string recipe_text() const = 0;
  virtual std::string inputs_id() const = 0;
  virtual std::string describe_inputs() const = 0;  // for messages: "files under DIR"
  // The usable images of one range, with their exact channel sums and the refused inputs.
  virtual ShardBatch make(const ShardRange& r) const = 0;
  // The shard's provenance; `first_crop` is the first shard's recorded crop box.
  virtual Recipe recipe(const CropBox& first_crop) const = 0;
  // Inputs refused while planning, and what prep-report.json says of the source.
  virtual std::vector<BadFile> excluded() const { return {}; }
  virtual json report() const = 0;
};

// How the job lays out its output, whatever the source.
struct JobLayout {
  std::string out;
  int64_t shard_size = 0, chunk = 0;
  bool force = false;
};

std::string job_key(const PrepSource& src, const JobLayout& l) {
  Sha256 h;
  const std::string s = src.recipe_text() + "|shard_size=" + std::to_string(l.shard_size) +
                        "|chunk=" + std::to_string(l.chunk) + "|plan=" + src.inputs_id();
  h.update(s.data(), s.size());
  return h.hex();
}

// --out: emptied of a dataset with --force; else it may hold the shards of an unfinished (or
// finished) run with the same key, which are kept, but nothing else of ours.
void prepare_out_dir(const JobLayout& l, const std::string& key) {
  const fs::path out(l.out), prep = out / ".prep", key_file = prep / "key";
  if (l.force && fs::exists(out)) {
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
      throw UsageError("--out " + l.out +
                       " holds shards made with other arguments or other files; use --force to "
                       "replace them");
    }
  } else if (fs::exists(out / "manifest.json")) {
    throw UsageError("--out " + l.out + " already holds a dataset (use --force to replace it)");
  }
  fs::create_directories(prep);
  write_file_atomic(key_file.string(), key + "\n");
}

// This rank's shards (k % ranks == rank): each kept when its sidecar and hash still match,
// else made and followed by its sidecar.
void make_shards(const PrepSource& src, const JobLayout& l, const std::vector<ShardRange>& ranges,
                 const std::string& key, const PrepGroup& world) {
  for (const auto& r : ranges) {
    if (!rank_owns(r, world.rank(), world.size())) continue;
    const std::string name = shard_file_name(r.index);
    const std::string path = (fs::path(l.out) / name).string();
    if (shard_verified(l.out, r, key)) {
      spdlog::info("{}: kept (verified)", name);
      continue;
    }
    ShardBatch b = src.make(r);
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
      ShardWriter w(path, src.shape(), src.label_dims(), l.chunk, src.recipe(b.first_crop));
      w.append(b.images.data(), src.label_dims() > 0 ? b.labels.data() : nullptr, b.count);
      w.close();
      s.sha256 = sha256_file(path);
    }
    write_file_atomic(sidecar_path(l.out, r.index), sidecar_json(s));
    spdlog::info("{}: {} images, {} skipped", name, b.count, b.bad.size());
  }
}

// Rank 0, once every shard is made: manifest.json from the sidecars (exact channel sums, so
// the statistics do not depend on the split) and prep-report.json. Returns the inputs skipped.
int64_t finish(const PrepSource& src, const JobLayout& l, const std::vector<ShardRange>& ranges,
               const std::string& key) {
  const ImageShape shape = src.shape();
  Manifest m;
  m.shape = shape;
  m.label_dims = src.label_dims();
  m.num_classes = src.num_classes();
  m.chunk_images = l.chunk;
  m.label_names = src.label_names();
  m.recipe = src.recipe({});
  std::vector<BadFile> bad = src.excluded();
  std::vector<uint64_t> sum(shape.c), sum_sq(shape.c);
  bool have_crop = false;
  for (const auto& r : ranges) {
    Sidecar s;
    if (!load_sidecar(sidecar_path(l.out, r.index), &s) || s.key != key) {
      throw DataError("shard " + shard_file_name(r.index) + " was not finished (did a rank fail?)");
    }
    bad.insert(bad.end(), s.bad.begin(), s.bad.end());
    if (s.count == 0) continue;
    if (!have_crop) m.recipe = src.recipe(s.crop), have_crop = true;
    m.shards.push_back({shard_file_name(r.index), s.count, s.sha256});
    m.total += s.count;
    for (int64_t c = 0; c < shape.c; ++c) sum[c] += s.sum[c], sum_sq[c] += s.sum_sq[c];
  }
  sort_bad_files(&bad);
  json report = src.report();
  report["written"] = m.total;
  report["shards"] = m.shards.size();
  report["skipped"] = bad.size();
  report["bad_files"] = bad_files_json(bad);
  write_file_atomic((fs::path(l.out) / "prep-report.json").string(), report.dump(2) + "\n");
  if (m.total == 0) {
    throw DataError("none of the " + std::to_string(src.items()) + " " + src.describe_inputs() +
                    " could be used (see " + l.out + "/prep-report.json)");
  }
  channel_stats(sum, sum_sq, static_cast<uint64_t>(m.total) * shape.h * shape.w, &m.mean, &m.std);
  m.save(l.out);
  spdlog::info(
      "wrote {} images {}x{}x{} in {} shard(s) to {}; {} input(s) skipped (prep-report.json)",
      m.total, shape.h, shape.w, shape.c, m.shards.size(), l.out, bad.size());
  return static_cast<int64_t>(bad.size());
}

// The job, on every rank of `world`: prepare --out, make this rank's shards, and finish on
// rank 0. Returns the inputs skipped, on every rank.
int64_t run_job(const PrepSource& src, const JobLayout& layout, const PrepGroup& world) {
  JobLayout l = layout;
  l.chunk = std::min(l.chunk, l.shard_size);  // a chunk, the loader's read block, fits a shard
  const std::string key = job_key(src, l);
  world.on_root([&] { prepare_out_dir(l, key); });
  const auto ranges = plan_shards(src.items(), l.shard_size);
  make_shards(src, l, ranges, key, world);
  world.barrier();
  int64_t skipped = 0;
  world.on_root([&] { skipped = finish(src, l, ranges, key); });
  return std::stoll(world.broadcast(std::to_string(skipped)));
}

// An image folder: the agreed plan's files, each decoded, cropped and resized by the recipe on
// --threads threads.
class CelebaSource : public PrepSource {
 public:
  CelebaSource(const ImagePrepArgs& a, PrepPlan plan, std::string plan_id, PrepRecipe recipe)
      : a_(a), plan_(std::move(plan)), plan_id_(std::move(plan_id)), recipe_(recipe) {}
  int64_t items() const override { return static_cast<int64_t>(plan_.files.size()); }
  ImageShape shape() const override { return {a_.size, a_.size, 3}; }
  int64_t label_dims() const override { return plan_.label_dims; }
  std::vector<std::string> label_names() const override { return plan_.label_names; }
  std::string recipe_text() const override { return recipe_.describe(); }
  std::string inputs_id() const override { return plan_id_; }
  std::string describe_inputs() const override { return "files under " + a_.src; }
  ShardBatch make(const ShardRange& r) const override {
    return prepare_shard(plan_, a_.src, r, recipe_, a_.threads);
  }
  Recipe recipe(const CropBox& c) const override {
    return {"celeba:" + fs::path(a_.src).filename().string(),
            {c.y, c.x, c.h, c.w},
            resize_filter_name(recipe_.filter)};
  }
  std::vector<BadFile> excluded() const override { return plan_.excluded; }
  json report() const override {
    return {{"tool", "gan_prep celeba"},           {"source", readable_utf8(a_.src)},
            {"recipe", recipe_.describe()},        {"split", a_.split},
            {"attr_file", readable_utf8(a_.attr)}, {"partition_file", readable_utf8(a_.partition)},
            {"planned_files", plan_.files.size()}, {"other_split_files", plan_.other_split}};
  }

 private:
  const ImagePrepArgs& a_;
  PrepPlan plan_;
  std::string plan_id_;
  PrepRecipe recipe_;
};

// IDX files: images already packed, one byte per pixel, with integer class labels.
class IdxSource : public PrepSource {
 public:
  explicit IdxSource(const IdxPrepArgs& a) : a_(a), images_(read_idx_images(a.images)) {
    if (!a.labels.empty()) {
      labels_ = read_idx_labels(a.labels);
      if (static_cast<int64_t>(labels_.size()) != images_.count)
        throw DataError(a.labels + " has " + std::to_string(labels_.size()) + " labels for " +
                        std::to_string(images_.count) + " images in " + a.images);
    }
    Sha256 h;
    h.update(images_.pixels.data(), images_.pixels.size());
    h.update(labels_.data(), labels_.size() * sizeof(int64_t));
    content_ = h.hex();
  }
  int64_t items() const override { return images_.count; }
  ImageShape shape() const override { return {images_.rows, images_.cols, 1}; }
  int64_t label_dims() const override { return labels_.empty() ? 0 : 1; }
  int64_t num_classes() const override {
    return labels_.empty() ? 0 : *std::max_element(labels_.begin(), labels_.end()) + 1;
  }
  std::string recipe_text() const override { return labels_.empty() ? "idx" : "idx+labels"; }
  std::string inputs_id() const override { return content_; }
  std::string describe_inputs() const override { return "images in " + a_.images; }
  ShardBatch make(const ShardRange& r) const override {
    ShardBatch b;
    const int64_t bytes = shape().bytes();
    b.count = r.end - r.begin;
    const auto* first = images_.pixels.data() + r.begin * bytes;
    b.images.assign(first, first + b.count * bytes);
    if (!labels_.empty()) b.labels.assign(labels_.begin() + r.begin, labels_.begin() + r.end);
    for (uint8_t v : b.images) b.sum[0] += v, b.sum_sq[0] += uint64_t{v} * v;
    return b;
  }
  Recipe recipe(const CropBox&) const override {
    return {"idx:" + fs::path(a_.images).filename().string(), {0, 0, 0, 0}, "none"};
  }
  json report() const override {
    return {{"tool", "gan_prep idx"},
            {"source", readable_utf8(a_.images)},
            {"labels", readable_utf8(a_.labels)},
            {"planned_images", images_.count}};
  }

 private:
  const IdxPrepArgs& a_;
  IdxImages images_;
  std::vector<int64_t> labels_;
  std::string content_;  // sha256 of the pixels and labels
};

}  // namespace

int prepare_images(const ImagePrepArgs& given, const PrepGroup& world) {
  ImagePrepArgs a = given;
  resolve_lists(given, world, &a);
  const PrepRecipe recipe = recipe_of(a);
  std::string plan_id;
  PrepPlan plan = agreed_plan(a, given, world, &plan_id);
  const CelebaSource source(a, std::move(plan), plan_id, recipe);
  const int64_t skipped = run_job(source, {a.out, a.shard_size, a.chunk, a.force}, world);
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

int prepare_idx(const IdxPrepArgs& a, const PrepGroup& world) {
  // Every rank reads the files (tens of MB), and the ranks compare what they read: an error
  // on any rank, or ranks that read different data (copies that differ between nodes), stops
  // all of them with the same message instead of leaving some waiting.
  std::unique_ptr<IdxSource> source;
  agree(
      world,
      [&] {
        source = std::make_unique<IdxSource>(a);
        return source->inputs_id();
      },
      [&](size_t r, const std::string&, const std::string&) {
        return "rank " + std::to_string(r) + " read other data than rank 0 from " + a.images +
               (a.labels.empty() ? "" : " and " + a.labels) +
               " (is it the same file on every node?)";
      });
  run_job(*source, {a.out, a.shard_size, a.chunk, a.force}, world);
  return kExitOk;
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
