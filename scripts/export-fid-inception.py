#!/usr/bin/env python3
"""Writes a TorchScript feature network for `gan_eval --features FILE.pt`.

    export-fid-inception.py --weights pt_inception-2015-12-05-6726825d.pth --out fid-inception.pt
    export-fid-inception.py --stand-in --out stand-in.pt [--size 64] [--dim 64] [--seed 0]

The first form is the FID network: the InceptionV3 of pytorch-fid (the port of the
TensorFlow graph of 2015-12-05 that FID was defined with), cut at its 2048-d pool features.
It needs `pytorch-fid` (which brings torchvision) and the weights file you downloaded
yourself; this script never downloads anything. The second form writes a small conv net with
fixed random weights and the same interface, so the export path and gan_eval can be tested
where those weights are not available (CI). Its distances are NOT FID.

Both store `gan_features.json` inside the TorchScript archive (an extra file):
  {"name", "input_size": [H, W], "channels": 3, "input_range": [lo, hi], "resize": "bilinear",
   "feature_dim": D}
gan_eval reads it to convert its images (NCHW in [-1, 1]; gray repeated to 3 channels,
bilinear resize with align_corners=False, then [-1, 1] mapped onto input_range) and checks
that the module returns [N, D].

Exit status: 0 written, 2 bad option or missing package/file.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile

METADATA_FILE = "gan_features.json"
# pytorch-fid's weights: the name carries the first 8 hex digits of the file's sha256, as
# torch.hub names files.
FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"


def die(msg):
    print("export-fid-inception: " + msg, file=sys.stderr)
    sys.exit(2)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_feature_network(torch, module, meta, out):
    """Traces `module` on a batch of the stated input, checks that it gives [N, feature_dim],
    and writes it with the metadata as an extra file; atomically (temporary, then rename), so
    an interrupted export never leaves a file gan_eval would try to load."""
    h, w = meta["input_size"]
    lo, hi = meta["input_range"]
    example = torch.rand(2, meta["channels"], h, w) * (hi - lo) + lo
    module.eval()
    with torch.no_grad():
        traced = torch.jit.trace(module, example)
        out_shape = tuple(traced(example).shape)
    if out_shape != (2, meta["feature_dim"]):
        die("the network gives %s for 2 images, not (2, %d)" % (out_shape, meta["feature_dim"]))
    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".pt", dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result is an ordinary file
    try:
        torch.jit.save(traced, tmp, _extra_files={METADATA_FILE: json.dumps(meta, indent=1)})
        # Read back the way gan_eval will: metadata present, same features.
        extra = {METADATA_FILE: ""}
        loaded = torch.jit.load(tmp, _extra_files=extra)
        if json.loads(extra[METADATA_FILE]) != meta:
            die("metadata did not survive the round trip")
        with torch.no_grad():
            if not torch.allclose(loaded(example), traced(example), rtol=1e-5, atol=1e-6):
                die("the saved network computes something else than the traced one")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    print("wrote %s (%s, input %dx%d, %d-d features)" % (out, meta["name"], h, w,
                                                        meta["feature_dim"]))


def fid_inception(torch, weights):
    try:
        import pytorch_fid.inception as fid
    except ImportError:
        die("the FID network needs pytorch-fid (pip install pytorch-fid; it brings torchvision)")
    if not os.path.isfile(weights):
        die("no weights file %s (pytorch-fid's %s)" % (weights, FID_WEIGHTS_NAME))
    digest = sha256_of(weights)
    if not digest.startswith(FID_WEIGHTS_SHA256_PREFIX):
        die("%s has sha256 %s, not that of %s: not the standard FID weights" %
            (weights, digest, FID_WEIGHTS_NAME))
    if not hasattr(fid, "load_state_dict_from_url"):
        die("this pytorch-fid version loads its weights in a way this script does not know")

    # pytorch-fid fetches the weights from a URL; give it the local file instead, so nothing
    # is downloaded whatever is in the torch hub cache.
    def local_weights(url, *args, **kwargs):
        if os.path.basename(url) != FID_WEIGHTS_NAME:
            die("pytorch-fid asked for %s, expected %s" % (url, FID_WEIGHTS_NAME))
        return torch.load(weights, map_location="cpu")

    fid.load_state_dict_from_url = local_weights
    # Block 3 is the 2048-d average pool; gan_eval resizes to 299 and maps to [-1, 1] itself,
    # which is what resize_input and normalize_input would do inside the network.
    inception = fid.InceptionV3([fid.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=False,
                                normalize_input=False, use_fid_inception=True)

    class PoolFeatures(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)[0].flatten(1)  # [N, 2048, 1, 1] -> [N, 2048]

    meta = {"name": "pytorch-fid-inception-v3", "input_size": [299, 299], "channels": 3,
            "input_range": [-1.0, 1.0], "resize": "bilinear", "feature_dim": 2048,
            "weights_sha256": digest}
    return PoolFeatures(inception), meta


def stand_in(torch, size, dim, seed):
    """Two strided conv layers, a global average pool and a linear map, with weights drawn
    from `seed`: deterministic, cheap, and of the FID network's interface."""
    nn = torch.nn
    gen = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
                        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, dim))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / max(1, p[0].numel()) ** 0.5))
    meta = {"name": "stand-in-random-conv (not FID)", "input_size": [size, size], "channels": 3,
            "input_range": [-1.0, 1.0], "resize": "bilinear", "feature_dim": dim,
            "seed": seed}
    return net, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="TorchScript file to write")
    ap.add_argument("--weights", help="pytorch-fid's " + FID_WEIGHTS_NAME)
    ap.add_argument("--stand-in", action="store_true",
                    help="a small random conv net of the same interface (for tests; not FID)")
    ap.add_argument("--size", type=int, default=299, help="stand-in input size")
    ap.add_argument("--dim", type=int, default=64, help="stand-in feature dimension")
    ap.add_argument("--seed", type=int, default=0, help="stand-in weights")
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        die("needs PyTorch (Debian: apt install python3-torch)")
    torch.manual_seed(0)
    if a.stand_in:
        if a.weights:
            die("--stand-in takes no --weights")
        if not (8 <= a.size <= 1024 and 1 <= a.dim <= 8192):
            die("--size must be in [8, 1024] and --dim in [1, 8192]")
        module, meta = stand_in(torch, a.size, a.dim, a.seed)
    else:
        if not a.weights:
            die("give --weights %s (downloaded by you), or --stand-in" % FID_WEIGHTS_NAME)
        module, meta = fid_inception(torch, a.weights)
    save_feature_network(torch, module, meta, a.out)


if __name__ == "__main__":
    main()
