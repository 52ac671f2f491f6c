"""Synthetic camera photos of handwritten digits, rendered from MNIST digits (numpy + cv2 only, no torch).

Each ``render_*`` composes digit masks onto a paper (or board) albedo, lights it, then runs a camera model
(mild warp, blur, exposure, sensor noise, JPEG). A per-pixel label map of which digit owns the ink goes
through the same warp, so ``Scene.boxes`` are the tight boxes of the visible ink in the final image.
Everything is drawn from the given ``np.random.Generator``; ``scenes(kind, n, seed)`` is deterministic.

    python -m digitedge.tools.synth samples --data-dir ../shared/mnist --out digitedge/samples --seed 0
    python -m digitedge.tools.synth clip --data-dir ../shared/mnist --out clip.mp4 --seed 0
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from digitedge.training.data import DataError, load_mnist, resolve_data_dir

KINDS = ("single", "row", "page", "form", "chalk", "blank")

# Layout, as fractions of the frame height unless noted.
SINGLE_HEIGHT = (0.25, 0.60)
ROW_HEIGHT = (0.10, 0.25)
PAGE_HEIGHT = (0.04, 0.06)
CHALK_HEIGHT = (0.15, 0.35)
MARGIN = 0.10  # of min(W, H): a 5 deg turn moves a 640x480 corner ~35 px, so ink never leaves the frame
GAP = (0.18, 0.55)  # ink-to-ink gap x row height; 0.18 keeps >= 15 % of a digit even at +10 % size jitter
SIZE_JITTER = 0.10
BASELINE_JITTER = 0.05
RULE_SPACING = (1.5, 1.8)  # notebook rule pitch in digit heights
RULE_FIRST = (0.12, 0.18)  # first rule, fraction of page height
RED_MARGIN_X = (0.10, 0.16)
LINE_INDENT = (0.02, 0.10)  # start of writing after the red margin, fraction of page width
RULE_SKIP_P = 0.25  # chance a writer leaves an empty rule between lines
ABOVE_RULE = (0.0, 0.10)  # digits sit on the rule or hover slightly above it, x digit height
FORM_BOX_HEIGHT = (0.35, 0.50)
FORM_BOX_ASPECT = (0.70, 0.90)  # width / height
FORM_BOX_GAP = (0.0, 0.25)  # 0 = comb field sharing borders, x box width
FORM_DIGIT = (0.55, 0.72)  # digit height in a box, x box height
FORM_BAR_HEIGHT = (6, 10)  # px; printed label "words" are flat bars (aspect >= 3), never digit-like glyphs
FORM_BAR_WIDTH = (3, 12)  # x bar height

# Counts per scene kind for scenes().
ROW_DIGITS, PAGE_LINES, LINE_DIGITS, FORM_DIGITS, CHALK_DIGITS, CLIP_ROW_DIGITS = (2, 8), (3, 7), (2, 9), (4, 8), (1, 5), (2, 4)

# Ink: MNIST intensity ramp that becomes alpha 0..1 (the 28 px anti-aliasing, upscaled, is far blurrier than
# a pen edge; the camera adds its own blur later), stroke half-width change in MNIST px, grain per style.
EDGE_RAMP = (0.25, 0.65)
EDGE_SMOOTH = 0.5  # Gaussian sigma in MNIST px before the ramp: hides the 28 px grid's wobble in big outlines
# Stroke width is kept near MNIST's (median ~0.11 of digit height) but MNIST's blobs are thinned and its
# hairlines thickened into the style's range, so every digit stays legible.
STROKE_SCALE = (0.8, 1.15)
STROKE_RANGE = {"pen": (0.07, 0.15), "pencil": (0.06, 0.13), "chalk": (0.10, 0.18)}  # x digit height
STROKE_KEEP_P = 0.3  # chance an in-range stroke width is left as MNIST drew it
GRAIN = {"pen": 0.0, "pencil": 0.35, "chalk": 0.55}
INK_FLOW = 0.15  # pen ink density varies slowly along the strokes (pressure, ballpoint skips)
INKS = (  # BGR, alpha density range, style
    ((30, 30, 35), (0.90, 1.0), "pen"),  # black
    ((140, 55, 30), (0.85, 1.0), "pen"),  # blue ballpoint
    ((70, 70, 72), (0.85, 1.0), "pen"),  # dark grey felt tip
    ((95, 95, 100), (0.55, 0.75), "pencil"),  # graphite: lower contrast, grainy
)
CHALKS = ((235, 240, 240), (185, 235, 245), (240, 235, 225))  # white, yellowish, bluish-white
PAPERS = ((238, 242, 245), (200, 224, 236), (205, 208, 210), (196, 236, 246), (242, 234, 226))  # white, beige, grey, yellow, blue
BOARDS = ((48, 68, 40), (34, 36, 34), (60, 72, 52))  # green, black, worn green
COLOUR_JITTER = 8
RULE_COLOUR, RED_COLOUR, FORM_COLOURS = (215, 180, 145), (130, 130, 225), ((45, 45, 45), (90, 50, 30))
INK_VISIBLE = 0.3  # alpha above which a pixel counts as the digit's visible ink (for boxes)

# Lighting and camera.
GRADIENT = (0.70, 0.97)  # darker side's light level
VIGNETTE = (0.0, 0.30)
SHADOW_P, SHADOW_DEPTH, SHADOW_AREA, SHADOW_SOFT = 0.35, (0.12, 0.35), (0.1, 0.4), (0.02, 0.10)
COLOUR_CAST = 0.04  # warm/cool light
MAX_ROTATION = 5.0  # degrees
PERSPECTIVE = 0.015  # corner jitter, fraction of min(W, H)
BLUR = (0.0, 1.5)  # Gaussian sigma, px
NOISE = (1.0, 5.0)  # sensor noise sigma, grey levels
CONTRAST, BRIGHTNESS = (0.85, 1.15), (-20.0, 20.0)
JPEG_QUALITY = (50, 90)

# Outputs.
SAMPLE_QUALITY, SAMPLE_MIN_QUALITY, SAMPLE_MAX_BYTES = 90, 50, 200_000
SAMPLES = (  # file, kind, label (single) or digit count
    ("digit_3.jpg", "single", 3), ("digit_7.jpg", "single", 7), ("number_row.jpg", "row", 4),
    ("long_number.jpg", "row", 8), ("notebook_page.jpg", "page", 0), ("form_boxes.jpg", "form", 6),
    ("chalkboard.jpg", "chalk", 3), ("blank_paper.jpg", "blank", 0),
)
SAMPLES_COMMAND = "python -m digitedge.tools.synth samples --data-dir ../shared/mnist --out digitedge/samples --seed 0"
CLIP_KINDS, CLIP_STRENGTH = ("single", "row", "blank"), 0.6
SHAKE_STEP, SHAKE_DECAY = np.array([1.2, 1.2, 0.15]), 0.85  # dx, dy px, angle deg per frame; mean-reverting walk


@dataclass
class Scene:
    image: np.ndarray  # BGR uint8 (H, W, 3)
    text: str  # digits in reading order, lines joined by "\n"; "" for blank
    boxes: list[tuple[int, int, int, int]]  # (x, y, w, h) of each digit's visible ink, reading order
    kind: str


@dataclass
class _Camera:
    warp: np.ndarray  # 3x3 homography
    blur: float
    contrast: float
    brightness: float
    noise: float
    jpeg: int | None


# ---------------------------------------------------------------- surfaces and light
def _colour(rng, choices) -> np.ndarray:
    base = np.array(choices[rng.integers(len(choices))], np.float32)
    return base + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3).astype(np.float32)


def _noise_field(rng, size, cells, amp) -> np.ndarray:
    """Smooth noise: a coarse (cells_y, cells_x) grid upscaled, so its frequency does not depend on resolution."""
    w, h = size
    grid = rng.standard_normal((cells[0] + 2, cells[1] + 2)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def _paper(rng, size) -> np.ndarray:
    w, h = size
    tex = _noise_field(rng, size, (4, 5), rng.uniform(2, 6)) + _noise_field(rng, size, (h // 12, w // 12), rng.uniform(1, 3))
    tex += rng.standard_normal((h, w), dtype=np.float32) * rng.uniform(0.5, 2.0)  # paper fibre grain
    return _colour(rng, PAPERS) + tex[..., None]


def _board(rng, size) -> np.ndarray:
    w, h = size
    # Blotches and horizontal wipe marks of old, erased chalk.
    haze = np.abs(_noise_field(rng, size, (4, 5), rng.uniform(6, 12))) + _noise_field(rng, size, (h // 8, 4), rng.uniform(1.5, 4))
    haze += rng.standard_normal((h, w), dtype=np.float32) * 1.5
    return _colour(rng, BOARDS) + haze[..., None]


def _lighting(rng, size) -> np.ndarray:
    """Light falling on the sheet: one side darker, vignette, sometimes a soft shadow band; HxWx3 gains."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = (xx - w / 2) / max(w, h), (yy - h / 2) / max(w, h)
    theta = rng.uniform(0, 2 * np.pi)
    proj = u * np.cos(theta) + v * np.sin(theta)  # roughly -0.5..0.5 across the frame
    light = 1 - (1 - rng.uniform(*GRADIENT)) * (proj - proj.min()) / (np.ptp(proj) + 1e-6)
    r2 = u * u + v * v
    light *= 1 - rng.uniform(*VIGNETTE) * r2 / r2.max()
    if rng.random() < SHADOW_P:
        phi = rng.uniform(0, 2 * np.pi)
        d = u * np.cos(phi) + v * np.sin(phi)
        edge = np.quantile(d, 1 - rng.uniform(*SHADOW_AREA))
        light *= 1 - rng.uniform(*SHADOW_DEPTH) / (1 + np.exp(-(d - edge) / rng.uniform(*SHADOW_SOFT)))
    cast = 1 + rng.uniform(-COLOUR_CAST, COLOUR_CAST, 3).astype(np.float32)
    return light[..., None] * cast


# ---------------------------------------------------------------- ink
def _pick_ink(rng):
    colour, density, style = INKS[rng.integers(len(INKS))]
    return np.array(colour, np.float32) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3).astype(np.float32), rng.uniform(*density), style


def _stroke_width(m) -> float:
    """Mean stroke width of a mask: twice the area over the outline length (a stroke of length L has both sides)."""
    ink = (m > sum(EDGE_RAMP) / 2).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    return 2.0 * ink.sum() / max(sum(cv2.arcLength(c, True) for c in contours), 1.0)


def _ink_mask(digit: np.ndarray, height: float, rng, style: str = "pen", density: float = 1.0) -> np.ndarray:
    """Alpha mask (float32, tight) of one MNIST-style digit (white on black) at `height` px of ink."""
    digit = np.asarray(digit, np.float32) / 255.0
    ys, xs = np.nonzero(digit > EDGE_RAMP[0])
    if len(ys) == 0:
        raise ValueError("digit image has no ink")
    crop = np.pad(digit[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1], 1)
    scale = max(height, 4.0) / (crop.shape[0] - 2)
    m = cv2.resize(crop, (max(2, round(crop.shape[1] * scale)), max(2, round(crop.shape[0] * scale))), interpolation=cv2.INTER_CUBIC)
    m = cv2.GaussianBlur(m, (0, 0), EDGE_SMOOTH * scale)
    width = _stroke_width(m)
    target = width * (rng.uniform(*STROKE_SCALE) if rng.random() >= STROKE_KEEP_P else 1.0)
    r = round((np.clip(target, *np.multiply(STROKE_RANGE[style], m.shape[0])) - width) / 2)
    if r:  # pen / pressure differences: thicker or thinner strokes
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(r) + 1,) * 2)
        thick = cv2.dilate(np.pad(m, r), kernel) if r > 0 else cv2.erode(m, kernel)
        m = thick if thick.max() > EDGE_RAMP[1] else m  # a thin digit eroded away keeps its strokes
    t = np.clip((m - EDGE_RAMP[0]) / (EDGE_RAMP[1] - EDGE_RAMP[0]), 0, 1)
    m = t * t * (3 - 2 * t)
    if GRAIN[style]:  # graphite and chalk only mark the paper's high points
        grain = np.clip(rng.normal(1.0 - GRAIN[style] / 3, GRAIN[style], m.shape).astype(np.float32), 0, 1)
        m *= np.maximum(cv2.GaussianBlur(grain, (0, 0), 0.7), 0.2)
    if style == "pen":
        m *= 1 - INK_FLOW * np.abs(_noise_field(rng, m.shape[::-1], (3, 3), 1.0)).clip(0, 1)
    m *= density
    ys, xs = np.nonzero(m > INK_VISIBLE)
    if len(ys) == 0:
        raise ValueError("digit ink too faint to render")
    return np.ascontiguousarray(m[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])


def _line(digits, height, max_width, rng, style, density):
    """Masks of a line of digits and their (dx, dy) offsets from its left end / baseline, shrunk to fit max_width."""
    masks = [_ink_mask(d, height * rng.uniform(1 - SIZE_JITTER, 1 + SIZE_JITTER), rng, style, density) for d in digits]
    gaps = rng.uniform(*GAP, len(masks)) * height
    gaps[-1] = 0
    width = sum(m.shape[1] for m in masks) + gaps.sum()
    if width > max_width:  # long numbers get smaller rather than leave the frame
        f = max_width / width
        masks = [cv2.resize(m, (max(1, int(m.shape[1] * f)), max(1, int(m.shape[0] * f))), interpolation=cv2.INTER_AREA) for m in masks]
        gaps, height = gaps * f, height * f
    offsets, x = [], 0.0
    for m, gap in zip(masks, gaps):
        offsets.append((int(x), round(-m.shape[0] + rng.uniform(-BASELINE_JITTER, BASELINE_JITTER) * height)))
        x += m.shape[1] + np.ceil(gap)
    return masks, offsets


def _extent(masks, offsets):
    """(width, top, bottom) of a laid-out line relative to its left end and baseline."""
    return (max(dx + m.shape[1] for m, (dx, _) in zip(masks, offsets)), min(dy for _, dy in offsets),
            max(dy + m.shape[0] for m, (_, dy) in zip(masks, offsets)))


def _stamp(albedo, labels, mask, x, y, ink, index) -> None:
    """out = surface*(1-a) + ink*a, and mark the pixels where this digit's ink is visible."""
    h, w = mask.shape
    x = int(np.clip(x, 0, albedo.shape[1] - w))
    y = int(np.clip(y, 0, albedo.shape[0] - h))
    a = mask[..., None]
    albedo[y:y + h, x:x + w] = albedo[y:y + h, x:x + w] * (1 - a) + ink * a
    labels[y:y + h, x:x + w][mask > INK_VISIBLE] = index + 1


def _place_line(albedo, labels, masks, offsets, x0, baseline, ink, first) -> None:
    for i, (m, (dx, dy)) in enumerate(zip(masks, offsets)):
        _stamp(albedo, labels, m, x0 + dx, baseline + dy, ink, first + i)


def _free_line(albedo, labels, digits, frac, rng, ink, style, density) -> None:
    """One line of digits at a random place inside the margins (single, row, chalk)."""
    h, w = albedo.shape[:2]
    margin = round(MARGIN * min(w, h))
    masks, offsets = _line(digits, rng.uniform(*frac) * h, w - 2 * margin, rng, style, density)
    width, top, bottom = _extent(masks, offsets)
    x0 = rng.integers(margin, max(margin, w - margin - width) + 1)
    baseline = rng.integers(margin - top, max(margin - top, h - margin - bottom) + 1)
    _place_line(albedo, labels, masks, offsets, x0, baseline, ink, 0)


# ---------------------------------------------------------------- camera
def _camera_params(rng, size, strength: float, jpeg: bool = True) -> _Camera:
    w, h = size
    s = max(float(strength), 0.0)
    angle = float(np.clip(rng.uniform(-MAX_ROTATION, MAX_ROTATION) * s, -MAX_ROTATION, MAX_ROTATION))
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    turned = cv2.transform(corners[None], cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0))[0]
    turned += rng.uniform(-1, 1, (4, 2)) * PERSPECTIVE * min(w, h) * min(s, 1.0)
    quality = round(JPEG_QUALITY[1] - rng.uniform(0, 1) * min(s, 1.0) * (JPEG_QUALITY[1] - JPEG_QUALITY[0]))
    return _Camera(
        warp=cv2.getPerspectiveTransform(corners, turned.astype(np.float32)),
        blur=min(rng.uniform(*BLUR) * s, BLUR[1]),
        contrast=1 + (rng.uniform(*CONTRAST) - 1) * s,
        brightness=rng.uniform(*BRIGHTNESS) * s,
        noise=rng.uniform(*NOISE) * s,
        jpeg=quality if jpeg and s > 0 else None,
    )


def _warp(image, matrix, nearest=False):
    h, w = image.shape[:2]
    if nearest:  # label maps: no interpolation, nothing reflected in from outside the frame
        return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # The sheet goes on past the frame; reflecting paper texture beats black corners.
    return cv2.warpPerspective(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def _photometric(image, cam: _Camera, rng) -> np.ndarray:
    """Lens blur, exposure, sensor noise (luma + weaker chroma), JPEG; float or uint8 in, uint8 out."""
    img = image.astype(np.float32)
    if cam.blur > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), cam.blur)
    img = (img - 128) * cam.contrast + 128 + cam.brightness
    if cam.noise > 0:
        shape = img.shape[:2] + (1,) if img.ndim == 3 else img.shape
        img = img + rng.standard_normal(shape, dtype=np.float32) * cam.noise
        if img.ndim == 3:
            img += rng.standard_normal(img.shape, dtype=np.float32) * (cam.noise / 2)
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if cam.jpeg:
        out = cv2.imdecode(cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg])[1], cv2.IMREAD_UNCHANGED)
    return out


def camera(image: np.ndarray, rng, strength: float = 1.0) -> np.ndarray:
    """Photograph an image: small rotation/perspective, blur, exposure, noise, JPEG. For arbitrary images;
    render_* apply the same model themselves so that their boxes follow the warp."""
    cam = _camera_params(rng, (image.shape[1], image.shape[0]), strength)
    return _photometric(_warp(image, cam.warp), cam, rng)


def _boxes(labels, n) -> list[tuple[int, int, int, int]]:
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs].astype(np.intp) - 1
    lo_x, lo_y = np.full(n, labels.shape[1]), np.full(n, labels.shape[0])
    hi_x, hi_y = np.full(n, -1), np.full(n, -1)
    np.minimum.at(lo_x, ids, xs), np.minimum.at(lo_y, ids, ys)
    np.maximum.at(hi_x, ids, xs), np.maximum.at(hi_y, ids, ys)
    if (hi_x < 0).any():
        raise RuntimeError(f"digit {int(np.argmax(hi_x < 0))} left the frame")  # MARGIN is meant to prevent this
    return [(int(a), int(b), int(c - a + 1), int(d - b + 1)) for a, b, c, d in zip(lo_x, lo_y, hi_x, hi_y)]


def _finish(albedo, labels, n, text, kind, rng, strength) -> Scene:
    """Light the sheet, photograph it, and box each digit's ink in the photo."""
    lit = albedo * _lighting(rng, (albedo.shape[1], albedo.shape[0]))  # light falls on ink and paper alike
    cam = _camera_params(rng, (albedo.shape[1], albedo.shape[0]), strength)
    image = _photometric(_warp(lit, cam.warp), cam, rng)
    return Scene(image, text, _boxes(_warp(labels, cam.warp, nearest=True), n) if n else [], kind)


def _text(labels) -> str:
    if any(not 0 <= int(v) <= 9 for v in labels):
        raise ValueError(f"labels must be digits 0-9, got {list(labels)}")
    return "".join(str(int(v)) for v in labels)


# ---------------------------------------------------------------- scenes
def _check(digits, labels) -> None:
    if len(digits) != len(labels) or not len(digits):
        raise ValueError(f"need one label per digit and at least one digit, got {len(digits)} digits, {len(labels)} labels")


def _on_paper(digits, labels, rng, size, strength, frac, kind) -> Scene:
    _check(digits, labels)
    albedo, labels_map = _paper(rng, size), np.zeros(size[::-1], np.uint16)
    ink, density, style = _pick_ink(rng)
    _free_line(albedo, labels_map, digits, frac, rng, ink, style, density)
    return _finish(albedo, labels_map, len(digits), _text(labels), kind, rng, strength)


def render_single(digit, label, rng, size=(640, 480), camera_strength: float = 1.0) -> Scene:
    return _on_paper([digit], [label], rng, size, camera_strength, SINGLE_HEIGHT, "single")


def render_row(digits, labels, rng, size=(640, 480), camera_strength: float = 1.0) -> Scene:
    """A written number: 2-8 digits on one line (longer ones shrink to fit the frame)."""
    return _on_paper(digits, labels, rng, size, camera_strength, ROW_HEIGHT, "row")


def render_chalk(digits, labels, rng, size=(640, 480), camera_strength: float = 1.0) -> Scene:
    _check(digits, labels)
    albedo, labels_map = _board(rng, size), np.zeros(size[::-1], np.uint16)
    _free_line(albedo, labels_map, digits, CHALK_HEIGHT, rng, _colour(rng, CHALKS), "chalk", rng.uniform(0.8, 1.0))
    return _finish(albedo, labels_map, len(digits), _text(labels), "chalk", rng, camera_strength)


def render_page(lines, rng, size=(1000, 1300), camera_strength: float = 1.0) -> Scene:
    """Notebook page: blue rules, red margin, `lines` = [[(digit, label), ...], ...] written on the rules."""
    w, h = size
    albedo, labels_map = _paper(rng, size), np.zeros((h, w), np.uint16)
    bottom, first = h * (1 - MARGIN), rng.uniform(*RULE_FIRST) * h
    digit_h = rng.uniform(*PAGE_HEIGHT) * h
    pitch = digit_h * rng.uniform(*RULE_SPACING)
    if first + pitch * (len(lines) - 1) > bottom:  # many lines: a tighter-ruled notebook
        pitch = (bottom - first) / max(len(lines) - 1, 1)
        digit_h = min(digit_h, pitch / RULE_SPACING[0])
    rule_colour = _colour(rng, (RULE_COLOUR,))
    for y in np.arange(first, h, pitch):
        cv2.line(albedo, (0, round(y)), (w, round(y)), rule_colour.tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
    red_x = round(rng.uniform(*RED_MARGIN_X) * w)
    cv2.line(albedo, (red_x, 0), (red_x, h), _colour(rng, (RED_COLOUR,)).tolist(), 2, cv2.LINE_AA)
    ink, density, style = _pick_ink(rng)
    rule, count, texts = 0, 0, []
    for i, line in enumerate(lines):
        if not line:
            raise ValueError(f"page line {i} is empty")
        spare = int((bottom - first) // pitch) - rule - (len(lines) - i - 1)  # rules we may still leave empty
        rule += int(spare > 0 and i > 0 and rng.random() < RULE_SKIP_P)
        x0 = red_x + round(rng.uniform(*LINE_INDENT) * w)
        masks, offsets = _line([d for d, _ in line], digit_h, w * (1 - MARGIN) - x0, rng, style, density)
        baseline = round(first + rule * pitch - rng.uniform(*ABOVE_RULE) * digit_h)
        _place_line(albedo, labels_map, masks, offsets, x0, baseline, ink, count)
        count, rule = count + len(line), rule + 1
        texts.append(_text([v for _, v in line]))
    return _finish(albedo, labels_map, count, "\n".join(texts), "page", rng, camera_strength)


def render_form(digits, labels, rng, size=(900, 400), camera_strength: float = 1.0) -> Scene:
    """Printed form: a row of thin-lined boxes with one handwritten digit each, and a label strip of bars."""
    _check(digits, labels)
    w, h = size
    margin, n = round(MARGIN * min(w, h)), len(digits)
    albedo, labels_map = _paper(rng, size), np.zeros((h, w), np.uint16)
    box_h = rng.uniform(*FORM_BOX_HEIGHT) * h
    box_w, gap = box_h * rng.uniform(*FORM_BOX_ASPECT), rng.uniform(*FORM_BOX_GAP)
    f = min(1.0, (w - 2 * margin) / (box_w * (n + gap * (n - 1))))  # many boxes: print them smaller
    box_h, box_w = box_h * f, box_w * f
    total = box_w * (n + gap * (n - 1))
    x0 = margin + rng.random() * max(w - 2 * margin - total, 0)  # `total` may exactly fill the width
    y0 = h * 0.4 + rng.random() * max(h * 0.6 - margin - box_h, 0)
    line_colour, thick = _colour(rng, FORM_COLOURS).tolist(), int(rng.integers(1, 3))
    bar_h = int(rng.integers(*FORM_BAR_HEIGHT, endpoint=True))
    bx, by, bar_end = int(x0), int(y0 - rng.uniform(2.5, 4.5) * bar_h), x0 + total * rng.uniform(0.35, 0.8)
    while bx < bar_end:  # "Account number:" as word-shaped blocks, never glyphs a reader could take for digits
        bw = int(bar_h * rng.uniform(*FORM_BAR_WIDTH))
        cv2.rectangle(albedo, (bx, by), (bx + bw, by + bar_h), line_colour, -1)
        bx += bw + int(bar_h * rng.uniform(0.8, 1.4))
    ink, density, style = _pick_ink(rng)
    for i, d in enumerate(digits):
        left = x0 + i * box_w * (1 + gap)
        cv2.rectangle(albedo, (round(left), round(y0)), (round(left + box_w), round(y0 + box_h)), line_colour, thick, cv2.LINE_AA)
        m = _ink_mask(d, box_h * rng.uniform(*FORM_DIGIT), rng, style, density)
        fit = min(1.0, 0.8 * box_w / m.shape[1])  # wide digits shrink so they never touch the box lines
        if fit < 1:
            m = cv2.resize(m, (max(1, int(m.shape[1] * fit)), max(1, int(m.shape[0] * fit))), interpolation=cv2.INTER_AREA)
        cx = left + box_w / 2 + rng.uniform(-0.3, 0.3) * (0.8 * box_w - m.shape[1]) / 2
        cy = y0 + box_h / 2 + rng.uniform(-0.3, 0.3) * (0.85 * box_h - m.shape[0]) / 2
        _stamp(albedo, labels_map, m, round(cx - m.shape[1] / 2), round(cy - m.shape[0] / 2), ink, i)
    return _finish(albedo, labels_map, n, _text(labels), "form", rng, camera_strength)


def render_blank(rng, size=(640, 480), camera_strength: float = 1.0) -> Scene:
    return _finish(_paper(rng, size), np.zeros(size[::-1], np.uint16), 0, "", "blank", rng, camera_strength)


@lru_cache(maxsize=2)
def _load(folder: str, split: str, download: bool):
    return load_mnist(split, folder, download=download)


def _dataset(data_dir, split):
    """MNIST split; an explicit folder must already hold the files (a typo should not start a download),
    the default folder ($DIGITEDGE_DATA or the cache) may download them."""
    return _load(str(resolve_data_dir(data_dir)), split, data_dir is None)


def _random_scene(kind, data, rng, size=None, camera_strength=1.0, count=None, label=None) -> Scene:
    def pick(k):
        pool = np.flatnonzero(data.labels == label) if label is not None else np.arange(len(data.labels))
        idx = rng.choice(pool, k)
        return list(data.images[idx]), [int(v) for v in data.labels[idx]]

    kw = {"camera_strength": camera_strength} | ({"size": size} if size else {})
    counts = {"row": ROW_DIGITS, "form": FORM_DIGITS, "chalk": CHALK_DIGITS}
    if kind == "single":
        d, v = pick(1)
        return render_single(d[0], v[0], rng, **kw)
    if kind in counts:
        d, v = pick(count or int(rng.integers(*counts[kind], endpoint=True)))
        return {"row": render_row, "form": render_form, "chalk": render_chalk}[kind](d, v, rng, **kw)
    if kind == "page":
        lines = [list(zip(*pick(int(rng.integers(*LINE_DIGITS, endpoint=True))))) for _ in range(int(rng.integers(*PAGE_LINES, endpoint=True)))]
        return render_page(lines, rng, **kw)
    if kind == "blank":
        return render_blank(rng, **kw)
    raise ValueError(f"unknown scene kind {kind!r}; choose from {', '.join(KINDS)}")


def scenes(kind: str, n: int, seed: int, data_dir=None, split: str = "test") -> Iterator[Scene]:
    """n scenes of one kind; scene i depends only on (seed, kind, i), so a longer run extends a shorter one."""
    if kind not in KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose from {', '.join(KINDS)}")
    data = _dataset(data_dir, split)
    for i in range(n):
        yield scene(kind, data, seed, i)


def scene(kind: str, data, seed: int, i: int) -> Scene:
    """Scene i of a kind, writing with the digits of `data` (an MNIST split); depends on (seed, kind, i)."""
    return _random_scene(kind, data, np.random.default_rng([seed, KINDS.index(kind), i]))


# ---------------------------------------------------------------- files
def _jpeg_bytes(image, quality=SAMPLE_QUALITY, limit=SAMPLE_MAX_BYTES) -> bytes:
    """JPEG at `quality`, stepping down until it fits `limit` (noisy pages are expensive to encode)."""
    while True:
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()
        if len(data) <= limit or quality <= SAMPLE_MIN_QUALITY:
            return data
        quality -= 5


def write_samples(out_dir, data_dir=None, seed: int = 0) -> list[tuple[str, str]]:
    """Write the sample photos, labels.csv and README.md into out_dir; return [(file, text), ...]."""
    data, out = _dataset(data_dir, "test"), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, kind, arg) in enumerate(SAMPLES):
        rng = np.random.default_rng([seed, i])
        scene = _random_scene(kind, data, rng, label=arg if kind == "single" else None, count=arg or None)
        (out / name).write_bytes(_jpeg_bytes(scene.image))
        rows.append((name, scene.text))
    with open(out / "labels.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([("file", "text"), *rows])
    (out / "README.md").write_text(
        "# Sample images\n\nSynthetic camera-style photos of handwritten MNIST *test* digits, generated by project code "
        "(`digitedge/tools/synth.py`), not real photographs. `labels.csv` gives the expected reading of each file "
        "(lines separated by a newline; empty for blank paper).\n\nRegenerate with:\n\n"
        f"```\n{SAMPLES_COMMAND.replace('--seed 0', f'--seed {seed}')}\n```\n")
    return rows


def _shake(rng, state, size):
    """Next hand-shake offset (mean-reverting random walk) and its 3x3 matrix."""
    state = state * SHAKE_DECAY + rng.standard_normal(3) * SHAKE_STEP
    m = np.eye(3)
    m[:2] = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), float(state[2]), 1.0)
    m[:2, 2] += state[:2]
    return state, m


def write_clip(path, data_dir=None, seed: int = 0, fps: int = 15, size=(640, 480), shots: int = 8,
               seconds_per_shot: float = 1.0) -> list[str]:
    """MP4 of shots (single digits, short rows, blank paper), each held with hand shake; expected text per frame."""
    data, rng = _dataset(data_dir, "test"), np.random.default_rng(seed)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, tuple(size))
    if not writer.isOpened():
        raise OSError(f"{path}: cannot open an mp4v video writer")
    texts = []
    try:
        for kind in rng.permutation(np.resize(CLIP_KINDS, shots)):
            count = int(rng.integers(*CLIP_ROW_DIGITS, endpoint=True)) if kind == "row" else None
            scene = _random_scene(str(kind), data, rng, size=tuple(size), camera_strength=0.0, count=count)
            cam, state = _camera_params(rng, size, CLIP_STRENGTH, jpeg=False), np.zeros(3)  # the codec compresses
            for _ in range(max(1, round(fps * seconds_per_shot))):
                state, shake = _shake(rng, state, size)
                writer.write(_photometric(_warp(scene.image, shake @ cam.warp), cam, rng))
                texts.append(scene.text)
    finally:
        writer.release()
    return texts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.synth", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    for name, default in (("samples", "digitedge/samples"), ("clip", "clip.mp4")):
        s = sub.add_parser(name, help=f"write {'sample photos + labels.csv' if name == 'samples' else 'an MP4 clip'}")
        s.add_argument("--data-dir", help="folder with the four MNIST files (default: $DIGITEDGE_DATA or the cache)")
        s.add_argument("--out", default=default, help=f"output {'folder' if name == 'samples' else 'file'} (default {default})")
        s.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        if args.command == "samples":
            for name, text in write_samples(args.out, args.data_dir, args.seed):
                print(f"{Path(args.out) / name}: {text!r}")
        else:
            print(f"{args.out}: {len(write_clip(args.out, args.data_dir, args.seed))} frames")
    except (DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
