#!/usr/bin/env python3
"""
An oracle box reader for an upload catalogue (compose.py's labels.csv): how much of the damage a box
reader could place if it read every side of the rectangle that shows exactly, and guessed the rest as
well as the rectangles' sizes allow.

A side of the rectangle that lies on white shows nothing: on a product on pure white, the rectangle and
the background are the same 255, and where that side is can only be guessed. For each damaged photo the
oracle finds every rectangle that could have made the same picture, takes the single box with IoU >= 0.7
with as many of them as possible, and is scored against the true rectangle like the API's boxes (`fits`).
`chance` is the share of the could-have-beens that box fits: with sizes drawn uniformly, the chance it
fits. It is not an upper bound on a reader (the compositor keeps a rectangle only where it hides content,
so the true ones are not spread evenly over the could-have-beens, and on the validation catalogue cal11s
the oracle fits 93% of caught products against a mean chance of 89%), but it splits a reader's misses
into edges it did not read and sides nobody can see.

Could-have-been rectangles, as compose.py draws them: each side 15-30% of the photo's (its width from
the width, its height from the height), inside the photo, white in the damaged photo (a rectangle cannot
hide what is still there), its unseen sides not against content (or they would show), each side that
shows where it is, and long enough to hold the content it runs along. On a canvas of any other level than
the rectangle's (near-white), every side is taken to show.

Usage: box_oracle.py CATALOGUE_DIR [--kind product] [--limit N] [--json OUT]
Prints, per kind, the share of damaged photos the oracle boxes and the mean chance, by how many sides
show and by the cut's shape (`sides`); --json writes them per photo.
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


def oracle(luma, x, y, w, h):
    """(chance, sides that show, could-have-been rectangles, whether the drawn one passes the tests, and
    the best guess as x, y, width, height) for one damaged photo."""
    H, W = luma.shape
    longer = max(H, W)
    level = float(np.median(luma[y : y + h, x : x + w]))
    border = np.concatenate([luma[0], luma[-1], luma[:, 0], luma[:, -1]])
    if np.median(border) < level:
        # A canvas of any other level than the rectangle's (near-white, 246-254 in compose.py): credit the
        # reader with every side, however faint the step.
        return 1.0, 4, 1, True, (x, y, w, h)
    differs = luma < level - STEP
    shows = {}
    spans = {}
    for side in ("left", "right", "top", "bottom"):
        profile = outside_profile(luma, x, y, w, h, side)
        hit = np.flatnonzero(profile < level - STEP) if profile is not None else np.zeros(0, np.int64)  # as `differs`
        shows[side] = hit.size >= 0.02 * longer
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
    truth = (l == x) & (r == x + w) & (t == y) & (b == y + h)
    truth_fits = bool(ok[truth].all())
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
        ok &= a < 0.02 * longer
    ok |= truth  # the rectangle that was drawn is always one that could have been
    l, t, r, b = l[ok], t[ok], r[ok], b[ok]
    n = l.size
    if n == 1:
        return 1.0, sum(shows.values()), n, truth_fits, (x, y, w, h)
    hyp = np.stack([l, t, r, b], 1).astype(np.float64)
    rng = np.random.default_rng(0)
    if n > 20000:  # many could-have-beens (no side shows): a random 20,000 of them stand for all
        hyp = hyp[rng.choice(n, 20000, replace=False)]
    guesses = hyp if len(hyp) <= 3000 else hyp[rng.choice(len(hyp), 3000, replace=False)]
    best, best_guess = 0, None
    for chunk in range(0, len(guesses), 500):
        g = guesses[chunk : chunk + 500, None, :]
        iw = np.clip(np.minimum(g[..., 2], hyp[None, :, 2]) - np.maximum(g[..., 0], hyp[None, :, 0]), 0, None)
        ih = np.clip(np.minimum(g[..., 3], hyp[None, :, 3]) - np.maximum(g[..., 1], hyp[None, :, 1]), 0, None)
        inter = iw * ih
        ga = (g[..., 2] - g[..., 0]) * (g[..., 3] - g[..., 1])
        ha = (hyp[None, :, 2] - hyp[None, :, 0]) * (hyp[None, :, 3] - hyp[None, :, 1])
        fit = inter >= IOU_FIT * (ga + ha - inter)
        counts = fit.sum(1)
        if int(counts.max()) > best:
            best, best_guess = int(counts.max()), guesses[chunk + int(counts.argmax())].tolist()
    gl, gt, gr, gb = (int(v) for v in best_guess)
    return best / len(hyp), sum(shows.values()), n, truth_fits, (gl, gt, gr - gl, gb - gt)


def iou(a, b):
    """IoU of two (x, y, width, height) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def summarise(results):
    fit = [x["fits"] for x in results]
    out = {"damaged": len(results), "oracle fits": round(float(np.mean(fit)), 4), "mean chance": round(float(np.mean([x["chance"] for x in results])), 4)}
    for key, label in (("shown", "by sides that show"), ("sides", "by cut shape (sides over content)")):
        groups = {}
        for x in results:
            groups.setdefault(str(x[key]) or "-", []).append(x["fits"])
        out[f"{label}: photos, oracle fits"] = {k: [len(v), round(float(np.mean(v)), 4)] for k, v in sorted(groups.items())}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("catalogue")
    ap.add_argument("--kind", action="append", help="product and/or natural (default: both)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many damaged photos per kind")
    ap.add_argument("--json", help="write per-photo results here")
    a = ap.parse_args()
    kinds = a.kind or ["product", "natural"]
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
        truth = tuple(int(r[k]) for k in ("x", "y", "width", "height"))
        chance, shown, n, drawn_passes, guess = oracle(luma, *truth)
        results.append(
            {
                "file": r["file"],
                "kind": r["kind"],
                "sides": r.get("sides", ""),
                "shown": shown,
                "fits": bool(iou(guess, truth) >= IOU_FIT),
                "chance": chance,
                "rectangles": n,
                "drawnPasses": drawn_passes,
                "guess": guess,
            }
        )
    summary = {kind: summarise([x for x in results if x["kind"] == kind]) for kind in kinds if any(x["kind"] == kind for x in results)}
    for kind in summary:
        summary[kind]["drawn rectangle passes the white tests"] = sum(x["drawnPasses"] for x in results if x["kind"] == kind)
    if len(summary) > 1:
        summary["all"] = summarise(results)
    print(json.dumps(summary, indent=1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f)


if __name__ == "__main__":
    main()
