"""`digitedge classify PATH...`: read the digits in image files, folders (recursive) and globs.

A bad file, or an annotated copy that cannot be written, gets one line naming it and the problem; the batch
goes on; exit 1 if anything failed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import InputError, ModelError, OutputError
from ..files import output_dir, shown
from .classifier import DEFAULT_THRESHOLD, DigitClassifier, reading, text_of
from .draw import annotate
from .imageio import read_image
from .inputs import expand
from .outputs import same_file, save_image


def save_folder(save, paths: list[str]) -> Path | None:
    """The --save folder, created and proven writable; never one of the inputs (annotated copies would be mixed
    into the images being read)."""
    if not save:
        return None
    for p in paths:
        if same_file(save, p):
            raise OutputError(f"--save {shown(save)} is one of the inputs; name a folder of its own")
    return output_dir(save, "--save")


def classify_paths(paths: list[str], model=None, fmt: str = "table", save=None, threshold=None, threads=None,
                   out=sys.stdout, err=sys.stderr) -> int:
    clf = DigitClassifier(model, threads=threads, threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    folder = save_folder(save, paths)
    inputs = expand(paths, skip=[folder] if folder else [])
    failed = n_digits = unsaved = 0
    t_start = time.perf_counter()
    for path, error in inputs:
        name = shown(path)
        t0 = time.perf_counter()
        digits = []
        if error is None:
            try:
                image = read_image(path)
                digits = clf.classify(image)
            except (InputError, ModelError) as e:
                error = str(e)
        ms = (time.perf_counter() - t0) * 1000
        if error:
            failed += 1
            print(f"{name}: error: {error}", file=err)
            if fmt == "json":
                print(json.dumps({"path": name, "error": error}), file=out, flush=True)
            continue
        n_digits += len(digits)
        text = text_of(digits)
        if fmt == "json":
            print(json.dumps({"path": name, **reading(digits)}), file=out, flush=True)
        else:
            shown_text = text.replace("\n", " / ") or "(no digits)"
            confs = " ".join(f"{d.label}:{d.confidence:.2f}" for d in digits)
            print(f"{name}  {image.shape[1]}x{image.shape[0]}  {shown_text}  [{confs}]  {ms:.1f} ms", file=out)
        if folder:
            try:
                save_image(folder / f"{Path(path).stem}.jpg", annotate(image, digits, banner=text.replace("\n", " / ") or None))
            except OutputError as e:
                unsaved += 1
                print(f"{name}: error: annotated copy not saved: {e}", file=err)
    secs = time.perf_counter() - t_start
    done = len(inputs) - failed
    summary = f"{done} image(s) read, {n_digits} digit(s), {failed} failed, {secs * 1000 / max(1, len(inputs)):.1f} ms/image"
    if folder:
        summary += f". Results saved to {shown(folder)}" + (f" ({unsaved} not saved)" if unsaved else "")
    print(summary, file=err if fmt == "json" else out)
    return 1 if failed or unsaved else 0
