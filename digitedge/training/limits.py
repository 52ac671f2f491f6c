"""Allowed ranges of the training settings, in one place: the CLI checks its options against them, and train()
checks a TrainConfig again for Python callers (`lr=inf` would train a NaN model and exit 0). Standard library
only, so `digitedge train --help` stays fast."""

from __future__ import annotations

import math

from ..errors import DigitedgeError

MNIST_TRAIN = 60_000
# name -> (low, high, low excluded)
RANGES = {
    "epochs": (1, 1000, False),
    "batch_size": (1, 8192, False),
    "lr": (0.0, 1.0, True),
    "weight_decay": (0.0, 1.0, False),
    "label_smoothing": (0.0, 0.9, False),
    "val_size": (1, MNIST_TRAIN // 2, False),
    "limit": (0, MNIST_TRAIN - 1, False),  # 0 = all; the CLI's --subset is 1 up to the training images left
    "seed": (0, 2**32 - 1, False),
    "rotate": (0.0, 180.0, False),
    "scale": (0.0, 0.9, False),
    "shear": (0.0, 1.0, False),
    "shift": (0.0, 0.5, False),
    "thickness": (0.0, 1.0, False),
    "scenes": (0, 1_000_000, False),
    "glyphs": (0, 1_000_000, False),
    "junk": (0, 1_000_000, False),
    "reject_weight": (0.0, 10.0, False),
    "mix": (0.0, 100.0, False),  # 0: the user's digits alone (MNIST accuracy is then not kept)
    "holdout": (0.0, 0.9, False),  # 0: every user digit trains, no validation report on them
}
WHOLE = {"epochs", "batch_size", "val_size", "limit", "seed", "scenes", "glyphs", "junk"}


def check_config(cfg) -> None:
    """Raise DigitedgeError naming the first setting out of its range (with the range)."""
    for name, (lo, hi, lo_open) in RANGES.items():
        value = getattr(cfg, name, None)
        if value is None:
            continue
        whole = name in WHOLE
        ok = isinstance(value, int) if whole else isinstance(value, (int, float))
        if not ok or isinstance(value, bool) or not math.isfinite(value) or not lo <= value <= hi or (lo_open and value == lo):
            raise DigitedgeError(f"{name} = {value!r}: allowed {'a whole number' if whole else 'a finite number'} "
                                 f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    data = getattr(cfg, "data", [])
    if not isinstance(data, list) or not all(isinstance(d, str) and d for d in data):
        raise DigitedgeError(f"data = {data!r}: allowed a list of folder names")
    if not isinstance(getattr(cfg, "weights", ""), str):
        raise DigitedgeError(f"weights = {cfg.weights!r}: allowed a file name (or empty)")
    if cfg.limit + cfg.val_size > MNIST_TRAIN:
        raise DigitedgeError(f"limit ({cfg.limit}) + val_size ({cfg.val_size}) exceed the {MNIST_TRAIN} training images")
