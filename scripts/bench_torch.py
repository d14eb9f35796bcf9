#!/usr/bin/env python3
"""PyTorch reference benchmark for one SimCLR training step on the CPU.

What it measures
----------------
One self-supervised SimCLR step, mirroring the Rust models of this workspace:
a batch of ``--batch`` image pairs (default 64) at 3 x ``--size`` x ``--size``
(default 32); both views are concatenated into one batch of 2N images
(``torch.cat([x1, x2])``), passed through backbone + projector in a single
forward, NT-Xent loss (temperature 0.5), backward, AdamW step
(lr 1e-3, weight decay 1e-4). Inputs are fixed random tensors made once from a
seed and reused every step.

Workloads (``--workload``):

* ``resnet18``: hand-written ResNet-18 with the CIFAR stem (3x3 stride-1 conv,
  no max-pool), global average pool -> 512 features.
* ``vit``: ViT-Tiny for 32x32 (patch 4, dim 192, 6 blocks, 3 heads), class
  token -> 192 features.

Both feed the SimCLR CIFAR projector
``Linear(in,2048)-BN-ReLU-Linear(2048,2048)-BN-ReLU-Linear(2048,128)-BN(affine=False)``
(all Linear without bias), as the Rust ``MlpConfig::simclr_projector(in, 2048, 128)``.

``--warmup`` untimed steps are run, then ``--steps`` timed steps; the median and
mean seconds per step are reported, and images/s = 2N / median.

How ``cargo xtask bench`` uses it
---------------------------------
The xtask runs this script as a subprocess and parses the LAST line of stdout,
which is exactly one JSON object::

    {"workload", "framework": "pytorch", "torch_version", "threads",
     "batch_pairs", "images_per_step", "warmup", "steps", "step_s_median",
     "step_s_mean", "images_per_s", "peak_rss_mib", "rss_before_mib",
     "attention", "final_loss"}

``peak_rss_mib`` is the process's peak resident set size (getrusage
ru_maxrss); ``rss_before_mib`` is the RSS just before the first warm-up step,
so the caller can report the step's own peak as ``peak - before``. Everything
else (progress) goes to stderr. If torch cannot be imported, the script prints
``{"error": "torch not importable: ..."}`` and exits with code 3, and the
caller reports the workload as "not measured".
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="PyTorch CPU reference benchmark: one SimCLR training step "
        "(backbone + projector, NT-Xent, AdamW). Prints one JSON line on stdout."
    )
    p.add_argument("--workload", choices=["resnet18", "vit"], default="resnet18",
                   help="backbone to benchmark (default: resnet18)")
    p.add_argument("--threads", type=int, default=2,
                   help="torch intra-op threads (default: 2); inter-op threads are 1")
    p.add_argument("--warmup", type=int, default=2, help="untimed warm-up steps (default: 2)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default: 10)")
    p.add_argument("--batch", type=int, default=64,
                   help="image PAIRS per step (default: 64 -> 128 images)")
    p.add_argument("--size", type=int, default=32, help="image height/width (default: 32)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and data (default: 0)")
    p.add_argument("--attention", choices=["sdpa", "explicit"], default="sdpa",
                   help="ViT attention implementation (default: sdpa; ignored for resnet18)")
    return p.parse_args(argv)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def rss_now_mib():
    """Current resident set size in MiB, from /proc/self/statm."""
    try:
        with open("/proc/self/statm") as f:
            resident_pages = int(f.read().split()[1])
        return resident_pages * os.sysconf("SC_PAGE_SIZE") / (1024.0 * 1024.0)
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mib():
    """Peak resident set size of this process in MiB (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":  # bytes on macOS
        return kib / (1024.0 * 1024.0)
    return kib / 1024.0


def build(torch, args):
    nn = torch.nn
    F = torch.nn.functional

    # ---------------------------------------------------------------- ResNet-18
    def conv3x3(cin, cout, stride=1):
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)

    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = conv3x3(cin, cout, stride)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = conv3x3(cout, cout, 1)
            self.bn2 = nn.BatchNorm2d(cout)
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(cout),
                )
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet18Cifar(nn.Module):
        out_dim = 512

        def __init__(self):
            super().__init__()
            self.conv1 = conv3x3(3, 64, 1)
            self.bn1 = nn.BatchNorm2d(64)
            layers = []
            cin = 64
            for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
                layers.append(BasicBlock(cin, cout, stride))
                layers.append(BasicBlock(cout, cout, 1))
                cin = cout
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))  # CIFAR stem: no max-pool
            x = self.layers(x)
            return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    # ---------------------------------------------------------------- ViT-Tiny
    class Attention(nn.Module):
        def __init__(self, dim, heads, use_sdpa):
            super().__init__()
            self.heads = heads
            self.head_dim = dim // heads
            self.qkv = nn.Linear(dim, 3 * dim, bias=True)
            self.proj = nn.Linear(dim, dim)
            self.use_sdpa = use_sdpa

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # each (b, heads, n, head_dim)
            if self.use_sdpa:
                out = F.scaled_dot_product_attention(q, k, v)
            else:
                # Explicit softmax(q k^T / sqrt(d)) v; mathematically identical to
                # F.scaled_dot_product_attention(q, k, v) (no mask, no dropout).
                attn = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
                attn = attn.softmax(dim=-1)
                out = attn @ v
            out = out.transpose(1, 2).reshape(b, n, c)
            return self.proj(out)

    class Block(nn.Module):
        def __init__(self, dim, heads, mlp_dim, use_sdpa):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention(dim, heads, use_sdpa)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.fc1 = nn.Linear(dim, mlp_dim)
            self.fc2 = nn.Linear(mlp_dim, dim)

        def forward(self, x):
            x = x + self.attn(self.norm1(x))
            x = x + self.fc2(F.gelu(self.fc1(self.norm2(x))))  # exact (erf) GELU
            return x

    class ViTTiny(nn.Module):
        out_dim = 192

        def __init__(self, size, patch=4, dim=192, depth=6, heads=3, mlp_dim=768, use_sdpa=True):
            super().__init__()
            self.patch_embed = nn.Conv2d(3, dim, patch, stride=patch, bias=True)
            n_tokens = (size // patch) ** 2
            self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.randn(1, n_tokens + 1, dim) * 0.02)
            self.blocks = nn.Sequential(*[Block(dim, heads, mlp_dim, use_sdpa) for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)

        def forward(self, x):
            x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (b, tokens, dim)
            cls = self.cls_token.expand(x.shape[0], -1, -1)
            x = torch.cat([cls, x], dim=1) + self.pos_embed
            x = self.norm(self.blocks(x))
            return x[:, 0]

    # ---------------------------------------------------------------- projector
    def simclr_projector(in_dim, hidden=2048, out=128):
        return nn.Sequential(
            nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
            nn.Linear(hidden, out, bias=False), nn.BatchNorm1d(out, affine=False),
        )

    if args.workload == "resnet18":
        backbone = ResNet18Cifar()
    else:
        backbone = ViTTiny(args.size, use_sdpa=(args.attention == "sdpa"))
    return nn.Sequential(backbone, simclr_projector(backbone.out_dim))


def nt_xent(torch, z, temperature=0.5):
    """SimCLR NT-Xent over 2N rows; positives are i <-> i+N."""
    F = torch.nn.functional
    z = F.normalize(z, dim=1)
    n2 = z.shape[0]
    n = n2 // 2
    sim = (z @ z.T) / temperature
    eye = torch.eye(n2, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    idx = torch.arange(n2, device=z.device)
    targets = (idx + n) % n2
    return F.cross_entropy(sim, targets)


def main(argv=None):
    args = parse_args(argv)
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - any import failure means "not measured"
        print(json.dumps({"error": "torch not importable: %s: %s" % (type(e).__name__, e)}), flush=True)
        return 3

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError as e:  # only settable once, before any parallel work
        log("warning: set_num_interop_threads(1) failed: %s" % e)

    torch.manual_seed(args.seed)
    model = build(torch, args)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)

    shape = (args.batch, 3, args.size, args.size)
    x1 = torch.randn(shape)
    x2 = torch.randn(shape)
    images_per_step = 2 * args.batch

    def step():
        opt.zero_grad(set_to_none=True)
        z = model(torch.cat([x1, x2]))
        loss = nt_xent(torch, z, 0.5)
        loss.backward()
        opt.step()
        return loss.item()

    n_params = sum(p.numel() for p in model.parameters())
    log("bench_torch: workload=%s torch=%s threads=%d params=%d batch=%d pairs size=%d attention=%s"
        % (args.workload, torch.__version__, torch.get_num_threads(), n_params, args.batch,
           args.size, args.attention if args.workload == "vit" else "-"))

    rss_before = rss_now_mib()
    loss = float("nan")
    for i in range(args.warmup):
        t0 = time.perf_counter()
        loss = step()
        log("warmup %d/%d: %.3f s loss %.4f" % (i + 1, args.warmup, time.perf_counter() - t0, loss))

    times = []
    for i in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        times.append(dt)
        log("step %d/%d: %.3f s loss %.4f" % (i + 1, args.steps, dt, loss))

    median = statistics.median(times) if times else None
    mean = statistics.fmean(times) if times else None
    result = {
        "workload": args.workload,
        "framework": "pytorch",
        "torch_version": torch.__version__,
        "threads": args.threads,
        "batch_pairs": args.batch,
        "images_per_step": images_per_step,
        "warmup": args.warmup,
        "steps": args.steps,
        "step_s_median": median,
        "step_s_mean": mean,
        "images_per_s": (images_per_step / median) if median else None,
        "peak_rss_mib": peak_rss_mib(),
        "rss_before_mib": rss_before,
        "attention": args.attention if args.workload == "vit" else None,
        "final_loss": loss if math.isfinite(loss) else None,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
