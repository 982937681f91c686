#!/usr/bin/env python3
"""
An upload catalogue for judging blankspot, written independently of its training generator (OpenCV
and NumPy here, sharp and TypeScript there): real JPEG files of products on white and natural photos,
half of them damaged by a white rectangle of 15-30% of each side that covers visible content.

Usage: compose.py SOURCES.json OUT_DIR --products N --photos N [--seed S]
SOURCES.json: {"cutouts": [paths], "photos": [paths]}, the held-out test sources only.
Writes OUT_DIR/*.jpg and OUT_DIR/labels.csv (file,kind,damaged,x,y,width,height,source,covered,cut,sides):
`source` is the file name of the photo or cut-out(s) it was composed from ("+" between two), so figures
can be resampled by source (a catalogue's objects vary more than its images do); for a damaged photo,
`covered` is the share of the rectangle that hides content and `cut` the length of its outline over
content as a share of the photo's longer side (how much of the damage a person can see); `sides` how
many of its four sides run over content for at least 2% of the longer side: the cut's shape (1: an end
sliced off flat, which an object's own flat side can look like; 2: a corner; 3: a notch; 4: a hole; 0:
content under it but hardly along its outline).
"""
import argparse
import csv
import json
import os

import cv2
import numpy as np


def load_rgba(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise SystemExit(f"cannot read {path}")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGRA)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    if img.dtype != np.uint8:
        img = (img / 257).astype(np.uint8)
    return img


def trim(rgba):
    """The cut-out's bounding box of visible pixels, so 'object size' means the object."""
    ys, xs = np.nonzero(rgba[:, :, 3] > 8)
    if len(xs) == 0:
        return rgba
    return rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def product_photo(cutouts, rng):
    side = int(rng.integers(800, 2001))
    width = side if rng.random() < 0.8 else int(side * rng.uniform(0.75, 1.33))
    height = side
    # Marketplaces ask for pure white; a few studios deliver near-white.
    level = 255 if rng.random() < 0.85 else int(rng.integers(246, 255))
    canvas = np.full((height, width, 3), level, np.float32)
    count = 1 if rng.random() < 0.8 else 2
    used = []
    for _ in range(count):
        pick = int(rng.integers(len(cutouts)))
        used.append(pick)
        obj = trim(cutouts[pick])
        fill = rng.uniform(0.3, 0.9) if count == 1 else rng.uniform(0.2, 0.5)
        scale = fill * min(width, height) / max(obj.shape[:2])
        w = max(2, int(obj.shape[1] * scale))
        h = max(2, int(obj.shape[0] * scale))
        obj = cv2.resize(obj, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        if count == 1:
            x0 = (width - w) // 2 + int(rng.integers(-width // 20, width // 20 + 1))
            y0 = (height - h) // 2 + int(rng.integers(-height // 20, height // 20 + 1))
        else:
            x0 = int(rng.integers(0, max(1, width - w)))
            y0 = int(rng.integers(0, max(1, height - h)))
        x0 = min(max(0, x0), width - w)
        y0 = min(max(0, y0), height - h)
        alpha = obj[:, :, 3:4] / 255.0
        region = canvas[y0 : y0 + h, x0 : x0 + w]
        canvas[y0 : y0 + h, x0 : x0 + w] = obj[:, :, :3] * alpha + region * (1 - alpha)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), level, used


def natural_photo(photos, rng):
    pick = int(rng.integers(len(photos)))
    img = photos[pick][:, :, :3]
    h, w = img.shape[:2]
    long_side = int(rng.integers(800, 2001))
    scale = long_side / max(h, w)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=interp), None, [pick]


def damage(img, background, rng):
    """A white rectangle, each side 15-30% of the photo's, where at least a tenth of it hides content."""
    h, w = img.shape[:2]
    luma = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.int16)
    if background is None:
        content = luma < 235
    else:
        content = np.abs(luma - background) > 20
    for _ in range(200):
        rw = int(w * rng.uniform(0.15, 0.3))
        rh = int(h * rng.uniform(0.15, 0.3))
        x = int(rng.integers(0, w - rw + 1))
        y = int(rng.integers(0, h - rh + 1))
        hidden = content[y : y + rh, x : x + rw]
        if hidden.mean() >= 0.1:
            out = img.copy()
            out[y : y + rh, x : x + rw] = 255
            # How visible the damage is: the share of the rectangle over content, and the length of its
            # outline that crosses content (the straight cut a person sees), over the photo's longer side.
            cut = hidden[0].sum() + hidden[-1].sum() + hidden[1:-1, 0].sum() + hidden[1:-1, -1].sum()
            edges = (hidden[0], hidden[-1], hidden[:, 0], hidden[:, -1])
            sides = sum(1 for e in edges if e.sum() >= 0.02 * max(h, w))
            return out, (x, y, rw, rh), (round(float(hidden.mean()), 4), round(float(cut) / max(h, w), 4), sides)
    return None, None, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sources")
    ap.add_argument("out")
    ap.add_argument("--products", type=int, default=100)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    with open(a.sources) as f:
        sources = json.load(f)
    cutouts = [load_rgba(p) for p in sources["cutouts"]]
    photos = [load_rgba(p) for p in sources["photos"]]
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for kind, count, make, pool, paths in (
        ("product", a.products, product_photo, cutouts, sources["cutouts"]),
        ("natural", a.photos, natural_photo, photos, sources["photos"]),
    ):
        for i in range(count):
            while True:
                img, background, used = make(pool, rng)
                damaged = i % 2 == 1
                box = None
                visibility = ("", "", "")
                if damaged:
                    img2, box, visibility = damage(img, background, rng)
                    if img2 is None:
                        continue  # nothing to cover in this one; compose another
                    img = img2
                break
            name = f"{kind}-{i:05d}.jpg"
            quality = int(rng.integers(75, 96))
            cv2.imwrite(os.path.join(a.out, name), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            source = "+".join(os.path.basename(paths[k]) for k in used)
            rows.append([name, kind, int(damaged), *(box if box else ("", "", "", "")), source, *visibility])
    with open(os.path.join(a.out, "labels.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "kind", "damaged", "x", "y", "width", "height", "source", "covered", "cut", "sides"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
