#!/usr/bin/env python3
"""The PyTorch eager peer of `ringmaster bench train` (CPU) and `ringmaster bench train --device cuda`.

Trains the same network as ringmaster's --model spec (mlp:W0-...-Wn or cnn:C1-C2-F, see
worker/model.h) with the same SGD (momentum 0.9) on Fashion-MNIST normalized as ringmaster does,
feeding each batch the same way: a shuffled gather on the host into pinned memory, copied to the
GPU without blocking. Eager mode, no torch.compile, loss.item() never called inside the timed
loop. On the CPU (--device cpu) the caller pins the thread pools: OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS must be in the environment before torch loads (Debian's torch calls OpenBLAS's own
pthread pool, which torch.set_num_threads does not reach); --threads sets torch's intra-op pool to
the same count and is checked against them. Prints one JSON line: {"samples_per_sec": ..., "steps": ..., "seconds": ..., "torch": ...}.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch
from torch import nn


def load(data_dir):
    with gzip.open(f"{data_dir}/train-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"{data_dir}/train-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = (x.astype(np.float32) / 255.0 - 0.2860) / 0.3530
    return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def build(spec):
    kind, _, args = spec.partition(":")
    if kind == "mlp":
        widths = [int(w) for w in args.split("-")] if args else [784, 512, 256, 10]
        layers = [nn.Flatten()]
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 2 < len(widths):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)
    c1, c2, f = [int(w) for w in args.split("-")] if args else [32, 64, 128]
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 7 * 7, f), nn.ReLU(), nn.Linear(f, 10))


class Shuffled:
    """Index batches over n samples as ringmaster's loader draws them: a fresh permutation each
    epoch, full batches only."""

    def __init__(self, n, batch, seed=1):
        self.n, self.batch = n, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.perm, self.pos = torch.randperm(n, generator=self.gen), 0

    def next(self):
        if self.pos + self.batch > self.n:
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx


def timed(step, warmup, steps, sync=lambda: None):
    """Runs step(i) warmup times, then times `steps` more: (seconds, the last loss)."""
    for i in range(warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(steps):
        loss = step(i)
    sync()
    return time.perf_counter() - start, loss


def run_cpu(a):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var) != str(a.threads):
            raise SystemExit(f"torch_train.py: {var} must be {a.threads} in the environment before torch loads, "
                             f"found {os.environ.get(var)!r}")
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    x, y = load(a.data_dir)
    model = build(a.model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    hx = torch.empty((a.batch,) + tuple(x.shape[1:]))
    hy = torch.empty(a.batch, dtype=torch.int64)
    batches = Shuffled(x.shape[0], a.batch)

    def step(_):
        idx = batches.next()
        torch.index_select(x, 0, idx, out=hx)
        torch.index_select(y, 0, idx, out=hy)
        loss = loss_fn(model(hx), hy)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    seconds, loss = timed(step, a.warmup, a.steps)
    print(json.dumps({"samples_per_sec": a.steps * a.batch / seconds, "steps": a.steps, "seconds": seconds,
                      "final_loss": float(loss), "torch": torch.__version__, "device": "cpu",
                      "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--threads", type=int, default=1, help="cpu: intra-op threads (BLAS and OpenMP pinned by the caller)")
    a = p.parse_args()
    if a.device == "cpu":
        return run_cpu(a)
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    x, y = load(a.data_dir)
    model = build(a.model).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    staging = [(torch.empty((a.batch,) + tuple(x.shape[1:])).pin_memory(),
                torch.empty(a.batch, dtype=torch.int64).pin_memory()) for _ in range(2)]
    copied = [torch.cuda.Event(), torch.cuda.Event()]  # a slot's copy to the GPU has run
    batches = Shuffled(x.shape[0], a.batch)

    def step(i):
        idx = batches.next()
        hx, hy = staging[i % 2]
        copied[i % 2].synchronize()  # the copy of two steps ago may still read this pinned slot
        torch.index_select(x, 0, idx, out=hx)
        torch.index_select(y, 0, idx, out=hy)
        xb, yb = hx.to(dev, non_blocking=True), hy.to(dev, non_blocking=True)
        copied[i % 2].record()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = loss_fn(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    seconds, loss = timed(step, a.warmup, a.steps, torch.cuda.synchronize)
    print(json.dumps({"samples_per_sec": a.steps * a.batch / seconds, "steps": a.steps, "seconds": seconds,
                      "final_loss": float(loss), "torch": torch.__version__,
                      "device": torch.cuda.get_device_name(0)}))


if __name__ == "__main__":
    main()
