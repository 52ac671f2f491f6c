"""Option types for the CLI: each checks its value at the boundary (type, finiteness, range) and says the allowed
range when it refuses, so nothing out of range ever reaches the library (`--conf nan` would pass every digit)."""

from __future__ import annotations

import argparse
import math
import os

from .files import shown


def whole(lo: int, hi: int):
    """A whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown(text)!r} is not a whole number (allowed: {lo} to {hi})") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is out of range (allowed: {lo} to {hi})")
        return value
    return parse


def number(lo: float, hi: float, lo_open: bool = False):
    """A finite number in [lo, hi] (or (lo, hi] with lo_open)."""
    span = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{shown(text)!r} is not a number (allowed: {span})") from None
        if not math.isfinite(value) or value < lo or value > hi or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"{text.strip()} is out of range (allowed: a finite number in {span})")
        return value
    return parse


def file_stem(text: str) -> str:
    """A bare file name stem: written inside --out, never beside or above it."""
    if not text or text in (".", "..") or "/" in text or os.sep in text or (os.altsep and os.altsep in text) \
            or text.startswith(".") or not text.isprintable() or shown(text) != text or len(text) > 200:
        raise argparse.ArgumentTypeError(f"{shown(text)!r}: use a plain file name stem (letters, digits, - and _; "
                                         "no folders, no leading dot), e.g. digits")
    return text
