#!/usr/bin/python3
"""Baseline for the loader benchmark: a straightforward h5py reader that fetches each image of
a shuffled order one by one (images[i]) and converts it to float in [-1, 1]."""
import json
import sys
import time
from pathlib import Path

import h5py
import numpy as np

d = Path(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
manifest = json.loads((d / "manifest.json").read_text())
files = [h5py.File(d / s["name"], "r") for s in manifest["shards"]]
index = [(f, i) for f in files for i in range(f["images"].shape[0])]
order = np.random.default_rng(1).permutation(len(index))[:limit]
t0 = time.perf_counter()
acc = 0.0
for k in order:
    f, i = index[k]
    x = f["images"][i].astype(np.float32) / 127.5 - 1.0
    acc += float(x[0, 0, 0])
secs = time.perf_counter() - t0
print(json.dumps({"images": len(order), "seconds": round(secs, 3), "images_per_s": round(len(order) / secs)}))
