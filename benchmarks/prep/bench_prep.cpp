// Micro-benchmark of the gan_prep image path on one core: raw full-size TurboJPEG decode
// (the bound) against decode + crop + resize (gan_image), over a folder of JPEGs.
// One invocation = one round; run_bench.sh interleaves rounds with the PIL recipe.
//
//   bench_prep DIR [--round N] [--passes P] [--crop 128] [--size 64] [--filter area]
// Prints CSV rows: round,variant,images,seconds,images_per_s
#include <turbojpeg.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "dataio/image_prep.h"
#include "dataio/image_scan.h"

using namespace gan::dataio;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string dir;
  int round = 0;
  int passes = 2;
  std::string crop = "128";
  int size = 64;
  std::string filter = "area";
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_prep DIR [--round N] [--passes P] [--crop C] [--size S] "
               "[--filter area|bilinear|lanczos]\n");
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (k == "--round") {
      a.round = std::atoi(val().c_str());
    } else if (k == "--passes") {
      a.passes = std::atoi(val().c_str());
    } else if (k == "--crop") {
      a.crop = val();
    } else if (k == "--size") {
      a.size = std::atoi(val().c_str());
    } else if (k == "--filter") {
      a.filter = val();
    } else if (!k.empty() && k[0] != '-' && a.dir.empty()) {
      a.dir = k;
    } else {
      usage();
    }
  }
  if (a.dir.empty() || a.passes <= 0) usage();
  return a;
}

void report(const Args& a, const char* variant, size_t images, double secs) {
  std::printf("%d,%s,%zu,%.6f,%.1f\n", a.round, variant, images, secs, images / secs);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  const ScanResult scan = scan_image_folder(a.dir);
  std::vector<std::string> paths;
  std::vector<std::vector<uint8_t>> bytes;
  for (const std::string& f : scan.files) {
    paths.push_back(a.dir + "/" + f);
    bytes.push_back(read_image_file(paths.back()));
  }
  if (paths.empty()) {
    std::fprintf(stderr, "no images in %s\n", a.dir.c_str());
    return 3;
  }
  PrepRecipe recipe;
  if (!parse_crop_spec(a.crop, &recipe.crop) || !parse_resize_filter(a.filter, &recipe.filter)) {
    usage();
  }
  recipe.size = a.size;

  tjhandle tj = tjInitDecompress();
  std::vector<uint8_t> full;
  uint64_t checksum = 0;  // keeps the work observable
  const size_t n = paths.size() * a.passes;

  // (a) the bound: full-size TurboJPEG decode to RGB from memory, nothing else.
  auto t0 = Clock::now();
  for (int p = 0; p < a.passes; ++p) {
    for (const auto& b : bytes) {
      int w, h, ss, cs;
      if (tjDecompressHeader3(tj, b.data(), b.size(), &w, &h, &ss, &cs) != 0) return 3;
      full.resize(static_cast<size_t>(w) * h * 3);
      if (tjDecompress2(tj, b.data(), b.size(), full.data(), w, 0, h, TJPF_RGB,
                        TJFLAG_STOPONWARNING) != 0) {
        return 3;
      }
      checksum += full[full.size() / 2];
    }
  }
  report(a, "turbojpeg_full_decode", n, std::chrono::duration<double>(Clock::now() - t0).count());

  // (b) gan_image: read file + decode (DCT-scaled) + crop + resize, and from memory.
  auto run_prep = [&](const char* name, bool from_file, bool dct) {
    PrepRecipe r = recipe;
    r.dct_scaling = dct;
    ImagePrep prep(r);
    std::vector<uint8_t> out(prep.output_bytes());
    std::string why;
    const auto s = Clock::now();
    for (int p = 0; p < a.passes; ++p) {
      for (size_t i = 0; i < paths.size(); ++i) {
        const bool ok = from_file ? prep.process_file(paths[i], out.data(), &why)
                                  : prep.process_bytes(bytes[i].data(), bytes[i].size(), paths[i],
                                                       out.data(), &why);
        if (!ok) {
          std::fprintf(stderr, "%s: %s\n", paths[i].c_str(), why.c_str());
          std::exit(3);
        }
        checksum += out[out.size() / 2];
      }
    }
    report(a, name, n, std::chrono::duration<double>(Clock::now() - s).count());
  };
  run_prep("gan_image_file", true, true);
  run_prep("gan_image_mem", false, true);
  run_prep("gan_image_file_nodct", true, false);
  tjDestroy(tj);
  std::fprintf(stderr, "checksum %llu\n", static_cast<unsigned long long>(checksum));
  return 0;
}
