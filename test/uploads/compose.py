#!/usr/bin/env python3
"""
An upload catalogue for judging blankspot, written independently of its training generator (OpenCV
and NumPy here, sharp and TypeScript there): real JPEG files of products on white and natural photos,
half of them damaged by a white rectangle of 15-30% of each side that covers visible content.

Usage: compose.py SOURCES.json OUT_DIR --products N --photos N [--seed S] [--layouts white|all]
SOURCES.json: {"cutouts": [paths], "photos": [paths], "objects": [paths]}, the held-out test sources only.
`--layouts all` composes products in the layouts catalogues hold, in turn: cut-outs on white (`white`), a
product shot on its own backdrop padded onto a white canvas with margins on all sides or bars on two
(`padded`), a natural photo padded the same way (`padded-photo`), and a collage of two to four views on
white (`collage`); objects come from the cut-outs and the objects alike. `--layouts white` (the default)
composes every product on white from the cut-outs, as catalogues from before.
Writes OUT_DIR/*.jpg and OUT_DIR/labels.csv (file,kind,damaged,x,y,width,height,source,covered,cut,sides,layout):
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


def own_backdrop(height, width, rng):
    """The backdrop a product was shot on before it was padded: light grey, off-white or a lit gradient, with sensor noise."""
    kind = rng.random()
    if kind < 0.45:
        back = np.full((height, width), rng.uniform(200, 248), np.float32)
    elif kind < 0.8:
        # Light falling off from one side, the way a single softbox lights a sweep.
        t = np.linspace(0, 1, width if rng.random() < 0.5 else height, dtype=np.float32)
        near, far = rng.uniform(235, 255), rng.uniform(190, 235)
        ramp = near + (far - near) * t**1.5
        back = np.broadcast_to(ramp[None, :] if ramp.size == width else ramp[:, None], (height, width)).copy()
    else:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r = np.hypot(xx / width - 0.5, yy / height - 0.5) / 0.707
        back = rng.uniform(238, 255) - rng.uniform(20, 55) * r**2
    back = back + rng.normal(0, rng.uniform(0.5, 2.5), back.shape).astype(np.float32)
    return np.repeat(np.clip(back, 0, 255)[:, :, None], 3, axis=2)


def place(canvas, obj, x0, y0, shadow, rng):
    """Alpha-composes obj at (x0, y0), clipped at the canvas's edges, with a blurred shadow under it when asked."""
    h, w = obj.shape[:2]
    alpha = obj[:, :, 3:4] / 255.0
    if shadow:
        blur = max(3, int(min(h, w) * 0.04)) | 1
        dx, dy = int(w * rng.uniform(0.0, 0.05)), int(h * rng.uniform(0.02, 0.06))
        shade = cv2.GaussianBlur(obj[:, :, 3], (blur, blur), 0)[:, :, None] / 255.0 * rng.uniform(0.15, 0.4)
        place_layer(canvas, np.zeros_like(obj[:, :, :3]), shade, x0 + dx, y0 + dy)
    place_layer(canvas, obj[:, :, :3], alpha, x0, y0)


def place_layer(canvas, rgb, alpha, x0, y0):
    H, W = canvas.shape[:2]
    h, w = rgb.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    region = canvas[cy0:cy1, cx0:cx1]
    canvas[cy0:cy1, cx0:cx1] = rgb[sub] * alpha[sub] + region * (1 - alpha[sub])


def scaled(obj, longest):
    scale = longest / max(obj.shape[:2])
    w, h = max(2, int(obj.shape[1] * scale)), max(2, int(obj.shape[0] * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(obj, (w, h), interpolation=interp).astype(np.float32)


def pad_onto_white(shot, rng):
    """A photo placed on a larger white canvas: margins on all sides, or bars on two (it spans the other way)."""
    level = 255 if rng.random() < 0.9 else int(rng.integers(248, 255))
    sh, sw = shot.shape[:2]
    if rng.random() < 0.5:
        side = int(rng.integers(800, 2001))
        width = side if rng.random() < 0.75 else int(side * rng.uniform(0.8, 1.25))
        height = side
        k = rng.uniform(0.5, 0.9) * min(width, height) / max(sh, sw)
    else:
        # Bars: a square canvas the photo spans along its longer side; a square photo is cropped first.
        if 0.85 < sw / sh < 1.18:
            keep = rng.uniform(0.55, 0.8)
            shot = shot[:, : int(sw * keep)] if rng.random() < 0.5 else shot[: int(sh * keep)]
            sh, sw = shot.shape[:2]
        width = height = int(rng.integers(800, 2001))
        k = width / max(sh, sw)
    w, h = max(2, min(width, int(sw * k))), max(2, min(height, int(sh * k)))
    shot = cv2.resize(shot, (w, h), interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)
    canvas = np.full((height, width, 3), level, np.float32)
    x0 = int((width - w) * rng.uniform(0.25, 0.75))
    y0 = int((height - h) * rng.uniform(0.25, 0.75))
    canvas[y0 : y0 + h, x0 : x0 + w] = shot
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), level


def padded_product(objects, rng):
    """A product shot on its own backdrop, framed so the object may run off it, then padded onto white."""
    pick = int(rng.integers(len(objects)))
    obj = trim(objects[pick])
    sw = int(rng.integers(500, 1200))
    sh = int(sw * rng.uniform(0.7, 1.4))
    shot = own_backdrop(sh, sw, rng)
    longest = rng.uniform(0.5, 1.25) * min(sh, sw)
    o = scaled(obj, longest)
    x0 = (sw - o.shape[1]) // 2 + int(rng.normal(0, sw * 0.08))
    y0 = (sh - o.shape[0]) // 2 + int(rng.normal(0, sh * 0.08))
    place(shot, o, x0, y0, rng.random() < 0.5, rng)
    img, level = pad_onto_white(np.clip(np.rint(shot), 0, 255).astype(np.uint8), rng)
    return img, level, [pick]


def padded_photo(photos, rng):
    """A natural photo padded onto white, as a seller pads a lifestyle shot to a marketplace's square."""
    pick = int(rng.integers(len(photos)))
    img, level = pad_onto_white(photos[pick][:, :, :3], rng)
    return img, level, [pick]


def collage(objects, rng):
    """Two to four views of products in a grid on white, each on white or on its own backdrop."""
    side = int(rng.integers(800, 2001))
    n = int(rng.integers(2, 5))
    cols = 2 if n > 2 or rng.random() < 0.5 else 1
    rows = -(-n // cols)
    gap = int(side * rng.uniform(0.0, 0.04))
    cw, ch = (side - gap * (cols + 1)) // cols, (side - gap * (rows + 1)) // rows
    canvas = np.full((side, side, 3), 255, np.float32)
    used = []
    for i in range(n):
        pick = int(rng.integers(len(objects)))
        used.append(pick)
        cell = own_backdrop(ch, cw, rng) if rng.random() < 0.3 else np.full((ch, cw, 3), 255, np.float32)
        o = scaled(trim(objects[pick]), rng.uniform(0.5, 0.9) * min(cw, ch))
        place(cell, o, (cw - o.shape[1]) // 2, (ch - o.shape[0]) // 2, rng.random() < 0.3, rng)
        x0, y0 = gap + (i % cols) * (cw + gap), gap + (i // cols) * (ch + gap)
        canvas[y0 : y0 + ch, x0 : x0 + cw] = cell
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), 255, used


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
    ap.add_argument("--layouts", choices=("white", "all"), default="white")
    a = ap.parse_args()
    with open(a.sources) as f:
        sources = json.load(f)
    cutouts = [load_rgba(p) for p in sources["cutouts"]]
    photos = [load_rgba(p) for p in sources["photos"]]
    object_paths = sources["cutouts"] + (sources.get("objects", []) if a.layouts == "all" else [])
    objects = cutouts + [load_rgba(p) for p in object_paths[len(cutouts) :]]
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    # Products in turn through the layouts, two photos (a clean and a damaged one) per turn.
    product_layouts = (
        [("white", product_photo, objects, object_paths)]
        if a.layouts == "white"
        else [
            ("white", product_photo, objects, object_paths),
            ("padded", padded_product, objects, object_paths),
            ("padded-photo", padded_photo, photos, sources["photos"]),
            ("collage", collage, objects, object_paths),
        ]
    )
    rows = []
    for kind, count in (("product", a.products), ("natural", a.photos)):
        for i in range(count):
            if kind == "product":
                layout, make, pool, paths = product_layouts[(i // 2) % len(product_layouts)]
            else:
                layout, make, pool, paths = "natural", natural_photo, photos, sources["photos"]
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
            row = [name, kind, int(damaged), *(box if box else ("", "", "", "")), source, *visibility, layout]
            rows.append(row)
    with open(os.path.join(a.out, "labels.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "kind", "damaged", "x", "y", "width", "height", "source", "covered", "cut", "sides", "layout"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
