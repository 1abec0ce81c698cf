"""PyTorch reference for examples/bench_distill.rs: iterations per second of DM, DC and MTT with
the same algorithm and configuration as dd-prelude (DatasetCondensation's main_DM.py / main.py
loops, MTT's distill.py unroll, ConvNet with instance norm and average pooling, padding 1 as
dd-prelude's ConvNet, Fashion-MNIST from the Debian package).

Usage: python bench/distill_reference.py --width 128 --dm-ipc 10 --dm-iters 5 --dc-ipc 1 --dc-iters 5
       [--mtt-ipc 10 --mtt-steps 20 --mtt-iters 3]
Prints one JSON line: {"dm_it_per_s": ..., "dc_it_per_s": ..., "mtt_it_per_s": ..., ...}.
"""
import argparse
import gzip
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from train_convnet import reset_peak, status_mib

DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fmnist():
    x = read_idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64)
    mean, std = x.mean(), x.std()
    x = (x - mean) / std
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


class ConvNet(nn.Module):
    """dd-prelude's ConvNet: depth x [conv3x3 pad 1, GroupNorm(C, C), ReLU, AvgPool 2], linear."""

    def __init__(self, channels, classes, width, depth, size):
        super().__init__()
        layers, c, s = [], channels, size
        for _ in range(depth):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.GroupNorm(width, width, affine=True),
                       nn.ReLU(inplace=True), nn.AvgPool2d(2, 2)]
            c, s = width, s // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * s * s, classes)

    def embed(self, x):
        return self.features(x).flatten(1)

    def forward(self, x):
        return self.classifier(self.embed(x))


# --- DSA (siamese: one family and one parameter set per call, as DiffAugment mode 'S') ---
def dsa(x, rng):
    op = rng.choice(["color", "crop", "cutout", "flip", "scale", "rotate"])
    n, _, h, w = x.shape
    if op == "color":
        b, s, c = rng.random() - 0.5, rng.random() * 2.0, rng.random() + 0.5
        x = x + b
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * s + m
        m = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - m) * c + m
    if op == "crop":
        sx, sy = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
        tx, ty = rng.integers(-sx, sx + 1), rng.integers(-sy, sy + 1)
        xp = F.pad(x, [1, 1, 1, 1])
        gi = torch.clamp(torch.arange(h) + tx + 1, 0, h + 1)
        gj = torch.clamp(torch.arange(w) + ty + 1, 0, w + 1)
        return xp[:, :, gi][:, :, :, gj]
    if op == "cutout":
        ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
        ox, oy = rng.integers(0, h + (1 - ch % 2)), rng.integers(0, w + (1 - cw % 2))
        mask = torch.ones(h, w)
        r = torch.clamp(torch.arange(ch) + ox - ch // 2, 0, h - 1)
        c = torch.clamp(torch.arange(cw) + oy - cw // 2, 0, w - 1)
        mask[r[:, None], c[None, :]] = 0
        return x * mask
    if op == "flip":
        return x.flip(3) if rng.random() < 0.5 else x
    if op == "scale":
        r = 1.2
        sx, sy = rng.random() * (r - 1 / r) + 1 / r, rng.random() * (r - 1 / r) + 1 / r
        theta = torch.tensor([[sx, 0, 0], [0, sy, 0]], dtype=torch.float).expand(n, 2, 3)
    else:
        t = (rng.random() - 0.5) * 2 * 15.0 / 180 * math.pi
        theta = torch.tensor([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0]],
                             dtype=torch.float).expand(n, 2, 3)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x, grid, align_corners=False)


def siamese(real, syn, rng):
    state = rng.bit_generator.state
    real = dsa(real, rng)
    rng.bit_generator.state = state
    return real, dsa(syn, rng)


def per_class(y, classes):
    return [torch.nonzero(y == c).flatten() for c in range(classes)]


def batch(x, idx, n, rng):
    return x[idx[rng.permutation(len(idx))[:n]]]


def dm_iteration(x, idx, syn, opt, args, rng):
    net = ConvNet(1, 10, args.width, 3, 28)
    for p in net.parameters():
        p.requires_grad = False
    loss = torch.tensor(0.0)
    for c in range(10):
        real = batch(x, idx[c], args.dm_real, rng)
        s = syn[c * args.dm_ipc:(c + 1) * args.dm_ipc]
        real, s = siamese(real, s, rng)
        loss = loss + ((net.embed(real).detach().mean(0) - net.embed(s).mean(0)) ** 2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()


def distance_wb(gr, gs):
    if gr.dim() == 1:
        return torch.tensor(0.0)
    gr, gs = gr.reshape(gr.shape[0], -1), gs.reshape(gs.shape[0], -1)
    return torch.sum(1 - torch.sum(gr * gs, -1) / (gr.norm(dim=-1) * gs.norm(dim=-1) + 1e-6))


LOOPS = {1: (1, 1), 10: (10, 50), 50: (50, 10)}


def dc_iteration(x, idx, syn, opt, args, rng):
    net = ConvNet(1, 10, args.width, 3, 28)
    params = list(net.parameters())
    net_opt = torch.optim.SGD(net.parameters(), lr=0.01)
    outer, inner = LOOPS[args.dc_ipc]
    labels = torch.arange(10).repeat_interleave(args.dc_ipc)
    for ol in range(outer):
        loss = torch.tensor(0.0)
        for c in range(10):
            real = batch(x, idx[c], args.dm_real, rng)
            lr_ = torch.full((real.shape[0],), c)
            gw_real = [g.detach() for g in torch.autograd.grad(F.cross_entropy(net(real), lr_), params)]
            s = syn[c * args.dc_ipc:(c + 1) * args.dc_ipc]
            gw_syn = torch.autograd.grad(F.cross_entropy(net(s), torch.full((args.dc_ipc,), c)), params,
                                         create_graph=True)
            loss = loss + sum(distance_wb(a, b) for a, b in zip(gw_real, gw_syn))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ol == outer - 1:
            break
        data = syn.detach()
        for _ in range(inner):
            perm = torch.randperm(len(labels))
            for i in range(0, len(labels), 256):
                b = perm[i:i + 256]
                l = F.cross_entropy(net(data[b]), labels[b])
                net_opt.zero_grad()
                l.backward()
                net_opt.step()


def mtt_setup(x, idx, args, rng):
    """MTT's student as a flat parameter vector (distill.py's ReparamModule), a start and a
    target point (one SGD step on a real batch, as bench_distill.rs builds them)."""
    net = ConvNet(1, 10, args.width, 3, 28)
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for _, p in net.named_parameters()]
    sizes = [p.numel() for _, p in net.named_parameters()]

    def fwd(flat, xb):
        parts = torch.split(flat, sizes)
        params = {n: p.view(s) for n, p, s in zip(names, parts, shapes)}
        return torch.func.functional_call(net, params, (xb,))

    start = torch.cat([p.detach().flatten() for p in net.parameters()])
    real = torch.cat([batch(x, idx[c], 10, rng) for c in range(10)])
    labels = torch.arange(10).repeat_interleave(10)
    s = start.clone().requires_grad_(True)
    g = torch.autograd.grad(F.cross_entropy(fwd(s, real), labels), s)[0]
    target = (start - 0.05 * g).detach()
    return fwd, start, target


def mtt_iteration(fwd, start, target, syn, syn_lr, opt_img, opt_lr, args, rng):
    """One iteration of MTT's distill.py: syn_steps SGD steps on the synthetic images (all in
    each step's batch, DSA on each), the normalised parameter distance, one step of the images
    and of the learnable step size."""
    labels = torch.arange(10).repeat_interleave(args.mtt_ipc)
    student = [start.clone().requires_grad_(True)]
    for _ in range(args.mtt_steps):
        perm = torch.randperm(len(labels))
        xb, yb = dsa(syn[perm], rng), labels[perm]
        ce = F.cross_entropy(fwd(student[-1], xb), yb)
        g = torch.autograd.grad(ce, student[-1], create_graph=True)[0]
        student.append(student[-1] - syn_lr * g)
    loss = ((student[-1] - target) ** 2).sum() / ((start - target) ** 2).sum()
    opt_img.zero_grad()
    opt_lr.zero_grad()
    loss.backward()
    opt_img.step()
    opt_lr.step()


def timed(fn, iters):
    """Iterations per second, and the peak resident MiB above the start (NaN off Linux)."""
    fn()  # warm-up
    reset = reset_peak()
    before = status_mib("VmRSS:")
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    rate = iters / (time.perf_counter() - start)
    return rate, (status_mib("VmHWM:") - before if reset else float("nan"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--dm-ipc", type=int, default=10)
    ap.add_argument("--dm-iters", type=int, default=5)
    ap.add_argument("--dc-ipc", type=int, default=1)
    ap.add_argument("--dc-iters", type=int, default=5)
    ap.add_argument("--mtt-ipc", type=int, default=10)
    ap.add_argument("--mtt-steps", type=int, default=20)
    ap.add_argument("--mtt-iters", type=int, default=3)
    ap.add_argument("--dm-real", type=int, default=256, help="real images per class in a DM iteration")
    ap.add_argument("--dm-scaling", default="",
                    help="comma-separated real batches per class: time only DM at each, one JSON line")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = load_fmnist()
    idx = per_class(y, 10)
    dm_syn = torch.cat([batch(x, idx[c], args.dm_ipc, rng) for c in range(10)]).requires_grad_(True)
    dm_opt = torch.optim.SGD([dm_syn], lr=1.0, momentum=0.5)
    if args.dm_scaling:
        rows = []
        for real in (int(r) for r in args.dm_scaling.split(",")):
            args.dm_real = real
            rate, mib = timed(lambda: dm_iteration(x, idx, dm_syn, dm_opt, args, rng), args.dm_iters)
            rows.append({"real": real, "it_per_s": rate, "peak_mib": mib})
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "dm_scaling": rows}))
        return
    dc_syn = torch.cat([batch(x, idx[c], args.dc_ipc, rng) for c in range(10)]).requires_grad_(True)
    dc_opt = torch.optim.SGD([dc_syn], lr=0.1, momentum=0.5)
    dm, dm_mib = timed(lambda: dm_iteration(x, idx, dm_syn, dm_opt, args, rng), args.dm_iters)
    dc, dc_mib = timed(lambda: dc_iteration(x, idx, dc_syn, dc_opt, args, rng), args.dc_iters)
    fwd, start, target = mtt_setup(x, idx, args, rng)
    mtt_syn = torch.cat([batch(x, idx[c], args.mtt_ipc, rng) for c in range(10)]).requires_grad_(True)
    syn_lr = torch.tensor(0.01, requires_grad=True)
    opt_img = torch.optim.SGD([mtt_syn], lr=1000.0, momentum=0.5)
    opt_lr = torch.optim.SGD([syn_lr], lr=1e-5, momentum=0.5)
    mtt, mtt_mib = timed(lambda: mtt_iteration(fwd, start, target, mtt_syn, syn_lr, opt_img, opt_lr, args, rng),
                args.mtt_iters)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "width": args.width,
                      "dm_ipc": args.dm_ipc, "dm_it_per_s": dm, "dc_ipc": args.dc_ipc, "dc_it_per_s": dc,
                      "mtt_ipc": args.mtt_ipc, "mtt_steps": args.mtt_steps, "mtt_it_per_s": mtt,
                      "dm_peak_mib": dm_mib, "dc_peak_mib": dc_mib, "mtt_peak_mib": mtt_mib}))


if __name__ == "__main__":
    main()
