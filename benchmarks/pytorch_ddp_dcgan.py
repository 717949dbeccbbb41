#!/usr/bin/python3
"""The PyTorch peer of gan_dist's DCGAN step: same nets, losses, optimizer and per-rank batch,
DistributedDataParallel over Gloo. Run under mpirun (rank and size come from Open MPI's
variables). Prints one JSON line from rank 0: median step time in ms after warm-up."""
import argparse
import json
import os
import statistics
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def generator(z_dim, width, size=28, channels=1):
    base = 7 if size == 28 else 4
    stages = {28: 2, 32: 3, 64: 4}[size]
    top = width << (stages - 1)
    layers = [nn.Linear(z_dim, top * base * base, bias=False), nn.Unflatten(1, (top, base, base)),
              nn.BatchNorm2d(top), nn.ReLU()]
    ch = top
    for _ in range(stages - 1):
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
        ch //= 2
    layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def discriminator(width, size=28, channels=1):
    base = 7 if size == 28 else 4
    stages = {28: 2, 32: 3, 64: 4}[size]
    layers = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
    ch = width
    for _ in range(stages - 1):
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2)]
        ch *= 2
    layers += [nn.Flatten(), nn.Linear(ch * base * base, 1)]
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--local-batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--z-dim", type=int, default=100)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--port", type=int, default=29533)
    a = ap.parse_args()

    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{a.port}", rank=rank, world_size=world)

    # Buffers are not broadcast at every forward: D runs twice per step (real, fake), and
    # gan_dist likewise syncs BatchNorm statistics once per step, after it.
    g = nn.parallel.DistributedDataParallel(generator(a.z_dim, a.width, a.size, a.channels),
                                            broadcast_buffers=False)
    d = nn.parallel.DistributedDataParallel(discriminator(a.width, a.size, a.channels),
                                            broadcast_buffers=False)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real_all = torch.rand(8, a.local_batch, a.channels, a.size, a.size) * 2 - 1
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        real = real_all[step % 8]
        fake = g(torch.randn(a.local_batch, a.z_dim))
        out_r, out_f = d(real), d(fake.detach())
        loss_d = F.binary_cross_entropy_with_logits(out_r, torch.ones_like(out_r)) + \
            F.binary_cross_entropy_with_logits(out_f, torch.zeros_like(out_f))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        for p in d.parameters():
            p.requires_grad_(False)
        out = d.module(fake)  # D is not stepped here: bypass its DDP wrapper
        loss_g = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        for p in d.parameters():
            p.requires_grad_(True)
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    t = torch.tensor([statistics.median(times)])
    dist.all_reduce(t)  # mean over ranks of each rank's median, like gan_dist's step_ms
    if rank == 0:
        print(json.dumps({"world": world, "local_batch": a.local_batch,
                          "step_ms": 1000 * t.item() / world, "torch": torch.__version__}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
