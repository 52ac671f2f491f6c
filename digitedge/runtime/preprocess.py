"""Any photo, scan or video frame -> the digit regions on it, each as an MNIST-style 28x28 crop.

One implementation shared by `classify`, `live`, the real-world evaluation and the tests. OpenCV + numpy.

The pipeline, and why:
1. grey, at a reduced working scale (a VGA frame is segmented at 320 px: morphology cost grows with area);
   polarity (ink on paper, or chalk on a board) from which tail of the histogram is the sparse one;
2. ink map = black-hat (top-hat for light ink) with a kernel wider than any stroke: it subtracts the local
   paper level, so uneven light and shadows vanish;
3. threshold above the noise floor; wipe printed boxes (rectangular holes), then ruled lines and margins
   (Hough segments far longer than thick); connected components; pieces without sharp edges (shadow
   borders, vignetting) dropped, broken strokes of one digit joined, specks, borders and lines dropped,
   touching pairs split;
4. when the digits came out small, redo 1-3 at a scale where they are about `DIGIT_HEIGHT` px tall;
5. each region: re-threshold at half its own stroke contrast, bring the stroke width to MNIST's, fit into
   20x20 keeping aspect (anti-aliased by INTER_AREA) and centre by centre of mass in 28x28 (the MNIST recipe).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# -- working scale
SEG_LONG_SIDE = 320  # first pass: long side in px
DIGIT_HEIGHT = 36  # second pass: aim for digits this tall (px) in the working image
RESCALE_MIN = 1.25  # ... when that means zooming in by at least this
MAX_UPSCALE = 2.0  # never blow a small input up more than this
# -- ink map and threshold
BG_KERNEL_FRAC = 1 / 3  # pass-1 black-hat kernel, fraction of the short side
HALF_RES_KERNEL = 41  # kernels this large estimate the background at half resolution
HALF_RES_SNAP = 5  # px: how far an upscaled background step may have smeared
BG_KERNEL_DIGITS = 1.0  # pass-2 black-hat kernel, x the median digit height
STATS_STRIDE = 4  # image statistics (polarity, noise) from every 4th pixel of every 4th row
INK_TAIL = 0.5  # percent of pixels at each end that decide the polarity
MIN_CONTRAST = 14  # grey levels: ink must stand this far from its paper, however clean the image
NOISE_SIGMAS = 5  # ... and this many noise sigmas (robust, from the ink map's MAD)
MIN_EDGE = 4.0  # grey levels per px along a piece's outline, averaged: below it is a ramp, not a stroke
STROKE_EDGE = 0.5  # per-digit mask at half of the digit's own stroke contrast (full width at half maximum)
# -- lines, frames, regions (sizes are fractions of the working image unless said)
RULE_MIN_LENGTH = 0.4  # horizontal runs longer than this x width ...
RULE_DIGITS = 3  # ... or than this many digit heights, when known (second pass) ...
LINE_MIN_PX = 40  # and never shorter than this (px): in a tight crop a 2's base spans the width
RULE_THINNESS = 10  # ... and this many times longer than their ink is thick are ruled lines
MARGIN_MIN_LENGTH = 0.7  # vertical lines: a margin or box edge spans most of the page height ...
MARGIN_THINNESS = 20  # ... and is far thinner than a pen '1' is long
RULE_MAX_TILT = 0.15  # rise over run: ~8.5 degrees
RULE_GAP = 0.02  # x its length: a rule broken for this long is still one line
MARGIN_GAP = 0.1  # a faint red margin breaks up more
LINE_COVER = 0.5  # a line found by Hough must lie on ink for this share of its length
LINE_SPAN = 0.9  # Hough runs only if some band of rows has ink across this share of a line's length
LINE_THICKNESS_PERCENTILE = 25  # a line's thickness where nothing is written on it
BOX_FILL = 0.9  # a hole filling this much of its rotated bounding rectangle is a printed box's cell
BOX_MAX_ASPECT = 2.5  # a cell holds one digit: not much wider than tall
BOX_LINE = 0.05  # erase this much of the cell's size on each side of its outline (the printed line)
MIN_HEIGHT_PX = 6  # px in the working image: anything smaller is noise
MIN_HEIGHT_REL = 0.3  # shorter than this x the tallest region: a speck, a dot, a crumb
MAX_SIDE_FRAC = 0.95  # spans the whole frame both ways: a page edge, a shadow
EDGE_CONTACT = 0.3  # touches this much of an image border ...
EDGE_SPAN = 0.8  # ... and spans this much of it: a desk, a page edge, a vignette
LINE_VS_MEDIAN = 3.0  # a thin piece this many median digit heights long is a line
CUT_GAP = 0.3  # thin pieces this close (x their height) end to end ...
CUT_SPAN = 2.0  # ... spanning this many digit heights are one line cut by wiped rules
MAX_ASPECT = 4.0  # wider than tall by this: a dash or a leftover line
MAX_FILL = 0.8  # solid blobs are not strokes (when wider than half their height)
JOIN_OVERLAP = 0.5  # join two pieces overlapping this much horizontally ...
JOIN_GAP = 0.25  # ... and this close vertically (x the taller): a broken stroke ...
JOIN_MAX_GROWTH = 1.5  # ... unless together they are much taller than either: digits on two lines
SPLIT_ASPECT = 1.8  # wider than this x height: touching digits, cut at the thinnest column
FRAGMENT = 0.6  # a piece touching the image border and shorter than this x the tallest: a cut-off neighbour
LINE_TOLERANCE = 0.8  # a digit joins a line whose course passes within this x its height of its centre
LINE_GAP_WEIGHT = 0.1  # between two such lines, prefer the nearer one (per digit height of gap)
LINE_SLOPE_DIGITS = 4  # the line's course follows its last few digits
MAX_LINE_SLOPE = 0.3  # a page tilted more than ~17 degrees is not followed
# -- MNIST normalisation
MNIST_SIZE, MNIST_BOX = 28, 20
STROKE_RATIO = 0.13  # MNIST median stroke width / digit height, in the 20 px box
CROP_WORK = 96  # per-digit morphology runs at most at this size (px)


@dataclass
class Region:
    box: tuple[int, int, int, int]  # (x, y, w, h) in the input image
    crop: np.ndarray  # uint8 28x28, white digit on black
    line: int  # reading line, 0 = top


def to_gray(image: np.ndarray) -> np.ndarray:
    """Gray, BGR, BGRA (composited on white), 16-bit or float -> uint8 gray."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    elif img.dtype.kind == "f":
        img = np.clip(img * (255 if img.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255
        img = (img[:, :, :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.ndim != 2 or min(img.shape) < 1:
        raise ValueError(f"not an image: shape {image.shape}")
    return img


def odd(n: float) -> int:
    return max(3, int(n) | 1)


def quantiles(values: np.ndarray, qs) -> list[float]:
    """Lower quantiles by one partial sort (np.percentile sorts once per call and interpolates)."""
    flat = values.ravel()
    ks = [int(q * (flat.size - 1)) for q in qs]
    part = np.partition(flat, ks)
    return [float(part[k]) for k in ks]


def light_on_dark(gray: np.ndarray) -> bool:
    """Polarity: paper is the majority, ink the sparse tail. Chalk on a board is a bright tail on a dark median.

    (A top-hat/black-hat comparison is fooled by paper enclosed in the loops of thin dark strokes.)"""
    lo, med, hi = quantiles(gray[::STATS_STRIDE, ::STATS_STRIDE], (INK_TAIL / 100, 0.5, 1 - INK_TAIL / 100))
    return (hi - med) > (med - lo)


def ink_map(gray: np.ndarray, kernel: int, inverted: bool) -> np.ndarray:
    """Ink strength over the local background: black-hat for dark ink, top-hat for light ink.

    The background (a closing, or an opening for light ink) is smooth, so a large kernel works at half
    resolution and the result is scaled back: a quarter of the morphology for the same answer."""
    half = kernel >= HALF_RES_KERNEL
    small = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA) if half else gray
    k = odd(kernel / 2) if half else kernel
    # Mirror the borders first: a shadow or dark margin cut by the frame edge would otherwise be
    # narrower than the kernel there and light up as "ink".
    pad = k // 2
    padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    op = cv2.MORPH_OPEN if inverted else cv2.MORPH_CLOSE
    background = cv2.morphologyEx(padded, op, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    background = background[pad:pad + small.shape[0], pad:pad + small.shape[1]]
    if half:
        background = cv2.resize(background, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
        # Interpolation smears a sharp background step (a desk edge) over a few pixels, which would make
        # the dark side look like ink: a small min (max for light ink) filter pulls it back to the step.
        snap = np.ones((HALF_RES_SNAP, HALF_RES_SNAP), np.uint8)
        background = cv2.dilate(background, snap) if inverted else cv2.erode(background, snap)
    return cv2.subtract(gray, background) if inverted else cv2.subtract(background, gray)


def noise_threshold(ink: np.ndarray) -> float:
    sample = ink[::STATS_STRIDE, ::STATS_STRIDE]  # the statistics of a regular subsample: 16x less work
    med = quantiles(sample, (0.5,))[0]
    mad = quantiles(np.abs(sample.astype(np.float32) - med), (0.5,))[0]
    return max(MIN_CONTRAST, med + NOISE_SIGMAS * 1.4826 * mad)


def wipe_lines(mask: np.ndarray, digit_h: float | None = None) -> np.ndarray:
    """Remove ruled lines and margin lines, then mend the strokes they crossed.

    A rule is a near-horizontal segment (any tilt a camera gives a page) longer than RULE_MIN_LENGTH x
    the image width (or RULE_DIGITS digit heights, once the digit height is known) whose ink is
    RULE_THINNESS times thinner than it is long: a 7's bar or a 2's base can be as long as a rule in a
    tight crop, but it is as thick as its pen. Vertical lines must span most of the page and be thinner
    still, so that a tall 1 in a tight crop survives."""
    H, W = mask.shape
    rule = W * RULE_MIN_LENGTH if digit_h is None else min(W * RULE_MIN_LENGTH, RULE_DIGITS * digit_h)
    for vertical in (True, False):  # margins first: wiping rules would cut them into 1-like pieces
        work = np.ascontiguousarray(mask.T) if vertical else mask
        length = int(max(LINE_MIN_PX, H * MARGIN_MIN_LENGTH if vertical else rule))
        wiped = line_mask(work, length, MARGIN_THINNESS if vertical else RULE_THINNESS,
                          MARGIN_GAP if vertical else RULE_GAP)
        if wiped is not None:
            work = cv2.morphologyEx(cv2.subtract(work, wiped), cv2.MORPH_CLOSE, np.ones((5, 1), np.uint8))
            mask = np.ascontiguousarray(work.T) if vertical else work
    return mask


def line_mask(mask: np.ndarray, length: int, thinness: float, gap: float) -> np.ndarray | None:
    """The near-horizontal thin lines of `mask` at least `length` px long, drawn a little thicker than
    found; None if there are none."""
    if length > mask.shape[1] or not could_hold_line(mask, length):
        return None
    segments = cv2.HoughLinesP(mask, 1, np.pi / 180, threshold=max(10, length // 2),
                               minLineLength=length, maxLineGap=max(3, int(length * gap)))
    if segments is None:
        return None
    wiped = np.zeros(mask.shape, np.uint8)
    for x1, y1, x2, y2 in segments.reshape(-1, 4):  # (N, 1, 4) in OpenCV 4, (N, 4) in 5
        run = float(np.hypot(x2 - x1, y2 - y1))
        if abs(y2 - y1) > RULE_MAX_TILT * abs(x2 - x1):
            continue
        thick = ink_thickness(mask, (x1, y1, x2, y2), int(run // thinness) + 1)
        if thick * thinness <= run:  # inf (not a line) never is
            # A printed line is straight and crosses the page: carry it on past where writing hid it
            # from Hough, to the image edges (wiping only removes ink that lies on it).
            slope = (y2 - y1) / (x2 - x1) if x2 != x1 else 0.0
            ends = [(0, y1 - slope * x1), (mask.shape[1] - 1, y1 + slope * (mask.shape[1] - 1 - x1))]
            (a, b), (c, d) = ends
            cv2.line(wiped, (int(a), int(round(b))), (int(c), int(round(d))), 1, int(thick) + 2)
    return wiped if wiped.any() else None


def could_hold_line(mask: np.ndarray, length: int) -> bool:
    """Cheap necessary condition before Hough: within some band of rows as tall as a maximally tilted
    line, ink spans at least LINE_SPAN x `length` columns. A digit is never that wide."""
    band = int(RULE_MAX_TILT * length) + 3
    h = mask.shape[0]
    for start in (0, band // 2):  # two staggered sets of bands: a line never straddles both
        rows = h - start - (h - start) % band
        if rows <= 0:
            continue
        blocks = mask[start:start + rows].reshape(-1, band, mask.shape[1]).any(axis=1)
        if int(blocks.sum(axis=1).max()) >= LINE_SPAN * length:
            return True
    return False


def ink_thickness(mask: np.ndarray, segment, reach: int) -> float:
    """A low percentile, over the inked points of a segment, of the unbroken vertical ink through each point;
    infinite when the segment is mostly not on ink (a chance alignment of strokes, not a line)."""
    x1, y1, x2, y2 = segment
    n = int(max(abs(x2 - x1), 1))
    xs = np.linspace(x1, x2, n).round().astype(int)
    ys = np.linspace(y1, y2, n).round().astype(int)
    on = mask[ys, xs].astype(bool)
    if on.mean() < LINE_COVER:
        return float("inf")
    xs, ys = xs[on], ys[on]
    offsets = np.arange(1, reach + 1)
    H = mask.shape[0]

    def extent(direction):  # consecutive ink pixels from each point going up (-1) or down (+1)
        rows = ys[None, :] + direction * offsets[:, None]
        inside = (rows >= 0) & (rows < H)
        ink = np.where(inside, mask[np.clip(rows, 0, H - 1), xs[None, :]], 0).astype(bool)
        return np.cumprod(ink, axis=0).sum(0)

    # A low percentile, not the median: digits written on a rule thicken it along much of its length.
    return float(np.percentile(extent(-1) + extent(1) + 1, LINE_THICKNESS_PERCENTILE))


def box_holes(mask: np.ndarray) -> list[np.ndarray]:
    """Rectangular holes in the ink: the cells of printed boxes (single or a comb of shared edges).
    A 0, 6, 8 or 9 has a hole too, but a round or pointed one: it fills far less of its bounding rectangle."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    holes = []
    for contour, (_, _, _, parent) in zip(contours, hierarchy.reshape(-1, 4)):
        if parent < 0:
            continue  # an outer boundary, not a hole
        (_, _), (w, h), _ = cv2.minAreaRect(contour)
        if min(w, h) < 3 * MIN_HEIGHT_PX or max(w, h) > BOX_MAX_ASPECT * min(w, h):
            continue  # too small for a digit, or a strip between ruled lines
        if cv2.contourArea(contour) >= BOX_FILL * w * h:
            holes.append(contour)
    return holes


def wipe_frames(mask: np.ndarray) -> np.ndarray:
    """Erase printed box outlines around their cells (a digit inside, even one touching the box, keeps
    all but the pixels on the line). Runs before the rule wiping, which would open the cells."""
    for hole in box_holes(mask):
        x, y, w, h = cv2.boundingRect(hole)
        band = max(2, int(round(BOX_LINE * min(w, h))))
        cv2.drawContours(mask, [hole], -1, 0, thickness=2 * band + 1)
    return mask


def components(mask: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """[x, y, w, h, label] per connected component."""
    # Grana's block-based labelling: same labels, ~2.5x faster with statistics than the default here.
    n, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    return labels, [[*stats[i, :4], i] for i in range(1, n)]


def join_broken(boxes: list[list]) -> list[list]:
    """Merge pieces stacked on each other (a 5's detached bar, a stroke cut by a ruled line)."""
    boxes = [[b[:4], [b[4]]] for b in boxes]
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                (ax, ay, aw, ah), (bx, by, bw, bh) = boxes[i][0], boxes[j][0]
                overlap = min(ax + aw, bx + bw) - max(ax, bx)
                gap = max(ay, by) - min(ay + ah, by + bh)
                x0, y0 = min(ax, bx), min(ay, by)
                x1, y1 = max(ax + aw, bx + bw), max(ay + ah, by + bh)
                if (overlap >= JOIN_OVERLAP * min(aw, bw) and gap <= JOIN_GAP * max(ah, bh)
                        and y1 - y0 <= JOIN_MAX_GROWTH * max(ah, bh)):
                    boxes[i] = [[x0, y0, x1 - x0, y1 - y0], boxes[i][1] + boxes[j][1]]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def keep_region(box, mask_piece: np.ndarray, shape) -> bool:
    x, y, w, h = box
    H, W = shape
    if h < MIN_HEIGHT_PX or (h > MAX_SIDE_FRAC * H and w > MAX_SIDE_FRAC * W) or w > MAX_ASPECT * h:
        return False
    fill = mask_piece.mean()
    return not (fill > MAX_FILL and w > 0.5 * h)


def split_touching(box, piece: np.ndarray, out: list) -> None:
    """Cut a too-wide region at its thinnest column near the middle, recursively."""
    x, y, w, h = box
    if max(w, h) < MIN_HEIGHT_PX:
        return
    if w <= SPLIT_ASPECT * h or w < 2 * MIN_HEIGHT_PX:
        out.append((box, piece))
        return
    cols = piece.sum(0)
    lo, hi = int(w * 0.3), int(w * 0.7)
    cut = lo + int(np.argmin(cols[lo:hi]))
    for x0, x1 in ((0, cut), (cut, w)):
        part = piece[:, x0:x1]
        rows, colsk = np.flatnonzero(part.any(1)), np.flatnonzero(part.any(0))
        if len(rows) == 0:
            continue
        sub = part[rows[0]:rows[-1] + 1, colsk[0]:colsk[-1] + 1]
        split_touching((x + x0 + colsk[0], y + rows[0], colsk[-1] - colsk[0] + 1, rows[-1] - rows[0] + 1), sub, out)


def touches_edge(box, piece: np.ndarray, shape) -> bool:
    """Page edges, desks and shadows run along a whole image border; a digit at most brushes one."""
    x, y, w, h = box
    H, W = shape
    sides = ((y == 0, piece[0], W, w), (y + h == H, piece[-1], W, w),
             (x == 0, piece[:, 0], H, h), (x + w == W, piece[:, -1], H, h))
    return any(touching and line.sum() > EDGE_CONTACT * side and extent > EDGE_SPAN * side
               for touching, line, side, extent in sides)


def segment(gray: np.ndarray, kernel: int, inverted: bool, digit_h: float | None = None):
    """Candidate digit pieces in `gray`: list of (box, ink-strength crop masked to the piece).
    `digit_h`: the typical digit height in `gray` when known."""
    ink = ink_map(gray, kernel, inverted)
    mask = cv2.threshold(ink, np.ceil(noise_threshold(ink)) - 1, 1, cv2.THRESH_BINARY)[1]  # ink >= threshold
    labels, comps = components(wipe_lines(wipe_frames(mask), digit_h))
    comps = [c for c in comps if (c[2] >= MIN_HEIGHT_PX or c[3] >= MIN_HEIGHT_PX)
             and not touches_edge(c[:4], labels[c[1]:c[1] + c[3], c[0]:c[0] + c[2]] == c[4], gray.shape)]
    candidates = []
    for (x, y, w, h), ids in join_broken(comps):
        window = labels[y:y + h, x:x + w]
        piece = window == ids[0] if len(ids) == 1 else np.isin(window, ids)
        if keep_region((x, y, w, h), piece, gray.shape) and sharp_outline(piece, edge_strength(ink, (x, y, w, h))):
            candidates.append(((x, y, w, h), np.where(piece, ink[y:y + h, x:x + w], 0)))
    return candidates


def edge_strength(ink: np.ndarray, box) -> np.ndarray:
    """Gradient magnitude of the ink map inside `box`, in grey levels per pixel (only where it is needed:
    the pieces are a small part of the frame)."""
    x, y, w, h = box
    x0, y0 = max(0, x - 1), max(0, y - 1)
    patch = ink[y0:y + h + 1, x0:x + w + 1]
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    return (cv2.magnitude(gx, gy) / 8)[y - y0:y - y0 + h, x - x0:x - x0 + w]  # a 3x3 Sobel sums 8x the slope


def sharp_outline(piece: np.ndarray, edges: np.ndarray) -> bool:
    """Pen, pencil and chalk strokes have edges; shadow edges, vignetting and paper texture only ramps
    (measured: strokes 10-70 levels/px along their outline, those 0.5-1.6, blurred photos included)."""
    p = piece.astype(np.uint8)
    outline = (p - cv2.erode(p, np.ones((3, 3), np.uint8))).astype(bool)
    return outline.any() and float(edges[outline].mean()) >= MIN_EDGE


def drop_outsized(candidates: list, shape) -> list:
    """Split touching digits, then drop lines, specks and cut-off neighbours by size relative to the others
    (pieces on the border do not set the scale: a dark corner must not make every digit a speck)."""
    H, W = shape
    pieces = []
    for box, strength in candidates:
        split_touching(box, strength, pieces)
    pieces = [(b, s) for b, s in pieces if keep_region(b, s > 0, shape)]

    def on_border(box):
        x, y, w, h = box
        return x == 0 or y == 0 or x + w == W or y + h == H

    # Long thin pieces many digits tall are margin lines and box edges (a '1' is one digit tall).
    median_h = float(np.median([b[3] for b, _ in pieces])) if pieces else 0
    pieces = [(b, s) for b, s in pieces
              if not (max(b[2], b[3]) > LINE_VS_MEDIAN * median_h and min(b[2], b[3]) < 0.25 * max(b[2], b[3]))]
    broken = broken_vertical_line([b for b, _ in pieces], median_h)
    pieces = [p for i, p in enumerate(pieces) if i not in broken]
    inside = [b[3] for b, _ in pieces if not on_border(b)]
    tallest = max(inside or [b[3] for b, _ in pieces] or [0])
    return [(b, s) for b, s in pieces
            if b[3] >= (FRAGMENT if on_border(b) else MIN_HEIGHT_REL) * tallest and not (on_border(b) and b[3] > tallest)]


def broken_vertical_line(boxes: list, median_h: float) -> set[int]:
    """Indices of thin upright pieces stacked end to end in one column, CUT_SPAN digit heights in all:
    a margin line that the rule wiping cut into 1-like pieces. (A column of real 1s, one per written
    line, has a line's spacing between them, not a cut's.)"""
    thin = sorted((i for i, b in enumerate(boxes) if b[2] < 0.25 * b[3]), key=lambda i: boxes[i][1])
    chains: list[list[int]] = []
    for i in thin:
        x, y, w, h = boxes[i]
        for chain in chains:
            px, py, pw, ph = boxes[chain[-1]]
            if abs((x + w / 2) - (px + pw / 2)) <= max(w, pw) + 2 and y - (py + ph) <= CUT_GAP * max(h, ph):
                chain.append(i)
                break
        else:
            chains.append([i])
    out = set()
    for chain in chains:
        top, bottom = boxes[chain[0]][1], max(boxes[i][1] + boxes[i][3] for i in chain)
        if len(chain) > 1 and bottom - top > CUT_SPAN * median_h:
            out.update(chain)
    return out


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary shape: area / (half the perimeter) for long thin strokes."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / max(perimeter, 1.0)


def tight(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if len(rows) else mask


def mnist_crop(strength: np.ndarray) -> np.ndarray | None:
    """One digit's ink strength (0 = paper) -> uint8 28x28 in MNIST's recipe, or None if nothing is left."""
    inked = strength[strength > 0]
    if inked.size == 0:
        return None
    peak = float(np.partition(inked, int(0.9 * (inked.size - 1)))[int(0.9 * (inked.size - 1))])  # 90th percentile
    mask = (strength >= STROKE_EDGE * peak).astype(np.uint8)
    # Morphology at a bounded size: a 1000 px digit costs what a 96 px one does.
    scale = min(1.0, CROP_WORK / max(mask.shape))
    if scale < 1.0:
        small = cv2.resize(mask * 255, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        mask = (small >= 64).astype(np.uint8)  # keep hairlines that cover a quarter of a pixel
    mask = tight(mask)
    if mask.size == 0 or not mask.any():
        return None
    # Bring the stroke to MNIST's width relative to the digit's size.
    h, w = mask.shape
    width = stroke_width(mask)
    want = STROKE_RATIO * max(h, w)
    radius = int(round((want - width) / 2))
    if radius:
        pad = abs(radius) + 1
        mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
        thinned = cv2.erode(mask, k) if radius < 0 else cv2.dilate(mask, k)
        mask = tight(thinned) if thinned.any() else tight(mask)
    h, w = mask.shape
    s = MNIST_BOX / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    digit = cv2.resize(mask.astype(np.float32) * 255, size, interpolation=cv2.INTER_AREA)
    return center_by_mass(digit)


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Paste into 28x28 so the centre of mass lands on the centre, as MNIST did."""
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    h, w = digit.shape
    total = digit.sum()
    if total <= 0:
        return out.astype(np.uint8)
    cy = (digit.sum(1) * np.arange(h)).sum() / total
    cx = (digit.sum(0) * np.arange(w)).sum() / total
    oy = int(np.clip(round(MNIST_SIZE / 2 - 0.5 - cy), 0, MNIST_SIZE - h))
    ox = int(np.clip(round(MNIST_SIZE / 2 - 0.5 - cx), 0, MNIST_SIZE - w))
    out[oy:oy + h, ox:ox + w] = digit
    return np.clip(out, 0, 255).astype(np.uint8)


def working_scale(gray: np.ndarray, target_long: float) -> float:
    return min(MAX_UPSCALE, target_long / max(gray.shape))


def find_digits(image: np.ndarray) -> list[Region]:
    """All digit regions of an image, in reading order."""
    gray = to_gray(image)
    inverted = light_on_dark(gray)
    # At least 1 px across the short side: a 10000x10 strip at the long side's scale would be 0 px tall.
    scale = min(1.0, max(working_scale(gray, SEG_LONG_SIDE), 1 / min(gray.shape)))
    work, pieces = _segment_at(gray, scale, None, inverted)
    pieces = drop_outsized(pieces, work.shape)
    if pieces:
        heights = [b[3] for b, _ in pieces]
        better = min(MAX_UPSCALE, scale * DIGIT_HEIGHT / float(np.median(heights)))
        if better > scale * RESCALE_MIN:  # digits came out small: look again, closer
            # The kernel must still span the strokes of the tallest digit at the new scale.
            work, pieces = _segment_at(gray, better, max(heights) * better / scale, inverted)
            pieces = drop_outsized(pieces, work.shape)
            scale = better
    regions = []
    for (x, y, w, h), strength in pieces:
        crop = mnist_crop(strength)
        if crop is None:
            continue
        box = (int(x / scale), int(y / scale), max(1, int(round(w / scale))), max(1, int(round(h / scale))))
        regions.append(Region(box=box, crop=crop, line=0))
    return reading_order(regions)


def _segment_at(gray: np.ndarray, scale: float, digit_h: float | None, inverted: bool):
    work = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    kernel = odd(BG_KERNEL_DIGITS * digit_h) if digit_h else odd(min(work.shape) * BG_KERNEL_FRAC)
    return work, segment(work, kernel, inverted, DIGIT_HEIGHT if digit_h else None)


def reading_order(regions: list[Region]) -> list[Region]:
    """Lines top to bottom, digits left to right. A line is a chain grown left to right: each digit joins
    the line whose course (extrapolated from its last digits) passes nearest its centre, so the slanted
    lines of a tilted page stay whole and a short digit after a tall one stays on its line."""
    lines: list[list[Region]] = []
    for r in sorted(regions, key=lambda r: r.box[0]):
        x, y, w, h = r.box
        best, best_cost = None, None
        for line in lines:
            lx, ly, lw, lh = line[-1].box
            line_h = float(np.median([q.box[3] for q in line]))
            dy = abs(y + h / 2 - predicted_centre(line, x + w / 2))
            tol = LINE_TOLERANCE * max(h, line_h)
            gap = x - (lx + lw)
            if dy <= tol and gap > -0.5 * min(w, lw):
                cost = dy / tol + LINE_GAP_WEIGHT * max(gap, 0) / line_h
                if best is None or cost < best_cost:
                    best, best_cost = line, cost
        if best is None:
            lines.append([r])
        else:
            best.append(r)
    lines.sort(key=lambda line: np.median([q.box[1] + q.box[3] / 2 for q in line]))
    ordered = []
    for i, line in enumerate(lines):
        for r in line:
            r.line = i
            ordered.append(r)
    return ordered


def predicted_centre(line: list[Region], cx: float) -> float:
    """The line's vertical centre at x = cx: a least-squares fit through its last few digits (a flat line
    until it has three: a tall 1 beside a short 2 says nothing about the tilt)."""
    tail = line[-LINE_SLOPE_DIGITS:]
    xs = np.array([q.box[0] + q.box[2] / 2 for q in tail])
    ys = np.array([q.box[1] + q.box[3] / 2 for q in tail])
    if len(tail) < 3 or np.ptp(xs) < 1:
        return float(ys[-1])
    slope = float(np.clip(np.polyfit(xs, ys, 1)[0], -MAX_LINE_SLOPE, MAX_LINE_SLOPE))
    return float(ys.mean() + slope * (cx - xs.mean()))
