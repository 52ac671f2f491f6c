"""Sinks: where the loop's results go. A new output format is a new sink here, and nothing else changes.

Every sink has `write(result)` (False asks the loop to stop), `error(frame)` for an input that could not be read,
`wants_picture` (whether it needs the annotated image, which is drawn only then), `close()`, which returns what it
saved (for the summary), and `failed` (outputs it could not write) and `late_errors` (lines printed after the
summary). Files are written through `outputs` (temp file, free name, never through a link).

- `Printer`: records on stdout, one schema for every verb (`Result.record`, built from `Digit.to_dict`): JSON
  Lines, or a table line per image and per change of a video's text; a bad input is one line on stderr.
- `SaveFolder`: `classify --save DIR`: an annotated copy of each image (DIR/name.jpg), an annotated video of each
  video, camera or stream (DIR/name.mp4).
- `SaveVideo`: `live --save OUT.mp4`: one annotated video of the whole source.
- `SaveCrops`: `classify --save-crops DIR`: each digit's 28x28 crop in DIR/<label>/, to correct and train on.
The window is a sink too, in window.py.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..files import output_dir, shown, write_new
from .capture import MAX_FPS
from .frame import LIVE, STILL, Frame
from .outputs import VideoSaver, check_video_name, save_image
from .pipeline import error_record

STILL_SECONDS = 1.0  # a still image in a video (and in the window) lasts this long
MEASURE_SECONDS = 1.0  # a live source's rate is measured over its first second before its video is opened ...
MEASURE_MAX_BYTES = 256 << 20  # ... or until this much picture is held
FALLBACK_FPS = 25.0  # a live source that ended before two frames could be timed
MIN_FPS = 0.1


def one_line(text: str) -> str:
    """A reading on one line: lines joined by ' / '."""
    return text.replace("\n", " / ")


class Printer:
    """stdout: 'json' = one record per processed frame (and {"path", "error"} for a bad input); 'table' = a line per
    image, and for a video a line whenever its steady text changes; None = nothing (a window shows the results).
    Errors are always one line on stderr."""

    wants_picture = False

    def __init__(self, fmt: str | None, out=None, err=None):
        if fmt not in (None, "json", "table"):
            raise ValueError(f"format must be 'json', 'table' or None, got {fmt!r}")
        self.fmt, self.out, self.err = fmt, out or sys.stdout, err or sys.stderr
        self.last: tuple[str, str] | None = None  # (source, text) of the last video line printed

    def write(self, result) -> None:
        if self.fmt == "json":
            print(json.dumps(result.record()), file=self.out, flush=True)
            return
        if self.fmt != "table":
            return
        frame, text = result.frame, result.text
        if frame.moving:
            if self.last == (frame.name, text):
                return
            self.last = (frame.name, text)
        where = f"{frame.name} #{frame.index} {frame.time:.3f}s" if frame.moving else frame.name
        h, w = frame.image.shape[:2]
        confs = " ".join(f"{d.label}:{d.confidence:.2f}" for d in result.digits)
        print(f"{where}  {w}x{h}  {one_line(text) or '(no digits)'}  [{confs}]  {result.ms:.1f} ms", file=self.out,
              flush=frame.moving)

    def error(self, frame: Frame) -> None:
        print(f"{frame.name}: error: {frame.error}", file=self.err)
        if self.fmt == "json":
            print(json.dumps(error_record(frame)), file=self.out, flush=True)

    failed, late_errors = 0, []

    def close(self) -> list[str]:
        return []


class Recording:
    """One annotated video, opened at its first frame (whose size it takes): at the source's rate, or for a live
    source at the rate measured from the first frames' arrival times (held until MEASURE_SECONDS have passed), so
    the file plays in real time; a live source's dropped frames are filled with the next processed one."""

    def __init__(self, path: Path):
        self.path, self.saver, self.held, self.fps = path, None, [], None
        self.first_index = self.written = 0

    def add(self, picture: np.ndarray, frame: Frame) -> None:
        if self.saver is None and frame.kind != LIVE:
            self._open(frame.fps or 1 / STILL_SECONDS, picture)
        if self.saver is None:
            self.held.append((picture, frame))
            if self._measured(done=False):
                self._flush()
            return
        self._write(picture, frame)

    def _open(self, fps: float, picture: np.ndarray) -> None:
        self.fps = min(MAX_FPS, max(MIN_FPS, fps))
        self.saver = VideoSaver(self.path, self.fps, (picture.shape[1], picture.shape[0]))

    def _measured(self, done: bool) -> bool:
        """Open the video once the live source's rate is known (`done`: the source has ended: use what there is)."""
        timed = [f for _, f in self.held if f.index > 0]  # frame 0 was read while opening: its time is not its arrival
        span = timed[-1].time - timed[0].time if len(timed) > 1 else 0.0
        held = sum(p.nbytes for p, _ in self.held)
        if not done and span < MEASURE_SECONDS and held < MEASURE_MAX_BYTES:
            return False
        self.first_index = self.held[0][1].index
        self._open((timed[-1].index - timed[0].index) / span if span > 0 else FALLBACK_FPS, self.held[0][0])
        return True

    def _flush(self) -> None:
        held, self.held = self.held, []
        for picture, frame in held:
            self._write(picture, frame)

    def _write(self, picture: np.ndarray, frame: Frame) -> None:
        # A live frame fills the slots of the frames dropped before it: one slot per source frame, at the source's rate.
        slots = frame.index - self.first_index + 1 - self.written if frame.kind == LIVE else 1
        if slots > 0:
            self.saver.write(picture, repeat=slots)
            self.written += slots

    def close(self) -> Path | None:
        """Finish the file: the path it got, or None when it got no frame; OutputError when it could not be written."""
        if self.saver is None and self.held:
            self._measured(done=True)
            self._flush()
        return self.saver.close() if self.saver else None

    def discard(self) -> None:
        if self.saver:
            self.saver.discard()


class SaveVideo:
    """`live --save OUT.mp4`: the whole source as one annotated video. The folder is checked now, so a bad target
    is one line before the camera turns on."""

    wants_picture = True

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        check_video_name(path)
        output_dir(path.parent, "--save")
        self.recording = Recording(path)
        self.failed, self.late_errors = 0, []

    def write(self, result) -> None:
        self.recording.add(result.picture, result.frame)

    def error(self, frame: Frame) -> None:
        pass

    def close(self) -> list[str]:
        try:
            saved = self.recording.close()
        except OutputError as e:
            self.failed, self.late_errors = 1, [str(e)]
            return []
        return [f"video saved to {shown(saved)} ({self.recording.fps:.1f} FPS)"] if saved else []

    def discard(self) -> None:
        self.recording.discard()


class SaveFolder:
    """`classify --save DIR`: an annotated copy of each image as DIR/<name>.jpg, and of each video, camera or stream
    as DIR/<name>.mp4; never over a file (a free name instead). A copy that cannot be written is one line on stderr
    and the run goes on."""

    wants_picture = True

    def __init__(self, folder: str | os.PathLike, err=None):
        self.folder, self.err = output_dir(folder, "--save"), err or sys.stderr
        self.recording: tuple[str, Recording] | None = None  # (source name, its video) while a video is read
        self.saved = self.failed = 0
        self.late_errors: list[str] = []

    def write(self, result) -> None:
        frame = result.frame
        if frame.kind == STILL:
            self._end_video()
            try:
                save_image(self.folder / f"{Path(frame.path or frame.name).stem}.jpg", result.picture)
                self.saved += 1
            except OutputError as e:
                self._failed(frame.name, f"annotated copy not saved: {e}")
            return
        if self.recording is None or self.recording[0] != frame.name:
            self._end_video()
            self.recording = (frame.name, Recording(self.folder / f"{Path(frame.path or 'video').stem}.mp4"))
        try:
            self.recording[1].add(result.picture, frame)
        except OutputError as e:
            self._failed(frame.name, f"annotated video not saved: {e}")
            self.recording[1].discard()

    def _end_video(self) -> None:
        if self.recording is None:
            return
        name, rec = self.recording
        self.recording = None
        try:
            if rec.close():
                self.saved += 1
        except OutputError as e:
            self._failed(name, f"annotated video not saved: {e}")

    def _failed(self, name: str, why: str) -> None:
        self.failed += 1
        print(f"{name}: error: {why}", file=self.err)

    def error(self, frame: Frame) -> None:
        self._end_video()

    def close(self) -> list[str]:
        self._end_video()
        return [f"Results saved to {shown(self.folder)}" + (f" ({self.failed} not saved)" if self.failed else "")]

    def discard(self) -> None:
        if self.recording:
            self.recording[1].discard()


class SaveCrops:
    """`classify --save-crops DIR`: every digit read, as the 28x28 crop the model read (MNIST's format), in
    DIR/<label>/ under its source's name and box (`<stem>_<x>_<y>_<w>_<h>.png`, a video frame's `<stem>_f<N>_...`),
    and DIR/crops.csv listing them (file, label, confidence, source, frame, x, y, w, h). Moving a crop to the folder
    of its true label (or to DIR/reject/, or deleting it) makes DIR a labelled folder for `train --data DIR`. Never
    over a file; a crop that cannot be written is one line on stderr and the run goes on."""

    wants_picture = False

    def __init__(self, folder: str | os.PathLike, err=None):
        self.folder, self.err = output_dir(folder, "--save-crops"), err or sys.stderr
        self.rows: list[list] = []
        self.folders: set[str] = set()
        self.failed = 0
        self.late_errors: list[str] = []

    def write(self, result) -> None:
        frame = result.frame
        stem = Path(frame.path or frame.name).stem + (f"_f{frame.index}" if frame.moving else "")
        for d in result.raw:  # this frame's own digits: the steadied ones of a video carry no crop
            if d.crop is None:
                continue
            x, y, w, h = (int(v) for v in d.box)
            try:
                folder = self.folder / str(d.label)
                if folder.name not in self.folders:
                    output_dir(folder, "--save-crops")
                    self.folders.add(folder.name)
                saved = save_image(folder / f"{stem}_{x}_{y}_{w}_{h}.png", d.crop)
            except OutputError as e:
                self.failed += 1
                print(f"{frame.name}: error: crop not saved: {e}", file=self.err)
                continue
            self.rows.append([shown(saved.relative_to(self.folder).as_posix()), d.label, round(d.confidence, 4),
                              frame.name, frame.index, x, y, w, h])

    def error(self, frame: Frame) -> None:
        pass

    def close(self) -> list[str]:
        if not self.rows:
            return [f"no crops saved to {shown(self.folder)} (no digit read)"]
        text = io.StringIO()
        csv.writer(text).writerows([["file", "label", "confidence", "source", "frame", "x", "y", "w", "h"]] + self.rows)
        try:
            listed = write_new(self.folder / "crops.csv", text.getvalue().encode()).name
        except OutputError as e:
            self.failed, self.late_errors, listed = self.failed + 1, [str(e)], "no list"
        return [f"{len(self.rows)} crops saved to {shown(self.folder)}/<label>/ ({listed}); move each to its true "
                "label's folder, then: digitedge train --data " + shown(self.folder)]
