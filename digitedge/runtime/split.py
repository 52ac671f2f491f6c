"""Touching digits, split where the model reads two digits (recognition-driven segmentation).

The finder cuts only regions far too wide for one digit. A pair written close enough to touch (cursive
"35", a 1 leaning on a 5) is often no wider than a wide 0; shape cannot tell them apart, the model can: it
was trained to reject merged pairs, and it reads the halves of a true pair confidently. So a wide region the
model does not read as one digit is cut at its thinnest columns, and kept cut where both halves read well.
A number underlined with one pen stroke is one region too: the stroke is taken away first, and the digits
above it are kept apart where each reads well (the finder does so at once where the region is far too wide);
so is a lone digit the stroke tied itself to, and so are digits that only faint ink ties together.
The other way round, a digit whose stroke broke on both sides (a faint 0 as two arcs) is two regions side by
side: neighbours shaped like one digit's pieces are read together, and kept so where that reads better.
"""

from __future__ import annotations

import numpy as np

from .preprocess import JOIN_GAP, Region, mnist_crop, strong_parts, underlined

TRY_ASPECT = 0.8  # regions at least this wide (x their height) may be two digits
CUTS = 3  # candidate cuts: the columns with the least ink in the middle of the region
MIDDLE = (0.2, 0.8)  # ... between these shares of its width
MAX_PARTS = 4  # a region splits into at most this many digits
REJOIN_ASPECT = 1.6  # two neighbours are read together when no wider together than this x tall (one digit's
#                      shape: a 0 may be wide)


def cut_candidates(strength: np.ndarray, count: int = CUTS) -> list[int]:
    """Columns to cut at: the local minima of the ink profile in the middle of the piece, thinnest first,
    and the middle column."""
    w = strength.shape[1]
    lo, hi = int(w * MIDDLE[0]), int(np.ceil(w * MIDDLE[1]))
    if hi - lo < 1:
        return []
    profile = (strength > 0).sum(0).astype(np.float64)
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    cols = np.arange(lo, hi)
    minima = [c for c in cols if smooth[c] <= smooth[max(c - 1, 0)] and smooth[c] <= smooth[min(c + 1, w - 1)]]
    # Round digits touch where both are thickest: the middle is always a candidate too.
    picks = sorted(minima, key=lambda c: (profile[c], abs(c - w / 2)))[:count] + [w // 2]
    return [c for i, c in enumerate(picks) if all(abs(c - d) > 2 for d in picks[:i])]


def halves(strength: np.ndarray, cut: int):
    """[(x offset, y offset, tight piece)] left and right of a cut; empty sides are dropped."""
    out = []
    for x0, x1 in ((0, cut), (cut, strength.shape[1])):
        part = strength[:, x0:x1]
        rows, cols = np.flatnonzero(part.any(1)), np.flatnonzero(part.any(0))
        if len(rows):
            out.append((x0 + cols[0], rows[0], part[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))
    return out


def split_region(strength: np.ndarray, predict, threshold: float, depth: int = MAX_PARTS - 1):
    """[(x, y, piece, probabilities)] of the digits in a piece the model does not read as one: the digits
    standing on a stroke drawn under them, if each reads at `threshold` or better; else those that only weak
    ink ties together (strong_parts), if each reads so; else, of the cuts whose halves each read so (a half
    that does not is split again the same way), the one whose weakest digit reads best. None when none of
    these reads as digits."""
    if depth < 1:
        return None
    lifted = underlined(strength, least=1)
    found = read_parts(lifted, predict, threshold, depth) if lifted else None
    if found and weakest(found) >= threshold:
        return found
    if strength.shape[1] < TRY_ASPECT * strength.shape[0]:
        return None
    # Digits that only weak ink ties together (a faint stroke or smudge from one to the other, where no column
    # cut parts them: they overlap in x), apart at half their strokes' contrast, as mnist_crop reads them.
    apart = strong_parts(strength)
    found = read_parts(apart, predict, threshold, depth) if apart else None
    if found and weakest(found) >= threshold and len(found) <= depth + 1:
        return found
    best, best_score = None, threshold
    for cut in cut_candidates(strength):
        parts = halves(strength, cut)
        found = read_parts(parts, predict, threshold, depth) if len(parts) == 2 else None
        if not found:
            continue
        score = weakest(found)
        if score >= best_score and len(found) <= depth + 1:
            best, best_score = found, score
    return best


def weakest(found) -> float:
    """The top probability of the least sure digit of a split."""
    return min(float(p.max()) for *_, p in found)


def read_parts(parts, predict, threshold: float, depth: int):
    """[(x, y, piece, probabilities)] of `parts` [(x, y, piece)], each part read below `threshold` split
    again (one level deeper); None when a part has no ink left."""
    crops = [mnist_crop(p) for _, _, p in parts]
    if any(c is None for c in crops):
        return None
    found = []
    for (x, y, piece), p in zip(parts, predict(np.stack(crops))):
        deeper = None if p.max() >= threshold else split_region(piece, predict, threshold, depth - 1)
        found += [(x + dx, y + dy, q, pq) for dx, dy, q, pq in deeper] if deeper else [(x, y, piece, p)]
    return found


def rejoin(regions: list, probs: np.ndarray, predict, threshold: float):
    """(regions, probabilities) with each pair of neighbours on a line that reads together, at `threshold` or
    better, better than either part alone made one region. Only neighbours that could be one digit's pieces
    are tried: close (JOIN_GAP of the taller apart), level, and not much wider together than tall (REJOIN_ASPECT);
    the model, trained to reject merged pairs, tells a broken digit from two."""
    regions, probs = list(regions), list(probs)
    i = 0
    while i < len(regions) - 1:
        a, b = regions[i], regions[i + 1]
        pa, pb = float(probs[i].max()), float(probs[i + 1].max())
        joined = together(a, b)
        if joined is not None:
            p = predict(joined.crop[None])[0]
            if p.max() >= threshold and p.max() > max(pa, pb):
                regions[i:i + 2], probs[i:i + 2] = [joined], [p]
                continue
        i += 1
    return regions, np.array(probs)


def together(a, b) -> Region | None:
    """One region of two neighbours on a line that could be one digit's pieces; None if they could not."""
    if a.line != b.line or a.strength is None or b.strength is None or a.scale != b.scale:
        return None
    (ax, ay, aw, ah), (bx, by, bw, bh) = a.box, b.box
    x0, y0, x1, y1 = min(ax, bx), min(ay, by), max(ax + aw, bx + bw), max(ay + ah, by + bh)
    gap, overlap = max(ax, bx) - min(ax + aw, bx + bw), min(ay + ah, by + bh) - max(ay, by)
    if gap > JOIN_GAP * max(ah, bh) or overlap < 0.5 * min(ah, bh) or x1 - x0 > REJOIN_ASPECT * (y1 - y0):
        return None
    s = a.scale  # both strengths at the working scale, placed by their boxes
    ox, oy = round(x0 * s), round(y0 * s)
    spots = [(round(r.box[0] * s) - ox, round(r.box[1] * s) - oy, r.strength) for r in (a, b)]
    h = max(y + q.shape[0] for _, y, q in spots)
    w = max(x + q.shape[1] for x, _, q in spots)
    strength = np.zeros((h, w), a.strength.dtype)
    for x, y, q in spots:
        view = strength[y:y + q.shape[0], x:x + q.shape[1]]
        np.maximum(view, q[:view.shape[0], :view.shape[1]], out=view)
    crop = mnist_crop(strength)
    return None if crop is None else Region((x0, y0, x1 - x0, y1 - y0), crop, a.line, strength, s)
