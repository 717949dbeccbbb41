// `gan_launch status RUN_DIR`: what a run is doing, from squeue/scontrol when a job id is
// recorded and from the files gan_dist and the job script leave in the run folder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace gan::launch {

// Reads one output folder of gan_dist (the run folder, or one task folder of a sweep):
// {"dir", "step", "checkpoint", "checkpoint_step", "restarts", "script_state", "final"}.
nlohmann::json read_out_dir(const std::string& dir);

// Job state per task as Slurm reports it ({"<task or "">": {"state", "requeues"}}); empty
// when Slurm no longer knows the job.
nlohmann::json query_job(const std::string& job_id);

// The whole report for a run folder.
nlohmann::json collect_status(const std::string& run_dir);

std::string format_status(const nlohmann::json& status);

int run_status(const std::string& run_dir, bool as_json);

}  // namespace gan::launch
