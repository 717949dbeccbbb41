#!/bin/bash
# scripts/gpu-check.sh --no-gpu-ok on this build: exit 0 (every check passed) and a
# gpu-check.json whose checks all passed, with a projection for each stated network.
# usage: gpu_check_dry_run.sh SOURCE_DIR BUILD_DIR WORK_DIR
set -euo pipefail
src=${1:?source dir} build=${2:?build dir} work=${3:?work dir}
rm -rf "$work" && mkdir -p "$work"
"$src/scripts/gpu-check.sh" --no-gpu-ok --system-deps --skip-build --build-dir "$build" \
  --python /usr/bin/python3 --jobs 2 --out "$work/out" --work "$work/scratch"
/usr/bin/python3 - "$work/out/gpu-check.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
checks = d["checks"]
want = {"env", "smoke", "data", "zoo", "dcgan64", "cpu_gpu", "resume", "speed", "projection"}
assert want <= set(checks), f"checks missing: {sorted(want - set(checks))}"
bad = {k: v.get("status") for k, v in checks.items() if v.get("status") != "pass"}
assert d["ok"] and not bad, f"not passed: {bad}"
nets = checks["projection"]["networks"]
assert set(nets) == {"nvlink", "ib"}, nets
for name, net in nets.items():
    eff = net["weak"]
    assert set(eff) == {"8", "64", "512"} and all(0 < e <= 1.0001 for e in eff.values()), (name, eff)
# The slower network cannot scale better than the faster one.
assert nets["ib"]["weak"]["512"] <= nets["nvlink"]["weak"]["512"], nets
# What a call brings back: at most 8 files (the script keeps to 6), gpu-check.json among them,
# none in a sub-folder; the projections' folders travel in extras.tar.gz.
import os, tarfile
out = os.path.dirname(sys.argv[1])
files = sorted(os.listdir(out))
assert len(files) <= 6 and all(os.path.isfile(os.path.join(out, f)) for f in files), files
names = tarfile.open(os.path.join(out, "extras.tar.gz")).getnames()
assert {"projection-nvlink/projection.csv", "projection-ib/report.md"} <= set(names), names
print("gpu_check_dry_run: ok:", {n: v["weak"] for n, v in nets.items()})
PY
