#!/usr/bin/env bash
# gan_prep on a disk that fills up (a small tmpfs as --out, at several fill levels): exit 6 with
# a message naming the file, the bytes needed and the bytes free; no temporary shard and no
# manifest left; every shard left is whole; and the same command on a larger disk (from a copy
# of the partial folder) completes: both jobs resume from their sidecars, keeping the shards
# already made. `gan_prep verify` passes on the result. Needs root (mount): exit 77.
# Usage: prep_disk_full.sh GAN_PREP GEN_CORPUS_PY WORKDIR
set -uo pipefail
prep=$1 gen=$2 work=$3
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
mounts=()
cleanup() { for m in "${mounts[@]}"; do umount "$m" 2>/dev/null; done; }
trap cleanup EXIT
probe=$work/probe
mkdir -p "$probe"
if ! mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
  echo "SKIP: cannot mount a tmpfs here (needs root)"; exit 77
fi
mounts+=("$probe")

fm=/usr/share/datasets/fashion-mnist
idx=(idx --shard-size 2000 --images "$fm/t10k-images-idx3-ubyte.gz" --labels "$fm/t10k-labels-idx1-ubyte.gz")
src=$work/img_align_celeba
/usr/bin/python3 "$gen" "$src" 40 >/dev/null || fail "corpus generation"
celeba=(celeba --src "$src" --attr none --partition none --shard-size 8 --crop 128 --size 64)

# The reference: each job on a disk with room.
"$prep" "${idx[@]}" --out "$work/ref-idx" >/dev/null || fail "reference idx prep"
"$prep" "${celeba[@]}" --out "$work/ref-celeba" >/dev/null || fail "reference celeba prep"
shard_kb() { du -k "$1"/shard-00000.h5 | cut -f1; }
shas() { /usr/bin/python3 -c 'import json,sys; print(" ".join(s["sha256"] for s in json.load(open(sys.argv[1]+"/manifest.json"))["shards"]))' "$1"; }

runs=0
for job in idx celeba; do
  if [ $job = idx ]; then args=("${idx[@]}"); else args=("${celeba[@]}"); fi
  kb=$(shard_kb "$work/ref-$job")
  for n in 1 2; do  # room for about one and two shards of five
    size_kb=$(( kb * n + kb / 2 + 16 ))
    mnt=$work/disk-$job-$n
    mkdir -p "$mnt"
    mount -t tmpfs -o size=${size_kb}k tmpfs "$mnt" || fail "mount ${size_kb}k"
    mounts+=("$mnt")
    "$prep" "${args[@]}" --out "$mnt/out" >"$work/$job-$n.log" 2>&1
    code=$?
    echo "--- $job, tmpfs ${size_kb} KB: exit $code: $(grep error "$work/$job-$n.log" | head -1)"
    [ "$code" = 6 ] || { cat "$work/$job-$n.log"; fail "exit $code, want 6 (disk full)"; }
    grep -q "cannot write .*bytes needed, [0-9]* bytes free" "$work/$job-$n.log" ||
      fail "the message does not name the file, the bytes needed and the bytes free"
    ls -a "$mnt/out" | grep -q '\.tmp' && fail "a temporary file was left: $(ls -a "$mnt/out")"
    [ -e "$mnt/out/manifest.json" ] && fail "a manifest was written for an incomplete folder"
    left=$(ls "$mnt/out" | grep -c '^shard-.*\.h5$')
    for s in "$mnt"/out/shard-*.h5; do
      [ -e "$s" ] || continue
      cmp -s "$s" "$work/ref-$job/$(basename "$s")" || fail "$(basename "$s") left on the full disk is not whole"
    done
    echo "    $left whole shard(s) left"
    cp -a "$mnt/out" "$work/again-$job-$n"
    umount "$mnt"
    "$prep" "${args[@]}" --out "$work/again-$job-$n" >"$work/again-$job-$n.log" 2>&1 ||
      { cat "$work/again-$job-$n.log"; fail "$job on a larger disk did not complete"; }
    if [ "$left" -gt 0 ]; then
      grep -q "shard-00000.h5: kept (verified)" "$work/again-$job-$n.log" ||
        { cat "$work/again-$job-$n.log"; fail "$job did not resume from its sidecars"; }
    fi
    "$prep" verify "$work/again-$job-$n" >/dev/null || fail "verify failed after completing"
    [ "$(shas "$work/again-$job-$n")" = "$(shas "$work/ref-$job")" ] ||
      fail "the completed $job shards differ from the reference"
    runs=$((runs + 1))
  done
done
echo "ok: $runs full-disk preps ended with exit 6, left only whole shards, and completed on a larger disk"
