#!/usr/bin/python3
"""Plots a run's metrics.jsonl (losses, discriminator outputs, step time) and eval.jsonl as PNG;
for BEGAN also began.png with the global k_t and M_global curves."""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_jsonl(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(run):
    run = Path(run)
    rows = read_jsonl(run / "metrics.jsonl")
    if not rows:
        sys.exit(f"plot_metrics: {run}/metrics.jsonl is empty or missing")
    steps = [r["step"] for r in rows]
    skip = {"step", "epoch", "images_seen", "wall_s", "images_per_s"}
    times = [k for k in rows[-1] if k.endswith("_ms")]
    began = [k for k in ("k_t", "m_global") if k in rows[-1]]
    skip |= set(began) | {"d_steps"}
    losses = [k for k in rows[-1] if k not in skip and k not in times]

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for k in losses:
        axes[0].plot(steps, [r.get(k) for r in rows], label=k)
    axes[0].set(title="losses and D outputs (mean over ranks)", xlabel="step")
    axes[0].legend()
    for k in times:
        axes[1].plot(steps, [r.get(k) for r in rows], label=k)
    axes[1].set(title="time per step, ms", xlabel="step")
    axes[1].legend()
    ev = read_jsonl(run / "eval.jsonl")
    if ev:
        for k in ("histogram_l1", "moment_rmse"):
            axes[2].plot([e["step"] for e in ev], [e[k] for e in ev], marker="o", label=k)
        axes[2].set(title="distance to real images (lower is better)", xlabel="step")
        axes[2].legend()
    fig.tight_layout()
    fig.savefig(run / "losses.png", dpi=100)
    print(f"plot_metrics: wrote {run / 'losses.png'}")
    if began:
        fig, axes = plt.subplots(1, len(began), figsize=(5 * len(began), 3.5), squeeze=False)
        for ax, k in zip(axes[0], began):
            ax.plot(steps, [r[k] for r in rows])
            ax.set(title=f"BEGAN {k} (global, identical on every rank)", xlabel="step")
        fig.tight_layout()
        fig.savefig(run / "began.png", dpi=100)
        print(f"plot_metrics: wrote {run / 'began.png'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/demo")
