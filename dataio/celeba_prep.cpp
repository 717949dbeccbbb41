// Plan and per-shard preparation for `gan_prep celeba` (threads, no MPI, no HDF5).
#include "dataio/celeba_prep.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "core/errors.h"

namespace gan::dataio {

namespace {

bool parse_split(const std::string& s, Split* out) {
  if (s == "train") {
    *out = Split::kTrain;
  } else if (s == "valid") {
    *out = Split::kValid;
  } else if (s == "test") {
    *out = Split::kTest;
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string find_celeba_list(const std::string& image_dir, const std::string& name) {
  namespace fs = std::filesystem;
  // The folders as given, then through symlinks (the lists may sit next to the target).
  auto search_from = [&](fs::path d) -> std::string {
    std::error_code ec;
    if (!d.has_filename()) d = d.parent_path();  // "dir/" normalises to a trailing separator
    for (int up = 0; up < 3 && !d.empty(); ++up, d = d.parent_path()) {
      for (const char* sub : {"", "Anno", "Eval"}) {
        const fs::path f = d / sub / name;
        if (fs::is_regular_file(f, ec)) return f.string();
      }
      if (d == d.root_path()) break;
    }
    return "";
  };
  std::error_code ec;
  const fs::path given = fs::absolute(image_dir, ec).lexically_normal();
  if (ec) return "";
  std::string found = search_from(given);
  if (found.empty()) {
    const fs::path real = fs::canonical(image_dir, ec);
    if (!ec && real != given) found = search_from(real);
  }
  return found;
}

PrepPlan plan_celeba(const CelebaSources& src) {
  Split want = Split::kTrain;
  const bool all = src.split == "all";
  if (!all && !parse_split(src.split, &want)) {
    throw UsageError("--split must be all, train, valid or test, not '" + src.split + "'");
  }
  if (!all && src.partition_file.empty()) {
    throw UsageError("--split " + src.split + " needs --partition (list_eval_partition.txt)");
  }
  PrepPlan plan;
  ScanResult scan = scan_image_folder(src.image_dir);
  plan.excluded = std::move(scan.bad);

  PartitionTable parts;
  if (!src.partition_file.empty()) parts = parse_partition_file(src.partition_file);
  AttrTable attrs;
  if (!src.attr_file.empty()) {
    attrs = parse_attr_file(src.attr_file);
    plan.label_dims = static_cast<int64_t>(attrs.num_attrs());
    plan.label_names = attrs.names;
  }
  // The CelebA lists name files by their base name; a nested folder is matched on the path
  // relative to the image folder first, then on the base name.
  auto base = [](const std::string& rel) {
    const size_t slash = rel.rfind('/');
    return slash == std::string::npos ? rel : rel.substr(slash + 1);
  };
  for (const std::string& f : scan.files) {
    if (!src.partition_file.empty()) {
      Split s;
      if (!parts.lookup(f, &s) && !parts.lookup(base(f), &s)) {
        plan.excluded.push_back({f, "no entry in " + src.partition_file});
        continue;
      }
      if (!all && s != want) {
        ++plan.other_split;
        continue;
      }
    }
    if (!src.attr_file.empty()) {
      const int64_t* row = attrs.row(f);
      if (!row) row = attrs.row(base(f));
      if (!row) {
        plan.excluded.push_back({f, "no entry in " + src.attr_file});
        continue;
      }
      plan.labels.insert(plan.labels.end(), row, row + plan.label_dims);
    }
    plan.files.push_back(f);
  }
  sort_bad_files(&plan.excluded);
  return plan;
}

std::vector<ShardRange> plan_shards(int64_t num_files, int64_t shard_size) {
  if (shard_size <= 0) throw UsageError("--shard-size must be positive");
  std::vector<ShardRange> out;
  for (int64_t b = 0, k = 0; b < num_files; b += shard_size, ++k) {
    out.push_back({k, b, std::min(num_files, b + shard_size)});
  }
  return out;
}

ShardBatch prepare_shard(const PrepPlan& plan, const std::string& image_dir,
                         const ShardRange& range, const PrepRecipe& recipe, int threads) {
  const int64_t n = range.end - range.begin;
  if (n < 0 || range.end > static_cast<int64_t>(plan.files.size())) {
    throw std::invalid_argument("prepare_shard: range outside the plan");
  }
  threads = std::max(1, std::min<int>(threads, static_cast<int>(std::max<int64_t>(n, 1))));
  const size_t img_bytes = static_cast<size_t>(recipe.size) * recipe.size * 3;
  std::vector<uint8_t> slots(static_cast<size_t>(n) * img_bytes);
  std::vector<std::string> reasons(static_cast<size_t>(n));
  std::vector<char> ok(static_cast<size_t>(n), 0);
  std::vector<CropBox> crops(static_cast<size_t>(n));
  std::vector<std::exception_ptr> errors(threads);

  auto work = [&](int t) {
    try {
      ImagePrep prep(recipe);
      for (int64_t i = t; i < n; i += threads) {
        const std::string path = image_dir + "/" + plan.files[range.begin + i];
        ok[i] = prep.process_file(path, slots.data() + i * img_bytes, &reasons[i]) ? 1 : 0;
        if (ok[i]) crops[i] = prep.last_crop();
      }
    } catch (...) {
      errors[t] = std::current_exception();  // bugs, out of memory: not a bad file
    }
  };
  if (threads == 1) {
    work(0);
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto& th : pool) th.join();
  }
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }

  ShardBatch b;
  b.images.reserve(slots.size());
  for (int64_t i = 0; i < n; ++i) {
    const std::string& f = plan.files[range.begin + i];
    if (!ok[i]) {
      b.bad.push_back({f, reasons[i]});
      continue;
    }
    if (b.count == 0) b.first_crop = crops[i];
    const uint8_t* img = slots.data() + i * img_bytes;
    b.images.insert(b.images.end(), img, img + img_bytes);
    if (plan.label_dims > 0) {
      const int64_t* row = plan.labels.data() + (range.begin + i) * plan.label_dims;
      b.labels.insert(b.labels.end(), row, row + plan.label_dims);
    }
    b.files.push_back(f);
    for (size_t p = 0; p < img_bytes; p += 3) {
      for (int c = 0; c < 3; ++c) {
        const uint64_t v = img[p + c];
        b.sum[c] += v;
        b.sum_sq[c] += v * v;
      }
    }
    ++b.count;
  }
  return b;
}

}  // namespace gan::dataio
