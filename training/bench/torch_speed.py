"""blankspot's networks in PyTorch, timed on the same CPU as blankspot's trainer.

A long-lived process for `npm run bench:train`, which alternates with it epoch by epoch (ours,
PyTorch, ours, PyTorch...) so both sides see the same machine load. Reads one JSON request a line:
{"network": name, "batch": B, "threads": T, "images": N} (localiser-128's images are 128x128); answers one JSON line with the seconds of
one training epoch on N images per 1000 images. Needs Debian's python3-torch.

Each network mirrors training/src/networks.ts layer for layer (Glorot weights do not change the
time): the paper's lr / cnn-relu / cnn-leaky with softmax cross-entropy, and the localisers with their
second loss, per-cell sigmoid cross-entropy against the covered share, as the trainer computes it.
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def cnn(leaky):
    act = nn.LeakyReLU(0.01) if leaky else nn.ReLU()
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), act, nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 5), act, nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(13 * 13 * 8, 2))


class Localiser(nn.Module):
    """'same' 5x5 convs with leaky ReLU, 2x2 max-pools after the first `pools`, a 1x1 conv per cell."""

    def __init__(self, filters, pools=2):
        super().__init__()
        layers, ci = [], 1
        for i, f in enumerate(filters):
            layers += [nn.Conv2d(ci, f, 5, padding=2), nn.LeakyReLU(0.01)]
            if i < pools:
                layers.append(nn.MaxPool2d(2))
            ci = f
        self.features = nn.Sequential(*layers)
        self.heat = nn.Conv2d(ci, 1, 1)
        self.detect = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        cells = self.heat(self.features(x)).flatten(1)  # [N, 256]
        anomaly = cells.max(1, keepdim=True).values + self.detect
        return torch.cat([torch.zeros_like(anomaly), anomaly], 1), cells


def make(name):
    if name == "lr":
        return nn.Sequential(nn.Flatten(), nn.Linear(64 * 64, 2))
    if name in ("cnn-relu", "cnn-leaky"):
        return cnn(name == "cnn-leaky")
    if name == "localiser-128":
        return Localiser([8, 16, 32, 32, 32], pools=3)
    return Localiser(
        {
            "localiser": [8, 16, 16],
            "localiser-wide": [16, 32, 32, 32],
            "localiser-deep": [16, 32, 32, 32, 32, 32],
        }[name]
    )


data = {}


def epoch_seconds(name, batch, threads, images):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    side = 128 if name == "localiser-128" else 64
    if (images, side) not in data:
        g = torch.Generator().manual_seed(1)
        data[(images, side)] = (
            torch.rand(images, 1, side, side, generator=g),
            torch.randint(0, 2, (images,), generator=g),
            torch.rand(images, 256, generator=g),
        )
    x, y, cover = data[(images, side)]
    key = (name, batch)
    if key not in nets:
        net = make(name)
        nets[key] = (net, torch.optim.Adam(net.parameters(), lr=1e-3))
    net, opt = nets[key]
    localiser = name.startswith("localiser")
    start = time.perf_counter()
    for i in range(0, images, batch):
        opt.zero_grad()
        if localiser:
            logits, cells = net(x[i:i + batch])
            loss = F.cross_entropy(logits, y[i:i + batch]) + F.binary_cross_entropy_with_logits(
                cells, cover[i:i + batch], reduction="sum") / len(logits)
        else:
            loss = F.cross_entropy(net(x[i:i + batch]), y[i:i + batch])
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) * 1000 / images


nets = {}
print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    r = json.loads(line)
    print(json.dumps({"seconds_per_1000": epoch_seconds(r["network"], r["batch"], r["threads"], r["images"])}), flush=True)
