#!/usr/bin/env python3
"""TorchScript files that gan_eval --features must refuse (exit 2 naming the file), written
into DIR: no metadata, metadata that is not JSON, metadata without feature_dim, a network
whose output is [N, D, 1, 1], one whose output width differs from its feature_dim, and a
file that is not TorchScript at all.

usage: make_bad_features.py DIR
"""
import json
import os
import sys

import torch

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


class Pool(torch.nn.Module):
    def __init__(self, flatten):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.flatten = flatten

    def forward(self, x):
        y = torch.nn.functional.adaptive_avg_pool2d(self.conv(x), 1)
        return y.flatten(1) if self.flatten else y


good = {"input_size": [32, 32], "channels": 3, "input_range": [-1, 1], "resize": "bilinear",
        "feature_dim": 8}


def save(name, flatten, meta):
    m = torch.jit.script(Pool(flatten))
    extra = {} if meta is None else {"gan_features.json": meta}
    torch.jit.save(m, os.path.join(out, name), _extra_files=extra)


save("no-metadata.pt", True, None)
save("not-json.pt", True, "{input_size: 32")
save("no-feature-dim.pt", True, json.dumps({k: v for k, v in good.items() if k != "feature_dim"}))
save("four-d-output.pt", False, json.dumps(good))
save("wrong-dim.pt", True, json.dumps(dict(good, feature_dim=10)))
save("good.pt", True, json.dumps(good))
with open(os.path.join(out, "not-torchscript.pt"), "w") as f:
    f.write("this is not a TorchScript archive\n")
