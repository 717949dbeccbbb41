// `gan_prep celeba`. Shard k is made from files [k*S, (k+1)*S) of the sorted plan, by rank
// k % world_size, with --threads decoding threads; its content therefore depends on nothing
// but its own files. Each finished shard gets a sidecar (.prep/shard-NNNNN.json: recipe key,
// sha256, exact channel sums, bad files) written after the shard is renamed into place, so
// a re-run with the same arguments keeps every shard whose sidecar and sha256 still match
// and makes the rest. Rank 0 then writes manifest.json and prep-report.json.
#include "launch/prep_celeba.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/errors.h"
#include "core/sha256.h"
#include "dataio/celeba_prep.h"
#include "dataio/manifest.h"
#include "dataio/shard.h"
#include "dist/world.h"
#include "launch/entry.h"

namespace gan::launch {

namespace fs = std::filesystem;
using nlohmann::json;

void add_celeba_options(CLI::App* c, CelebaArgs* a) {
  c->add_option("--src", a->src, "folder of images (img_align_celeba/ or any)")
      ->required()
      ->check(CLI::ExistingDirectory);
  c->add_option("--attr", a->attr,
                "list_attr_celeba.txt (40 attributes as int64 0/1 labels): a file, none, or auto "
                "(looked for in --src, its parent and grandparent, each also in Anno/ and Eval/)")
      ->capture_default_str();
  c->add_option("--partition", a->partition,
                "list_eval_partition.txt: a file, none, or auto (looked for as with --attr)")
      ->capture_default_str();
  c->add_option("--split", a->split, "all | train | valid | test (needs the partition list)")
      ->check(CLI::IsMember({"all", "train", "valid", "test"}))
      ->capture_default_str();
  c->add_option("--out", a->out, "output folder")->required();
  auto* crop =
      c->add_option("--crop", a->crop, "centre square side (108, 128, ...), 'full', or y,x,h,w")
          ->capture_default_str();
  c->add_option("--crop-box", a->crop_box,
                "explicit box y,x,h,w in full-resolution, EXIF-oriented pixels")
      ->excludes(crop);
  c->add_option("--size", a->size, "output side in pixels")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  c->add_option("--filter", a->filter, "area | bilinear | lanczos")->capture_default_str();
  c->add_option("--small", a->small, "images smaller than the crop: upscale | skip")
      ->capture_default_str();
  c->add_flag("--no-dct-scaling", a->no_dct_scaling, "always decode JPEGs at full size");
  c->add_option("--jpeg-tail", a->jpeg_tail,
                "JPEG rows below the crop: decode (to EOI: any corruption fails the file) | "
                "scan (structure only: ~10% faster, a cut file still fails)")
      ->check(CLI::IsMember({"decode", "scan"}))
      ->capture_default_str();
  c->add_option("--shard-size", a->shard_size, "source files per shard")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--chunk", a->chunk, "images per HDF5 chunk (the loader's read block)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--threads", a->threads, "decoding threads per rank")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  c->add_flag("--allow-skips", a->allow_skips, "exit 0 even when some files were skipped");
  c->add_flag("--force", a->force, "replace whatever --out holds instead of resuming");
}

namespace {

std::string to_hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string o;
  for (unsigned char c : s) o += d[c >> 4], o += d[c & 15];
  return o;
}

std::string from_hex(const std::string& h) {
  std::string o;
  for (size_t i = 0; i + 1 < h.size(); i += 2) {
    o += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  }
  return o;
}

// temp file, fsync, rename: a reader never sees half a file.
void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw DataError("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw DataError("write failed: " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw DataError("fsync failed: " + tmp);
  fs::rename(tmp, path);
}

std::string shard_name(int64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05lld.h5", static_cast<long long>(index));
  return buf;
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
  std::vector<dataio::BadFile> bad;
  dataio::CropBox crop;
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
bool shard_verified(const std::string& out, const dataio::ShardRange& r, const std::string& key) {
  Sidecar s;
  if (!load_sidecar(sidecar_path(out, r.index), &s)) return false;
  if (s.key != key || s.index != r.index || s.begin != r.begin || s.end != r.end) return false;
  const std::string path = (fs::path(out) / shard_name(r.index)).string();
  if (s.count == 0) return !fs::exists(path);
  if (!fs::exists(path)) return false;
  try {
    return sha256_file(path) == s.sha256;
  } catch (const std::exception&) {
    return false;
  }
}

// Runs `fn` on rank 0 only; its gan::Error (if any) is raised identically on every rank.
void on_root_then_agree(const dist::World& world, const std::function<void()>& fn) {
  std::string status = "0\n";
  if (world.is_root()) {
    try {
      fn();
    } catch (const Error& e) {
      status = std::to_string(e.code()) + "\n" + e.what();
    } catch (const std::exception& e) {
      status = std::to_string(kExitFailure) + "\n" + e.what();
    }
  }
  status = world.broadcast(status, 0);
  const size_t nl = status.find('\n');
  const int code = std::stoi(status.substr(0, nl));
  if (code != 0) throw Error(code, status.substr(nl + 1), /*collective=*/true);
}

std::string recipe_key(const dataio::PrepRecipe& r, const CelebaArgs& a,
                       const std::string& plan_hash) {
  Sha256 h;
  const std::string s = r.describe() + "|shard_size=" + std::to_string(a.shard_size) +
                        "|chunk=" + std::to_string(a.chunk) + "|plan=" + plan_hash;
  h.update(s.data(), s.size());
  return h.hex();
}

std::string plan_hash(const dataio::PrepPlan& p) {
  Sha256 h;
  for (const auto& f : p.files) h.update(f.c_str(), f.size() + 1);
  h.update(p.labels.data(), p.labels.size() * sizeof(int64_t));
  for (const auto& n : p.label_names) h.update(n.c_str(), n.size() + 1);
  return h.hex();
}

void prepare_out_dir(const CelebaArgs& a, const std::string& key) {
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
  write_atomic(key_file.string(), key + "\n");
}

std::string report_json(const CelebaArgs& a, const dataio::PrepRecipe& r,
                        const dataio::PrepPlan& plan, int64_t written, int64_t shards,
                        const std::vector<dataio::BadFile>& bad) {
  using dataio::json_escape;
  std::ostringstream o;
  o << "{\n"
    << "  \"tool\": \"gan_prep celeba\",\n"
    << "  \"source\": \"" << json_escape(a.src) << "\",\n"
    << "  \"recipe\": \"" << json_escape(r.describe()) << "\",\n"
    << "  \"split\": \"" << json_escape(a.split) << "\",\n"
    << "  \"attr_file\": \"" << json_escape(a.attr) << "\",\n"
    << "  \"partition_file\": \"" << json_escape(a.partition) << "\",\n"
    << "  \"planned_files\": " << plan.files.size() << ",\n"
    << "  \"other_split_files\": " << plan.other_split << ",\n"
    << "  \"written\": " << written << ",\n"
    << "  \"shards\": " << shards << ",\n"
    << "  \"skipped\": " << bad.size() << ",\n"
    << "  \"bad_files\": " << dataio::bad_files_to_json(bad, 4) << "\n"
    << "}\n";
  return o.str();
}

// --attr / --partition: "auto" finds the list next to the images (or nothing), "none"
// turns it off, anything else must be an existing file.
std::string resolve_list(const std::string& opt, const char* flag, const std::string& src,
                         const std::string& name) {
  if (opt == "none") return "";
  if (opt == "auto") return dataio::find_celeba_list(src, name);
  std::error_code ec;
  if (!fs::is_regular_file(opt, ec))
    throw UsageError(std::string(flag) + " " + opt + ": no such file");
  return opt;
}

// Resolves both lists on every rank. The ranks must agree (shared filesystem): a rank that
// sees another file, or an error, stops all of them with the same message instead of
// leaving the others waiting in a collective.
void resolve_lists(const CelebaArgs& given, const dist::World& world, CelebaArgs* a) {
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

int celeba_body(const CelebaArgs& given, const dist::World& world) {
  CelebaArgs a = given;
  resolve_lists(given, world, &a);
  dataio::PrepRecipe recipe;
  const std::string crop_spec = a.crop_box.empty() ? a.crop : a.crop_box;
  if (!dataio::parse_crop_spec(crop_spec, &recipe.crop) ||
      (!a.crop_box.empty() && recipe.crop.kind != dataio::CropSpec::Kind::kBox)) {
    throw UsageError(
        a.crop_box.empty()
            ? "--crop must be a side (108, 128, ...), 'full' or y,x,h,w, not '" + a.crop + "'"
            : "--crop-box must be y,x,h,w (four integers), not '" + a.crop_box + "'",
        true);
  }
  if (!dataio::parse_resize_filter(a.filter, &recipe.filter)) {
    throw UsageError("--filter must be area, bilinear or lanczos, not '" + a.filter + "'", true);
  }
  if (!dataio::parse_small_policy(a.small, &recipe.small)) {
    throw UsageError("--small must be upscale or skip, not '" + a.small + "'", true);
  }
  recipe.size = a.size;
  recipe.dct_scaling = !a.no_dct_scaling;
  recipe.decode_jpeg_tail = a.jpeg_tail != "scan";

  // Every rank plans on its own (same folder, same lists) and they must agree.
  // Options and list files are the same on every rank, so are their errors: collective.
  dataio::PrepPlan plan;
  try {
    plan = dataio::plan_celeba({a.src, a.attr, a.partition, a.split});
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
      std::cout << "labels: none ("
                << (given.attr == "none" ? "--attr none" : "no list_attr_celeba.txt found")
                << ")\n";
    } else {
      std::cout << "labels: " << plan.label_dims << " attributes from " << a.attr << "\n";
    }
    if (!a.partition.empty()) {
      std::cout << "split " << a.split << " from " << a.partition << " (" << plan.other_split
                << " files of other splits left out)\n";
    }
  }
  const std::string key = recipe_key(recipe, a, phash);
  on_root_then_agree(world, [&] { prepare_out_dir(a, key); });

  const auto ranges = dataio::plan_shards(static_cast<int64_t>(plan.files.size()), a.shard_size);
  const dataio::ImageShape shape{a.size, a.size, 3};
  for (const auto& r : ranges) {
    if (!dataio::rank_owns(r, world.rank(), world.size())) continue;
    const std::string name = shard_name(r.index);
    const std::string path = (fs::path(a.out) / name).string();
    if (shard_verified(a.out, r, key)) {
      std::cout << name << ": kept (verified)\n";
      continue;
    }
    dataio::ShardBatch b = dataio::prepare_shard(plan, a.src, r, recipe, a.threads);
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
      dataio::Recipe rec{"celeba:" + fs::path(a.src).filename().string(),
                         {c.y, c.x, c.h, c.w},
                         dataio::resize_filter_name(recipe.filter)};
      dataio::ShardWriter w(path, shape, plan.label_dims, a.chunk, rec);
      w.append(b.images.data(), plan.label_dims > 0 ? b.labels.data() : nullptr, b.count);
      w.close();
      s.sha256 = sha256_file(path);
    }
    write_atomic(sidecar_path(a.out, r.index), sidecar_json(s));
    std::cout << name << ": " << b.count << " images, " << b.bad.size() << " skipped\n";
  }
  world.barrier();

  int64_t written = 0, skipped = 0;
  on_root_then_agree(world, [&] {
    dataio::Manifest m;
    m.shape = shape;
    m.label_dims = plan.label_dims;
    m.chunk_images = a.chunk;
    m.label_names = plan.label_names;
    std::vector<dataio::BadFile> bad = plan.excluded;
    std::array<uint64_t, 3> sum{}, sum_sq{};
    bool have_crop = false;
    for (const auto& r : ranges) {
      Sidecar s;
      if (!load_sidecar(sidecar_path(a.out, r.index), &s) || s.key != key) {
        throw DataError("shard " + shard_name(r.index) + " was not finished (did a rank fail?)");
      }
      bad.insert(bad.end(), s.bad.begin(), s.bad.end());
      if (s.count == 0) continue;
      if (!have_crop) {
        m.recipe = {"celeba:" + fs::path(a.src).filename().string(),
                    {s.crop.y, s.crop.x, s.crop.h, s.crop.w},
                    dataio::resize_filter_name(recipe.filter)};
        have_crop = true;
      }
      m.shards.push_back({shard_name(r.index), s.count, s.sha256});
      m.total += s.count;
      for (int c = 0; c < 3; ++c) sum[c] += s.sum[c], sum_sq[c] += s.sum_sq[c];
    }
    dataio::sort_bad_files(&bad);
    write_atomic((fs::path(a.out) / "prep-report.json").string(),
                 report_json(a, recipe, plan, m.total, static_cast<int64_t>(m.shards.size()), bad));
    if (m.total == 0) {
      throw DataError("none of the " + std::to_string(plan.files.size()) + " files under " + a.src +
                      " could be used (see " + a.out + "/prep-report.json)");
    }
    dataio::channel_stats(sum, sum_sq, static_cast<uint64_t>(m.total) * a.size * a.size, &m.mean,
                          &m.std);
    m.save(a.out);
    written = m.total;
    skipped = static_cast<int64_t>(bad.size());
    std::cout << "wrote " << m.total << " images " << a.size << "x" << a.size << "x3 in "
              << m.shards.size() << " shard(s) to " << a.out << "; " << bad.size()
              << " file(s) skipped (prep-report.json)\n";
  });
  skipped = std::stoll(world.broadcast(std::to_string(skipped), 0));
  if (skipped > 0 && !a.allow_skips) {
    if (world.is_root()) {
      std::cerr << "gan_prep celeba: " << skipped << " file(s) skipped, listed in " << a.out
                << "/prep-report.json; the shards are complete without them (use --allow-skips "
                   "to exit 0)\n";
    }
    return kExitData;
  }
  return kExitOk;
}

}  // namespace

int run_celeba(const CelebaArgs& a, int* argc, char*** argv) {
  dist::World world(argc, argv);
  return guarded_main("gan_prep celeba", &world, [&] { return celeba_body(a, world); });
}

}  // namespace gan::launch
