"""PyTorch reference for dd-prelude's training benchmark (dd-prelude/examples/bench_train.rs).

Trains the same DatasetCondensation ConvNet as dd-prelude's ConvNetConfig (3 x [conv 3x3 with
padding 1, width W, instance norm = GroupNorm(W, W) with affine, ReLU, 2x2 average pooling],
then one linear layer) on the images the Rust side wrote, with the same optimiser (SGD,
momentum 0.9, weight decay 5e-4, constant lr) and batch size, on the CPU, and prints one JSON
line with the measured throughput.

Input file (little-endian): u32 n, u32 c, u32 h, u32 w, u32 classes, then n*c*h*w f32
normalised pixels, then n u32 labels.

Also reported: the peak resident memory of the training above what the process held before it
(Linux high-water mark, reset first), and the GFLOP/s of a 2048x2048 f32 matrix product, the
practical peak the benchmark compares convolution FLOP rates with.
"""
import argparse
import ctypes
import json
import struct
import time

import numpy as np
import torch
import torch.nn as nn


def convnet(channels, classes, width, depth, size):
    layers, c, (h, w) = [], channels, size
    for _ in range(depth):
        layers += [nn.Conv2d(c, width, 3, padding=1), nn.GroupNorm(width, width, affine=True),
                   nn.ReLU(inplace=True), nn.AvgPool2d(2, 2)]
        c, h, w = width, h // 2, w // 2
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * h * w, classes))


def read(path):
    with open(path, "rb") as f:
        n, c, h, w, k = struct.unpack("<5I", f.read(20))
        x = np.frombuffer(f.read(4 * n * c * h * w), dtype="<f4").reshape(n, c, h, w)
        y = np.frombuffer(f.read(4 * n), dtype="<u4").astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y), k


def status_mib(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def reset_peak():
    """Trims glibc's free heap (as dd-prelude's PeakMemory does, so reused memory counts),
    then resets the high-water mark; False where the platform has none."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def matmul_gflops(n=2048, reps=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2.0 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    torch.manual_seed(a.seed)
    x, y, classes = read(a.data)
    n, c, h, w = x.shape
    net = convnet(c, classes, a.width, a.depth, (h, w))
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    net.train()

    def step(idx):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
        return loss.item()

    peak_gflops = matmul_gflops()
    reset = reset_peak()
    before = status_mib("VmRSS:")
    g = torch.Generator().manual_seed(a.seed)
    for _ in range(a.warmup_steps):
        step(torch.randint(0, n, (a.batch,), generator=g))
    seen, start, loss = 0, time.perf_counter(), float("nan")
    for _ in range(a.epochs):
        order = torch.randperm(n, generator=g)
        for k in range(0, n, a.batch):
            idx = order[k:k + a.batch]
            loss = step(idx)
            seen += len(idx)
    secs = time.perf_counter() - start
    peak = status_mib("VmHWM:") - before if reset else float("nan")
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}",
        "threads": torch.get_num_threads(),
        "images": seen,
        "seconds": secs,
        "images_per_s": seen / secs,
        "final_loss": loss,
        "peak_mib": peak,
        "matmul_gflops": peak_gflops,
    }))


if __name__ == "__main__":
    main()
