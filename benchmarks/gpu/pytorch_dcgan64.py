#!/usr/bin/env python3
"""gan_dist's DCGAN step in plain PyTorch eager on one device, for scripts/gpu-check.sh's speed
check (gan_dist images/s vs PyTorch images/s on the same GPU, interleaved runs).

The same work as `gan_dist --model dcgan` at one rank (models/nets.cpp, models/adversarial.cpp,
models/base.cpp, models/registry.cpp defaults):
  G: Linear(z, top*b*b, no bias) -> [B, top, b, b] -> BN -> ReLU -> (ConvT 4/2/1 no bias -> BN ->
     ReLU) x (stages-1) -> ConvT 4/2/1 (bias) -> Tanh;  b = 4 (7 for 28 px), top = g_width << (stages-1)
  D: Conv 4/2/1 (bias) -> LReLU(0.2) -> (Conv 4/2/1 no bias -> BN -> LReLU(0.2)) x (stages-1) ->
     Flatten -> Linear(., 1)
  init "normal": weights N(0, 0.02), BatchNorm weights N(1, 0.02), every bias 0
  Adam(lr 2e-4, betas (0.5, 0.999)) for both; non-saturating loss on logits:
  D step: fake = G(z); L_D = BCE(D(x), 1) + BCE(D(fake.detach()), 0); G step (D frozen):
  L_G = BCE(D(fake), 1) on the same fake. Noise: randn of the global batch from a CPU generator,
  copied to the device; real batches: pinned host floats in [-1, 1] copied non-blocking. Each
  step reads d_real, d_fake, loss_d and loss_g to the host (.item()), as gan_dist does.

Throughput is measured like gan_dist's metrics.jsonl: images/s over each --log-every interval
after --warmup steps, median over the intervals. Works with torch 1.13 (CPU) and 2.x (CUDA).
Prints one JSON line (and writes it to --json).
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def stages_for(size):
    if size not in (28, 32, 64):
        raise SystemExit("DCGAN nets support 28, 32 and 64 pixel images")
    base = 7 if size == 28 else 4
    stages, s = 0, base
    while s < size:
        s *= 2
        stages += 1
    return base, stages


class Generator(nn.Module):
    def __init__(self, z_dim, width, size, channels):
        super().__init__()
        self.base, stages = stages_for(size)
        self.top = width << (stages - 1)
        self.project = nn.Linear(z_dim, self.top * self.base * self.base, bias=False)
        layers = [nn.BatchNorm2d(self.top), nn.ReLU()]
        ch = self.top
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(self.project(z).view(-1, self.top, self.base, self.base))


class Discriminator(nn.Module):
    def __init__(self, width, size, channels):
        super().__init__()
        base, stages = stages_for(size)
        ch = width
        layers = [nn.Conv2d(channels, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for _ in range(1, stages):
            layers += [nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        layers += [nn.Flatten()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(ch * base * base, 1)

    def forward(self, x):
        return self.head(self.trunk(x))


def init_normal(module):
    """models/nets.cpp init_weights("normal")."""
    with torch.no_grad():
        for m in module.modules():
            if m is module:
                continue
            is_norm = "BatchNorm" in type(m).__name__
            for name, p in m.named_parameters(recurse=False):
                if name == "bias":
                    p.zero_()
                elif is_norm:
                    p.normal_(1.0, 0.02)
                elif p.dim() < 2:
                    continue
                else:
                    p.normal_(0.0, 0.02)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--z-dim", type=int, default=100)
    ap.add_argument("--g-width", type=int, default=64)
    ap.add_argument("--d-width", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--steps", type=int, default=200, help="timed steps after warm-up")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="CPU intra-op threads")
    ap.add_argument("--foreach", choices=["default", "on", "off"], default="default",
                    help="Adam's multi-tensor path (default: PyTorch's own choice)")
    ap.add_argument("--json", help="also write the result here")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch %s sees no GPU" % torch.__version__)

    g = Generator(a.z_dim, a.g_width, a.size, a.channels)
    d = Discriminator(a.d_width, a.size, a.channels)
    init_normal(g)
    init_normal(d)
    g.to(dev)
    d.to(dev)
    kw = {}
    if a.foreach != "default":
        kw["foreach"] = a.foreach == "on"
    opt_g = torch.optim.Adam(g.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), **kw)
    opt_d = torch.optim.Adam(d.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), **kw)

    noise_gen = torch.Generator().manual_seed(a.seed ^ 0x6E6F697365)
    pool = []
    for _ in range(8):  # real batches as the loader hands them over: float NCHW in [-1, 1]
        u8 = torch.randint(0, 256, (a.batch, a.size, a.size, a.channels), dtype=torch.uint8)
        x = u8.permute(0, 3, 1, 2).float().mul_(2.0 / 255.0).sub_(1.0).contiguous()
        pool.append(x.pin_memory() if cuda else x)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    total = a.warmup + a.steps
    step_times, intervals = [], []
    metrics = {}
    sync()
    t_interval = None
    for step in range(total):
        t0 = time.perf_counter()
        if step == a.warmup:
            sync()
            t_interval = time.perf_counter()
            t0 = t_interval
        real = pool[step % len(pool)].to(dev, non_blocking=True)
        z = torch.randn(a.batch, a.z_dim, generator=noise_gen).to(dev)
        fake = g(z)
        r = d(real)
        f = d(fake.detach())
        metrics["d_real"] = torch.sigmoid(r).mean().item()
        metrics["d_fake"] = torch.sigmoid(f).mean().item()
        loss_d = (F.binary_cross_entropy_with_logits(r, torch.full_like(r, 1.0)) +
                  F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        metrics["loss_d"] = loss_d.item()
        for p in d.parameters():
            p.requires_grad_(False)
        out = d(fake)
        loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        metrics["loss_g"] = loss_g.item()
        if step >= a.warmup:
            step_times.append(time.perf_counter() - t0)
            done = step + 1 - a.warmup
            if done % a.log_every == 0:
                sync()
                now = time.perf_counter()
                intervals.append(a.log_every * a.batch / (now - t_interval))
                t_interval = now
    sync()

    res = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if cuda else "cpu",
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "adam_foreach": a.foreach,
        "batch": a.batch, "size": a.size, "channels": a.channels, "z_dim": a.z_dim,
        "g_width": a.g_width, "d_width": a.d_width,
        "params_g": sum(p.numel() for p in g.parameters()),
        "params_d": sum(p.numel() for p in d.parameters()),
        "warmup": a.warmup, "steps": a.steps, "log_every": a.log_every,
        "images_per_s_median": statistics.median(intervals) if intervals else None,
        "interval_images_per_s": [round(x, 1) for x in intervals],
        "step_ms_median": 1000 * statistics.median(step_times) if step_times else None,
        "last_metrics": metrics,
    }
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as fh:
            fh.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
