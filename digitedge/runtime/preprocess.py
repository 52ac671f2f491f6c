"""Any photo, scan, drawing or video frame -> the digit regions on it, each as an MNIST-style 28x28 crop.

One implementation shared by `classify`, `live`, the evaluations, training (the model learns on what this
finds in generated scenes, rejects included) and the tests. OpenCV + numpy.

The finder is permissive: it proposes every piece of ink that could be a digit, and the model, trained on
what the finder cuts out of generated scenes (rule and grid pieces, page edges, separators, half digits and
merged pairs among them), rejects what is not one. The rules left here are relative ones — a piece against
the digits around it — so they hold for a 28 px crop and a 12 MP page alike:

1. grey, one polarity (ink darker than its ground; chalk and white-on-black drawings are inverted), at a
   working scale (a VGA frame is searched at 320 px);
2. ink = local ground - pixel. The ground is the larger of a median (unbiased on vignetting and light
   gradients, and it keeps the steps of desks, scanner margins and hard shadows) and a closing a quarter
   as wide (which fills the thick strokes of a bold marker);
3. threshold above the noise floor, with hysteresis (faint pencil held by its darker parts); printed boxes
   removed (rectangular holes); straight thin lines removed when they are several digits long (rules,
   grids, margins, page edges) — a 2's base or a 7's bar is never that long;
4. pieces: broken strokes joined, specks, lines, slivers and cut-off neighbours dropped by size against the
   others, crumbs of paper grain by their faintness against the writing, touching digits split where they are
   far too wide for one (a stroke under them taken away first, or parted where only faint ink ties them);
5. again at a scale where digits are about `DIGIT_HEIGHT` px tall, with the ground and lines measured in
   digit heights;
6. reading order: lines grown left to right along their own slope; digits on a steep line turned upright;
7. each piece: re-threshold at half its own stroke contrast, bring the stroke width to MNIST's, fit into
   20x20 keeping aspect and centre by centre of mass in 28x28 (the MNIST recipe).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import cv2
import numpy as np

# -- working scale
SEG_LONG_SIDE = 320  # first pass: long side in px
DIGIT_HEIGHT = 36  # second pass: aim for digits this tall (px) in the working image
RESCALE_MIN = 1.25  # ... when that means zooming in by at least this
MAX_UPSCALE = 2.0  # never blow a small input up more than this
SCOUT_HEIGHT_PX = 3  # first pass: pieces this tall already tell the digit scale
# -- ground, ink and threshold
BG_KERNEL_FRAC = 0.5  # first pass: ground window, fraction of the short side
BG_KERNEL_DIGITS = 2.0  # second pass: ground window, x the typical digit height
BG_CLOSE_FRAC = 0.25  # the closing that fills bold strokes, x the ground window
HALF_RES_KERNEL = 41  # windows this large estimate the ground at a reduced resolution ...
MAX_GROUND_KERNEL = 64  # ... where the window is at most this wide (px)
STATS_STRIDE = 4  # image statistics (polarity, noise) from every 4th pixel of every 4th row
INK_TAIL = 0.5  # percent of pixels at each end that decide the polarity ...
POLARITY_SIDE = 96  # ... against a local median computed with the image this many px long ...
POLARITY_WINDOW = 0.34  # ... over a window this share of its short side
MIN_CONTRAST = 10  # grey levels: ink must stand this far from its ground, however clean the image
NOISE_SIGMAS = 5  # ... and this many noise sigmas (robust, from the ink map's MAD)
HYSTERESIS = 0.5  # ink this strong (x the threshold) counts where it touches ink above the threshold ...
WEAK_SIGMAS = 3.5  # ... and stands this many noise sigmas above the paper
MIN_EDGE = 3.0  # grey levels per px along a piece's outline, averaged: below it is a ramp, not a stroke
STROKE_EDGE = 0.5  # per-digit mask at half of the digit's own stroke contrast (full width at half maximum)
# -- lines
LINE_MIN_PX = 24  # px in the working image: the shortest straight run looked at as a possible line ...
LINE_MAX_PX = 6  # ... and the thickest
RULE_DIGITS = 2.5  # a straight thin run this many digit heights long is a rule, a grid or a page edge
RULE_THINNESS = 8  # ... and it must be this many times longer than its ink is thick
GRID_MAX_TILT = 0.15  # rise over run: grid and ruling lines lie within ~8.5 degrees of the image axes
RULE_GAP = 0.03  # x its length: a line broken for this long is still one line ...
LINE_GAP_PX = 12  # ... or this many px (a pen stroke crossing it breaks it for its width)
FREE_SHARE = 1.0  # the pieces apart from lines mostly at odd angles set the writing's height only with this x
#                  the ink that the pieces those lines run through hold off them (else: crumbs beside the writing)
RULE_BREAK = 0.5  # x the writing height: a rule's ink is never broken for longer (pen strokes are thinner); a
#                   longer break is a column of digits lined up, not a line
HOUGH_ANGLE = np.pi / 180  # finer angles cost Hough many times the time (0.25 degree: 20x)
LINE_COVER = 0.5  # a line found by Hough must lie on ink for this share of its length
LINE_THICKNESS_PERCENTILE = 25  # a line's thickness where nothing is written on it
KEEP_DARKER = 2.0  # on a line's path, ink this much stronger than the line itself is writing crossing it
SHEET_CONTRAST = 40  # grey levels between a sheet and what is around it (a desk, a scanner's margin)
SHEET_SPLIT = 0.7  # ... whose medians lie this share of the image's range (5th to 95th percentile) apart
GRID_LINES = 3  # this many parallel lines crossing the whole frame are a printed grid or ruling ...
FRAME_SPAN = 0.8  # ... crossing: this share of the frame's width (height for vertical lines)
GRID_THICKNESS = 1.5  # ... and none thicker than this x their median thickness (+1 px): not a pen stroke
# -- printed boxes
BOX_FILL = 0.9  # a hole filling this much of its rotated bounding rectangle is a printed box's cell
BOX_MAX_ASPECT = 2.5  # a cell holds one digit: not much wider than tall
FRAME_WRITTEN = 0.1  # x the frame's ink: a frame holds this much writing (a bold ring leaves crumbs)
BOX_LINE = 0.05  # erase this much of the cell's size on each side of its outline (the printed line)
# -- pieces (relative to the other pieces unless said)
MIN_HEIGHT_PX = 6  # px in the working image: anything smaller is noise
MIN_HEIGHT_REL = 0.35  # shorter than this x the median digit height: a speck, a dot, a crumb
LINE_VS_MEDIAN = 2.5  # a thin piece this many median digit heights long is a line ...
CROSSING_VS_MEDIAN = 1.5  # ... or this many, when it runs from one border of the frame to the other
HAIRLINE = 0.45  # a thin upright piece whose stroke is finer than this x the writing's is no 1 (a rule's sliver)
WRITING_SAMPLE = 7  # the writing's stroke: of this many pieces at most (the inkiest)
FAINT = 0.3  # a piece whose stroke contrast is below this x the writing's is paper texture or a shadow's edge
STACKED_VS_MEDIAN = 1.6  # a piece this many digits tall, held together by weak ink only, is digits stacked
THIN = 0.25  # width / height below this (or the reverse) is a thin piece
CUT_GAP = 0.5  # thin pieces this close (x their height) end to end ...
CUT_SPAN = 2.0  # ... spanning this many digit heights are one line that broke up
RUNS_ON = 2.0  # noise sigmas: a thin upright piece whose course goes on past its ends this far above the paper
#               (the median along as far again as the piece is long) is the part of a faded rule left as ink
GIANT = 0.6  # spanning this share of the frame both ways: no digit beside others, so it sets no scale ...
OUTLINE_FILL = 0.1  # ... and inked over less than this share of its box: an outline, dropped beside others
MAX_ASPECT = 4.0  # wider than tall by this: a dash or a leftover line
MAX_FILL = 0.8  # solid blobs are not strokes (when wider than half their height)
JOIN_OVERLAP = 0.5  # join two pieces overlapping this much horizontally ...
JOIN_GAP = 0.25  # ... and this close vertically (x the taller): a broken stroke ...
JOIN_MAX_GROWTH = 1.5  # ... unless together they are much taller than either: digits on two lines
SPLIT_ASPECT = 1.8  # wider than this x height: touching digits, cut at the thinnest column, or first taken off
#                     a stroke drawn under them:
UNDERLINE_SPAN = 0.6  # a near-flat stroke across this share of a region's width, under the rest of its ink ...
UNDERLINE_STEP_PX = 2  # ... whose rows may step this many px up or down along it (a gentle slope) ...
UNDERLINE_BELOW = 0.05  # ... with at most this share of the other ink below its middle
DIGIT_PART = 0.5  # what stands on it: digits at least this x the tallest (the rest: a full stop, specks) ...
UNDERLINE_REACH = 0.1  # ... from whose outer edges the stroke stops no farther than this x their height
FRAGMENT = 0.6  # a piece cut by the image border and shorter than this x the median: a cut-off neighbour
SHORT_ONE = 0.7  # a thin upright piece shorter than this x the median: a sliver of a rule or edge, a comma; a 1 is
#                  as tall as the digits around it
LINE_TOLERANCE = 0.8  # a digit joins a line whose course passes within this x its height of its centre
LINE_GAP_WEIGHT = 0.1  # between two such lines, prefer the nearer one (per digit height of gap)
LINE_SLOPE_DIGITS = 4  # the line's course follows its last few digits
MAX_LINE_SLOPE = 1.0  # lines are followed up to 45 degrees
NEIGHBOUR_REACH = 3.0  # a digit's neighbour on its line is within this many digit heights
UPRIGHT_MIN_DEG = 10.0  # digits of a line sloping more than this are turned upright before they are read
# -- MNIST normalisation
MNIST_SIZE, MNIST_BOX = 28, 20
STROKE_RATIO = 0.13  # MNIST median stroke width / digit height, in the 20 px box
CROP_WORK = 96  # per-digit morphology runs at most at this size (px)


@dataclass
class Region:
    box: tuple[int, int, int, int]  # (x, y, w, h) in the input image
    crop: np.ndarray  # uint8 28x28, white digit on black
    line: int  # reading line, 0 = top
    strength: np.ndarray | None = field(default=None, repr=False)  # ink strength at the working scale (0 = ground)
    scale: float = 1.0  # working scale: box in the input image = working box / scale


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
    if flat.dtype == np.uint8:  # a histogram is one pass, and gives the same order statistics
        cum = np.cumsum(np.bincount(flat, minlength=256))
        return [float(ranked(cum, k)) for k in ks]
    part = np.partition(flat, ks)
    return [float(part[k]) for k in ks]


def ranked(cum: np.ndarray, k: int) -> int:
    """The k-th smallest value (0-based) of bytes whose cumulative histogram is `cum`."""
    return int(np.searchsorted(cum, k, side="right"))


def light_on_dark(gray: np.ndarray) -> bool:
    """Polarity: the paper is the majority and the ink a sparse tail, darker than the paper, lighter on a
    board or in a white-on-black drawing. Light ink must show both against the global median and against a
    coarse local one: a dark desk, shadow or scanner margin can be most of a photo of dark ink on paper, and
    then the paper is the bright tail globally but not locally; and when the sheet is small, even locally
    (`ink_on_bright_ground` then tells).

    (A top-hat/black-hat comparison is fooled by paper enclosed in the loops of thin dark strokes.)"""
    sample = gray[::STATS_STRIDE, ::STATS_STRIDE]
    lo, med, hi = quantiles(sample, (INK_TAIL / 100, 0.5, 1 - INK_TAIL / 100))
    if hi - med == med - lo:
        # a flat ground whose marks are too few for the tails (one thin stroke on a drawing canvas): the
        # extremes of the whole image tell
        lo, hi = cv2.minMaxLoc(gray)[:2]
    if hi - med <= med - lo:
        return False
    f = max(1, max(gray.shape) // POLARITY_SIDE)
    small = cv2.resize(gray, (max(1, gray.shape[1] // f), max(1, gray.shape[0] // f)), interpolation=cv2.INTER_AREA)
    local = cv2.medianBlur(small, odd(min(small.shape) * POLARITY_WINDOW)) if min(small.shape) >= 3 else small
    local = cv2.resize(local, (sample.shape[1], sample.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.int16)
    lo, hi = quantiles(sample.astype(np.int16) - local, (INK_TAIL / 100, 1 - INK_TAIL / 100))
    # (a tie: a drawing of two flat levels whose bold strokes fill the local window as often as the ground
    # does: the global judgement stands)
    return hi >= -lo and not ink_on_bright_ground(small, sample)


def ink_on_bright_ground(small: np.ndarray, sample: np.ndarray) -> bool:
    """Two grounds, each wider than the polarity window (a sheet on a dark desk, a board in a light room), and
    the ink stands out more as dark marks on the bright one than as light marks on the dark one. A small sheet
    on a dark desk is the light tail against a desk-wide median; strokes, however bold, are no ground.
    `small`: the image reduced to find the grounds; `sample`: every few pixels of it unreduced, where the
    contrasts are measured (reducing averages a thin pen's strokes into the paper, not a desk's wide grain)."""
    lo, hi = quantiles(small, (0.05, 0.95))
    if hi - lo < SHEET_CONTRAST:
        return False
    window = odd(min(small.shape) * POLARITY_WINDOW)
    fill, wide = (cv2.getStructuringElement(cv2.MORPH_RECT, (n, n)) for n in (odd(window * BG_CLOSE_FRAC), window))

    def ground_of(mask: np.ndarray) -> np.ndarray:  # the marks on it filled in, where it is wider than the window
        return cv2.morphologyEx(cv2.morphologyEx(mask, cv2.MORPH_CLOSE, fill), cv2.MORPH_OPEN, wide) > 0

    bright = (small > (lo + hi) / 2).astype(np.uint8)
    sheet, desk = ground_of(bright), ground_of(1 - bright)
    sheet, desk = sheet & ~desk, desk & ~sheet  # dense writing fills in as either: it is neither ground
    if not sheet.any() or not desk.any():
        return False
    # (each ground a reduced pixel in from its edge, where pixels mix both grounds and the scaled-up masks are blocky)
    size, inner = (sample.shape[1], sample.shape[0]), np.ones((3, 3), np.uint8)
    sheet, desk = (cv2.resize(cv2.erode(m.astype(np.uint8), inner), size, interpolation=cv2.INTER_NEAREST) > 0
                   for m in (sheet, desk))
    if not sheet.any() or not desk.any():
        return False
    darkest, paper = quantiles(sample[sheet], (INK_TAIL / 100, 0.5))
    board, lightest = quantiles(sample[desk], (0.5, 1 - INK_TAIL / 100))
    return paper - darkest > lightest - board


def ground(gray: np.ndarray, kernel: int) -> np.ndarray:
    """The local paper level under dark ink: max(median, closing a quarter as wide).

    A median is unbiased on a light gradient (a closing, the local max, reads a vignette's dark side as ink)
    and keeps a wide step (desk, scanner margin, hard shadow) where it is; where ink fills half its window
    (the crossing of a bold marker's strokes) the narrower closing holds the paper level. Large windows work
    at a reduced resolution: the ground is smooth."""
    factor = 1 if kernel < HALF_RES_KERNEL else max(2, int(np.ceil(kernel / MAX_GROUND_KERNEL)))
    small = cv2.resize(gray, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA) if factor > 1 else gray
    k = odd(kernel / factor)
    kc = odd(k * BG_CLOSE_FRAC)
    # The median's window is continued past the edge for half its width; a reduced image (a frame, a page),
    # where that padding costs most, for a quarter (at least as far as the closing reaches): beyond, the
    # median holds the last value, on the same side of a window's median as the rest of a gradient.
    pad = max(k // 4, 2 * (kc // 2)) if factor > 1 else k // 2
    padded = continued(small, pad)
    level = np.maximum(cv2.medianBlur(padded, k),
                       cv2.morphologyEx(padded, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kc, kc))))
    level = level[pad:pad + small.shape[0], pad:pad + small.shape[1]]
    if factor > 1:
        level = cv2.resize(level, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
        # Interpolation smears a sharp step (a desk edge) over a few pixels, which would make the dark side
        # look like ink: a small min filter pulls it back to the step.
        snap = 2 * factor + 1
        level = cv2.erode(level, np.ones((snap, snap), np.uint8))
    return level


def continued(gray: np.ndarray, pad: int) -> np.ndarray:
    """The image padded by point reflection through its edge: a light gradient runs on past the border
    (a plain mirror folds it back, and the darker edge of a vignette reads as ink), and a stroke cut by the
    border reflects as paper, not as more ink."""
    g = gray.astype(np.int32)  # integers throughout: twice the edge (the mean of its two rows) is a sum
    for _ in range(2):  # rows, then (transposed) columns
        top = _beyond(g[0] + g[1] if len(g) > 1 else 2 * g[0], g[1:pad + 1], pad)
        bottom = _beyond(g[-1] + g[-2] if len(g) > 1 else 2 * g[-1], g[-pad - 1:-1][::-1], pad)
        g = np.vstack([top[::-1], g, bottom]).T
    return np.clip(g, 0, 255).astype(np.uint8)


def _beyond(twice_edge: np.ndarray, inside: np.ndarray, pad: int) -> np.ndarray:
    """`pad` rows beyond an edge (given as twice its level), nearest first: the inside rows (nearest first)
    reflected through the edge, the farthest repeated when the image is thinner than the pad."""
    out = twice_edge - inside
    if len(out) < pad:
        last = out[-1:] if len(out) else twice_edge[None] // 2  # a one-row image: its edge is itself
        out = np.vstack([out, np.repeat(last, pad - len(out), axis=0)])
    return out


def ink_map(gray: np.ndarray, kernel: int) -> np.ndarray:
    """Ink strength: how much darker than its local ground each pixel is (uint8, 0 = paper)."""
    return cv2.subtract(ground(gray, kernel), gray)


def noise_level(ink: np.ndarray) -> tuple[float, float]:
    """(median, robust sigma) of the ink map: the paper's noise floor (grain, texture, sensor noise)."""
    sample = ink[::STATS_STRIDE, ::STATS_STRIDE]  # the statistics of a regular subsample: 16x less work
    med = quantiles(sample, (0.5,))[0]
    mad = quantiles(cv2.absdiff(sample, np.full_like(sample, int(med))), (0.5,))[0]
    return med, 1.4826 * mad


def ink_mask(ink: np.ndarray) -> np.ndarray:
    """Binary ink: NOISE_SIGMAS above the paper's noise floor (and at least MIN_CONTRAST), plus weaker ink
    connected to it (hysteresis), never so weak that paper noise joins in."""
    med, sigma = noise_level(ink)
    high = np.ceil(max(MIN_CONTRAST, med + NOISE_SIGMAS * sigma))
    low = max(high * HYSTERESIS, med + WEAK_SIGMAS * sigma)
    # (the ink is in whole grey levels: at least `low` is above ceil(low) - 1, and OpenCV's threshold is fast)
    weak = cv2.threshold(ink, np.ceil(low) - 1, 1, cv2.THRESH_BINARY)[1]
    n, labels = cv2.connectedComponentsWithAlgorithm(weak, 8, cv2.CV_32S, cv2.CCL_GRANA)
    keep = np.zeros(n, np.uint8)
    keep[labels[cv2.threshold(ink, high - 1, 1, cv2.THRESH_BINARY)[1].view(bool)]] = 1
    keep[0] = 0
    if n <= 256:  # (a byte lookup table is 2-3x faster than indexing by int32 labels)
        return cv2.LUT(labels.astype(np.uint8), np.pad(keep, (0, 256 - n)))
    return np.take(keep, labels)


# ---------------------------------------------------------------- lines
@dataclass
class Line:
    ends: tuple[int, int, int, int]  # x1, y1, x2, y2 in the mask it was found in
    length: float
    thickness: float
    vertical: bool

    @property
    def tilt(self) -> float:
        """Rise over run against its own axis: 0 for a line along the image's rows or columns."""
        dx, dy = abs(self.ends[2] - self.ends[0]), abs(self.ends[3] - self.ends[1])
        return min(dx, dy) / max(dx, dy, 1)


def find_lines(mask: np.ndarray, min_length: int) -> list[Line]:
    """Straight thin runs of ink at least `min_length` px long, near-horizontal or near-vertical. Looked for
    only among the thin parts of the ink: the strokes of a big bold digit are no line, and Hough's time
    goes with the ink it is given."""
    thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((LINE_MAX_PX + 1,) * 2, np.uint8))
    thin = cv2.subtract(mask, cv2.dilate(thick, np.ones((3, 3), np.uint8))) if thick.any() else mask
    if not thin.any():
        return []
    # Hough walks each line through a 1 px corridor, and a thin line that a camera tilted steps out of it and
    # breaks up: lines are looked for with the ink thickened by a pixel up and down. One Hough for both
    # directions: a second one on the image turned a quarter finds the upright lines no better, in its time.
    segments = cv2.HoughLinesP(cv2.dilate(thin, np.ones((3, 1), np.uint8)), 1, HOUGH_ANGLE,
                               threshold=max(10, min_length // 2), minLineLength=min_length,
                               maxLineGap=max(LINE_GAP_PX, int(min_length * RULE_GAP)))
    if segments is None:
        return []
    segments = segments.reshape(-1, 4)  # (N, 1, 4) in OpenCV 4
    found = []
    for vertical in (False, True):
        work, ends = (np.ascontiguousarray(thin.T), segments[:, [1, 0, 3, 2]]) if vertical else (thin, segments)
        for (x1, y1, x2, y2), run, thick_px in horizontal_lines(work, min_length, ends):
            found.append(Line((y1, x1, y2, x2) if vertical else (x1, y1, x2, y2), run, thick_px, vertical))
    return found


def horizontal_lines(mask: np.ndarray, length: int, segments: np.ndarray) -> list:
    """[(segment, length, thickness)] of the thin lines of `mask` among Hough's `segments` [N, 4] (x1, y1, x2,
    y2), those at least `length` px long and at most 45 degrees off the rows; one per line (Hough returns many
    overlapping segments along one line or stroke: the longest speaks for the others, and only it is measured,
    with the ink thickened by a pixel across the line)."""
    if length > mask.shape[1] or not len(segments):
        return []
    mask = cv2.dilate(mask, np.ones((3, 1), np.uint8))
    runs = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    flat = np.abs(segments[:, 3] - segments[:, 1]) <= np.abs(segments[:, 2] - segments[:, 0])
    segments, runs = segments[flat], runs[flat]  # steeper than 45 degrees: the transposed pass finds it
    x1s, y1s, x2s, y2s = (segments[:, k].astype(np.float64) for k in range(4))
    slopes = np.where(x2s != x1s, (y2s - y1s) / np.where(x2s != x1s, x2s - x1s, 1), 0.0)
    at_mid = y1s + slopes * (mask.shape[1] / 2 - x1s)
    lo, hi = np.minimum(x1s, x2s), np.maximum(x1s, x2s)
    out, seen, tols = [], [], []
    for i in np.argsort(-runs):
        if seen:
            s = np.array(seen)
            if (np.abs(at_mid[s] - at_mid[i]) <= np.array(tols)).__and__((lo[i] < hi[s]) & (hi[i] > lo[s])).any():
                continue
        x1, y1, x2, y2 = (int(v) for v in segments[i])
        run = float(runs[i])
        thick = ink_thickness(mask, (x1, y1, x2, y2), int(run // RULE_THINNESS) + 3) - 2
        if thick * RULE_THINNESS <= run:  # inf (not on ink) never is
            out.append(((x1, y1, x2, y2), run, thick))
        seen.append(i)  # a thick stroke skips only its near twins, not a thin line beside it
        tols.append(thick + 2 if thick * RULE_THINNESS <= run else 1)
    return out


def ink_thickness(mask: np.ndarray, segment, reach: int) -> float:
    """A low percentile, over the inked points of a segment, of the unbroken vertical ink through each point
    (up to `reach` px each way); infinite when the segment is mostly not on ink (a chance alignment of
    strokes, not a line)."""
    x1, y1, x2, y2 = segment
    n = int(max(abs(x2 - x1), 1))
    xs = np.linspace(x1, x2, n).round().astype(int)
    ys = np.linspace(y1, y2, n).round().astype(int)
    on = mask[ys, xs].astype(bool)
    if on.mean() < LINE_COVER:
        return float("inf")
    xs, ys = xs[on], ys[on]
    m = len(xs)
    runs = ink_run(mask, np.tile(xs, 2), np.tile(ys, 2), np.repeat([-1, 1], m), reach)  # up, then down
    # A low percentile, not the median: digits written on a rule thicken it along much of its length.
    return low_percentile(runs[:m] + runs[m:] + 1, LINE_THICKNESS_PERCENTILE)


def ink_run(mask: np.ndarray, xs: np.ndarray, ys: np.ndarray, step: np.ndarray, reach: int) -> np.ndarray:
    """Consecutive ink pixels from each point (xs, ys) going up (step -1) or down (+1) its column, up to
    `reach` (paper beyond the image). Most runs end within a line's thickness: they are followed a pixel at
    a time, and the few left (strokes crossing the line) are measured at once."""
    H, stepwise = mask.shape[0], 6  # px followed one at a time: more than most lines are thick
    count = np.zeros(len(xs), int)
    going = np.arange(len(xs))
    for d in range(1, min(reach, stepwise) + 1):
        rows = ys[going] + step[going] * d
        inside = (rows >= 0) & (rows < H)
        going, rows = going[inside], rows[inside]
        going = going[mask[rows, xs[going]] > 0]
        count[going] += 1
        if not len(going):
            return count
    rows = ys[going] + step[going] * np.arange(stepwise + 1, reach + 1)[:, None]
    column = mask[np.clip(rows, 0, H - 1), xs[going]] > 0
    column[(rows < 0) | (rows >= H)] = False
    count[going] += np.logical_and.accumulate(column, axis=0).sum(0)
    return count


def low_percentile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, q) (linear interpolation) by one partial sort."""
    at = q / 100 * (len(values) - 1)
    k = int(at)
    part = np.partition(values, [k, min(k + 1, len(values) - 1)])
    lo, hi, t = float(part[k]), float(part[min(k + 1, len(values) - 1)]), at - k
    return lo + (hi - lo) * t if t < 0.5 else hi - (hi - lo) * (1 - t)


def wipe_lines(mask: np.ndarray, lines: list[Line], ink: np.ndarray) -> np.ndarray:
    """Erase lines carried across the whole image (writing hid parts of them from Hough, and a printed line
    is straight), but not where a stroke crosses them: where ink goes on at both sides of the line, or where
    a pen stroke is far darker than a faint printed line (a blue rule, a grey grid), the stroke stays."""
    for vertical in (False, True):
        chosen = [ln for ln in lines if ln.vertical == vertical]
        if not chosen:
            continue
        work = np.ascontiguousarray(mask.T) if vertical else mask.copy()
        strength = np.ascontiguousarray(ink.T) if vertical else ink
        sides = cv2.dilate(work, np.ones((1, 3), np.uint8))  # a slanted stroke goes on a column further
        H, W = work.shape
        xs = np.arange(W)
        for ln in chosen:
            x1, y1, x2, y2 = (ln.ends[1], ln.ends[0], ln.ends[3], ln.ends[2]) if vertical else ln.ends
            slope = (y2 - y1) / (x2 - x1) if x2 != x1 else 0.0
            centre = y1 + slope * (xs - x1)
            half = int(ln.thickness) // 2 + 1
            # Work in the rows the line passes through (a rule is a thin slice of a page).
            top = max(0, int(np.floor(centre.min())) - half - 1)
            bottom = min(H, int(np.ceil(centre.max())) + half + 2)
            if bottom <= top:
                continue
            band = np.zeros((bottom - top, W), np.uint8)
            cv2.line(band, (0, int(round(centre[0])) - top), (W - 1, int(round(centre[-1])) - top), 1, 2 * half + 1)
            rows, ink_rows = work[top:bottom], strength[top:bottom]
            on = (band > 0) & (rows > 0)
            if on.any():
                level = quantiles(ink_rows[on], (0.5,))[0]  # the line's own ink (writing crosses little of it)
                band &= (ink_rows <= KEEP_DARKER * level + 1).astype(np.uint8)
            above, below = np.round(centre - half - 1).astype(int), np.round(centre + half + 1).astype(int)
            inside = (above >= 0) & (below < H)
            crossed = np.zeros(W, bool)
            crossed[inside] = (sides[above[inside], xs[inside]] > 0) & (sides[below[inside], xs[inside]] > 0)
            band[:, crossed] = 0
            rows[band > 0] = 0
        mask = np.ascontiguousarray(work.T) if vertical else work
    return mask


def writing_height(mask: np.ndarray, lines: list[Line], ink: np.ndarray, sheet=None) -> float | None:
    """The typical height of what is written apart from the lines: the ink-weighted median height of the
    digit-like pieces with sharp outlines that touch no line. When every piece touches one and a line
    crosses the whole sheet (`sheet`: its height and width, default the frame's) — the rules and margin of
    a sheet, the baseline of a field: one such horizontal line, or two vertical ones, since a lone upright
    stroke across a tight crop is a 1 — the same for the pieces left once every line near the image's
    axes is erased (not counting crumbs inside a line's band). None otherwise: then no line is a rule by its
    length (a 1's stem beside its flag, a 2's base, a 7's bar are writing)."""
    sheet = sheet or mask.shape
    h = free_height(mask, lines, ink, erase=False)
    crossing = [ln for ln in lines if ln.length >= FRAME_SPAN * (sheet[0] if ln.vertical else sheet[1])]
    if h is None and (sum(not ln.vertical for ln in crossing) >= 1 or sum(ln.vertical for ln in crossing) >= 2):
        # (rules, margins and edges: the pen strokes Hough took for lines at odd angles are the writing, and
        # erasing them too leaves only its crumbs to measure)
        h = free_height(mask, [ln for ln in lines if ln.tilt <= GRID_MAX_TILT], ink, erase=True)
    return h


def free_height(mask: np.ndarray, lines: list[Line], ink: np.ndarray, erase: bool) -> float | None:
    """Ink-weighted median height of the digit-like, sharp pieces of `mask` that touch none of `lines`, or
    (`erase`) of those left with the lines erased that reach out of the lines' bands."""
    near = np.zeros_like(mask)
    if erase:
        mask = mask.copy()
    for ln in lines:
        if erase:
            cv2.line(mask, ln.ends[:2], ln.ends[2:], 0, int(ln.thickness) + 2)
        cv2.line(near, ln.ends[:2], ln.ends[2:], 1, (3 * int(ln.thickness) + 6) if erase else int(ln.thickness) + 2)
    labels, comps = components(mask)
    if erase:  # pieces with no pixel outside the bands are a line's own ends and burrs
        outside = np.bincount(labels[(near == 0) & (mask > 0)], minlength=len(comps) + 1)
        excluded = {c[4] for c in comps if not outside[c[4]]}
    else:
        excluded = set(np.unique(labels[(near > 0) & (mask > 0)]).tolist())
    free = [(h, w * h, area) for x, y, w, h, i, area in comps
            if i not in excluded and h >= MIN_HEIGHT_PX and THIN * h <= w <= MAX_ASPECT * h
            and sharp_outline(labels[y:y + h, x:x + w] == i, edge_strength(ink, (x, y, w, h)))]
    if not free:
        return None
    if not erase and excluded and pen_strokes(lines):
        # Crumbs beside a large piece the lines run through (a thin-pen digit whose strokes Hough took for
        # lines) are not the writing: the writing is off the lines, most of its ink in the touching pieces.
        # (Near the page's axes the lines are rules and grids, and their crumbs may be all that stands apart.)
        off = np.bincount(labels[(near == 0) & (mask > 0)], minlength=len(comps) + 1)
        if sum(a for *_, a in free) < FREE_SHARE * sum(int(off[i]) for i in excluded if i):
            return None
    return ink_weighted_median([h for h, _, _ in free], [wh for _, wh, _ in free])


def pen_strokes(lines: list[Line]) -> bool:
    """Most of the lines' length lies at odd angles (over GRID_MAX_TILT off the image's axes): pen strokes
    Hough took for lines, not a page's rules or grid."""
    odd_angles = sum(ln.length for ln in lines if ln.tilt > GRID_MAX_TILT)
    return odd_angles > sum(ln.length for ln in lines) - odd_angles


def grid_family(lines: list[Line], shape) -> list[Line]:
    """Lines of a printed grid or ruling: at least GRID_LINES parallel lines crossing the whole frame, of
    about one thickness (a pen stroke among them is thicker than printed hairlines)."""
    out = []
    for vertical in (False, True):
        span = shape[0] if vertical else shape[1]
        across = [ln for ln in lines if ln.vertical == vertical and ln.length >= FRAME_SPAN * span
                  and ln.tilt <= GRID_MAX_TILT]
        if len(across) < GRID_LINES:
            continue
        typical = float(np.median([ln.thickness for ln in across]))
        out += [ln for ln in across if ln.thickness <= GRID_THICKNESS * typical + 1]
    return out


def rules(mask: np.ndarray, digit_h: float | None, ink: np.ndarray, sheet=None) -> list[Line]:
    """The straight thin lines that are several digits long (rules, margins, page edges), and those of a
    grid however short the crop. In the first pass the digit height is that of what is written apart from
    the lines; with nothing apart from them, a line is no rule by its length (a lone stroke is the digit).
    `sheet`: (height, width) of the paper in the frame (default: the frame)."""
    # Knowing the digit height, only lines long enough to be a rule or to cross the frame matter.
    shortest = LINE_MIN_PX if not digit_h else max(LINE_MIN_PX, int(min(RULE_DIGITS * digit_h, FRAME_SPAN * min(mask.shape))))
    lines = find_lines(mask, shortest)
    if not lines:
        return []
    sheet = sheet or mask.shape
    h = digit_h or writing_height(mask, lines, ink, sheet)
    long = [ln for ln in lines if h and ln.length >= RULE_DIGITS * h and longest_break(mask, ln) <= RULE_BREAK * h]
    return long + [ln for ln in grid_family(lines, sheet) if ln not in long]


def longest_break(mask: np.ndarray, line: Line) -> int:
    """The longest stretch (px) along `line` with no ink within a pixel of it, in the full ink mask (where a pen
    crossing a rule is ink, not a gap): Hough bridges gaps to follow faint or tilted lines, and it bridges the
    gaps between the digits of a column as well."""
    x1, y1, x2, y2 = line.ends
    n = int(max(abs(x2 - x1), abs(y2 - y1), 1)) + 1
    xs = np.linspace(x1, x2, n).round().astype(int)
    ys = np.linspace(y1, y2, n).round().astype(int)
    h, w = mask.shape
    on = np.zeros(n, bool)
    for d in (-1, 0, 1):  # across the line: a 1 px rule a camera tilted steps between neighbouring rows
        px, py = (xs + d, ys) if line.vertical else (xs, ys + d)
        inside = (px >= 0) & (px < w) & (py >= 0) & (py < h)
        on[inside] |= mask[py[inside], px[inside]] > 0
    gaps = np.diff(np.flatnonzero(np.concatenate(([True], on, [True])))) - 1
    return int(gaps.max()) if len(gaps) else 0


def sheet_extent(gray: np.ndarray, ink: np.ndarray) -> tuple[int, int]:
    """(height, width) of the paper in the frame: the rows and columns that are mostly bright ground. A scan's
    dark margin or the desk beside a sheet is no paper, so the rules crossing the sheet cross "the whole
    sheet". The frame itself when the ground is one level (a canvas, a board, a sheet filling the frame)."""
    # the ground, wherever it is above the pixel (ink = ground - gray where positive: the sum fits a byte)
    level = cv2.add(gray[::STATS_STRIDE, ::STATS_STRIDE], ink[::STATS_STRIDE, ::STATS_STRIDE])
    cum = np.cumsum(np.bincount(level.ravel(), minlength=256))  # every quantile below from one histogram
    n = int(cum[-1])
    lo, hi = ranked(cum, int(0.05 * (n - 1))), ranked(cum, int(0.95 * (n - 1)))
    if hi - lo < SHEET_CONTRAST:
        return gray.shape
    # Two grounds (a sheet and a desk or margin) are two levels apart; a light gradient or a vignette spreads
    # one ground over the range, and its brighter half is no sheet.
    dark = int(cum[(lo + hi) // 2])  # levels at or below the middle
    if ranked(cum, dark + (n - dark - 1) // 2) - ranked(cum, (dark - 1) // 2) < SHEET_SPLIT * (hi - lo):
        return gray.shape
    bright = level > (lo + hi) / 2
    rows, cols = int((bright.mean(1) >= 0.5).sum()), int((bright.mean(0) >= 0.5).sum())
    return max(1, rows * STATS_STRIDE), max(1, cols * STATS_STRIDE)


# ---------------------------------------------------------------- printed boxes
def box_holes(mask: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The cells of printed boxes (single or a comb of shared edges) and the pieces that may hold them:
    (cells, framed). A cell is a rectangular hole in the ink. A 0, 6, 8 or 9 has a hole too, but a round
    or pointed one: it fills far less of its bounding rectangle. A digit that touches its box dents the
    cell, or cuts it in parts: `framed` are the outlines of the pieces with a hole of a cell's size that is
    no clean cell, or with a rectangle for an outline and no clean cell, for `frame_runs` to tell."""
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return [], []
    cells, framed, boxed, clean = [], {}, {}, set()
    for i, (contour, (_, _, child, parent)) in enumerate(zip(contours, hierarchy.reshape(-1, 4))):
        if parent < 0:  # an outer boundary: a box's (or a short comb's), when it is a rectangle with holes
            if child >= 0:
                (_, _), (w, h), _ = cv2.minAreaRect(contour)
                if min(w, h) >= 3 * MIN_HEIGHT_PX and max(w, h) <= 2 * BOX_MAX_ASPECT * min(w, h) and \
                        cv2.contourArea(contour) >= BOX_FILL * w * h:
                    boxed[i] = contour
            continue
        (_, _), (w, h), _ = cv2.minAreaRect(contour)
        if min(w, h) < 3 * MIN_HEIGHT_PX:
            continue  # too small for a digit
        if max(w, h) <= BOX_MAX_ASPECT * min(w, h) and cv2.contourArea(contour) >= BOX_FILL * w * h:
            cells.append(contour)
            clean.add(parent)
        elif max(w, h) <= 2 * BOX_MAX_ASPECT * min(w, h) and \
                min(cv2.boundingRect(contours[parent])[2:]) <= 2 * max(w, h):
            # a dented cell, or a part of one (at least half) a digit cut off, in a box or a comb one cell
            # high (not the strips and cells of a ruled page or a grid)
            framed[parent] = contours[parent]
    # A box whose digit cuts its cell into parts too small to be one (a small box, a digit touching it on two
    # sides) is known by its outline; one with a clean cell too is a grid or a longer comb (the cells go above).
    framed.update({i: c for i, c in boxed.items() if i not in clean})
    return cells, list(framed.values())


def wipe_frames(mask: np.ndarray) -> np.ndarray:
    """Erase printed box outlines around their cells (a digit inside, even one touching the box, keeps
    all but the pixels on the line), and the frames of boxes whose digits touch them so that no clean cell
    is left. Runs before the line wiping, which would open the cells."""
    cells, framed = box_holes(mask)
    whole = mask.copy() if cells and framed else mask
    for hole in cells:
        x, y, w, h = cv2.boundingRect(hole)
        band = max(2, int(round(BOX_LINE * min(w, h))))
        cv2.drawContours(mask, [hole], -1, 0, thickness=2 * band + 1)
    for outline in framed:
        x, y, w, h = cv2.boundingRect(outline)
        inside = np.zeros((h, w), np.uint8)
        cv2.drawContours(inside, [outline], -1, 1, thickness=cv2.FILLED, offset=(-x, -y))
        # what is left of it once the clean cells went; failing that, when their wipe took some of it (the
        # sides it shared with them: one side left is no frame), all of it
        left = inside & (mask[y:y + h, x:x + w] > 0)
        tries = [left]
        if whole is not mask:
            was = inside & (whole[y:y + h, x:x + w] > 0)
            if np.count_nonzero(was) > np.count_nonzero(left):
                tries.append(was)
        for piece in tries:
            erase = frame_runs(piece)
            if erase is not None:
                mask[y:y + h, x:x + w][erase > 0] = 0
                break
    return mask


def frame_runs(piece: np.ndarray) -> np.ndarray | None:
    """The pixels of `piece` on the sides of a printed frame (a box or a comb), or None when it is none.

    Turned square to the piece, a frame's sides are its longest rows and columns: straight runs of ink, at
    least two each way, none much thicker than the others (a pen stroke as long as the cell is), each
    running from the first side across it to the last (a bold round 0's flattest rows and columns do not) and
    with writing left inside once they go (a bold, boxy 0 leaves only crumbs). The runs go, except where a stroke
    crosses them; what is written in the frame stays."""
    points = cv2.findNonZero(piece)
    if points is None:
        return None  # nothing left of it (a clean cell's wipe took it)
    angle = cv2.minAreaRect(points)[2]
    angle = (angle + 45) % 90 - 45  # the nearest way square (OpenCV's range differs between versions)
    if abs(np.tan(np.radians(angle))) > GRID_MAX_TILT:
        return None  # printed lines lie near the image axes
    h, w = piece.shape
    pad = int(np.ceil(0.5 * np.hypot(h, w) - 0.5 * min(h, w))) + 1
    big = cv2.copyMakeBorder(piece, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    turn = cv2.getRotationMatrix2D((big.shape[1] / 2, big.shape[0] / 2), angle, 1.0)
    square = cv2.warpAffine(big, turn, big.shape[::-1], flags=cv2.INTER_NEAREST)
    # a line a pixel off square (rounding, a lens) steps between neighbouring rows: thicken across it
    across = (cv2.dilate(square, np.ones((3, 1), np.uint8)), cv2.dilate(square, np.ones((1, 3), np.uint8)).T)
    found = []  # per direction: the sides (first, last row) and each side's span (first, end column)
    for grid in across:
        start, length = longest_runs(grid > 0)
        sides = bands(length >= BOX_FILL * length.max())
        widths = [b - a + 1 for a, b in sides]
        sides = [ab for ab, wd in zip(sides, widths) if wd <= GRID_THICKNESS * np.median(widths) + 1]  # not a pen stroke
        if length.max() < 3 * MIN_HEIGHT_PX or len(sides) < 2 or sides[-1][0] - sides[0][1] < 3 * MIN_HEIGHT_PX:
            return None
        found.append((sides, [(int(start[a:b + 1].min()), int((start + length)[a:b + 1].max())) for a, b in sides]))
    for (_, spans), (sides, _) in zip(found, found[::-1]):  # the sides meet at the corners: a round 0's do not
        if max(end - lo for lo, end in spans) < BOX_FILL * (sides[-1][1] - sides[0][0] + 1):
            return None
    erase = np.zeros_like(square)
    for k, (sides, spans) in enumerate(found):
        out, img = (erase, square) if k == 0 else (erase.T, square.T)  # views: columns are rows of the transpose
        for (top, bottom), (lo, end) in zip(sides, spans):
            above = img[top - 2, lo:end] > 0 if top >= 2 else np.zeros(end - lo, bool)
            below = img[bottom + 2, lo:end] > 0 if bottom + 2 < img.shape[0] else np.zeros(end - lo, bool)
            out[max(0, top - 1):bottom + 2, lo:end][:, ~(above & below)] = 1  # a crossing stroke goes on both sides
    # What is written in it is the ink left between its sides: a bold 0 or O leaves crumbs there, and an
    # oval one whose stroke is wider than the oval is square (its inner columns and rows run from side to
    # side) leaves only the slivers of its outer edge, outside those sides.
    (rows, _), (cols, _) = found
    wide = cv2.dilate(erase, np.ones((3, 3), np.uint8))
    between = (slice(rows[0][1] + 2, rows[-1][0] - 1), slice(cols[0][1] + 2, cols[-1][0] - 1))
    written = np.count_nonzero(square[between] & (wide[between] == 0))
    if written < FRAME_WRITTEN * np.count_nonzero(square & wide):
        return None
    back = cv2.warpAffine(erase, turn, big.shape[::-1], flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return cv2.dilate(back, np.ones((3, 3), np.uint8))[pad:pad + h, pad:pad + w] & piece


def longest_runs(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, length) of the longest run of True in each row."""
    idx = np.arange(rows.shape[1])
    since = idx - np.maximum.accumulate(np.where(rows, -1, idx), axis=1)  # run length ending at each pixel
    end = since.argmax(1)
    length = since[np.arange(rows.shape[0]), end]
    return end - length + 1, length


def bands(flags: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] index of each run of True."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


# ---------------------------------------------------------------- pieces
def components(mask: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """[x, y, w, h, label, area] per connected component."""
    # Grana's labelling, ~2.5x faster with statistics than the default here, works on 2x2 blocks: inside the
    # box that holds all the ink (a third of a frame with one digit), its corner on the same block grid,
    # it gives the same labels.
    x0, y0, w0, h0 = cv2.boundingRect(mask)
    labels = np.zeros(mask.shape, np.int32)
    if not w0:
        return labels, []
    w0, h0, x0, y0 = w0 + x0 % 2, h0 + y0 % 2, x0 - x0 % 2, y0 - y0 % 2
    n, inside, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(mask[y0:y0 + h0, x0:x0 + w0], 8,
                                                                        cv2.CV_32S, cv2.CCL_GRANA)
    labels[y0:y0 + h0, x0:x0 + w0] = inside
    return labels, [[x + x0, y + y0, w, h, i, area] for i, (x, y, w, h, area) in enumerate(stats.tolist()) if i]


def join_broken(boxes: list[list]) -> list[list]:
    """Merge pieces stacked on each other (a 5's detached bar, a stroke cut by a ruled line): overlapping
    horizontally, close vertically, and not much taller together than either. Returns [[box, ids], ...].
    Pieces are swept left to right, so only neighbours in x are compared (a page of a thousand digits stays
    fast); a merged box is compared again until nothing changes. Gaps and growth are measured against the
    tallest piece of each group, not its merged box: a column of digits does not chain into one tower.
    `boxes`: [x, y, w, h, label(, area)]; with the ink area, a piece inside an outline (a page's edge and
    rules, a frame) stays apart from it."""
    groups = [[list(b[:4]), [b[4]], b[3], b[5] if len(b) > 5 else None] for b in boxes]
    merged = True
    while merged:
        merged = False
        groups.sort(key=lambda g: g[0][0])
        out: list[list] = []
        active: list[list] = []  # groups whose right edge is still right of the sweep
        for box, ids, tallest, area in groups:
            active = [g for g in active if g[0][0] + g[0][2] > box[0]]
            for other in active:
                if stacked(other[0], box, max(other[2], tallest)) and not inside_outline(other[0], other[3], box) \
                        and not inside_outline(box, area, other[0]):
                    ox, oy, ow, oh = other[0]
                    x0, y0 = min(ox, box[0]), min(oy, box[1])
                    x1, y1 = max(ox + ow, box[0] + box[2]), max(oy + oh, box[1] + box[3])
                    both = None if area is None or other[3] is None else area + other[3]
                    other[:] = [x0, y0, x1 - x0, y1 - y0], other[1] + ids, max(other[2], tallest), both
                    merged = True
                    break
            else:
                out.append([box, ids, tallest, area])
                active.append(out[-1])
        groups = out
    return [[box, ids] for box, ids, *_ in groups]


def inside_outline(outer, outer_area: int | None, inner) -> bool:
    """`inner` lies within the box `outer`, which is much taller and inked over less than OUTLINE_FILL of it
    (`outer_area` px of ink; None: unknown): something written inside an outline, not a piece of its digit."""
    (ox, oy, ow, oh), (x, y, w, h) = outer, inner
    return (outer_area is not None and outer_area < OUTLINE_FILL * ow * oh and oh > JOIN_MAX_GROWTH * h
            and ox <= x and x + w <= ox + ow and oy <= y and y + h <= oy + oh)


def stacked(a, b, tallest: float | None = None) -> bool:
    """Two pieces of one digit, one above the other (`tallest`: the tallest single piece in either, when they
    are groups of pieces already)."""
    (ax, ay, aw, ah), (bx, by, bw, bh) = a, b
    tallest = tallest or max(ah, bh)
    overlap = min(ax + aw, bx + bw) - max(ax, bx)
    gap = max(ay, by) - min(ay + ah, by + bh)
    return (overlap >= JOIN_OVERLAP * min(aw, bw) and gap <= JOIN_GAP * tallest
            and max(ay + ah, by + bh) - min(ay, by) <= JOIN_MAX_GROWTH * tallest)


def keep_region(box, mask_piece: np.ndarray, min_height: int = MIN_HEIGHT_PX) -> bool:
    """Shape alone: tall enough, not a dash, not a solid blob."""
    x, y, w, h = box
    if h < min_height or w > MAX_ASPECT * h:
        return False
    return not (mask_piece.mean() > MAX_FILL and w > 0.5 * h)


def underlined(strength: np.ndarray, least: int = 2):
    """[(x offset, y offset, tight piece)] of the digits standing on a stroke drawn under them, left to right;
    None when there is no such stroke or fewer than `least` pieces stand on it (1: touching digits, for a
    caller that cuts them apart and keeps the cut only where the model reads digits)."""
    h, w = strength.shape
    ink = (strength > 0).astype(np.uint8)
    level = cv2.dilate(ink, np.ones((2 * UNDERLINE_STEP_PX + 1, 1), np.uint8))  # a slope's steps, levelled
    run = np.ones((1, odd(UNDERLINE_SPAN * w)), np.uint8)  # (outside the piece is paper, not ink)
    stroke = cv2.morphologyEx(level, cv2.MORPH_OPEN, run, borderType=cv2.BORDER_CONSTANT, borderValue=0) & ink
    if not stroke.any():
        return None
    rest = ink & ~cv2.dilate(stroke, np.ones((3, 3), np.uint8))
    if not rest.any() or (np.nonzero(rest)[0] > np.flatnonzero(stroke.any(1)).mean()).mean() > UNDERLINE_BELOW:
        return None  # nothing above it, or a bar through the digits (a 4's, a 7's), not under them
    labels, digits = standing_apart(rest)
    if len(digits) < least:
        return None
    xs, reach = np.flatnonzero(stroke.any(0)), UNDERLINE_REACH * max(b[3] for b, _ in digits)
    (left, *_), (last, _, last_w, _) = digits[0][0], digits[-1][0]
    if xs[0] > left + reach or xs[-1] < last + last_w - reach:
        return None  # not under them all: a 0's or a U's foot, between sides that splay out past its ends
    return parts_of(strength, labels, digits)


def standing_apart(mask: np.ndarray):
    """(labels, [(box, ids)]) of the digit-sized parts of `mask`, left to right: its pieces of one digit joined
    (join_broken), those at least DIGIT_PART of the tallest (not a full stop, a speck)."""
    labels, comps = components(mask)
    groups = join_broken([c for c in comps if max(c[2], c[3]) >= SCOUT_HEIGHT_PX])
    tallest = max((b[3] for b, _ in groups), default=0)
    return labels, sorted(((b, ids) for b, ids in groups if b[3] >= DIGIT_PART * tallest), key=lambda g: g[0][0])


def parts_of(strength: np.ndarray, labels: np.ndarray, digits: list, grow: bool = False) -> list:
    """[(x, y, piece)]: `strength` within each part of `digits` [(box, label ids)] (`grow`: and a pixel
    around it, the stroke's soft edge)."""
    out = []
    for (x, y, w, h), ids in digits:
        part = np.isin(labels[y:y + h, x:x + w], ids)
        if grow:
            part = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        out.append((x, y, np.where(part, strength[y:y + h, x:x + w], 0)))
    return out


def unstack(pieces: list, median_h: float) -> list:
    """Pieces far taller than the digits, taken apart where only weak ink holds them together (strong_parts)."""
    out = []
    for box, strength in pieces:
        x, y, _, h = box
        parts = strong_parts(strength) if h > STACKED_VS_MEDIAN * median_h else None
        out += [((x + dx, y + dy, p.shape[1], p.shape[0]), p) for dx, dy, p in parts] if parts else [(box, strength)]
    return out


def strong_parts(strength: np.ndarray):
    """[(x offset, y offset, tight piece)] of the digits in a piece that only weak ink holds together (a
    shadow's edge or a crease running down a column of digits): its ink at STROKE_EDGE of its strokes'
    contrast, as mnist_crop reads it, falls apart into two or more digit-sized parts (the pieces of one
    digit joined again). None when it does not."""
    if np.count_nonzero(strength) < 2 * SCOUT_HEIGHT_PX ** 2:
        return None
    labels, digits = standing_apart((strength >= STROKE_EDGE * stroke_peak(strength)).astype(np.uint8))
    # each part with the weaker ink at its edges, not the bridge
    return parts_of(strength, labels, digits, grow=True) if len(digits) >= 2 else None


def split_touching(box, piece: np.ndarray, out: list) -> None:
    """Cut a far too wide region at its thinnest column near the middle (or first take the stroke from under
    an underlined number, or part digits only faint ink ties together), recursively."""
    x, y, w, h = box
    if max(w, h) < SCOUT_HEIGHT_PX:
        return
    if w <= SPLIT_ASPECT * h or w < 2 * MIN_HEIGHT_PX:
        out.append((box, piece))
        return
    # A number underlined: its digits stand apart once the stroke is gone. Digits that only faint ink ties
    # together (a smudge, a faint stroke from one to the next) stand apart at half their strokes' contrast,
    # where a column cut would cut through those that overlap in x.
    lifted = underlined(piece) or strong_parts(piece)
    if lifted:
        for dx, dy, part in lifted:
            split_touching((x + dx, y + dy, part.shape[1], part.shape[0]), part, out)
        return
    cols = (piece > 0).sum(0)
    lo, hi = int(w * 0.3), int(w * 0.7)
    cut = lo + int(np.argmin(cols[lo:hi]))
    for x0, x1 in ((0, cut), (cut, w)):
        part = piece[:, x0:x1]
        rows, colsk = np.flatnonzero(part.any(1)), np.flatnonzero(part.any(0))
        if len(rows) == 0:
            continue
        sub = part[rows[0]:rows[-1] + 1, colsk[0]:colsk[-1] + 1]
        split_touching((x + x0 + colsk[0], y + rows[0], colsk[-1] - colsk[0] + 1, rows[-1] - rows[0] + 1), sub, out)


def segment(gray: np.ndarray, kernel: int, digit_h: float | None = None):
    """Candidate digit pieces in `gray` (dark ink): list of (box, ink-strength crop masked to the piece), and
    the ink map. `digit_h`: the typical digit height in `gray` when known."""
    ink = ink_map(gray, kernel)
    mask = wipe_frames(ink_mask(ink))
    lines = rules(mask, digit_h, ink, sheet_extent(gray, ink))
    if lines:
        mask = wipe_lines(mask, lines, ink)
    labels, comps = components(mask)
    comps = [c for c in comps if c[2] >= SCOUT_HEIGHT_PX or c[3] >= SCOUT_HEIGHT_PX]
    candidates = []
    for (x, y, w, h), ids in join_broken(comps):
        window = labels[y:y + h, x:x + w]
        piece = window == ids[0] if len(ids) == 1 else np.isin(window, ids)
        if sharp_outline(piece, edge_strength(ink, (x, y, w, h))):
            candidates.append(((x, y, w, h), np.where(piece, ink[y:y + h, x:x + w], 0)))
    return candidates, ink


def faded_rule(ink: np.ndarray, box, piece: np.ndarray, sigma: float) -> bool:
    """A thin upright piece (`piece`: its mask in `box`) whose straight course goes on past both of its ends
    (one, where the other is at the image's edge) in ink too faint for the mask: along as far again as the
    piece is long, the median contrast of that course against the paper beside it is RUNS_ON noise sigmas
    (`sigma`: the ink map's, noise_level; at least a grey level).
    A printed rule fades in places and leaves 1-like pieces; a 1 ends where it ends (a digit of the line
    above or below fills at most part of that stretch, and rarely on the same course)."""
    x, y, w, h = box
    H, W = ink.shape
    ys, xs = np.nonzero(piece)
    count = np.bincount(ys, minlength=h)
    inked = count > 0
    if inked.sum() < 2:
        return False
    centre = np.bincount(ys, weights=xs, minlength=h)[inked] / count[inked] + x  # of each row's ink
    slope, at0 = np.polyfit(np.arange(h)[inked] + y, centre, 1)  # the course: x = slope * y + at0
    if abs(slope) > GRID_MAX_TILT:  # rules lie along the image's axes
        return False
    off = int(np.ceil(len(ys) / inked.sum() / 2)) + 2  # the paper beside it: past half the stroke's width
    across = np.arange(-off - 3, off + 4)
    outer = np.r_[0:4, len(across) - 4:len(across)]  # four columns of paper each side
    sides = []
    for lo, hi in ((max(0, y - h), y), (y + h, min(H, y + 2 * h))):
        run = np.arange(lo, hi)
        xc = np.round(slope * run + at0).astype(int)
        cols = xc[:, None] + across
        # the paper beside it, on the side or sides inside the image (a rule often runs along a crop's edge)
        inside = (cols[:, outer] >= 0) & (cols[:, outer] < W)
        keep = (xc >= 0) & (xc < W) & inside.any(1)
        if keep.sum() < 3:  # at the image's edge: that end tells nothing
            continue
        run, cols, inside = run[keep], cols[keep], inside[keep]
        strip = ink[run[:, None], np.clip(cols, 0, W - 1)].astype(np.float32)
        on = strip[:, off + 2:off + 5].max(1)  # the course, a pixel either way
        beside = np.nanmedian(np.where(inside, strip[:, outer], np.nan), 1)
        sides.append(float(np.median(on - beside)))
    return bool(sides) and min(sides) >= RUNS_ON * max(sigma, 1.0)


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
    """Pen, pencil and chalk strokes have edges; shadow edges, vignetting and paper texture only ramps."""
    p = piece.astype(np.uint8)
    outline = (p - cv2.erode(p, np.ones((3, 3), np.uint8))).astype(bool)
    return outline.any() and float(edges[outline].mean()) >= MIN_EDGE


def select_pieces(candidates: list, shape, min_height: int = MIN_HEIGHT_PX, ink: np.ndarray | None = None) -> list:
    """Split far too wide pieces, then drop lines, specks and cut-off neighbours by size against the median
    digit-like piece (pieces cut by the border do not set the scale), and (given the ink map they were found
    in) the 1-like pieces of faded rules."""
    H, W = shape
    pieces = []
    for box, strength in candidates:
        split_touching(box, strength, pieces)
    pieces = [(b, s) for b, s in pieces if keep_region(b, s > 0, min_height)]

    def on_border(box):
        x, y, w, h = box
        return x == 0 or y == 0 or x + w == W or y + h == H

    def thin(box):
        return min(box[2], box[3]) < THIN * max(box[2], box[3])

    if not pieces:
        return []
    # An outline spanning the frame (a scanned page's edge, margin and rules, a sheet's edges on a desk)
    # is no digit when there is anything else: a digit that fills a tight crop is no outline, it is inked.
    outlines = [i for i, (b, s) in enumerate(pieces) if giant(b, shape) and (s > 0).mean() < OUTLINE_FILL]
    if len(outlines) < len(pieces):
        pieces = [p for i, p in enumerate(pieces) if i not in outlines]
    median_h = digit_scale(pieces, shape)
    pieces = unstack(pieces, median_h)

    def crossing(box):  # from one border of the frame to the other, clearly taller than the digits
        x, y, w, h = box
        return (y == 0 and y + h == H and h > CROSSING_VS_MEDIAN * median_h) or \
            (x == 0 and x + w == W and w > CROSSING_VS_MEDIAN * median_h)

    # Long thin pieces many digits tall are margin lines and box edges (a '1' is one digit tall), and so are
    # thin pieces across the frame (a column's rule beside a number cut from a register) and thin pieces
    # stacked end to end in a column: a faint margin line that broke up.
    pieces = [(b, s) for b, s in pieces if not (thin(b) and (max(b[2], b[3]) > LINE_VS_MEDIAN * median_h
                                                               or crossing(b)))]
    broken = broken_vertical_line([b for b, _ in pieces], median_h, H)
    pieces = [p for i, p in enumerate(pieces) if i not in broken]
    if ink is not None and any(upright_thin(b) for b, _ in pieces):
        sigma = noise_level(ink)[1]
        pieces = [(b, s) for b, s in pieces if not (upright_thin(b) and faded_rule(ink, b, s > 0, sigma))]

    def least(box):  # x the median height
        floor = FRAGMENT if on_border(box) else MIN_HEIGHT_REL
        return max(floor, SHORT_ONE) if upright_thin(box) else floor

    pieces = [(b, s) for b, s in pieces if b[3] >= least(b) * median_h]
    return drop_faint(drop_hairlines(pieces))


def drop_faint(pieces: list) -> list:
    """Without the pieces whose stroke contrast (stroke_peak) is far below the writing's, the ink-weighted
    median of all pieces' (the digits' strokes outweigh a scatter of texture crumbs): paper grain, a
    shadow's soft edge, a smudge — not writing by the same hand and light."""
    if len(pieces) < 2:
        return pieces
    peaks = [stroke_peak(s) for _, s in pieces]
    writing = ink_weighted_median(peaks, [np.count_nonzero(s) for _, s in pieces])
    return [p for p, peak in zip(pieces, peaks) if peak >= FAINT * writing]


def drop_hairlines(pieces: list) -> list:
    """Without the thin upright pieces whose stroke is far finer than the writing's (the ink-weighted median
    stroke of the other pieces, the WRITING_SAMPLE inkiest of them): a printed rule's or a page edge's
    sliver, not a 1 by the same pen."""
    ones = [i for i, (b, _) in enumerate(pieces) if upright_thin(b)]
    if not ones or len(ones) == len(pieces):
        return pieces
    ink = [np.count_nonzero(s) for _, s in pieces]
    others = sorted((i for i in range(len(pieces)) if i not in ones), key=lambda i: -ink[i])[:WRITING_SAMPLE]

    def width(i):
        return stroke_width((pieces[i][1] > 0).astype(np.uint8))

    writing = ink_weighted_median([width(i) for i in others], [ink[i] for i in others])
    hairlines = {i for i in ones if width(i) < HAIRLINE * writing}
    return [p for i, p in enumerate(pieces) if i not in hairlines]


def upright_thin(box) -> bool:
    """Thin and upright: shaped like a 1 (or a sliver of a vertical rule)."""
    return box[2] < THIN * box[3]


def digit_scale(pieces: list, shape) -> float:
    """The typical digit height among pieces: the ink-weighted median height (a digit's strokes outweigh a
    scatter of specks) of the digit-like ones — not thin, not cut by the border, not spanning most of the
    frame both ways (a page outline with its rules) — or of the pieces that are not giant, or of all."""
    H, W = shape

    def digit_like(box):
        x, y, w, h = box
        return (min(w, h) >= THIN * max(w, h) and x > 0 and y > 0 and x + w < W and y + h < H
                and not giant(box, shape))

    typical = ([(b, s) for b, s in pieces if digit_like(b)] or [(b, s) for b, s in pieces if not giant(b, shape)]
               or pieces)
    return ink_weighted_median([b[3] for b, _ in typical], [int((s > 0).sum()) for _, s in typical])


def giant(box, shape) -> bool:
    """Spanning most of the frame both ways."""
    return box[2] > GIANT * shape[1] and box[3] > GIANT * shape[0]


def broken_vertical_line(boxes: list, median_h: float, height: int | None = None) -> set[int]:
    """Indices of thin upright pieces stacked end to end in one column, CUT_SPAN digit heights in all:
    a margin line broken into 1-like pieces. (A column of real 1s, one per written line, has a line's
    spacing between them, not a break's.) A printed rule that faded in places leaves pieces farther apart;
    in one column, one of them running off the top or the bottom of the frame (`height`), they are a rule
    too: a column of 1s does not run off the crop."""
    thin = sorted((i for i, b in enumerate(boxes) if upright_thin(b)), key=lambda i: boxes[i][1])
    out = set()
    for loose in ((False, True) if height else (False,)):
        chains: list[list[int]] = []
        for i in thin:
            x, y, w, h = boxes[i]
            for chain in chains:
                px, py, pw, ph = boxes[chain[-1]]
                aligned = abs((x + w / 2) - (px + pw / 2)) <= max(w, pw) + 2
                if aligned and (loose or y - (py + ph) <= CUT_GAP * max(h, ph)):
                    chain.append(i)
                    break
            else:
                chains.append([i])
        for chain in chains:
            top, bottom = boxes[chain[0]][1], max(boxes[i][1] + boxes[i][3] for i in chain)
            runs_off = top == 0 or bottom == height
            if len(chain) > 1 and bottom - top > CUT_SPAN * median_h and (runs_off or not loose):
                out.update(chain)
    return out


def ink_weighted_median(heights: list, weights: list) -> float:
    """The height at half of all ink: a digit's strokes outweigh a scatter of specks and dots."""
    order = np.argsort(heights)
    cum = np.cumsum(np.asarray(weights, np.float64)[order])
    return float(np.asarray(heights)[order][np.searchsorted(cum, cum[-1] / 2)])


# ---------------------------------------------------------------- one digit -> 28x28
def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary shape: area / (half the perimeter) for long thin strokes."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(mask.sum()) / max(perimeter, 1.0)


def stroke_peak(strength: np.ndarray) -> float:
    """A piece's stroke contrast: the 90th percentile of its ink strength (0 = paper)."""
    inked = strength[strength > 0]
    k = int(0.9 * (inked.size - 1))
    return float(np.partition(inked, k)[k])


def tight(mask: np.ndarray) -> np.ndarray:
    """A uint8 mask cut to the box of its ink (all of it when there is none)."""
    x, y, w, h = cv2.boundingRect(mask)
    return mask[y:y + h, x:x + w] if w else mask


def mnist_crop(strength: np.ndarray) -> np.ndarray | None:
    """One digit's ink strength (0 = paper) -> uint8 28x28 in MNIST's recipe, or None if nothing is left."""
    if not strength.any():
        return None
    mask = (strength >= STROKE_EDGE * stroke_peak(strength)).astype(np.uint8)
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
    oy = min(max(round(MNIST_SIZE / 2 - 0.5 - cy), 0), MNIST_SIZE - h)
    ox = min(max(round(MNIST_SIZE / 2 - 0.5 - cx), 0), MNIST_SIZE - w)
    out[oy:oy + h, ox:ox + w] = digit
    return np.clip(out, 0, 255).astype(np.uint8)


def upright(strength: np.ndarray, degrees: float) -> np.ndarray:
    """A digit's ink strength turned by -`degrees` (the slope of its line), on a canvas that holds it all."""
    h, w = strength.shape
    d = int(np.ceil(np.hypot(h, w))) + 2
    canvas = np.zeros((d, d), strength.dtype)
    canvas[(d - h) // 2:(d - h) // 2 + h, (d - w) // 2:(d - w) // 2 + w] = strength
    turn = cv2.getRotationMatrix2D((d / 2, d / 2), degrees, 1.0)
    return cv2.warpAffine(canvas, turn, (d, d), flags=cv2.INTER_LINEAR)


# ---------------------------------------------------------------- the whole image
def working_scale(gray: np.ndarray, target_long: float) -> float:
    return min(MAX_UPSCALE, target_long / max(gray.shape))


def find_digits(image: np.ndarray) -> list[Region]:
    """All digit regions of an image, in reading order."""
    gray = to_gray(image)
    if light_on_dark(gray):
        gray = cv2.bitwise_not(gray)  # chalk, white-on-black drawings: one polarity from here on
    # At least 1 px across the short side: a 10000x10 strip at the long side's scale would be 0 px tall.
    scale = min(1.0, max(working_scale(gray, SEG_LONG_SIDE), 1 / min(gray.shape)))
    shape, candidates, ink = _segment_at(gray, scale, None)
    pieces = select_pieces(candidates, shape, ink=ink)
    scouts = pieces or select_pieces(candidates, shape, SCOUT_HEIGHT_PX, ink)  # small writing on a big page
    if scouts:
        typical = digit_scale(scouts, shape)
        better = min(MAX_UPSCALE, scale * DIGIT_HEIGHT / typical)
        if better > scale * RESCALE_MIN:  # digits came out small: look again, closer
            shape, candidates, ink = _segment_at(gray, better, typical * better / scale)
            pieces, scale = select_pieces(candidates, shape, ink=ink), better
    regions = []
    for (x, y, w, h), strength in pieces:
        crop = mnist_crop(strength)
        if crop is None:
            continue
        box = (int(x / scale), int(y / scale), max(1, int(round(w / scale))), max(1, int(round(h / scale))))
        regions.append(Region(box=box, crop=crop, line=0, strength=strength, scale=scale))
    return turn_steep_lines(reading_order(regions))


def _segment_at(gray: np.ndarray, scale: float, digit_h: float | None):
    work = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # The ground window must span the strokes of the largest digits, not only the typical one.
    kernel = odd(BG_KERNEL_DIGITS * digit_h) if digit_h else odd(min(work.shape) * BG_KERNEL_FRAC)
    return (work.shape, *segment(work, kernel, digit_h))


def turn_steep_lines(regions: list[Region]) -> list[Region]:
    """Digits on a line that slopes more than UPRIGHT_MIN_DEG were most likely turned with it (a page at an
    angle): read them turned upright."""
    by_line: dict[int, list[Region]] = {}
    for r in regions:
        by_line.setdefault(r.line, []).append(r)
    for line in by_line.values():
        if len(line) < 3:
            continue
        xs = np.array([r.box[0] + r.box[2] / 2 for r in line])
        ys = np.array([r.box[1] + r.box[3] / 2 for r in line])
        if np.ptp(xs) < 1:
            continue
        degrees = float(np.degrees(np.arctan(np.polyfit(xs, ys, 1)[0])))
        if abs(degrees) < UPRIGHT_MIN_DEG:
            continue
        for r in line:
            if r.strength is not None:
                crop = mnist_crop(upright(r.strength, degrees))
                r.crop = crop if crop is not None else r.crop
    return regions


def reading_order(regions: list) -> list:
    """Lines top to bottom, digits left to right. A line is a chain grown left to right: each digit joins
    the line whose course (extrapolated from its last digits) passes nearest its centre, so the slanted
    lines of a tilted page stay whole and a short digit after a tall one stays on its line. `regions`: the
    finder's regions, or the classifier's digits (anything with a `box` and a `line` to set)."""
    if len(regions) < 2:  # one line, or none: no course to fit (the fit costs ~30 µs a call)
        for r in regions:
            r.line = 0
        return list(regions)
    lines: list[TextLine] = []
    prior = writing_slope(regions)
    for r in sorted(regions, key=lambda r: r.box[0]):
        x, y, w, h = r.box
        cx, cy = x + w / 2, y + h / 2
        best, best_cost = None, None
        for line in lines:
            lx, _, lw, _ = line.last
            dy = abs(cy - line.centre_at(cx))
            tol = LINE_TOLERANCE * max(h, line.height)
            gap = x - (lx + lw)
            if dy <= tol and gap > -0.5 * min(w, lw):
                cost = dy / tol + LINE_GAP_WEIGHT * max(gap, 0) / line.height
                if best is None or cost < best_cost:
                    best, best_cost = line, cost
        if best is None:
            lines.append(TextLine(r, prior))
        else:
            best.add(r)
    lines.sort(key=lambda line: median([q.box[1] + q.box[3] / 2 for q in line.items]))
    ordered = []
    for i, line in enumerate(lines):
        for r in line.items:
            r.line = i
            ordered.append(r)
    return ordered


def median(values) -> float:
    """np.median of a short list, without numpy's overhead (a few microseconds per call, per digit of a page)."""
    return float(statistics.median(values))


def writing_slope(regions: list) -> float:
    """The slope the writing runs at: the median direction from each digit to its nearest neighbour on the
    right (within a few digit heights, under 45 degrees). 0 for fewer than three such pairs."""
    centres = np.array([(r.box[0] + r.box[2] / 2, r.box[1] + r.box[3] / 2, r.box[3]) for r in regions], np.float64)
    slopes = []
    for cx, cy, h in centres:
        dx, dy = centres[:, 0] - cx, centres[:, 1] - cy
        near = (dx > 0.3 * h) & (np.abs(dy) < dx) & (np.hypot(dx, dy) < NEIGHBOUR_REACH * h)
        if near.any():
            j = np.flatnonzero(near)[np.argmin(np.hypot(dx, dy)[near])]
            slopes.append(dy[j] / dx[j])
    return median(slopes) if len(slopes) >= 3 else 0.0


class TextLine:
    """A line of digits being grown left to right, with its course: a least-squares fit through its last
    few digits, kept up to date as digits join so each test is a few multiplications. Until it has two, its
    course runs at the slope of the writing around it (a steep line is followed from its first step)."""

    def __init__(self, first, prior: float = 0.0):
        self.items = [first]
        self.heights = [first.box[3]]
        self.prior = prior
        self._refit()

    def add(self, region) -> None:
        self.items.append(region)
        self.heights.append(region.box[3])
        self._refit()

    @property
    def last(self):
        return self.items[-1].box

    def centre_at(self, cx: float) -> float:
        return self.mean_y + self.slope * (cx - self.mean_x)

    def _refit(self) -> None:
        tail = [q.box for q in self.items[-LINE_SLOPE_DIGITS:]]
        xs = np.array([b[0] + b[2] / 2 for b in tail])
        ys = np.array([b[1] + b[3] / 2 for b in tail])
        self.height = median(self.heights)
        self.mean_x, self.mean_y = float(xs.mean()), float(ys.mean())
        spread = float(((xs - self.mean_x) ** 2).sum())
        if len(tail) < 2 or spread < 1:
            self.mean_x, self.mean_y, self.slope = float(xs[-1]), float(ys[-1]), self.prior
        else:
            slope = float(((xs - self.mean_x) * (ys - self.mean_y)).sum() / spread)
            self.slope = float(np.clip(slope, -MAX_LINE_SLOPE, MAX_LINE_SLOPE))
