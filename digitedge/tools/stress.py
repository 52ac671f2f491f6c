"""Stress scenes: one generator per way real handwriting broke the first reader (issue 10), numpy + cv2 only.

Each kind draws what the camera-style scenes of `synth` lack, with synth's own ink, paper, light and camera:

- canvas:     digits drawn on a screen: 1 px mouse lines to thick brushes, white on black or black on white,
              long straight strokes (a 2's base, a 7's bar, a 1's stem) filling a tight frame;
- grid:       a digit on graph paper, cropped tight, so grid pieces sit at the crop's edges;
- border:     a digit touching the image border (a tight crop);
- desk:       a sheet photographed on a desk (or a scan with a dark scanner margin): small writing, page edges;
- pencil:     faint thin pencil on grey, unevenly lit paper;
- separators: numbers with commas, points, dashes and letters beside the digits, and digits with a broken stroke;
- slope:      a line of digits on a 15-40 degree slope, often under strong vignetting;
- cheque:     small digits on a tinted, patterned security background in a tight field;
- styles:     the handwriting styles MNIST lacks (`glyphs`): flagged 1, crossed 7, closed 4, looped 2, ...
- boxes:      a form's or register's row of printed boxes (single or a comb) whose digits touch the box or
              run onto its line, as written digits do when the box is small;
- underline:  a number (or a lone digit) in a register or an amount field with a pen stroke drawn under it,
              crossing, touching or just clear of its digits' feet, which ties them into one piece;
- register:   a row number cut from a scanned bound register: a narrow grey crop with the dark binding or
              scanner margin down one side, the column's printed rules (faint, broken) at its edges and
              across it, and a small number, often with a full stop or a stroke under it.

Digits come from an MNIST split (test for evaluation, train for training) or, for a share of them, from the
stroke-drawn `glyphs`. `stress_scenes(kind, n, seed)` is deterministic: scene i depends on (seed, kind, i).
"""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from . import synth
from .glyphs import STYLES, glyph_image, glyph_mask
# synth's ink, paper, light and camera model (private to the tools package, shared here on purpose)
from .synth import (Scene, _boxes, _camera_params, _colour, _ink_mask, _lighting, _noise_field, _paper,
                    _photometric, _pick_ink, _stamp, _text, _warp)

STRESS_KINDS = ("canvas", "grid", "border", "desk", "pencil", "separators", "slope", "cheque", "styles", "boxes",
                "underline", "register")
GLYPH_SHARE = 0.25  # share of digits drawn from glyphs rather than MNIST (styles: all of them)
RARE_STYLES = {0: ["slashed"], 1: ["flag", "long_flag", "hooked", "flag_foot"], 2: ["looped", "flat_base"],
               3: ["flat_top"], 4: ["closed", "open"], 7: ["crossed", "serif"]}
EUROPEAN_ONES = 0.4  # share of the styles scenes that are 1s with a flag: MNIST's model reads many as 7s
STRAIGHT = (1, 2, 4, 7)  # digits with long straight strokes, which the first reader wiped as rules ...
STRAIGHT_SHARE = 0.6  # ... are this share of the canvas digits
# canvas
CANVAS_STROKE = {"mouse": (0.008, 0.03), "pen": (0.04, 0.09), "brush": (0.10, 0.2)}  # x digit height
CANVAS_FILL = (0.5, 0.92)  # digit height x canvas height
# grid, border, cheque, separators
GRID_PITCH = (0.35, 0.8)  # x digit height
TIGHT_FILL = (0.55, 0.9)
CHEQUE_DIGIT_PX = (30, 42)
SEPARATOR_PATTERNS = ("3,3", "1,3,3", "2.2", "3.2", "2-2", "3-4", "2:2", "a2", "2a", "a3a")
LETTERS = "aehkmnrtuvwxAEFHKMNRTVWXY"  # letters no reader takes for a digit (no l, o, s, z, b, g, q, ...)
BREAK_P = 0.25  # chance a digit's stroke has a gap
# desk and scan
DESK_COLOURS = ((40, 60, 90), (70, 90, 120), (30, 30, 32), (95, 100, 105), (20, 40, 60))  # BGR: woods, black, grey
SHEET_FRAC = (0.45, 0.9)
SHEET_TILT = 8.0  # degrees
DESK_DIGIT = (0.022, 0.05)  # digit height x frame height
# pencil, slope
PENCIL_DENSITY = (0.45, 0.75)  # alpha of the graphite; its grey is close to the paper's
PENCIL_CONTRAST = (45.0, 90.0)  # grey levels below the paper, before the density and the dim light
SLOPE_DEG = (15.0, 40.0)
BOX_PX = (28, 90)  # printed box height in a 640x480 frame
BOX_TOUCH = 0.7  # share of the digits that touch or cross their box's line
BOX_OVERRUN = (0.0, 0.12)  # ... by this x the box height (0: just touching)
STRONG_VIGNETTE = (0.35, 0.7)
# underline
UNDERLINE_DIGIT_PX = (24, 64)
UNDERLINE_PATTERNS = ("1", "1.", "2", "2", "3", "3", "4", "2.", "3.")
UNDERLINE_DROP = (-0.1, 0.25)  # the stroke's height against the digits' feet, x digit height (< 0: crossing them)
# register
REGISTER_SIZE = ((80, 160), (100, 290))  # (w, h) ranges of a crop, px
REGISTER_DIGIT = (0.12, 0.3)  # digit height x crop height
REGISTER_MARGIN = (0.0, 0.45)  # the dark binding strip, x crop width
REGISTER_PATTERNS = ("1", "2", "1.", "2.", "2", "3", "1")


class DigitSource:
    """Digit images with their labels: an MNIST split, and stroke-drawn glyphs for a share of them."""

    def __init__(self, data, rng: np.random.Generator, glyph_share: float = GLYPH_SHARE):
        self.data, self.rng, self.glyph_share = data, rng, glyph_share

    def one(self, label: int | None = None, rare: bool = False) -> tuple[np.ndarray, int]:
        rng = self.rng
        if rare:
            label = int(rng.choice(list(RARE_STYLES))) if label is None else label
            names = RARE_STYLES.get(label, list(STYLES[label]))
            return glyph_image(label, rng, style=names[rng.integers(len(names))]), label
        if rng.random() < self.glyph_share:
            label = int(rng.integers(10)) if label is None else label
            return glyph_image(label, rng), label
        pool = np.flatnonzero(self.data.labels == label) if label is not None else len(self.data.labels)
        i = int(rng.choice(pool))
        return self.data.images[i], int(self.data.labels[i])

    def many(self, k: int, rare: bool = False):
        pairs = [self.one(rare=rare) for _ in range(k)]
        return [p[0] for p in pairs], [p[1] for p in pairs]


# ---------------------------------------------------------------- shared pieces
def _shoot(albedo, labels, n, text, kind, rng, strength, warp=True, jpeg=True) -> Scene:
    """synth's light and camera; `warp=False` keeps the geometry (tight crops must stay tight)."""
    size = (albedo.shape[1], albedo.shape[0])
    lit = albedo * _lighting(rng, size)
    cam = _camera_params(rng, size, strength, jpeg=jpeg)
    if not warp:
        cam.warp = np.eye(3)
    image = _photometric(_warp(lit, cam.warp), cam, rng)
    return Scene(image, text, _boxes(_warp(labels, cam.warp, nearest=True), n) if n else [], kind)


def _stamp_mark(albedo, mask, x, y, ink) -> None:
    """Ink that is not a digit (a separator, a letter): on the paper, not in the label map."""
    h, w = mask.shape
    x, y = int(np.clip(x, 0, albedo.shape[1] - w)), int(np.clip(y, 0, albedo.shape[0] - h))
    a = mask[..., None]
    albedo[y:y + h, x:x + w] = albedo[y:y + h, x:x + w] * (1 - a) + ink * a


def _shrunk(mask: np.ndarray, f: float) -> np.ndarray:
    """A mask scaled by f (< 1), at least 1 px each way."""
    return cv2.resize(mask, (max(1, int(mask.shape[1] * f)), max(1, int(mask.shape[0] * f))), interpolation=cv2.INTER_AREA)


def _broken(mask: np.ndarray, rng) -> np.ndarray:
    """The same digit with a thin gap across one of its strokes (a pen skip, a lifted pencil)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0.5)
    if len(ys) < 10:
        return mask
    i = rng.integers(len(ys))
    gap = np.zeros_like(mask)
    angle = rng.uniform(0, np.pi)
    length, width = 0.35 * h, max(1, round(rng.uniform(0.02, 0.06) * h))
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(gap, (int(xs[i] - dx), int(ys[i] - dy)), (int(xs[i] + dx), int(ys[i] + dy)), 1.0, width)
    return mask * (1 - gap)


def _mark(kind: str, height: float, rng, stroke: float) -> np.ndarray:
    """A separator or letter as an alpha mask, sized against a digit `height` px tall."""
    t = max(1, round(stroke))
    if kind == ",":
        m = np.zeros((int(height * 0.45) + 2 * t, int(height * 0.25) + 2 * t), np.float32)
        cv2.circle(m, (m.shape[1] - t - 1, t + 1), t, 1.0, -1)
        cv2.line(m, (m.shape[1] - t - 1, t + 1), (t, m.shape[0] - t - 1), 1.0, t)
    elif kind == ".":
        r = max(1, round(rng.uniform(0.06, 0.1) * height))
        m = np.zeros((2 * r + 3, 2 * r + 3), np.float32)
        cv2.circle(m, (r + 1, r + 1), r, 1.0, -1)
    elif kind == "-":
        m = np.zeros((t + 4, int(height * rng.uniform(0.3, 0.6)) + 4), np.float32)
        cv2.line(m, (2, 2 + t // 2), (m.shape[1] - 3, 2 + t // 2 + int(rng.integers(-1, 2))), 1.0, t)
    elif kind == ":":
        r = max(1, round(0.07 * height))
        m = np.zeros((int(height * 0.6), 2 * r + 3), np.float32)
        cv2.circle(m, (r + 1, r + 1), r, 1.0, -1)
        cv2.circle(m, (r + 1, m.shape[0] - r - 2), r, 1.0, -1)
    else:  # a handwriting-like letter
        letter = LETTERS[rng.integers(len(LETTERS))]
        scale = height / 30 * (0.6 if letter.islower() else 1.0)
        canvas = np.zeros((int(height * 2), int(height * 2)), np.uint8)
        cv2.putText(canvas, letter, (int(height * 0.3), int(height * 1.4)), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale,
                    255, t, cv2.LINE_AA)
        ys, xs = np.nonzero(canvas)
        m = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255
    return m


def _tokens_line(src, rng, height, pattern, style, density, stroke_px):
    """Masks of a written number with separators: [(mask, label or None, dy)], digits in order."""
    out = []
    for part in pattern:
        if part.isdigit():
            for _ in range(int(part)):
                img, label = src.one()
                m = _ink_mask(img, height * rng.uniform(0.92, 1.08), rng, style, density)
                out.append((_broken(m, rng) if rng.random() < BREAK_P else m, label, 0.0))
        else:
            mark = _mark("letter" if part == "a" else part, height, rng, stroke_px) * density
            dy = {",": 0.85, ".": 0.88, "-": 0.45, ":": 0.25}.get(part, 1.0 - mark.shape[0] / height)
            out.append((mark, None, dy))
    return out


def _layout(albedo, labels, tokens, x0, top, height, rng, ink, first=0) -> int:
    """Write tokens left to right from (x0, top); returns the number of digits written."""
    x, n = float(x0), first
    for mask, label, dy in tokens:
        y = top + (height - mask.shape[0] if label is not None else dy * height)
        if label is not None:
            _stamp(albedo, labels, mask, int(x), int(y + rng.uniform(-0.04, 0.04) * height), ink, n)
            n += 1
        else:
            _stamp_mark(albedo, mask, int(x), int(y), ink)
        x += mask.shape[1] + rng.uniform(0.12, 0.35) * height
    return n - first


# ---------------------------------------------------------------- the kinds
def render_canvas(src: DigitSource, rng) -> Scene:
    dark = rng.random() < 0.45
    pen = ("mouse", "pen", "brush")[rng.integers(3)]
    count = 1 if rng.random() < 0.75 else int(rng.integers(2, 6))
    big_canvas = rng.random() < 0.15  # a large canvas with a small drawing in the middle
    h = int(rng.integers(160, 600))
    digit_h = h * (rng.uniform(0.15, 0.3) if big_canvas else rng.uniform(*CANVAS_FILL))
    ink = np.full(3, rng.uniform(215, 255) if dark else rng.uniform(0, 40), np.float32)
    if rng.random() < 0.2:
        ink = _colour(rng, ((200, 60, 30), (30, 30, 200), (40, 140, 40))) if not dark else ink
    masks, text = [], []
    for _ in range(count):
        label = int(rng.choice(STRAIGHT)) if rng.random() < STRAIGHT_SHARE else int(rng.integers(10))
        stroke = rng.uniform(*CANVAS_STROKE[pen])
        if pen == "mouse" or rng.random() < 0.5:  # uniform drawn lines: the glyph pen draws any width
            m = glyph_mask(label, rng, digit_h, stroke=max(stroke, 1.0 / digit_h))
        else:
            img, label = src.one(label=label)
            m = _ink_mask(img, digit_h, rng, "pen")
        if rng.random() < 0.5:
            m = (m > 0.5).astype(np.float32)  # paint programs without anti-aliasing
        masks.append(m)
        text.append(label)
    gaps = rng.uniform(0.1, 0.4, count) * digit_h
    total = sum(m.shape[1] for m in masks) + gaps[:-1].sum()
    # Drawings are often cut to the digit (a 2's base then spans most of the width), or sit on a wide canvas.
    w = int(max(total * rng.uniform(1.05, 1.8), h * rng.uniform(0.6, 1.4)) if big_canvas or rng.random() < 0.4
            else total * rng.uniform(1.05, 1.8)) + 2
    bg = np.full((h, w, 3), rng.uniform(0, 35) if dark else rng.uniform(225, 255), np.float32)
    labels_map = np.zeros((h, w), np.uint16)
    if total > w or max(m.shape[0] for m in masks) > h:
        f = min(w / total, h / max(m.shape[0] for m in masks)) * 0.98
        masks = [_shrunk(m, f) for m in masks]
        gaps, total = gaps * f, total * f
    x = rng.uniform(0, max(0.0, w - total))
    for i, (m, gap) in enumerate(zip(masks, gaps)):
        y = rng.uniform(0, h - m.shape[0]) if count == 1 else (h - m.shape[0]) / 2 + rng.uniform(-0.05, 0.05) * h
        _stamp(bg, labels_map, m, int(x), int(np.clip(y, 0, h - m.shape[0])), ink, i)
        x += m.shape[1] + gap
    image = np.clip(bg + 0.5, 0, 255).astype(np.uint8)
    return Scene(image, _text(text), _boxes(labels_map, count), "canvas")


def _tight_frame(mask: np.ndarray, rng, margins) -> tuple[int, int, int, int]:
    """(w, h, x, y): a frame around a digit mask with the given (left, top, right, bottom) margins in px."""
    left, top, right, bottom = (max(0, int(round(v))) for v in margins)
    return mask.shape[1] + left + right, mask.shape[0] + top + bottom, left, top


def render_grid(src: DigitSource, rng) -> Scene:
    img, label = src.one()
    digit_h = rng.uniform(50, 180)
    ink, density, style = _pick_ink(rng)
    m = _ink_mask(img, digit_h, rng, style, density)
    fill = rng.uniform(*TIGHT_FILL)
    spare = m.shape[0] / fill - m.shape[0]
    w, h, x, y = _tight_frame(m, rng, (rng.uniform(0.1, 0.6) * digit_h, spare * rng.uniform(0.2, 0.8),
                                       rng.uniform(0.1, 0.6) * digit_h, spare * rng.uniform(0.2, 0.8)))
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    pitch = digit_h * rng.uniform(*GRID_PITCH)
    colour = _colour(rng, ((200, 170, 140), (170, 170, 170), (170, 200, 170), (150, 150, 230)))
    strength, thick = rng.uniform(0.35, 0.8), int(rng.integers(1, 3))
    grid = np.zeros((h, w), np.float32)
    ox, oy = rng.uniform(0, pitch), rng.uniform(0, pitch)
    for gx in np.arange(ox, w, pitch):
        cv2.line(grid, (int(gx), 0), (int(gx), h), strength, thick, cv2.LINE_AA)
    for gy in np.arange(oy, h, pitch):
        cv2.line(grid, (0, int(gy)), (w, int(gy)), strength, thick, cv2.LINE_AA)
    albedo = albedo * (1 - grid[..., None]) + colour * grid[..., None]
    _stamp(albedo, labels_map, m, x, y, ink, 0)
    return _shoot(albedo, labels_map, 1, str(label), "grid", rng, rng.uniform(0.3, 1.0), warp=False)


def render_border(src: DigitSource, rng) -> Scene:
    img, label = src.one()
    digit_h = rng.uniform(40, 260)
    ink, density, style = _pick_ink(rng)
    m = _ink_mask(img, digit_h, rng, style, density)
    margins = list(rng.uniform(0.05, 0.5, 4) * digit_h)
    for side in rng.choice(4, int(rng.integers(1, 3)), replace=False):
        margins[side] = rng.uniform(0, 0.04) * digit_h  # touching, or a hair away
    w, h, x, y = _tight_frame(m, rng, margins)
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    _stamp(albedo, labels_map, m, x, y, ink, 0)
    return _shoot(albedo, labels_map, 1, str(label), "border", rng, rng.uniform(0.3, 1.0), warp=False)


def _desk(rng, size) -> np.ndarray:
    w, h = size
    base = _colour(rng, DESK_COLOURS)
    streaks = int(rng.integers(20, 60))  # wood grain: long streaks along one axis
    cells = (streaks, 3) if rng.random() < 0.5 else (3, streaks)
    grain = _noise_field(rng, size, cells, rng.uniform(4, 14))
    return base + (grain + _noise_field(rng, size, (4, 5), rng.uniform(3, 10)))[..., None]


def _ruled_sheet(rng, size, digit_h, src, ink, density, style, lines_n):
    """A sheet (albedo, label map, text, count) with optional rules and `lines_n` lines of small digits."""
    w, h = size
    albedo, labels_map = _paper(rng, size), np.zeros((h, w), np.uint16)
    pitch = digit_h * rng.uniform(1.5, 2.2)
    if rng.random() < 0.5:
        colour = _colour(rng, ((215, 180, 145), (190, 190, 190)))
        for y in np.arange(rng.uniform(0.05, 0.15) * h, h, pitch):
            cv2.line(albedo, (0, int(y)), (w, int(y)), colour.tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
    texts, count = [], 0
    top = rng.uniform(0.05, 0.2) * h
    for _ in range(lines_n):
        if top + digit_h > 0.95 * h:
            break
        k = int(rng.integers(2, 9))
        imgs, labels = src.many(k)
        x = rng.uniform(0.05, 0.3) * w
        written = []
        for img, label in zip(imgs, labels):
            m = _ink_mask(img, digit_h * rng.uniform(0.9, 1.1), rng, style, density)
            if x + m.shape[1] > 0.95 * w:
                break
            _stamp(albedo, labels_map, m, int(x), int(top + digit_h - m.shape[0]), ink, count)
            count += 1
            written.append(label)
            x += m.shape[1] + rng.uniform(0.2, 0.6) * digit_h
        if written:
            texts.append(_text(written))
        top += pitch * (1 + int(rng.random() < 0.3))
    return albedo, labels_map, "\n".join(texts), count


def render_desk(src: DigitSource, rng) -> Scene:
    """A sheet on a desk, seen by a phone (tilted, desk on one to four sides), or a scan with a dark margin."""
    W, H = [(1280, 960), (1600, 1200), (1000, 1300), (960, 1280)][rng.integers(4)]
    scan = rng.random() < 0.35
    sheet_w, sheet_h = int(W * rng.uniform(*SHEET_FRAC)), int(H * rng.uniform(*SHEET_FRAC))
    if scan:  # the page fills the frame but for a dark scanner strip along one side
        strip = rng.uniform(0.05, 0.35)
        sheet_w, sheet_h = int(W * (1 - strip)), H
    digit_h = H * rng.uniform(*DESK_DIGIT)
    ink, density, style = _pick_ink(rng)
    sheet, sheet_labels, text, n = _ruled_sheet(rng, (sheet_w, sheet_h), digit_h, src, ink, density, style,
                                                int(rng.integers(1, 7)))
    if scan:
        x0 = W - sheet_w if rng.random() < 0.7 else 0
        for gx in rng.uniform(0.05, 0.95, int(rng.integers(0, 3))) * sheet_w:  # printed table columns
            cv2.line(sheet, (int(gx), 0), (int(gx), sheet_h), (90, 90, 90), int(rng.integers(1, 3)), cv2.LINE_AA)
        M = np.float32([[1, 0, x0], [0, 1, 0]])
        desk = np.full((H, W, 3), rng.uniform(5, 40), np.float32) + _noise_field(rng, (W, H), (6, 6), 3)[..., None]
    else:
        angle = rng.uniform(-SHEET_TILT, SHEET_TILT)
        M = cv2.getRotationMatrix2D((sheet_w / 2, sheet_h / 2), angle, 1.0)
        M[:, 2] += (rng.uniform(0, W - sheet_w), rng.uniform(0, H - sheet_h))
        desk = _desk(rng, (W, H))
    cover = cv2.warpAffine(np.ones((sheet_h, sheet_w), np.float32), M, (W, H), flags=cv2.INTER_LINEAR)
    paper = cv2.warpAffine(sheet, M, (W, H), flags=cv2.INTER_LINEAR)
    labels_map = cv2.warpAffine(sheet_labels, M, (W, H), flags=cv2.INTER_NEAREST)
    albedo = desk * (1 - cover[..., None]) + paper * cover[..., None]
    scene = _shoot(albedo, labels_map, n, text, "desk", rng, rng.uniform(0.3, 1.0) if not scan else 0.3, warp=not scan)
    return scene


def render_pencil(src: DigitSource, rng) -> Scene:
    w, h = (640, 480) if rng.random() < 0.7 else (480, 640)
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    albedo = albedo * rng.uniform(0.75, 0.92)  # grey, recycled paper
    k = int(rng.integers(1, 6))
    imgs, labels = src.many(k)
    colour = albedo.mean((0, 1)) - rng.uniform(*PENCIL_CONTRAST)
    height = h * rng.uniform(0.12, 0.4) / (1 if k == 1 else 1.5)
    density = rng.uniform(*PENCIL_DENSITY)
    masks = [_ink_mask(img, height, rng, "pencil", density) for img in imgs]
    x = rng.uniform(0.05, 0.2) * w
    scale = min(1.0, 0.85 * w / (sum(m.shape[1] for m in masks) + 0.4 * height * k))
    y0 = rng.uniform(0.1, 0.9 - height * scale / h) * h
    for i, m in enumerate(masks):
        if scale < 1:
            m = _shrunk(m, scale)
        _stamp(albedo, labels_map, m, int(x), int(y0 + height * scale - m.shape[0]), colour, i)
        x += m.shape[1] + rng.uniform(0.2, 0.4) * height * scale
    light = _lighting(rng, (w, h)) * rng.uniform(0.6, 0.95, (1, 1, 1))  # a dim room, light from one side
    lit = albedo * light
    cam = _camera_params(rng, (w, h), rng.uniform(0.5, 1.0))
    image = _photometric(_warp(lit, cam.warp), cam, rng)
    return Scene(image, _text(labels), _boxes(_warp(labels_map, cam.warp, nearest=True), k), "pencil")


def render_separators(src: DigitSource, rng) -> Scene:
    w, h = (800, 300) if rng.random() < 0.6 else (640, 480)
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    ink, density, style = _pick_ink(rng)
    height = rng.uniform(0.15, 0.3) * h
    pattern = SEPARATOR_PATTERNS[rng.integers(len(SEPARATOR_PATTERNS))]
    tokens = _tokens_line(src, rng, height, pattern, style, density, max(1.5, 0.1 * height))
    width = sum(m.shape[1] for m, _, _ in tokens) + 0.25 * height * len(tokens)
    if width > 0.9 * w:  # long numbers get smaller rather than leave the frame
        f = 0.9 * w / width
        tokens = [(_shrunk(m, f), lab, dy) for m, lab, dy in tokens]
        height, width = height * f, width * f
    top = rng.uniform(0.15, 0.85 - height / h) * h
    n = _layout(albedo, labels_map, tokens, rng.uniform(0.03, max(0.04, 0.97 - width / w)) * w, top, height, rng, ink)
    text = _text([lab for _, lab, _ in tokens if lab is not None])
    return _shoot(albedo, labels_map, n, text, "separators", rng, rng.uniform(0.3, 1.0))


def render_slope(src: DigitSource, rng) -> Scene:
    w, h = [(640, 480), (800, 600), (1024, 768)][rng.integers(3)]
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    ink, density, style = _pick_ink(rng)
    k = int(rng.integers(3, 8))
    imgs, labels = src.many(k)
    angle = rng.uniform(*SLOPE_DEG) * rng.choice([-1, 1])
    rotate_digits = rng.random() < 0.6  # a turned page (the digits lean with the line), or a slanted line
    height = h * rng.uniform(0.06, 0.12)
    masks = [_ink_mask(img, height * rng.uniform(0.92, 1.08), rng, style, density) for img in imgs]
    gaps = [rng.uniform(0.25, 0.5) * height for _ in masks]
    length = sum(m.shape[1] for m in masks) + sum(gaps[:-1])
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    span_x, span_y = abs(c) * length, abs(s) * length
    f = min(1.0, 0.8 * w / max(span_x, 1), 0.75 * h / max(span_y, 1))
    x = rng.uniform(0.1 * w, max(0.1 * w, w * 0.9 - span_x * f))
    y = (h - span_y * f) / 2 + (span_y * f if s < 0 else 0) + rng.uniform(-0.05, 0.05) * h
    pos = 0.0
    for i, (m, gap) in enumerate(zip(masks, gaps)):
        if f < 1:
            m = _shrunk(m, f)
        if rotate_digits:
            m = _rotated(m, angle)
        cx, cy = x + c * (pos + m.shape[1] / 2), y + s * (pos + m.shape[1] / 2)
        _stamp(albedo, labels_map, m, int(cx - m.shape[1] / 2), int(cy - m.shape[0] / 2), ink, i)
        pos += (m.shape[1] if not rotate_digits else masks[i].shape[1] * f) + gap * f
    scene = _shoot(albedo, labels_map, k, _text(labels), "slope", rng, rng.uniform(0.3, 0.8))
    if rng.random() < 0.6:  # strong vignetting: dark corners of a cheap lens or a lamp's spot
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
        gain = 1 - rng.uniform(*STRONG_VIGNETTE) * r2 ** rng.uniform(1.0, 2.0)
        scene.image = np.clip(scene.image * gain[..., None], 0, 255).astype(np.uint8)
    return scene


def _rotated(mask: np.ndarray, angle: float) -> np.ndarray:
    """The mask turned by `angle` degrees (image y down: positive turns clockwise on screen), re-tightened."""
    h, w = mask.shape
    d = int(np.ceil(np.hypot(h, w)))
    big = np.zeros((d, d), np.float32)
    big[(d - h) // 2:(d - h) // 2 + h, (d - w) // 2:(d - w) // 2 + w] = mask
    out = cv2.warpAffine(big, cv2.getRotationMatrix2D((d / 2, d / 2), -angle, 1.0), (d, d), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(out > 0.05)
    return np.ascontiguousarray(out[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


def _security_pattern(rng, size) -> np.ndarray:
    """A tinted guilloche-like background: fine interfering waves over a colour gradient."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tint = _colour(rng, ((220, 240, 220), (240, 225, 215), (215, 230, 245), (235, 215, 240), (200, 235, 245)))
    waves = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        f1, f2 = rng.uniform(0.05, 0.25), rng.uniform(0.01, 0.06)
        waves += np.sin(xx * f1 + rng.uniform(0, 6) + 6 * np.sin(yy * f2 + xx * f2 / 3))
    amp = rng.uniform(6, 22)
    return tint + (waves / 3 * amp)[..., None] + _noise_field(rng, size, (2, 6), 8)[..., None]


def render_cheque(src: DigitSource, rng) -> Scene:
    digit_px = rng.uniform(*CHEQUE_DIGIT_PX)
    pattern = ("3", "4", "5", "1,3", "3.2", "4.2", "2,3.2")[rng.integers(7)]
    ink, density, style = _pick_ink(rng)
    tokens = _tokens_line(src, rng, digit_px, pattern, style, density, max(1.5, 0.1 * digit_px))
    width = sum(m.shape[1] for m, _, _ in tokens) + 0.3 * digit_px * len(tokens)
    w = int(width + rng.uniform(0.3, 2.0) * digit_px)
    h = int(digit_px / rng.uniform(0.4, 0.7))
    albedo, labels_map = _security_pattern(rng, (w, h)), np.zeros((h, w), np.uint16)
    if rng.random() < 0.6:  # the printed field: a box or a baseline
        colour = _colour(rng, ((60, 60, 60), (120, 80, 40)))
        if rng.random() < 0.5:
            cv2.rectangle(albedo, (1, 1), (w - 2, h - 2), colour.tolist(), 1)
        else:
            y = int(h * rng.uniform(0.85, 0.95))
            cv2.line(albedo, (0, y), (w, y), colour.tolist(), 1)
    top = (h - digit_px) / 2 + rng.uniform(-0.1, 0.1) * digit_px
    x0 = rng.uniform(0.1, 0.5) * (w - width)
    n = _layout(albedo, labels_map, tokens, x0, top, digit_px, rng, ink)
    text = _text([lab for _, lab, _ in tokens if lab is not None])
    return _shoot(albedo, labels_map, n, text, "cheque", rng, rng.uniform(0.2, 0.6), warp=False)


def render_styles(src: DigitSource, rng) -> Scene:
    img, label = src.one(label=1 if rng.random() < EUROPEAN_ONES else None, rare=True)
    scene = synth.render_single(img, label, rng, size=(640, 480), camera_strength=rng.uniform(0.3, 1.0))
    scene.kind = "styles"
    return scene


def render_boxes(src: DigitSource, rng) -> Scene:
    w, h = 640, 480
    k = int(rng.integers(2, 8))
    box_h = rng.uniform(*BOX_PX)
    box_w = box_h * rng.uniform(0.7, 1.0)
    gap = 0.0 if rng.random() < 0.5 else rng.uniform(0.1, 0.5) * box_w  # a comb of shared edges, or boxes apart
    box_w = min(box_w, (0.9 * w - gap * (k - 1)) / k)
    total = k * box_w + gap * (k - 1)
    x0, y0 = rng.uniform(0.05 * w, 0.95 * w - total), rng.uniform(0.15 * h, 0.85 * h - box_h)
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    colour, thick = _colour(rng, synth.FORM_COLOURS + ((200, 120, 60), (60, 60, 190))).tolist(), int(rng.integers(1, 4))
    ink, density, style = _pick_ink(rng)
    imgs, labels = src.many(k)
    for i, img in enumerate(imgs):
        left, top = x0 + i * (box_w + gap), y0
        cv2.rectangle(albedo, (round(left), round(top)), (round(left + box_w), round(top + box_h)), colour, thick, cv2.LINE_AA)
        m = _ink_mask(img, box_h * rng.uniform(0.7, 0.95), rng, style, density)
        m = m if m.shape[1] <= 0.9 * box_w else cv2.resize(m, (int(0.9 * box_w), m.shape[0]), interpolation=cv2.INTER_AREA)
        x = left + (box_w - m.shape[1]) / 2 + rng.uniform(-0.3, 0.3) * (box_w - m.shape[1]) / 2
        y = top + (box_h - m.shape[0]) / 2
        if rng.random() < BOX_TOUCH:  # pushed onto one side of its box, up to over the line
            side = int(rng.integers(4))
            reach = rng.uniform(*BOX_OVERRUN) * box_h
            if side == 0:
                y = top - reach
            elif side == 1:
                y = top + box_h - m.shape[0] + reach
            elif side == 2:
                x = left - reach
            else:
                x = left + box_w - m.shape[1] + reach
        _stamp(albedo, labels_map, m, round(x), round(y), ink, i)
    return _shoot(albedo, labels_map, k, _text(labels), "boxes", rng, rng.uniform(0.3, 0.8))


def render_underline(src: DigitSource, rng) -> Scene:
    digit_px = rng.uniform(*UNDERLINE_DIGIT_PX)
    pattern = UNDERLINE_PATTERNS[rng.integers(len(UNDERLINE_PATTERNS))]
    ink, density, style = _pick_ink(rng)
    stroke = max(1.5, rng.uniform(0.06, 0.12) * digit_px)
    tokens = _tokens_line(src, rng, digit_px, pattern, style, density, stroke)
    width = sum(m.shape[1] for m, _, _ in tokens) + 0.3 * digit_px * len(tokens)
    w, h = int(width + rng.uniform(1.0, 3.0) * digit_px), int(digit_px * rng.uniform(2.2, 4.5))
    albedo, labels_map = _paper(rng, (w, h)), np.zeros((h, w), np.uint16)
    if rng.random() < 0.5:  # the register's printed column rules
        colour = _colour(rng, ((60, 60, 60), (120, 80, 40), (150, 150, 150))).tolist()
        for x in (int(rng.uniform(0.0, 0.05) * w), int(rng.uniform(0.95, 1.0) * w) - 1):
            cv2.line(albedo, (x, 0), (x, h), colour, int(rng.integers(1, 3)))
    top = (h - digit_px) / 2 + rng.uniform(-0.15, 0.15) * digit_px
    x0 = rng.uniform(0.2, 0.8) * (w - width)
    n = _layout(albedo, labels_map, tokens, x0, top, digit_px, rng, ink)
    # The stroke: from about the first digit's left to past the last, nearly flat, slightly bowed.
    left, right = x0 - rng.uniform(0.0, 0.3) * digit_px, x0 + width + rng.uniform(-0.3, 0.4) * digit_px
    y = top + digit_px + rng.uniform(*UNDERLINE_DROP) * digit_px
    xs = np.linspace(left, right, 12)
    t = np.linspace(-1, 1, 12)
    ys = y + rng.uniform(-0.05, 0.05) * (xs - left) + rng.uniform(-0.06, 0.06) * digit_px * (1 - t * t)
    line = np.zeros((h, w), np.float32)
    cv2.polylines(line, [np.round(np.stack([xs, ys], 1)).astype(np.int32)], False, 1.0, max(1, round(stroke)), cv2.LINE_AA)
    _stamp_mark(albedo, line * density, 0, 0, ink)
    text = _text([lab for _, lab, _ in tokens if lab is not None])
    return _shoot(albedo, labels_map, n, text, "underline", rng, rng.uniform(0.2, 0.6), warp=False)


def render_register(src: DigitSource, rng) -> Scene:
    w, h = (int(rng.integers(*r)) for r in REGISTER_SIZE)
    albedo, labels_map = _paper(rng, (w, h)) * rng.uniform(0.8, 1.0), np.zeros((h, w), np.uint16)
    rule = _colour(rng, ((70, 70, 70), (110, 100, 90), (140, 140, 140)))
    margin = int(rng.uniform(*REGISTER_MARGIN) * w)
    binding_left = rng.random() < 0.7
    a, b = (margin, w) if binding_left else (0, w - margin)  # the page's part of the crop
    # the column's rules: one at or near the crop's far edge, one just off the binding, faded in places
    for x in (b - 1 - int(rng.uniform(0, 0.15) * (b - a)) if binding_left else a + int(rng.uniform(0, 0.15) * (b - a)),
              a + int(rng.uniform(0, 0.1) * w) if binding_left else b - 1 - int(rng.uniform(0, 0.1) * w)):
        if rng.random() < 0.8:
            line = np.zeros((h, w), np.float32)
            cv2.line(line, (x, 0), (x + int(rng.integers(-2, 3)), h), 1.0, int(rng.integers(1, 3)))
            fade = np.clip(_noise_field(rng, (w, h), (8, 1), 0.8) + rng.uniform(0.3, 0.9), 0, 1)
            _stamp_mark(albedo, line * fade, 0, 0, rule)
    for y in rng.uniform(0, h, int(rng.integers(0, 3))):  # the rows' rules
        cv2.line(albedo, (a, int(y)), (b, int(y + rng.uniform(-2, 2))), rule.tolist(), 1, cv2.LINE_AA)
    ink, density, style = _pick_ink(rng)
    digit_px = h * rng.uniform(*REGISTER_DIGIT)
    pattern = REGISTER_PATTERNS[rng.integers(len(REGISTER_PATTERNS))]
    tokens = _tokens_line(src, rng, digit_px, pattern, style, density, max(1.5, 0.08 * digit_px))
    width = sum(m.shape[1] for m, _, _ in tokens) + 0.25 * digit_px * len(tokens)
    room = 0.8 * (b - a)
    if width > room:  # a long number in a narrow column is written smaller
        f = room / width
        tokens = [(_shrunk(m, f), lab, dy) for m, lab, dy in tokens]
        digit_px, width = digit_px * f, width * f
    x0 = a + 0.1 * (b - a) + rng.uniform(0, 1) * max(0.0, room - width)
    top = rng.uniform(0.15, 0.85) * (h - digit_px)
    n = _layout(albedo, labels_map, tokens, x0, top, digit_px, rng, ink)
    if rng.random() < 0.35:  # a stroke under the number
        y = top + digit_px * rng.uniform(1.0, 1.25)
        line = np.zeros((h, w), np.float32)
        cv2.line(line, (int(x0 - 0.2 * digit_px), int(y)), (int(x0 + width), int(y + rng.uniform(-2, 2))), 1.0,
                 max(1, round(0.08 * digit_px)), cv2.LINE_AA)
        _stamp_mark(albedo, line * density, 0, 0, ink)
    if margin:  # the binding's shadow: near black, with a soft edge onto the page
        xs = np.arange(w, dtype=np.float32)
        ramp = np.clip(((xs - margin) if binding_left else (w - margin - xs)) / max(2.0, rng.uniform(0.01, 0.06) * w) + 1, 0, 1)
        dark = rng.uniform(5, 50) + _noise_field(rng, (w, h), (6, 2), 4)
        albedo = albedo * ramp[None, :, None] + (dark * (1 - ramp[None, :]))[..., None]
    text = _text([lab for _, lab, _ in tokens if lab is not None])
    return _shoot(albedo, labels_map, n, text, "register", rng, rng.uniform(0.2, 0.5), warp=False)


RENDERERS = {"canvas": render_canvas, "grid": render_grid, "border": render_border, "desk": render_desk,
             "pencil": render_pencil, "separators": render_separators, "slope": render_slope,
             "cheque": render_cheque, "styles": render_styles, "boxes": render_boxes, "underline": render_underline,
             "register": render_register}


def stress_scene(kind: str, data, seed: int, i: int, glyph_share: float = GLYPH_SHARE) -> Scene:
    """Scene i of a stress kind, writing with the digits of `data` (an MNIST split); depends on (seed, kind, i)."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown stress kind {kind!r}; choose from {', '.join(STRESS_KINDS)}")
    rng = np.random.default_rng([seed, STRESS_KINDS.index(kind) + 100, i])
    return RENDERERS[kind](DigitSource(data, rng, glyph_share), rng)


def stress_scenes(kind: str, n: int, seed: int, data_dir=None, split: str = "test",
                  glyph_share: float = GLYPH_SHARE) -> Iterator[Scene]:
    """n scenes of one stress kind; scene i depends only on (seed, kind, i)."""
    if kind not in RENDERERS:
        raise ValueError(f"unknown stress kind {kind!r}; choose from {', '.join(STRESS_KINDS)}")
    data = synth._dataset(data_dir, split)
    for i in range(n):
        yield stress_scene(kind, data, seed, i, glyph_share)
