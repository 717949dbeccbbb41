#!/bin/bash
# bench_overlap at 2 ranks on a small gradient: it runs, and its CSV holds the sixteen
# configurations with the bucket counts the caps imply. Figures are not judged (benchmarks
# measure; tests do not time).
# usage: bench_overlap_test.sh MPIEXEC BENCH_OVERLAP WORK_DIR
set -euo pipefail
mpiexec=${1:?mpiexec} bench=${2:?bench_overlap} work=${3:?work dir}
rm -rf "$work" && mkdir -p "$work"
# 2 MB in 8 parameters of 256 KB: caps of 1, 4, 8, 16 MB make 2, 1, 1, 1 buckets.
"$mpiexec" -np 2 --oversubscribe --bind-to none "$bench" "$work/overlap.csv" 2 8 0.5
/usr/bin/python3 - "$work/overlap.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
got = [(r["compute"], r["bucket_mb"], r["overlap"], int(r["buckets"])) for r in rows]
want = [(k, cap, o, b) for k in ("idle", "cpu") for cap, b in (("1", 2), ("4", 1), ("8", 1), ("16", 1))
        for o in ("off", "on")]
assert got == want, got
for r in rows:
    assert r["ranks"] == "2", r
    q1, med, q3 = float(r["step_q1_ms"]), float(r["step_ms"]), float(r["step_q3_ms"])
    assert 0 < q1 <= med <= q3, r
    assert float(r["backward_ms"]) > 0 and float(r["exposed_ms"]) >= 0, r
    if r["overlap"] == "off":
        assert float(r["exposed_cut"]) == 0 and float(r["step_cut"]) == 0, r
print(f"bench_overlap_test: ok ({len(rows)} rows)")
PY
