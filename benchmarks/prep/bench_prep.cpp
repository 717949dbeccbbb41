// Micro-benchmark of the gan_prep image path on one core: raw full-size TurboJPEG decode
// (the bound) against decode + crop + resize (gan_image), over a folder of JPEGs.
// One invocation = one round; run_bench.sh interleaves rounds with the PIL recipe.
// Two more rows give floors for any libjpeg-turbo path at the same DCT scale: the Huffman
// decoding alone (coefficients discarded, no IDCT, no colour) of the whole entropy-coded
// data (what validating every file to its end costs), and of the rows down to the crop's
// last row only (the least any libjpeg-turbo decoder must do to produce the crop).
//
//   bench_prep DIR [--round N] [--passes P] [--crop 128] [--size 64] [--filter area]
// Prints CSV rows: round,variant,images,seconds,images_per_s
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>  // before jpeglib.h, which needs size_t and FILE
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
// clang-format off
#include <jpeglib.h>
#include <turbojpeg.h>
// clang-format on

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
  std::string only;  // run just this variant (for profiling)
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: bench_prep DIR [--round N] [--passes P] [--crop C] [--size S] "
               "[--filter area|bilinear|lanczos] [--only VARIANT]\n");
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
    } else if (k == "--only") {
      a.only = val();
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

// Entropy decoding only: jpeg_skip_scanlines over whole iMCU rows calls the Huffman decoder
// with a NULL block buffer. Decodes the scanlines [0, stop) at 1/denom scale, reconstructing
// only the last one; with to_eoi, also skips to the last scanline and reads up to EOI.
// Returns one byte of the last row so the work stays observable.
uint8_t entropy_pass(jpeg_decompress_struct* c, const std::vector<uint8_t>& b, int denom, int crop,
                     bool to_eoi) {
  jpeg_mem_src(c, b.data(), static_cast<unsigned long>(b.size()));
  jpeg_read_header(c, TRUE);
  c->scale_num = 1;
  c->scale_denom = static_cast<unsigned>(denom);
  c->out_color_space = JCS_RGB;
  c->dct_method = JDCT_ISLOW;
  jpeg_start_decompress(c);
  const JDIMENSION h = c->output_height;
  // Last scanline of the centred crop at this scale (the decoder reaches it either way).
  const int y1 = (static_cast<int>(c->image_height) - crop) / 2 + crop;
  const JDIMENSION stop = to_eoi ? h : std::min<JDIMENSION>(h, (y1 + denom - 1) / denom);
  std::vector<uint8_t> row(static_cast<size_t>(c->output_width) * 3);
  JSAMPROW r = row.data();
  if (stop > 1) jpeg_skip_scanlines(c, stop - 1);
  jpeg_read_scanlines(c, &r, 1);
  if (to_eoi) {
    jpeg_finish_decompress(c);
  } else {
    jpeg_abort_decompress(c);
  }
  return row[row.size() / 2];
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

  auto wanted = [&](const char* name) { return a.only.empty() || a.only == name; };

  // (a) the bound: full-size TurboJPEG decode to RGB from memory, nothing else.
  auto t0 = Clock::now();
  for (int p = 0; p < a.passes && wanted("turbojpeg_full_decode"); ++p) {
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
  if (wanted("turbojpeg_full_decode"))
    report(a, "turbojpeg_full_decode", n, std::chrono::duration<double>(Clock::now() - t0).count());

  // (b) gan_image: read file + decode (DCT-scaled) + crop + resize, and from memory.
  auto run_prep = [&](const char* name, bool from_file, bool dct, bool decode_tail = true) {
    if (!wanted(name)) return;
    PrepRecipe r = recipe;
    r.dct_scaling = dct;
    r.decode_jpeg_tail = decode_tail;
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
  run_prep("gan_image_file_tail_scan", true, true, false);  // --jpeg-tail scan

  // (c) floors at the DCT scale gan_image picks for a centred crop (1/2 for 128 -> 64).
  const int crop = std::atoi(a.crop.c_str());
  if (crop > 0 && crop % a.size == 0) {
    int denom = 1;
    while (denom < 8 && crop / (denom * 2) >= a.size) denom *= 2;
    jpeg_decompress_struct c;
    jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);  // the corpus is clean; an error exits the benchmark
    jpeg_create_decompress(&c);
    auto run_floor = [&](const char* name, bool to_eoi) {
      if (!wanted(name)) return;
      const auto s = Clock::now();
      for (int p = 0; p < a.passes; ++p) {
        for (const auto& b : bytes) checksum += entropy_pass(&c, b, denom, crop, to_eoi);
      }
      report(a, name, n, std::chrono::duration<double>(Clock::now() - s).count());
    };
    run_floor("floor_entropy_whole_file", true);
    run_floor("floor_entropy_to_crop_end", false);
    jpeg_destroy_decompress(&c);
  }
  tjDestroy(tj);
  std::fprintf(stderr, "checksum %llu\n", static_cast<unsigned long long>(checksum));
  return 0;
}
