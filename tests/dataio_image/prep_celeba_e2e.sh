#!/bin/bash
# End-to-end test of `gan_prep celeba`: exit codes, prep-report.json, same shard bytes for
# 1 and 3 threads and for 1 and 2 MPI ranks, resume after lost/corrupt shards, --split.
# usage: prep_celeba_e2e.sh GAN_PREP MPIEXEC GEN_CORPUS_PY
set -uo pipefail
prep=${1:?gan_prep binary}
mpiexec=${2:-mpirun}
gen=${3:?gen_corpus.py}
py=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
work=$(mktemp -d /tmp/gan_prep_e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
fails=0
check() {  # check "what" command...
  local what=$1
  shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; fails=$((fails + 1)); fi
}
expect_rc() {  # expect_rc N what command...
  local want=$1 what=$2
  shift 2
  "$@" > "$work/last.log" 2>&1
  local rc=$?
  if [ "$rc" = "$want" ]; then echo "ok   - $what (exit $rc)"; else
    echo "FAIL - $what: exit $rc, expected $want"; cat "$work/last.log"; fails=$((fails + 1)); fi
}
shas() { $py -c 'import json,sys; print(" ".join(s["sha256"] for s in json.load(open(sys.argv[1]+"/manifest.json"))["shards"]))' "$1"; }

src=$work/img_align_celeba
$py "$gen" "$src" 40 || { echo "FAIL - corpus generation"; exit 1; }
head -c 5000 "$src/000001.jpg" > "$src/000041.jpg"   # truncated
echo "not an image" > "$src/000042.jpg"              # text under a .jpg name
: > "$src/000043.jpg"                                # empty
mkfifo "$src/000044.jpg"                             # must not block
{ echo 44; echo "A0 A1 A2"; for i in $(seq 1 44); do printf '%06d.jpg %d 1 -1\n' "$i" $(( i % 2 ? 1 : -1 )); done; } > "$work/attr.txt"
for i in $(seq 1 44); do printf '%06d.jpg %d\n' "$i" $(( i <= 30 ? 0 : (i <= 36 ? 1 : 2) )); done > "$work/part.txt"

args=(celeba --src "$src" --attr "$work/attr.txt" --partition none --shard-size 16 --crop 128 --size 32)
expect_rc 3 "skips give exit 3" timeout 120 "$prep" "${args[@]}" --out "$work/o1" --threads 1
check "report lists the 4 bad files with reasons" $py - "$work/o1/prep-report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
bad = {b["path"]: b["reason"] for b in r["bad_files"]}
assert r["written"] == 40 and r["skipped"] == 4, r
assert "Premature end" in bad["000041.jpg"], bad
assert "text" in bad["000042.jpg"] and bad["000043.jpg"] == "empty file", bad
assert "FIFO" in bad["000044.jpg"], bad
PY
check "manifest: 40 images, 3 shards, labels [N,3]" $py - "$work/o1" <<'PY'
import json, sys, h5py
m = json.load(open(sys.argv[1] + "/manifest.json"))
assert m["total"] == 40 and len(m["shards"]) == 3 and m["image_shape"] == [32, 32, 3], m
f = h5py.File(sys.argv[1] + "/" + m["shards"][0]["name"])
assert f["images"].shape == (16, 32, 32, 3) and f["labels"].shape == (16, 3), f["images"].shape
assert list(f["labels"][1]) == [0, 1, 0], list(f["labels"][1])  # 000002: -1 1 -1
PY
expect_rc 0 "gan_prep verify" "$prep" verify "$work/o1"
expect_rc 0 "--allow-skips gives exit 0" "$prep" "${args[@]}" --out "$work/o1" --allow-skips

expect_rc 3 "3 threads" timeout 120 "$prep" "${args[@]}" --out "$work/o2" --threads 3
check "same shard bytes for 1 and 3 threads" [ "$(shas "$work/o1")" = "$(shas "$work/o2")" ]
expect_rc 3 "2 MPI ranks" timeout 120 "$mpiexec" -np 2 --oversubscribe --bind-to none \
  "$prep" "${args[@]}" --out "$work/o3" --threads 2
check "same shard bytes for 1 and 2 ranks" [ "$(shas "$work/o1")" = "$(shas "$work/o3")" ]
check "same manifest (stats included) for 1 and 2 ranks" cmp -s "$work/o1/manifest.json" "$work/o3/manifest.json"

# Ranks that disagree stop together before writing: rank 1 is given other arguments (as if it
# saw another copy of the folder or of a list on its node).
rank1() {  # rank1 ARGS...: gan_prep "${args[@]}" --out o4 on rank 0, ARGS on rank 1
  local theirs
  theirs=$(printf '%q ' "$@")
  timeout 120 "$mpiexec" -np 2 --oversubscribe --bind-to none bash -c \
    '[ "$OMPI_COMM_WORLD_RANK" = 1 ] && eval "set -- $0"; exec "$@"' "$theirs" \
    "$prep" "${args[@]}" --out "$work/o4"
}
same=(--partition none --shard-size 16 --crop 128 --size 32 --out "$work/o4")
mkdir -p "$work/fewer" && cp "$src"/0000[0-3]*.jpg "$work/fewer/"
expect_rc 4 "ranks that see other files" rank1 "$prep" celeba --src "$work/fewer" --attr "$work/attr.txt" "${same[@]}"
check "and say so" grep -q "rank 1 sees other files under .* than rank 0" "$work/last.log"
check "and write nothing" [ ! -e "$work/o4" ]
expect_rc 4 "ranks that find other lists" rank1 "$prep" celeba --src "$src" --attr none "${same[@]}"
check "and say which" grep -q "rank 1 sees lists: attr '', partition '', rank 0 lists: attr '$work/attr.txt'" "$work/last.log"
check "and write nothing" [ ! -e "$work/o4" ]
expect_rc 2 "one rank's missing list stops both" rank1 "$prep" celeba --src "$src" --attr "$work/nothing.txt" "${same[@]}"
check "naming the rank and the file" grep -q "rank 1: --attr $work/nothing.txt: no such file" "$work/last.log"
check "and writing nothing" [ ! -e "$work/o4" ]

# Resume: one shard lost, one corrupt, a stray temp file; the intact shard must be kept.
rm "$work/o2/shard-00001.h5"
head -c 1000 "$work/o1/shard-00002.h5" > "$work/o2/shard-00002.h5"
touch "$work/o2/shard-00003.h5.tmp"
# A rewrite goes through a new temporary file renamed over the old one: a new inode (the old
# file still exists when the new one is made), so no clock is needed to see it.
before=$(stat -c %i "$work/o2/shard-00000.h5")
expect_rc 3 "resume run" "$prep" "${args[@]}" --out "$work/o2" --threads 2
check "intact shard kept, not rewritten" [ "$before" = "$(stat -c %i "$work/o2/shard-00000.h5")" ]
check "resume says kept" grep -q "shard-00000.h5: kept (verified)" "$work/last.log"
check "resumed shards equal a fresh run" [ "$(shas "$work/o1")" = "$(shas "$work/o2")" ]
expect_rc 0 "verify after resume" "$prep" verify "$work/o2"

# A real SIGKILL in the middle of a run, then the same command again: must end exactly as
# a fresh run, keeping the shards finished before the kill.
big=$work/big
$py "$gen" "$big" 300 || { echo "FAIL - corpus generation"; exit 1; }
slow=(celeba --src "$big" --shard-size 10 --filter lanczos --no-dct-scaling --threads 1)
expect_rc 0 "fresh run, 30 shards" "$prep" "${slow[@]}" --out "$work/k1"
"$prep" "${slow[@]}" --out "$work/k2" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 1 3000); do
  [ "$(ls "$work/k2/.prep" 2>/dev/null | grep -c '^shard-.*json$')" -ge 3 ] && break
  sleep 0.01
done
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
done_before=$(ls "$work/k2/.prep" 2>/dev/null | grep -c '^shard-.*json$')
if [ "$done_before" -ge 30 ]; then echo "note - the run finished before the kill; resume not exercised"; fi
expect_rc 0 "re-run after SIGKILL ($done_before of 30 shards were done)" "$prep" "${slow[@]}" --out "$work/k2"
check "killed + resumed keeps finished shards" [ "$(grep -c 'kept (verified)' "$work/last.log")" -ge "$done_before" ]
check "killed + resumed equals fresh" cmp -s "$work/k1/manifest.json" "$work/k2/manifest.json"

expect_rc 2 "other arguments without --force refused" "$prep" "${args[@]}" --out "$work/o2" --filter lanczos
expect_rc 3 "--force replaces" "$prep" "${args[@]}" --out "$work/o2" --filter lanczos --force

expect_rc 0 "--split valid" "$prep" "${args[@]/#none/$work/part.txt}" --split valid --out "$work/o4"
check "valid split holds files 31..36" $py -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["total"]==6, m["total"]' "$work/o4/manifest.json"
expect_rc 2 "bad --crop is a usage error" "$prep" "${args[@]}" --out "$work/o5" --crop 12x
printf '2\nA B\n000001.jpg 1\n' > "$work/bad_attr.txt"
expect_rc 3 "malformed attr file is a data error" "$prep" celeba --src "$src" --attr "$work/bad_attr.txt" --out "$work/o6"
check "error names file and line" grep -q "bad_attr.txt:3: expected 2 values" "$work/last.log"

# The official CelebA layout: the lists are found next to the images without --attr or
# --partition; "none" leaves them out. --crop-box is --crop y,x,h,w.
cel=$work/celeba
mkdir -p "$cel/Img" "$cel/Anno" "$cel/Eval"
cp -r "$big" "$cel/Img/img_align_celeba"
{ echo 300; echo "A0 A1"; for i in $(seq 1 300); do printf '%06d.jpg %d -1\n' "$i" $(( i % 3 ? 1 : -1 )); done; } > "$cel/Anno/list_attr_celeba.txt"
for i in $(seq 1 300); do printf '%06d.jpg %d\n' "$i" $(( i <= 200 ? 0 : 1 )); done > "$cel/Eval/list_eval_partition.txt"
lay=(celeba --src "$cel/Img/img_align_celeba" --shard-size 100 --size 32)
expect_rc 0 "lists found in Anno/ and Eval/" "$prep" "${lay[@]}" --split train --out "$work/c1"
check "log names the lists it used" grep -q "labels: 2 attributes from $cel/Anno/list_attr_celeba.txt" "$work/last.log"
check "train split with labels from the found lists" $py - "$work/c1" <<'PY'
import json, sys, h5py
d = sys.argv[1]
m, r = json.load(open(d + "/manifest.json")), json.load(open(d + "/prep-report.json"))
assert m["total"] == 200 and r["other_split_files"] == 100, (m["total"], r["other_split_files"])
assert r["attr_file"].endswith("Anno/list_attr_celeba.txt"), r["attr_file"]
f = h5py.File(d + "/" + m["shards"][0]["name"])
assert f["labels"].shape == (100, 2) and list(f["labels"][2]) == [0, 0], list(f["labels"][2])
PY
expect_rc 0 "--attr none --partition none" "$prep" "${lay[@]}" --attr none --partition none --out "$work/c2"
check "no labels, all 300 files" $py -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["total"]==300 and not m.get("label_names"), m' "$work/c2/manifest.json"
expect_rc 0 "--crop-box" "$prep" "${lay[@]}" --crop-box 57,25,128,128 --out "$work/c3"
expect_rc 0 "--crop y,x,h,w" "$prep" "${lay[@]}" --crop 57,25,128,128 --out "$work/c4"
check "--crop-box gives the bytes of --crop y,x,h,w" [ "$(shas "$work/c3")" = "$(shas "$work/c4")" ]
expect_rc 2 "--crop with --crop-box is a usage error" "$prep" "${lay[@]}" --crop 108 --crop-box 1,1,64,64 --out "$work/c5"
expect_rc 2 "--attr naming no file is a usage error" "$prep" "${lay[@]}" --attr "$work/nope.txt" --out "$work/c5"
check "and says which" grep -q "nope.txt: no such file" "$work/last.log"
# --jpeg-tail scan: the same shards on clean files; a cut file is still refused.
expect_rc 0 "--jpeg-tail scan" "$prep" "${lay[@]}" --crop 57,25,128,128 --jpeg-tail scan --out "$work/c6"
check "--jpeg-tail scan gives the same bytes" [ "$(shas "$work/c4")" = "$(shas "$work/c6")" ]
expect_rc 2 "--split train --partition none is a usage error" "$prep" "${lay[@]}" --split train --partition none --out "$work/c5"
check "and says why" grep -q "split train needs list_eval_partition.txt" "$work/last.log"
f1=$cel/Img/img_align_celeba/000001.jpg
head -c $(( $(stat -c %s "$f1") * 95 / 100 )) "$f1" > "$cel/Img/img_align_celeba/000301.jpg"  # cut below the crop
expect_rc 3 "--jpeg-tail scan still refuses a file cut below the crop" "$prep" "${lay[@]}" --attr none --partition none --jpeg-tail scan --out "$work/c7"
check "cut file reported" $py -c 'import json, sys
bad = {b["path"]: b["reason"] for b in json.load(open(sys.argv[1]))["bad_files"]}
assert bad["000301.jpg"].startswith("corrupt JPEG: Premature end"), bad' "$work/c7/prep-report.json"
# A folder that is not CelebA, below one whose lists were found: a clear error naming them.
mkdir -p "$cel/Img/other" && cp "$f1" "$cel/Img/other/a.jpg" && cp "$f1" "$cel/Img/other/b.jpg"
expect_rc 3 "images missing from found lists" "$prep" celeba --src "$cel/Img/other" --out "$work/c8"
check "error names the lists and the way out" grep -q "are not in the CelebA lists used: .*--attr none" "$work/last.log"

echo "$fails failure(s)"
[ "$fails" = 0 ]
