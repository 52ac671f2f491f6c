"""`digitedge live --source S`: one camera, stream, video file or folder of images through the one loop, into a
window (real-time playback, keys), a video (--save) and the record printer, the reading steadied across frames.

Stops: end of the source; q or Esc in the window (exit 0); a camera/stream that stays down after a few reopen
tries (exit 0); Ctrl-C or SIGTERM (exit 130). On every stop the video is closed so it plays, and a summary line
goes to stderr. Without a window the records are printed as JSON Lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2

from ..errors import DigitedgeError
from ..files import shown
from .classifier import DigitClassifier
from .model import check_threads
from .outputs import check_video_name, same_file
from .pipeline import Pipeline, run
from .sinks import Printer, SaveVideo
from .sources import open_source, parse_source
from .window import Window


class LiveError(DigitedgeError):
    """A --save path or option `live` cannot use; str() is one line."""


def live(source, model=None, save=None, display: bool = True, threads: int | None = None, fmt: str | None = None,
         device=None, quiet: bool = False, err=None, window=None) -> int:
    """Returns the exit code: 0, 1 when the video could not be saved, 130 when interrupted. `window`: a Window to
    use instead of an OpenCV one (tests)."""
    err = err or sys.stderr
    try:
        check_threads(threads)
    except ValueError as e:
        raise LiveError(f"--threads: {e}") from None
    spec = parse_source(source)
    if save and spec.kind == "video" and same_file(save, spec.target):
        raise LiveError(f"--save {shown(save)} is the --source video; name another file")
    if save:
        check_video_name(Path(save))  # a bad --save name is one line before the camera turns on
    if threads:
        cv2.setNumThreads(threads)  # the digit finder's OpenCV calls too, not only onnxruntime: one budget
    clf = DigitClassifier(model, threads, device=device)  # a bad model fails before the camera turns on
    src = open_source(source)
    try:
        savers = [SaveVideo(save)] if save else []
    except DigitedgeError:
        src.close()
        raise
    windows = []
    if display:
        window = window or Window(Path(save).parent if save else Path.cwd(), err=err)
        if window.open:
            windows.append(window)
        elif window.note:
            print(f"live: {window.note}; printing JSON Lines instead (--no-display skips this check)", file=err)
    printer = Printer(fmt or (None if windows else "json"), err=err)
    return run(src, Pipeline(clf), savers + [printer] + windows, "live", threads, summary_to=None if quiet else err,
               err=err)
