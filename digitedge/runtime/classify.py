"""`digitedge classify PATH...`: read the digits in image files, folders (recursive) and globs.

A bad file gets one line naming it and the problem; the batch goes on; exit 1 if any input failed.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import time
from pathlib import Path

import cv2

from .classifier import DEFAULT_THRESHOLD, DigitClassifier, reading, text_of
from .draw import annotate
from .imageio import IMAGE_EXTS, ImageError, read_image

GLOB_CHARS = set("*?[")


def expand(paths: list[str]) -> list[tuple[str, str | None]]:
    """Each input as (path, error or None): folders recursively (image extensions only, sorted), globs."""
    out: list[tuple[str, str | None]] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
            out += [(f, None) for f in found] or [(p, "folder holds no images")]
        elif os.path.exists(p):
            out.append((p, None))
        elif GLOB_CHARS & set(p):
            found = sorted(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
            out += [(f, None) for f in found] or [(p, "pattern matches no files")]
        else:
            out.append((p, "no such file or folder"))
    return out


def save_path(folder: Path, source: str) -> Path:
    """folder/<stem>.jpg, numbered rather than overwriting anything already there."""
    stem = Path(source).stem
    target = folder / f"{stem}.jpg"
    n = 1
    while target.exists():
        target = folder / f"{stem}_{n}.jpg"
        n += 1
    return target


def classify_paths(paths: list[str], model=None, fmt: str = "table", save=None, threshold=None, threads=None,
                   out=sys.stdout, err=sys.stderr) -> int:
    clf = DigitClassifier(model, threads=threads, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    folder = Path(save) if save else None
    if folder:
        folder.mkdir(parents=True, exist_ok=True)
    inputs = expand(paths)
    failed = n_digits = 0
    t_start = time.perf_counter()
    for path, error in inputs:
        t0 = time.perf_counter()
        digits = []
        if error is None:
            try:
                image = read_image(path)
                digits = clf.classify(image)
            except ImageError as e:
                error = str(e)
        ms = (time.perf_counter() - t0) * 1000
        if error:
            failed += 1
            print(f"{path}: error: {error}", file=err)
            if fmt == "json":
                print(json.dumps({"path": path, "error": error}), file=out, flush=True)
            continue
        n_digits += len(digits)
        text = text_of(digits)
        if fmt == "json":
            print(json.dumps({"path": path, **reading(digits)}), file=out, flush=True)
        else:
            shown = text.replace("\n", " / ") or "(no digits)"
            confs = " ".join(f"{d.label}:{d.confidence:.2f}" for d in digits)
            print(f"{path}  {image.shape[1]}x{image.shape[0]}  {shown}  [{confs}]  {ms:.1f} ms", file=out)
        if folder:
            target = save_path(folder, path)
            cv2.imwrite(str(target), annotate(image, digits, banner=text.replace("\n", " / ") or None))
    secs = time.perf_counter() - t_start
    done = len(inputs) - failed
    summary = f"{done} image(s) read, {n_digits} digit(s), {failed} failed, {secs * 1000 / max(1, len(inputs)):.1f} ms/image"
    print(summary + (f". Results saved to {folder}" if folder else ""), file=err if fmt == "json" else out)
    return 1 if failed else 0
