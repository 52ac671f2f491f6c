"""`digitedge classify SOURCE...`: images, folders (recursive), globs, video files (every Nth frame), cameras and
stream URLs through the one loop, into the record printer and, with --save, a folder of annotated copies.

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
from .sinks import Printer, SaveFolder
from .sources import Inputs


def classify(sources: list[str], model=None, fmt: str = "table", save=None, threshold=None, threads=None,
             device=None, vid_stride: int = 1, quiet: bool = False, out=None, err=None) -> int:
    """Read every source; returns the exit code (0, 1 when an input or output failed, 130 when interrupted)."""
    out, err = out or sys.stdout, err or sys.stderr
    clf = DigitClassifier(model, threads=threads, threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                          device=device)
    sinks = []
    if save:
        for p in sources:  # annotated copies would be mixed into the images being read
            if same_file(save, p):
                raise OutputError(f"--save {shown(save)} is one of the inputs; name a folder of its own")
        sinks.append(SaveFolder(save, err))
    inputs = Inputs(sources, vid_stride=vid_stride, skip=[sinks[0].folder] if save else [])
    sinks.append(Printer(fmt, out, err))  # after the saver: a record printed is a copy saved
    summary_to = None if quiet else err if fmt == "json" else out
    return run(inputs, Pipeline(clf), sinks, "classify", threads, summary_to=summary_to, err=err)

