#!/usr/bin/env python3
"""
How well can any box reader place the white rectangles of an upload catalogue (compose.py's labels.csv)?

A side of the rectangle that lies on white shows nothing: on a product on pure white, the rectangle and
the background are the same 255. Where such a side is, a reader can only guess. For each damaged photo
this finds every rectangle that could have made the same picture and picks the single box that has
IoU >= 0.7 with as many of them as possible; that share is the photo's ceiling, the chance that the
best possible guess fits. The reader is given more than it could know (the exact position of every side
that does show), so these are upper bounds.

Could-have-been rectangles, as compose.py draws them: each side 15-30% of the photo's (its width from
the width, its height from the height), inside the photo, every one of its pixels white in the damaged
photo (a rectangle cannot hide what is still there), its unseen sides not against content (or they would
show), and each side that shows kept where it is, long enough to hold the content it runs along. They
are weighed alike, as the compositor draws sizes and positions uniformly.

Usage: box_ceiling.py CATALOGUE_DIR [--kind product] [--limit N] [--json OUT]
Prints the ceiling per kind and per cut shape (`sides`), and what it allows at a given recall: if a model
catches all but the hardest few percent of the damage, the share of caught rectangles any reader could
box is at most this.
"""
import argparse
import csv
import json
import os

import cv2
import numpy as np

IOU_FIT = 0.7
SIDE_MIN, SIDE_MAX = 0.15, 0.3
# A pixel differs from the pasted white when it is STEP levels below the rectangle's own level (its
# median after JPEG): the reader is credited with seeing a canvas of 252 against 255. A could-have-been
# rectangle must be that white inside, but for a band of RINGING pixels along its sides (JPEG ringing
# next to content).
STEP = 3
RINGING = 4
GRID = 0.01  # candidate positions of an unseen side: every 1% of the photo's side


def integral(mask):
    out = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int64)
    out[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    return out


def box_sum(ii, l, t, r, b):
    """Sum of the mask over [l, r) x [t, b), vectorised over arrays of boxes."""
    return ii[b, r] - ii[t, r] - ii[b, l] + ii[t, l]


def outside_profile(luma, x, y, w, h, side):
    """The darkest of the 3 pixels just outside one side, along it (None at the photo's border)."""
    H, W = luma.shape
    if side == "left":
        return None if x < 3 else luma[y : y + h, x - 3 : x].min(1)
    if side == "right":
        return None if x + w + 3 > W else luma[y : y + h, x + w : x + w + 3].min(1)
    if side == "top":
        return None if y < 3 else luma[y - 3 : y, x : x + w].min(0)
    return None if y + h + 3 > H else luma[y + h : y + h + 3, x : x + w].min(0)


def candidates(lo, hi, step):
    lo, hi = int(np.floor(lo)), int(np.ceil(hi))
    if hi < lo:
        return np.zeros(0, np.int64)
    return np.unique(np.append(np.arange(lo, hi + 1, step), hi))


def ceiling(luma, x, y, w, h):
    """(ceiling, sides that show, could-have-been rectangles, whether the drawn one passes the tests)."""
    H, W = luma.shape
    minside = max(H, W)
    level = float(np.median(luma[y : y + h, x : x + w]))
    border = np.concatenate([luma[0], luma[-1], luma[:, 0], luma[:, -1]])
    if np.median(border) < level:
        # A canvas of any other level than the rectangle's (near-white, 246-254 in compose.py): credit the
        # reader with every side, however faint the step.
        return 1.0, 4, 1, True
    differs = luma < level - STEP
    shows = {}
    spans = {}
    for side in ("left", "right", "top", "bottom"):
        profile = outside_profile(luma, x, y, w, h, side)
        hit = np.flatnonzero(profile < level - STEP) if profile is not None else np.zeros(0, np.int64)
        shows[side] = hit.size >= 0.02 * minside
        if shows[side]:
            spans[side] = (int(hit[0]), int(hit[-1]))
    wmin, wmax = int(W * SIDE_MIN), int(W * SIDE_MAX)
    hmin, hmax = int(H * SIDE_MIN), int(H * SIDE_MAX)
    sx, sy = max(1, round(GRID * W)), max(1, round(GRID * H))

    def axis(lo_shows, hi_shows, lo_true, hi_true, size_min, size_max, limit, step, need):
        """Pairs (start, end) along one axis: a side that shows stays put; need = span that must be held."""
        if lo_shows and hi_shows:
            pairs = np.array([[lo_true, hi_true]])
        elif lo_shows:
            ends = np.append(candidates(lo_true + size_min, min(limit, lo_true + size_max), step), hi_true)
            pairs = np.stack([np.full(ends.size, lo_true), ends], 1)
        elif hi_shows:
            starts = np.append(candidates(max(0, hi_true - size_max), hi_true - size_min, step), lo_true)
            pairs = np.stack([starts, np.full(starts.size, hi_true)], 1)
        else:
            pairs = [(lo_true, hi_true)]
            for s in np.unique(np.append(candidates(0, limit - size_min, step), lo_true)):
                pairs.extend((s, e) for e in candidates(s + size_min, min(limit, s + size_max), step))
            pairs = np.array(pairs)
        pairs = np.unique(pairs, axis=0)
        if need is not None:
            pairs = pairs[(pairs[:, 0] <= need[0]) & (pairs[:, 1] >= need[1])]
        return pairs

    # The content a side that shows runs along must stay inside the rectangle's extent on the other axis.
    def need_along(a, b, offset):
        runs = [spans[s] for s in (a, b) if s in spans]
        if not runs:
            return None
        return (offset + min(r[0] for r in runs) + 2, offset + max(r[1] for r in runs) + 1 - 2)

    xs = axis(shows["left"], shows["right"], x, x + w, wmin, wmax, W, sx, need_along("top", "bottom", x))
    ys = axis(shows["top"], shows["bottom"], y, y + h, hmin, hmax, H, sy, need_along("left", "right", y))
    xs = xs[((xs[:, 1] - xs[:, 0]) >= wmin) & ((xs[:, 1] - xs[:, 0]) <= wmax) | ((xs[:, 0] == x) & (xs[:, 1] == x + w))]
    ys = ys[((ys[:, 1] - ys[:, 0]) >= hmin) & ((ys[:, 1] - ys[:, 0]) <= hmax) | ((ys[:, 0] == y) & (ys[:, 1] == y + h))]
    l = np.repeat(xs[:, 0], len(ys))
    r = np.repeat(xs[:, 1], len(ys))
    t = np.tile(ys[:, 0], len(xs))
    b = np.tile(ys[:, 1], len(xs))
    near = integral(differs)
    # As white as the rectangle inside (but for the ringing band), and no step against an unseen side.
    inner = (r - l - 2 * RINGING) * (b - t - 2 * RINGING)
    ok = box_sum(near, l + RINGING, t + RINGING, r - RINGING, b - RINGING) <= 0.001 * inner
    truth_fits = bool(ok[(l == x) & (r == x + w) & (t == y) & (b == y + h)].all())
    for side in ("left", "right", "top", "bottom"):
        if shows[side]:
            continue
        if side == "left":
            a = box_sum(near, np.maximum(l - 3, 0), t, l, b)
        elif side == "right":
            a = box_sum(near, r, t, np.minimum(r + 3, W), b)
        elif side == "top":
            a = box_sum(near, l, np.maximum(t - 3, 0), r, t)
        else:
            a = box_sum(near, l, b, r, np.minimum(b + 3, H))
        ok &= a < 0.02 * minside
    truth = (l == x) & (r == x + w) & (t == y) & (b == y + h)
    ok |= truth  # the rectangle that was drawn is always one that could have been
    l, t, r, b = l[ok], t[ok], r[ok], b[ok]
    n = l.size
    if n == 1:
        return 1.0, sum(shows.values()), n, truth_fits
    hyp = np.stack([l, t, r, b], 1).astype(np.float64)
    rng = np.random.default_rng(0)
    if n > 20000:  # many could-have-beens (no side shows): a random 20,000 of them stand for all
        hyp = hyp[rng.choice(n, 20000, replace=False)]
    guesses = hyp if len(hyp) <= 3000 else hyp[rng.choice(len(hyp), 3000, replace=False)]
    best = 0
    for chunk in range(0, len(guesses), 500):
        g = guesses[chunk : chunk + 500, None, :]
        iw = np.clip(np.minimum(g[..., 2], hyp[None, :, 2]) - np.maximum(g[..., 0], hyp[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(g[..., 3], hyp[None, :, 3]) - np.maximum(g[..., 1], hyp[None, :, 1]), 0, None)
        inter = iw * ih
        ga = (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])
        ha = (hyp[None, :, 2] - hyp[None, :, 0]) * (hyp[None, :, 3] - hyp[None, :, 1])
        fit = inter >= IOU_FIT * (ga + ha - inter)
        best = max(best, int(fit.sum(1).max()))
    return best / len(hyp), sum(shows.values()), n, truth_fits


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("catalogue")
    ap.add_argument("--kind", action="append", help="product and/or natural (default: both)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many damaged photos per kind")
    ap.add_argument("--recall", type=float, action="append", help="also report the bound at this recall (default 0.97)")
    ap.add_argument("--json", help="write per-photo results here")
    a = ap.parse_args()
    kinds = a.kind or ["product", "natural"]
    recalls = a.recall or [0.97]
    with open(os.path.join(a.catalogue, "labels.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["damaged"] == "1" and r["kind"] in kinds]
    results = []
    per_kind = {}
    for r in rows:
        if a.limit and per_kind.get(r["kind"], 0) >= a.limit:
            continue
        per_kind[r["kind"]] = per_kind.get(r["kind"], 0) + 1
        luma = cv2.imread(os.path.join(a.catalogue, r["file"]), cv2.IMREAD_GRAYSCALE)
        if luma is None:
            raise SystemExit(f"cannot read {r['file']}")
        x, y, w, h = (int(r[k]) for k in ("x", "y", "width", "height"))
        c, shown, n, fits = ceiling(luma, x, y, w, h)
        results.append({"file": r["file"], "kind": r["kind"], "sides": r.get("sides", ""), "shown": shown, "ceiling": c, "rectangles": n, "truthFits": fits})
    summary = {}
    for kind in kinds:
        mine = [x for x in results if x["kind"] == kind]
        if not mine:
            continue
        cs = np.sort(np.array([x["ceiling"] for x in mine]))
        entry = {"damaged": len(mine), "ceiling, all caught": round(float(cs.mean()), 4)}
        entry["drawn rectangle passes the white tests"] = sum(x["truthFits"] for x in mine)
        for rec in recalls:
            keep = cs[len(cs) - int(np.ceil(rec * len(cs))) :]  # the misses are the hardest to box
            entry[f"ceiling at recall {rec:.0%}"] = round(float(keep.mean()), 4)
        by_sides = {}
        for x in mine:
            by_sides.setdefault(x["sides"] or "-", []).append(x["ceiling"])
        entry["by cut shape (sides): count, ceiling"] = {k: [len(v), round(float(np.mean(v)), 4)] for k, v in sorted(by_sides.items())}
        by_shown = {}
        for x in mine:
            by_shown.setdefault(str(x["shown"]), []).append(x["ceiling"])
        entry["by sides that show: count, ceiling"] = {k: [len(v), round(float(np.mean(v)), 4)] for k, v in sorted(by_shown.items())}
        summary[kind] = entry
    if len(summary) > 1:
        cs = np.sort(np.array([x["ceiling"] for x in results]))
        summary["all"] = {"damaged": len(cs), "ceiling, all caught": round(float(cs.mean()), 4)}
        for rec in recalls:
            keep = cs[len(cs) - int(np.ceil(rec * len(cs))) :]
            summary["all"][f"ceiling at recall {rec:.0%}"] = round(float(keep.mean()), 4)
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
