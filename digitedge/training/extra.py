"""Training data beyond MNIST's crops, so that training sees what the runtime sees (issue 10):

- scenes: the runtime's own digit finder run on generated scenes (`tools.harvest`): its crops of digits, and
  of everything that is not one (rule and grid pieces, page edges, separators, letters, parts and pairs of
  digits) labelled REJECT;
- glyphs: stroke-drawn digits in the styles MNIST lacks (`tools.glyphs`), through the runtime's normalisation;
- junk: letters and touching pairs of digits, normalised like a digit, labelled REJECT.

Scenes write with the training part of MNIST only (never the validation images). The scene harvest is slow
(minutes), so it is cached under the user cache, keyed by everything it depends on: the finder's and the
generators' source, the counts, the seed and the held-out images.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..runtime import preprocess
from ..runtime.preprocess import mnist_crop
from ..tools import glyphs, harvest, stress, synth
from ..tools.glyphs import glyph_crop
from ..tools.harvest import REJECT
from .data import default_data_dir

JUNK_LETTERS = stress.LETTERS
PAIR_OVERLAP = (-0.15, 0.2)  # horizontal gap between the two digits of a pair, x digit width (< 0: overlap)


@dataclass
class Extra:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int64 [N]: a digit, or REJECT
    source: np.ndarray  # uint8 [N]: 0 scenes, 1 glyphs, 2 junk


def cache_dir() -> Path:
    return default_data_dir().parent / "harvest"


def harvest_key(scenes: int, seed: int, held_out: np.ndarray) -> str:
    """Everything a harvest depends on: change the finder or a generator and the cache misses."""
    h = hashlib.sha256(f"{scenes}:{seed}".encode())
    for module in (preprocess, synth, stress, glyphs, harvest):
        h.update(Path(module.__file__).read_bytes())
    h.update(np.sort(np.asarray(held_out, np.int64)).tobytes())
    return h.hexdigest()[:16]


def cached_harvest(scenes: int, seed: int, data_dir, held_out: np.ndarray, log=print) -> harvest.Harvest:
    path = cache_dir() / f"scenes-{harvest_key(scenes, seed, held_out)}.npz"
    if path.is_file():
        with np.load(path) as f:
            log(f"harvest: {len(f['labels'])} finder crops from {path}")
            return harvest.Harvest(f["crops"], f["labels"])
    workers = max(1, os.cpu_count() or 1)
    log(f"harvest: running the digit finder on {scenes} generated scenes ({workers} processes; cached afterwards)")
    result = harvest.harvest(scenes, seed, data_dir, split="train", workers=workers, exclude=held_out, log=log)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez_compressed(f, crops=result.crops, labels=result.labels)
    os.replace(tmp, path)
    return result


def glyph_set(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 10, n)
    return np.stack([glyph_crop(int(v), rng) for v in labels]) if n else np.zeros((0, 28, 28), np.uint8), labels


def junk_set(n: int, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Half letters (handwriting-like Hershey script), half touching pairs of MNIST digits."""
    out = []
    for i in range(n):
        if i % 2:
            a, b = images[rng.integers(len(images), size=2)]
            gap = int(round(rng.uniform(*PAIR_OVERLAP) * 20))
            pair = np.zeros((28, 56 + gap), np.uint8)
            pair[:, :28] = a
            pair[:, 28 + gap:56 + gap] = np.maximum(pair[:, 28 + gap:56 + gap], b)
            crop = mnist_crop(pair)
        else:
            letter = JUNK_LETTERS[rng.integers(len(JUNK_LETTERS))]
            canvas = np.zeros((96, 96), np.uint8)
            cv2.putText(canvas, letter, (20, 72), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, rng.uniform(1.6, 2.4), 255,
                        int(rng.integers(3, 7)), cv2.LINE_AA)
            crop = mnist_crop(canvas)
        if crop is not None:
            out.append(crop)
    return np.stack(out) if out else np.zeros((0, 28, 28), np.uint8)


def build_extra(scenes: int, glyph_count: int, junk: int, seed: int, data_dir, train_images: np.ndarray,
                held_out: np.ndarray, log=print) -> Extra:
    """The extra training crops; deterministic for a given seed."""
    t0 = time.time()
    rng = np.random.default_rng([seed, 10])
    parts = []
    if scenes:
        h = cached_harvest(scenes, seed, data_dir, held_out, log)
        parts.append((h.crops, h.labels, 0))
    if glyph_count:
        g, labels = glyph_set(glyph_count, rng)
        parts.append((g, labels, 1))
    if junk:
        j = junk_set(junk, train_images, rng)
        parts.append((j, np.full(len(j), REJECT), 2))
    if not parts:
        return Extra(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.uint8))
    extra = Extra(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]).astype(np.int64),
                  np.concatenate([np.full(len(p[1]), p[2], np.uint8) for p in parts]))
    log(f"extra training crops: {len(extra.labels)} ({(extra.labels == REJECT).sum()} not digits) in {time.time() - t0:.0f}s")
    return extra
