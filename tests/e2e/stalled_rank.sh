#!/usr/bin/env bash
# A rank that stops making progress without dying (SIGSTOP, as a hung node or a stuck GPU
# would) ends the whole job with exit 4, and the message names the collective and the step.
# Everything waited for is an event: rank 1's pid in its log, training progress in
# metrics.jsonl, the job's exit. Usage: stalled_rank.sh MPIEXEC GAN_DIST DATA WORKDIR
set -uo pipefail
mpiexec=$1 gan_dist=$2 data=$3 work=$4
out=$work/stalled-run
rm -rf "$work" && mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1

"$mpiexec" -np 2 --oversubscribe --bind-to none "$gan_dist" --data "$data" --out "$out" \
  --steps 100000000 --batch-size 16 --g-width 8 --d-width 8 --sample-every 0 --log-every 1 \
  --replica-check-every 0 --collective-timeout 5 >"$work/job.log" 2>&1 &
job=$!
pid1=""
cleanup() { [ -n "$pid1" ] && kill -CONT "$pid1" 2>/dev/null; kill -KILL "$job" 2>/dev/null; true; }
trap cleanup EXIT

# Rank 1 has started (its log names its pid) and training has taken a few steps.
until [ -n "$pid1" ] && [ "$(wc -l <"$out/metrics.jsonl" 2>/dev/null || echo 0)" -ge 5 ]; do
  kill -0 "$job" 2>/dev/null || { echo "FAIL: the job ended before the rank was stopped"; cat "$work/job.log"; exit 1; }
  pid1=$(grep -o 'pid [0-9]*' "$out/log/rank-1.log" 2>/dev/null | head -1 | cut -d' ' -f2)
  sleep 0.2
done
step=$(tail -1 "$out/metrics.jsonl" | grep -o '"step":[0-9]*' | cut -d: -f2)
kill -STOP "$pid1"
stopped=$(date +%s.%N)
echo "stopped rank 1 (pid $pid1) after step $step"

wait "$job"
code=$?
elapsed=$(awk -v a="$(date +%s.%N)" -v b="$stopped" 'BEGIN { printf "%.1f", a - b }')
echo "job ended with exit $code, ${elapsed} s after the rank stopped (--collective-timeout 5)"
grep -v '^\[' "$work/job.log" | head -20
if [ "$code" != 4 ]; then echo "FAIL: exit $code, want 4"; exit 1; fi
grep -q 'collective timeout: .* at step [0-9]* did not complete within' "$work/job.log" ||
  { echo "FAIL: the message does not name the collective and the step"; exit 1; }
grep -q 'collective timeout' "$out/log/rank-0.log" ||
  { echo "FAIL: rank 0's log does not say why it ended"; exit 1; }
echo "ok"
