"""Stroke-drawn digits in the handwriting styles MNIST has few of (numpy + cv2 only).

MNIST was written by American census staff and students: its 1s are bare sticks, its 7s are never crossed.
Elsewhere people write a 1 with a long flag (and a foot), cross their 7s, close the top of a 4, loop the base
of a 2, slash a 0 and flatten the top of a 3. Each style here is a few strokes through control points in a
unit box (x right, y down), drawn as smooth curves after a random jitter of every point, slant, rotation,
aspect and pen width, so no two are alike. Training mixes them with MNIST; the stress scenes write with them.

    mask = glyph_mask(7, rng, height=120)   # float32 alpha, tight, ink = 1
    crop = glyph_crop(7, rng)               # uint8 28x28, white on black, MNIST-normalised like the runtime's crops
"""

from __future__ import annotations

import cv2
import numpy as np

# label -> style -> strokes (each a list of (x, y) control points). Loops are closed by repeating a point.
_OVAL = [(0.5, 0.0), (0.1, 0.2), (0.05, 0.6), (0.35, 1.0), (0.8, 0.9), (0.95, 0.45), (0.75, 0.05), (0.45, 0.02)]
_NINE_LOOP = [(0.85, 0.25), (0.55, 0.02), (0.15, 0.15), (0.15, 0.42), (0.5, 0.52), (0.85, 0.3)]
STYLES: dict[int, dict[str, list[list[tuple[float, float]]]]] = {
    0: {"oval": [_OVAL], "slashed": [_OVAL, [(0.9, 0.05), (0.1, 0.95)]]},
    1: {"flag": [[(0.1, 0.4), (0.6, 0.0), (0.5, 1.0)]],
        "long_flag": [[(0.0, 0.55), (0.6, 0.0), (0.55, 1.0)]],
        "hooked": [[(0.05, 0.3), (0.3, 0.12), (0.6, 0.0), (0.55, 1.0)]],
        "flag_foot": [[(0.15, 0.35), (0.6, 0.0), (0.5, 1.0)], [(0.15, 1.0), (0.85, 1.0)]],
        "stick": [[(0.55, 0.0), (0.45, 1.0)]]},
    2: {"flat_base": [[(0.1, 0.25), (0.35, 0.02), (0.75, 0.05), (0.85, 0.3), (0.55, 0.62), (0.05, 1.0), (0.95, 0.98)]],
        "looped": [[(0.1, 0.25), (0.35, 0.02), (0.75, 0.05), (0.85, 0.3), (0.5, 0.65), (0.15, 0.92), (0.08, 0.99),
                    (0.25, 0.98), (0.3, 0.85), (0.18, 0.88), (0.5, 0.99), (0.95, 0.95)]]},
    3: {"round": [[(0.1, 0.15), (0.45, 0.0), (0.85, 0.15), (0.75, 0.38), (0.4, 0.48)],
                  [(0.4, 0.48), (0.85, 0.6), (0.9, 0.85), (0.5, 1.0), (0.08, 0.85)]],
        "flat_top": [[(0.08, 0.02), (0.9, 0.02), (0.4, 0.42)], [(0.4, 0.42), (0.85, 0.55), (0.9, 0.82), (0.5, 1.0),
                                                                  (0.08, 0.88)]]},
    4: {"closed": [[(0.72, 1.0), (0.7, 0.0), (0.05, 0.68), (0.95, 0.68)]],
        "open": [[(0.22, 0.0), (0.1, 0.62), (0.95, 0.62)], [(0.72, 0.25), (0.7, 1.0)]]},
    5: {"plain": [[(0.88, 0.02), (0.25, 0.02)], [(0.25, 0.02), (0.2, 0.45), (0.55, 0.38), (0.88, 0.58), (0.85, 0.87),
                                                  (0.45, 1.0), (0.08, 0.88)]]},
    6: {"plain": [[(0.8, 0.0), (0.35, 0.25), (0.12, 0.68), (0.35, 1.0), (0.78, 0.95), (0.88, 0.68), (0.55, 0.48),
                   (0.15, 0.65)]]},
    7: {"plain": [[(0.05, 0.05), (0.95, 0.02), (0.4, 1.0)]],
        "crossed": [[(0.05, 0.05), (0.95, 0.02), (0.4, 1.0)], [(0.3, 0.52), (0.9, 0.5)]],
        "serif": [[(0.05, 0.22), (0.05, 0.04), (0.95, 0.02), (0.45, 1.0)]]},
    8: {"figure": [[(0.8, 0.15), (0.5, 0.0), (0.2, 0.15), (0.3, 0.38), (0.72, 0.6), (0.85, 0.85), (0.5, 1.0),
                    (0.15, 0.85), (0.28, 0.6), (0.7, 0.38), (0.8, 0.15)]],
        "two_loops": [[(0.5, 0.45), (0.2, 0.3), (0.3, 0.02), (0.7, 0.02), (0.8, 0.3), (0.5, 0.45)],
                      [(0.5, 0.45), (0.1, 0.7), (0.3, 1.0), (0.75, 0.98), (0.9, 0.7), (0.5, 0.45)]]},
    9: {"straight": [_NINE_LOOP, [(0.85, 0.15), (0.8, 1.0)]],
        "curved": [_NINE_LOOP, [(0.85, 0.15), (0.85, 0.7), (0.6, 1.0), (0.3, 0.95)]]},
}
JITTER = 0.035  # control point noise, x the glyph height
SLANT = (-0.25, 0.35)  # shear x by y: most hands lean right
ROTATION = 8.0  # degrees
ASPECT = (0.5, 0.95)  # width / height of the unit box
STROKE = (0.06, 0.16)  # pen width, x the glyph height
SAMPLES_PER_SEGMENT = 12
RENDER_HEIGHT = 64  # px: glyph_crop draws at this size, then normalises like a runtime crop


def styles(label: int) -> list[str]:
    return list(STYLES[label])


def _spline(points: np.ndarray) -> np.ndarray:
    """A Catmull-Rom curve through the points (ends repeated), sampled densely."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, SAMPLES_PER_SEGMENT, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3))
    return np.vstack(out + [points[-1:]])


def glyph_mask(label: int, rng: np.random.Generator, height: float = 64, style: str | None = None,
               stroke: float | None = None) -> np.ndarray:
    """Float32 alpha mask (tight box, ink = 1) of one stroke-drawn digit about `height` px tall."""
    if label not in STYLES:
        raise ValueError(f"label must be a digit 0-9, got {label!r}")
    names = styles(label)
    strokes = STYLES[label][style if style is not None else names[rng.integers(len(names))]]
    aspect, slant = rng.uniform(*ASPECT), rng.uniform(*SLANT)
    angle = np.radians(rng.uniform(-ROTATION, ROTATION))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    curves = []
    for s in strokes:
        pts = np.array(s, np.float64) + rng.normal(0, JITTER, (len(s), 2))
        pts[:, 0] = (pts[:, 0] - 0.5) * aspect + slant * (0.5 - pts[:, 1])
        curves.append(_spline(pts) @ rot.T * height)
    allpts = np.vstack(curves)
    width = max(1.0, (stroke if stroke is not None else rng.uniform(*STROKE)) * height)
    pad = width + 2
    origin = allpts.min(0) - pad
    size = np.ceil(allpts.max(0) - origin + pad).astype(int)
    up = 4  # draw at 4x with sub-pixel coordinates, then area-average: smooth, even hairlines
    canvas = np.zeros((size[1] * up, size[0] * up), np.uint8)
    for c in curves:
        pts = np.round((c - origin) * up * 16).astype(np.int32)  # 4 fractional bits
        cv2.polylines(canvas, [pts], False, 255, max(1, round(width * up)), cv2.LINE_AA, shift=4)
    mask = cv2.resize(canvas, (size[0], size[1]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    ys, xs = np.nonzero(mask > 0.05)
    return np.ascontiguousarray(mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])


def glyph_image(label: int, rng: np.random.Generator, height: float = RENDER_HEIGHT, style: str | None = None) -> np.ndarray:
    """uint8 white-on-black image of one glyph with a margin, like a large MNIST digit before its normalisation."""
    mask = glyph_mask(label, rng, height, style)
    return np.pad((mask * 255).astype(np.uint8), 4)


def glyph_crop(label: int, rng: np.random.Generator, style: str | None = None) -> np.ndarray:
    """uint8 28x28 crop of one glyph through the runtime's own MNIST normalisation (what the model sees)."""
    from ..runtime.preprocess import mnist_crop

    return mnist_crop(glyph_image(label, rng, style=style))
