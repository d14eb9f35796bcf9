#!/usr/bin/env python3
"""Reference throughput of torchvision SimCLR augmentation pipelines (views/s).

For comparison with the criterion benchmark of `noether-augment`
(crates/augment/benches/pipelines.rs). Not run by CI.

    pip install torch torchvision scikit-image pillow numpy
    python3 benches/reference/torchvision_augment.py [--seconds 5] [--warmup 1] [--repeats 3]

Pipelines (torchvision.transforms v1, PIL input, exactly as in the SimCLR recipes):
  simclr-cifar     32x32 sources: RandomResizedCrop(32, scale=(0.2, 1)), RandomHorizontalFlip,
                   RandomApply([ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), RandomGrayscale(0.2), ToTensor
  simclr-imagenet  224x224 sources: RandomResizedCrop(224, scale=(0.08, 1)), RandomHorizontalFlip,
                   RandomApply([ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8), RandomGrayscale(0.2),
                   RandomApply([GaussianBlur(23, sigma=(0.1, 2.0))], p=0.5), ToTensor

Sources: scikit-image's astronaut, coffee and chelsea photographs, resized with PIL LANCZOS to
the source size (deterministic). Each view is one pipeline call on one source, cycling through
the three. RNGs are seeded (torch + random), per worker too.

Measurements, each after a warm-up:
  processes=1  this process, torch.set_num_threads(1), runs views until --seconds elapse.
  processes=2  multiprocessing.Pool(2) (the DataLoader(num_workers=2) set-up); each worker calls
               torch.set_num_threads(1) and runs an equal share of the views; the share is sized
               from the 1-process rate to take about --seconds. A barrier starts both workers
               together; throughput = total views / (last worker end - first worker start).

Each measurement is repeated --repeats times and the median rate is reported (views and
elapsed_s are those of the median run): shared 2-core VMs are noisy. Run it on an otherwise idle
machine (no cargo build alongside), as the criterion benchmark should be.

Output: one JSON object per line:
  {"pipeline", "processes", "views_per_second", "views", "elapsed_s", "torch", "torchvision"}
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from skimage import data as skdata
from torchvision import transforms as T

SEED = 20240601
PIPELINES = ("simclr-cifar", "simclr-imagenet")


def build(pipeline: str) -> tuple[T.Compose, list[Image.Image]]:
    if pipeline == "simclr-cifar":
        size = 32
        tf = T.Compose(
            [
                T.RandomResizedCrop(32, scale=(0.2, 1.0)),
                T.RandomHorizontalFlip(),
                T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                T.RandomGrayscale(p=0.2),
                T.ToTensor(),
            ]
        )
    elif pipeline == "simclr-imagenet":
        size = 224
        tf = T.Compose(
            [
                T.RandomResizedCrop(224, scale=(0.08, 1.0)),
                T.RandomHorizontalFlip(),
                T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
                T.RandomGrayscale(p=0.2),
                T.RandomApply([T.GaussianBlur(23, sigma=(0.1, 2.0))], p=0.5),
                T.ToTensor(),
            ]
        )
    else:
        raise ValueError(pipeline)
    sources = [
        Image.fromarray(getattr(skdata, n)()).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
        for n in ("astronaut", "coffee", "chelsea")
    ]
    return tf, sources


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_views(tf, sources, n: int) -> None:
    k = len(sources)
    for i in range(n):
        tf(sources[i % k])


def run_for(tf, sources, seconds: float) -> tuple[int, float]:
    k = len(sources)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(8):
            tf(sources[n % k])
            n += 1
        now = time.perf_counter()
        if now >= deadline:
            return n, now - t0


# ---- worker side (Pool) ----------------------------------------------------------------------
_W: dict = {}


def _init(pipeline: str, barrier) -> None:
    torch.set_num_threads(1)
    _W["barrier"] = barrier
    _W["tf"], _W["sources"] = build(pipeline)


def _task(args: tuple[int, int]) -> tuple[float, float]:
    seed, n = args
    seed_all(seed)
    _W["barrier"].wait(timeout=120)  # both workers take exactly one task each and start together
    t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes on Linux
    run_views(_W["tf"], _W["sources"], n)
    return t0, time.perf_counter()


def measure_pool(
    pipeline: str, rate1: float, seconds: float, warmup: float, seed: int, procs: int = 2
) -> tuple[int, float]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs)
    with ctx.Pool(procs, initializer=_init, initargs=(pipeline, barrier)) as pool:
        per = max(1, int(rate1 * warmup))
        pool.map(_task, [(seed + w, per) for w in range(procs)], chunksize=1)  # warm-up
        per = max(1, int(rate1 * seconds))  # each worker ~`seconds` if scaling were perfect
        spans = pool.map(_task, [(seed + 100 + w, per) for w in range(procs)], chunksize=1)
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    return per * procs, end - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="target length of each measurement")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up length in seconds")
    ap.add_argument("--repeats", type=int, default=3, help="report the median of this many runs")
    ap.add_argument("--pipeline", choices=PIPELINES, action="append", help="default: all")
    args = ap.parse_args()

    torch.set_num_threads(1)
    versions = {"torch": torch.__version__.split("+")[0], "torchvision": torchvision.__version__.split("+")[0]}
    for pipeline in args.pipeline or PIPELINES:
        tf, sources = build(pipeline)
        seed_all(SEED)
        run_for(tf, sources, args.warmup)
        runs = []
        for r in range(args.repeats):
            seed_all(SEED + 1 + r)
            runs.append(run_for(tf, sources, args.seconds))
        n, dt = median_run(runs)
        rate1 = n / dt
        emit(pipeline, 1, n, dt, versions)
        runs = [measure_pool(pipeline, rate1, args.seconds, args.warmup, seed=SEED + 1000 * (r + 1))
                for r in range(args.repeats)]
        emit(pipeline, 2, *median_run(runs), versions)


def median_run(runs: list[tuple[int, float]]) -> tuple[int, float]:
    return sorted(runs, key=lambda r: r[0] / r[1])[len(runs) // 2]


def emit(pipeline: str, procs: int, n: int, dt: float, versions: dict) -> None:
    print(json.dumps({"pipeline": pipeline, "processes": procs, "views_per_second": round(n / dt, 1),
                      "views": n, "elapsed_s": round(dt, 3), **versions}), flush=True)


if __name__ == "__main__":
    main()
