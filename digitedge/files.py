"""Small file helpers shared by training, export and tools (standard library only: no torch, no numpy)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def next_run_dir(base: str | os.PathLike, name: str = "exp") -> Path:
    """runs/<task>/exp, exp2, exp3, ...: a new folder every time, never one that exists (mkdir is the test,
    so two runs started at once cannot share one)."""
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = base / (name if i == 1 else f"{name}{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"{base}: no free run folder name")
