"""`digitedge classify SOURCE...`: images, folders (recursive), globs, video files (every Nth frame), cameras and
stream URLs through the one loop, into the record printer and, with --save, a folder of annotated copies (with
--save-crops, a folder of each digit's crop by label, to correct and fine-tune on).

A bad input, or an annotated copy that cannot be written, is one line naming it and the problem; the rest is still
read; exit 1 if anything failed.
"""

from __future__ import annotations

import sys

from ..errors import OutputError
from ..files import shown
from .classifier import DEFAULT_THRESHOLD, DigitClassifier
from .outputs import same_file
from .pipeline import Pipeline, run
from .sinks import Printer, SaveCrops, SaveFolder
from .sources import Inputs


def classify(sources: list[str], model=None, fmt: str = "table", save=None, threshold=None, threads=None,
             device=None, vid_stride: int = 1, quiet: bool = False, out=None, err=None, save_crops=None) -> int:
    """Read every source; returns the exit code (0, 1 when an input or output failed, 130 when interrupted)."""
    out, err = out or sys.stdout, err or sys.stderr
    clf = DigitClassifier(model, threads=threads, threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                          device=device)
    sinks = []
    for option, folder in (("--save", save), ("--save-crops", save_crops)):
        for p in sources if folder else []:  # what is written would be mixed into the images being read
            if same_file(folder, p):
                raise OutputError(f"{option} {shown(folder)} is one of the inputs; name a folder of its own")
    if save:
        sinks.append(SaveFolder(save, err))
    if save_crops:
        sinks.append(SaveCrops(save_crops, err))
    inputs = Inputs(sources, vid_stride=vid_stride, skip=[s.folder for s in sinks])
    sinks.append(Printer(fmt, out, err))  # after the saver: a record printed is a copy saved
    summary_to = None if quiet else err if fmt == "json" else out
    return run(inputs, Pipeline(clf), sinks, "classify", threads, summary_to=summary_to, err=err)

