// The all-reduce curve of a job's own communicator: time per message size, algbw and busbw as
// nccl-tests define them (algbw = bytes / time, busbw = algbw x 2(n-1)/n), on the device the
// gradients live on (NCCL for CUDA tensors, Open MPI for CPU ones). gan_dist --comm-curve
// measures it at the end of a run, at powers of 4 from 4 KB and at the exact sizes the
// reducers sent, so that a cost model (benchmarks/scaling/report.py) needs no assumed
// bandwidth.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "dist/world.h"

namespace gan::dist {

struct CurvePoint {
  int64_t bytes = 0;
  double seconds = 0;  // median over repetitions, the slowest rank's
  double algbw_gbps = 0, busbw_gbps = 0;
};

// Sizes: 4 KB, 16 KB, ... up to the largest of `exact`, plus every size in `exact`, rounded
// to whole fp32 elements. Every rank must call it with the same sizes.
std::vector<int64_t> curve_sizes(const std::vector<int64_t>& exact);
std::vector<CurvePoint> allreduce_curve(Communicator& comm, World& world,
                                        const std::vector<int64_t>& sizes,
                                        const torch::Device& device);
// CSV with the header ranks,bytes,time_us,algbw_GBps,busbw_GBps.
std::string curve_csv(const std::vector<CurvePoint>& curve, int ranks);

}  // namespace gan::dist
