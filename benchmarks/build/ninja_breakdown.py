#!/usr/bin/python3
"""Where a from-scratch build spends its time, read off Ninja's own log (BUILD/.ninja_log).

    benchmarks/build/ninja_breakdown.py --run NAME=BUILD_OR_LOG [--run NAME=...] --out DIR

For each run: wall time (first start to last end), the compile seconds summed over every step,
the seconds per target (steps grouped by their CMake target folder) and the slowest steps.
Writes DIR/targets.csv (run, target, steps, seconds), DIR/steps.csv (run, step, seconds) and,
with two or more runs, DIR/targets.png (the largest targets side by side). A step's time is
wall time while other steps ran beside it (2 cores: up to 2 at once), as Ninja records it.
Only the last build in a log counts (Ninja appends; its clock restarts at each build).
"""
import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path


def read_log(path):
    """Steps of the last build in a .ninja_log (v5): [(start_ms, end_ms, output)]."""
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.startswith("#"):
            continue
        start, end, _mtime, output, _hash = line.split("\t")
        rows.append((int(start), int(end), output))
    # A new build starts where the clock went back; keep only the last one.
    last = 0
    for i in range(1, len(rows)):
        if rows[i][0] < rows[i - 1][0] and rows[i][0] == 0:
            last = i
    rows = rows[last:]
    # One line per command: a step with several outputs appears once per output.
    seen, steps = set(), []
    for start, end, output in rows:
        if (start, end) in seen and not output.endswith((".o", ".gch")):
            continue
        seen.add((start, end))
        steps.append((start, end, output))
    return steps


def target_of(output):
    m = re.search(r"(?:^|/)CMakeFiles/([^/]+)\.dir/", output)
    if m:
        return m.group(1)
    return "link/other"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", required=True, help="NAME=BUILD_DIR or NAME=.ninja_log")
    ap.add_argument("--out", required=True)
    ap.add_argument("--top", type=int, default=12)
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    per_target = {}
    with open(out / "targets.csv", "w", newline="") as ft, open(out / "steps.csv", "w", newline="") as fs:
        wt, ws = csv.writer(ft), csv.writer(fs)
        wt.writerow(["run", "target", "steps", "seconds"])
        ws.writerow(["run", "step", "seconds"])
        for spec in a.run:
            name, path = spec.split("=", 1)
            p = Path(path)
            log = p / ".ninja_log" if p.is_dir() else p
            steps = read_log(log)
            wall = (max(e for _, e, _ in steps) - min(s for s, _, _ in steps)) / 1000
            compile_s = sum((e - s) / 1000 for s, e, o in steps if o.endswith((".o", ".gch")))
            n_compile = sum(1 for _, _, o in steps if o.endswith((".o", ".gch")))
            groups = defaultdict(lambda: [0, 0.0])
            for s, e, o in steps:
                g = groups[target_of(o) if o.endswith((".o", ".gch")) else "link/other"]
                g[0] += 1
                g[1] += (e - s) / 1000
            per_target[name] = groups
            for t, (n, sec) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
                wt.writerow([name, t, n, f"{sec:.1f}"])
            for s, e, o in sorted(steps, key=lambda r: r[0] - r[1]):
                ws.writerow([name, o, f"{(e - s) / 1000:.1f}"])
            print(f"{name}: wall {wall:.0f} s; {n_compile} compiles, {compile_s:.0f} s summed")
            for t, (n, sec) in sorted(groups.items(), key=lambda kv: -kv[1][1])[: a.top]:
                print(f"  {sec:7.1f} s  {n:3d} steps  {t}")
    if len(per_target) >= 2:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(per_target)
        first = per_target[names[0]]
        targets = [t for t, _ in sorted(first.items(), key=lambda kv: -kv[1][1])[: a.top]]
        fig, ax = plt.subplots(figsize=(9, 5))
        h = 0.8 / len(names)
        for i, n in enumerate(names):
            ax.barh([j + i * h for j in range(len(targets))],
                    [per_target[n].get(t, [0, 0.0])[1] for t in targets], height=h, label=n)
        ax.set_yticks([j + h * (len(names) - 1) / 2 for j in range(len(targets))])
        ax.set_yticklabels(targets)
        ax.invert_yaxis()
        ax.set_xlabel("seconds of compiling (summed over the target's steps)")
        ax.set_title("Build time by target, from scratch, 2 cores")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "targets.png", dpi=110)
        print(f"wrote {out}/targets.csv, steps.csv, targets.png")


if __name__ == "__main__":
    main()
