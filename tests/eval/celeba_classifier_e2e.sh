#!/bin/bash
# gan_eval train-classifier on attribute data made by gan_prep celeba from a CelebA-like
# folder: one sigmoid per attribute, held-out mean attribute accuracy above the majority
# baseline computed independently from the attribute and partition lists, and the trained
# network then serves as gan_eval's feature network.
# usage: celeba_classifier_e2e.sh GAN_PREP GAN_EVAL GAN_DIST WORK_DIR
set -euo pipefail
prep=$1 eval_bin=$2 dist=$3 work=$4
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
export OPENBLAS_NUM_THREADS=1
rm -rf "$work" && mkdir -p "$work"
$py "$here/gen_attribute_faces.py" "$work/celeba" 1500
for split in train test; do
  "$prep" celeba --src "$work/celeba/img_align_celeba" --attr "$work/celeba/list_attr_celeba.txt" \
    --partition "$work/celeba/list_eval_partition.txt" --split $split --crop full --size 32 \
    --out "$work/$split" > "$work/prep-$split.log" 2>&1 || { cat "$work/prep-$split.log"; exit 1; }
done
"$eval_bin" train-classifier --data "$work/train" --test-data "$work/test" --epochs 6 \
  --batch-size 64 --out "$work/attr-classifier.pt" > "$work/train.log" 2>&1 ||
  { cat "$work/train.log"; exit 1; }
cat "$work/attr-classifier.pt.json"

$py - "$work" <<'PY'
import json, sys
work = sys.argv[1]
r = json.load(open(work + "/attr-classifier.pt.json"))
lines = open(work + "/celeba/list_attr_celeba.txt").read().split("\n")
names = lines[1].split()
rows = {l.split()[0]: [int(v) > 0 for v in l.split()[1:]] for l in lines[2:] if l.strip()}
part = dict(l.split() for l in open(work + "/celeba/list_eval_partition.txt") if l.strip())
train = [rows[f] for f in sorted(rows) if part[f] == "0"]
test = [rows[f] for f in sorted(rows) if part[f] == "2"]
k = len(names)
majority = [2 * sum(r_[a] for r_ in train) >= len(train) for a in range(k)]
baseline = sum(sum(r_[a] == majority[a] for r_ in test) / len(test) for a in range(k)) / k
# The stronger baseline: each attribute's majority value in the held-out set itself.
oracle = sum(max(p, 1 - p) for p in (sum(r_[a] for r_ in test) / len(test) for a in range(k))) / k
print("held-out mean attribute accuracy %.4f; majority baseline %.4f (held-out majority %.4f)"
      % (r["test_accuracy"], baseline, oracle))
assert r["multi_label"] is True, r
assert r["train_images"] == len(train) and r["test_images"] == len(test), r
assert sorted(r["attribute_accuracy"]) == sorted(names), r["attribute_accuracy"]
assert abs(r["majority_baseline"] - baseline) < 1e-9, (r["majority_baseline"], baseline)
assert r["test_accuracy"] > max(baseline, oracle) + 0.1, "does not beat the majority baseline"
assert r["attribute_accuracy"]["Bright"] > 0.95, r["attribute_accuracy"]
PY

# The attribute classifier's penultimate layer as the feature space of a (briefly trained) GAN.
"$dist" --model dcgan --data "$work/train" --out "$work/run" --steps 4 --batch-size 16 \
  --g-width 16 --d-width 16 --z-dim 32 --sample-every 0 > "$work/dist.log" 2>&1 ||
  { cat "$work/dist.log"; exit 1; }
"$eval_bin" --checkpoint "$work/run" --classifier "$work/attr-classifier.pt" --n 200 \
  --kid-subset-size 100 --out "$work/eval.json" > "$work/eval.log" 2>&1 ||
  { cat "$work/eval.log"; exit 1; }
$py - "$work/eval.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["features"]["kind"] == "classifier" and r["features"]["dim"] == 128, r
assert r["fd"] > 0 and r["kid"] > 0 and r["kid_std_error"] > 0, r
print("scored with the attribute classifier: fd %.4g, kid %.4g +- %.2g" %
      (r["fd"], r["kid"], r["kid_std_error"]))
PY
echo "ok"
