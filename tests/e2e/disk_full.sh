#!/usr/bin/env bash
# A disk that fills up during training (a small tmpfs as --out, at several fill levels): the
# checkpoint that does not fit ends the job with exit 6 and a message naming the path, the
# bytes needed and the bytes free; no temporary folder is left, the older checkpoints are
# intact, and --resume (from a copy on a larger disk) continues from the newest good one to
# the digest of an uninterrupted run. Needs root (mount); exits 77 (skipped) otherwise.
# Usage: disk_full.sh GAN_DIST DATA WORKDIR
set -uo pipefail
gan_dist=$1 data=$2 work=$3
export OPENBLAS_NUM_THREADS=1
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
mounts=()
cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done; }
trap cleanup EXIT

args=(--data "$data" --batch-size 16 --g-width 16 --d-width 16 --steps 60 --checkpoint-every 10
      --keep-checkpoints 3 --sample-every 0 --log-every 5 --replica-check-every 0)
"$gan_dist" "${args[@]}" --out "$work/reference" >"$work/reference.log" 2>&1 ||
  { cat "$work/reference.log"; fail "the reference run failed"; }
want=$(grep -o '"digest_g": *"[0-9a-f]*"' "$work/reference/final.json")
ckpt_kb=$(du -sk "$(ls -d "$work"/reference/checkpoints/step-* | tail -1)" | cut -f1)
echo "reference: $want; one checkpoint takes ${ckpt_kb} KB"

probe=$work/probe
mkdir -p "$probe"
if ! mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root)"; exit 77
fi
mounts+=("$probe")

full_runs=0
# Room for the logs and about 1, 2 and 3 checkpoints (a fourth is written before the oldest
# of three is pruned, so none of these can finish).
for n in 1 2 3; do
  size_kb=$(( ckpt_kb * n + ckpt_kb / 2 + 64 ))
  mnt=$work/disk-$n
  mkdir -p "$mnt"
  mount -t tmpfs -o size=${size_kb}k tmpfs "$mnt" || fail "mount ${size_kb}k"
  mounts+=("$mnt")
  "$gan_dist" "${args[@]}" --out "$mnt/run" >"$work/full-$n.log" 2>&1
  code=$?
  echo "--- tmpfs ${size_kb} KB: exit $code"
  grep -v '^\[' "$work/full-$n.log" | grep -v 'LOG ERROR' | head -5
  [ "$code" = 6 ] || fail "exit $code with ${size_kb} KB, want 6 (disk full)"
  grep -q "cannot write .*bytes needed, [0-9]* bytes free" "$work/full-$n.log" ||
    fail "the message does not name the path, the bytes needed and the bytes free"
  ls -a "$mnt/run/checkpoints" | grep -q '^\.tmp' && fail "a temporary checkpoint folder was left"
  good=$(ls "$mnt/run/checkpoints" | grep -c '^step-')
  echo "    $good complete checkpoint(s) left"
  # Every checkpoint left is whole, and the run resumes from the newest on a larger disk.
  cp -a "$mnt/run" "$work/resumed-$n"
  umount "$mnt"
  "$gan_dist" "${args[@]}" --out "$work/resumed-$n" --resume >"$work/resume-$n.log" 2>&1 ||
    { tail -5 "$work/resume-$n.log"; fail "resume after the full disk failed"; }
  grep -q "skipped corrupt checkpoint" "$work/resume-$n.log" && fail "a checkpoint left was corrupt"
  got=$(grep -o '"digest_g": *"[0-9a-f]*"' "$work/resumed-$n/final.json")
  [ "$got" = "$want" ] || fail "resumed run ends at $got, the uninterrupted one at $want"
  full_runs=$((full_runs + 1))
done
echo "ok: $full_runs fill levels ended with exit 6, lost nothing, and resumed to the same digest"
