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

# The logs and the sample grids fill the disk (no checkpoint before the end): the row or grid
# that does not fit ends the run at once with exit 6, naming the file; metrics.jsonl,
# metrics.csv and eval.jsonl hold whole lines only, and no temporary file is left.
for what in metrics samples; do
  mnt=$work/disk-$what
  mkdir -p "$mnt"
  mount -t tmpfs -o size=96k tmpfs "$mnt" || fail "mount 96k"
  mounts+=("$mnt")
  # Whichever writer meets the full disk first ends the run: a log row, its TensorBoard record.
  tb='|tb/events\.out\.tfevents\.[^:]*'
  if [ $what = metrics ]; then every=(--log-every 1 --sample-every 0); want="(metrics\\.(jsonl|csv)$tb)"
  else every=(--log-every 50 --sample-every 2); want="(samples/step-[0-9]*\\.png|eval\\.jsonl$tb)"; fi
  "$gan_dist" --data "$data" --batch-size 16 --g-width 16 --d-width 16 --steps 100000 \
    --checkpoint-every 0 --replica-check-every 0 "${every[@]}" --out "$mnt/run" \
    >"$work/$what.log" 2>&1
  code=$?
  echo "--- $what fill a 96 KB tmpfs: exit $code: $(grep -o 'error: .*' "$work/$what.log" | head -1)"
  [ "$code" = 6 ] || { tail -5 "$work/$what.log"; fail "exit $code when $what fill the disk, want 6"; }
  grep -Eq "cannot write $mnt/run/$want.* bytes needed, [0-9]* bytes free" "$work/$what.log" ||
    fail "the message does not name the $what file, the bytes needed and the bytes free"
  [ -e "$mnt/run/final.json" ] && fail "the run went on to the end"
  find "$mnt/run" -name '*.tmp*' | grep -q . && fail "a temporary file was left"
  /usr/bin/python3 - "$mnt/run" <<'PY' || fail "a torn line in the logs"
import csv, json, os, sys
run = sys.argv[1]
for name in ("metrics.jsonl", "eval.jsonl"):
    path = os.path.join(run, name)
    if os.path.exists(path):
        text = open(path).read()
        assert text == "" or text.endswith("\n"), name + " ends mid-line"
        rows = [json.loads(line) for line in text.splitlines()]
        print(f"    {name}: {len(rows)} whole rows")
path = os.path.join(run, "metrics.csv")
if os.path.exists(path):
    text = open(path).read()
    assert text == "" or text.endswith("\n"), "metrics.csv ends mid-line"
    rows = list(csv.reader(text.splitlines()))
    assert all(len(r) == len(rows[0]) for r in rows), "a metrics.csv row is cut"
    print(f"    metrics.csv: {len(rows) - 1} whole rows")
PY
  umount "$mnt"
done
echo "ok: full logs and full sample folders end the run with exit 6 and no torn line"
