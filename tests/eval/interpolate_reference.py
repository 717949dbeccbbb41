#!/usr/bin/env python3
"""The conversion gan_eval applies before a TorchScript feature network, written with
PyTorch's Python API: gray repeated to 3 channels, F.interpolate(bilinear,
align_corners=False) to H x W, then [-1, 1] mapped onto [lo, hi] or normalised with mean/std
of the image in [0, 1].

usage: interpolate_reference.py IN.npy OUT.npy H W range LO HI
       interpolate_reference.py IN.npy OUT.npy H W meanstd M1 M2 M3 S1 S2 S3
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

src, dst, h, w, kind = sys.argv[1:6]
v = [float(a) for a in sys.argv[6:]]
x = torch.from_numpy(np.load(src)).float()
if x.shape[1] == 1:
    x = x.repeat(1, 3, 1, 1)
x = F.interpolate(x, size=(int(h), int(w)), mode="bilinear", align_corners=False)
if kind == "range":
    lo, hi = v
    x = lo + (x + 1) / 2 * (hi - lo)
else:
    mean = torch.tensor(v[:3]).view(1, 3, 1, 1)
    std = torch.tensor(v[3:]).view(1, 3, 1, 1)
    x = ((x + 1) / 2 - mean) / std
np.save(dst, x.numpy())
