// All-reduce microbenchmark (usage: bench_allreduce [CSV] [OVERLAP_CSV] [MAX_MB]), 4 KB to 256 MB:
// raw MPI_Allreduce and raw MPI_Iallreduce+Wait against the Reducer's path (gradients as bucket
// views, non-blocking all-reduce per bucket, average), interleaved size by size so all see the same
// machine. Prints and writes CSV with algbw and busbw as nccl-tests defines them: algbw = bytes /
// time, busbw = algbw * 2 (n - 1) / n.
#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "dist/mpi_communicator.h"
#include "dist/reducer.h"
#include "dist/world.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// A module whose parameters total `floats` elements, in layers of at most 1M floats, so the
// reducer has realistic bucket boundaries to deal with.
struct Blob : torch::nn::Module {
  explicit Blob(int64_t floats) {
    int64_t i = 0;
    while (floats > 0) {
      int64_t n = std::min<int64_t>(floats, 1 << 20);
      auto p = register_parameter("p" + std::to_string(i++), torch::zeros({n}));
      p.mutable_grad() = torch::ones({n});
      floats -= n;
    }
  }
};

// Does an all-reduce progress while the rank computes? For each size: the all-reduce alone,
// "compute" alone (about twice as long), and both together (launch, compute, wait) with the
// communicator's background progress off and on. hidden = the share of the all-reduce's time
// that running them together saves. Two kinds of compute: `cpu` (matrix products on the
// rank's own core) and `idle` (the rank sleeps, as its CPU does while a GPU computes).
void overlap_table(gan::dist::World& world, gan::dist::MpiCommunicator& comm,
                   const std::string& csv, int64_t max_bytes) {
  std::ofstream out;
  if (world.is_root()) {
    out.open(csv);
    out << "ranks,compute,bytes,comm_us,compute_us,together_progress_off_us,"
           "together_progress_on_us,hidden_off,hidden_on\n";
    std::printf("\n%8s %10s %10s %10s %10s %10s %9s %9s\n", "compute", "bytes", "comm us",
                "compute us", "off us", "on us", "hidden off", "hidden on");
  }
  torch::Tensor a = torch::randn({192, 192});
  auto timed = [&](const std::function<void()>& f) {
    world.barrier();
    auto t0 = std::chrono::steady_clock::now();
    f();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  for (std::string kind : {"cpu", "idle"}) {
    for (int64_t bytes = 1 << 20; bytes <= std::min<int64_t>(64LL << 20, max_bytes); bytes *= 4) {
      torch::Tensor buf = torch::ones({bytes / 4});
      auto comm_only = [&] { comm.allreduce_sum_async(buf)->wait(); };
      std::vector<double> c;
      for (int i = 0; i < 3; ++i) c.push_back(timed(comm_only));
      // Compute lasts about twice the all-reduce, the same on every rank.
      double target = world.allreduce_max(static_cast<int64_t>(2e6 * median(c))) * 1e-6;
      int64_t k = 1;
      if (kind == "cpu") {
        double per_mm = timed([&] {
                          for (int i = 0; i < 20; ++i) a = torch::mm(a, a).div_(a.norm());
                        }) /
                        20;
        k = world.allreduce_max(std::max<int64_t>(1, static_cast<int64_t>(target / per_mm)));
      }
      auto compute = [&] {
        if (kind == "idle")
          std::this_thread::sleep_for(std::chrono::duration<double>(target));
        else
          for (int64_t i = 0; i < k; ++i) a = torch::mm(a, a).div_(a.norm());
      };
      auto together = [&](bool progress) {
        return [&, progress] {
          comm.background_progress(progress);
          auto work = comm.allreduce_sum_async(buf);
          compute();
          comm.background_progress(false);
          work->wait();
        };
      };
      std::vector<std::function<void()>> runs{comm_only, compute, together(false), together(true)};
      std::vector<std::vector<double>> t(4);
      for (int it = 0; it < 7; ++it)
        for (int j = 0; j < 4; ++j) {
          int r = (it + j) % 4;
          t[r].push_back(timed(runs[r]));
        }
      std::vector<double> m{median(t[0]), median(t[1]), median(t[2]), median(t[3])};
      MPI_Allreduce(MPI_IN_PLACE, m.data(), 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (world.is_root()) {
        double off = (m[0] + m[1] - m[2]) / m[0], on = (m[0] + m[1] - m[3]) / m[0];
        out << world.size() << "," << kind << "," << bytes << "," << m[0] * 1e6 << "," << m[1] * 1e6
            << "," << m[2] * 1e6 << "," << m[3] * 1e6 << "," << off << "," << on << "\n";
        std::printf("%8s %10lld %10.0f %10.0f %10.0f %10.0f %9.2f %9.2f\n", kind.c_str(),
                    static_cast<long long>(bytes), m[0] * 1e6, m[1] * 1e6, m[2] * 1e6, m[3] * 1e6,
                    off, on);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  gan::dist::World world(&argc, &argv);
  std::string csv = argc > 1 ? argv[1] : "allreduce.csv";
  std::string overlap_csv = argc > 2 ? argv[2] : "allreduce_overlap.csv";
  // Largest message, MB (default 256): slow links (benchmarks/netem/) stop earlier.
  const int64_t max_bytes = (argc > 3 ? std::stoll(argv[3]) : 256) << 20;
  const int n = world.size();
  gan::dist::MpiCommunicator comm(world);
  std::ofstream out;
  if (world.is_root()) {
    out.open(csv);
    out << "ranks,bytes,path,time_us,algbw_GBps,busbw_GBps\n";
    std::printf("%10s %12s %12s %12s %10s %10s %10s %8s\n", "bytes", "raw us", "reducer us",
                "iallred us", "raw bw", "red bw", "ired bw", "red/raw");
  }
  for (int64_t bytes = 4096; bytes <= max_bytes; bytes *= 4) {
    const int64_t floats = bytes / 4;
    const int iters = bytes <= (1 << 20) ? 50 : bytes <= (16 << 20) ? 10 : 4;
    // Each path has its own buffer and the order rotates every iteration, so cache warmth
    // and drift fall on all three alike.
    torch::Tensor raw = torch::ones({floats});
    torch::Tensor nb = torch::ones({floats});
    Blob blob(floats);
    // As DataParallel uses it: the loss was scaled by 1 / ranks, the reducer sums.
    gan::dist::ReducerOptions opts;
    opts.overlap = false;
    opts.average = false;
    gan::dist::Reducer reducer(blob, comm, opts);
    auto run_raw = [&] {
      MPI_Allreduce(MPI_IN_PLACE, raw.data_ptr(), static_cast<int>(floats), MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
    };
    auto run_reducer = [&] { reducer.finish(); };
    auto run_nb = [&] {
      MPI_Request req;
      MPI_Iallreduce(MPI_IN_PLACE, nb.data_ptr(), static_cast<int>(floats), MPI_FLOAT, MPI_SUM,
                     MPI_COMM_WORLD, &req);
      MPI_Wait(&req, MPI_STATUS_IGNORE);
    };
    std::vector<std::function<void()>> paths{run_raw, run_reducer, run_nb};
    std::vector<std::vector<double>> times(3);
    for (int it = 0; it < iters + 1; ++it) {  // the first round warms up
      for (int k = 0; k < 3; ++k) {
        int path = (it + k) % 3;
        world.barrier();
        auto t0 = std::chrono::steady_clock::now();
        paths[path]();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (it > 0) times[path].push_back(s);
      }
    }
    std::vector<double> m{median(times[0]), median(times[1]), median(times[2])};
    // The slowest rank defines a collective's time.
    MPI_Allreduce(MPI_IN_PLACE, m.data(), 3, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (world.is_root()) {
      double factor = n > 1 ? 2.0 * (n - 1) / n : 1.0;
      const char* names[] = {"mpi_allreduce", "reducer", "mpi_iallreduce"};
      double bus[3];
      for (int k = 0; k < 3; ++k) {
        double alg = bytes / m[k] / 1e9;
        bus[k] = alg * factor;
        out << n << "," << bytes << "," << names[k] << "," << m[k] * 1e6 << "," << alg << ","
            << bus[k] << "\n";
      }
      std::printf("%10lld %12.1f %12.1f %12.1f %10.2f %10.2f %10.2f %8.2f\n",
                  static_cast<long long>(bytes), m[0] * 1e6, m[1] * 1e6, m[2] * 1e6, bus[0], bus[1],
                  bus[2], bus[1] / bus[0]);
    }
  }
  if (n > 1) overlap_table(world, comm, overlap_csv, max_bytes);
  return 0;
}
