"""`digitedge live`: read digits from a camera, video file or stream, steadily, and show / save / print them.

The loop reads a frame, classifies it, steadies the result over a few frames, draws, and hands the picture
to the window, the video writer and stdout. Everything else is a small helper here: `Stabilizer` (pure,
no OpenCV), `Window`, `Printer`; the video file is written by `outputs.VideoSaver`.

Stops: end of a file; q or Esc in the window (exit 0); a camera/stream that stays down after a few reopen
tries (exit 0); Ctrl-C or SIGTERM (exit 130, the shell's code for an interrupt). On every stop the video is
closed so it plays, and a summary line goes to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DigitedgeError, OutputError
from ..files import shown
from .classifier import Digit, DigitClassifier, text_of
from .draw import annotate, live_banner, mark_paused
from .model import check_threads
from .outputs import VideoSaver, check_video_name, same_file, save_image
from .preprocess import reading_order
from .sources import Frame, open_source, parse_source

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
# Smoothing: two majority votes over each tracked digit's last WINDOW frames. It is shown while seen in
# MIN_SEEN of them (appears on its 3rd frame, survives a 1-2 frame miss, gone on the 3rd frame without it,
# so blank paper reads "" by then; specks seen once or twice never show), with the label most of its
# sightings gave (a one-frame flip is outvoted, a new label held for 3 frames wins 3:2).
WINDOW = 5
MIN_SEEN = 3
MATCH_IOU = 0.3  # box overlap that makes a detection the same digit as a track (hand shake moves a few px)
FPS_SMOOTHING = 0.9  # banner FPS: exponential average over about 10 frames
WINDOW_TITLE = "digitedge live"
KEY_QUIT, KEY_PAUSE, KEY_SNAPSHOT = {ord("q"), ord("Q"), 27}, {ord(" ")}, {ord("s"), ord("S")}
PAUSE_POLL_MS = 50


class LiveError(DigitedgeError):
    """A --save path or option `live` cannot use; str() is one line."""


# ---------------------------------------------------------------- smoothing (pure)
def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(old_boxes, new_boxes, threshold: float = MATCH_IOU) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (i_old, j_new), best overlap first (a handful of digits: no need for Hungarian)."""
    scored = sorted(((iou(a, b), i, j) for i, a in enumerate(old_boxes) for j, b in enumerate(new_boxes)), reverse=True)
    used_old, used_new, pairs = set(), set(), []
    for score, i, j in scored:
        if score < threshold:
            break
        if i not in used_old and j not in used_new:
            used_old.add(i), used_new.add(j)
            pairs.append((i, j))
    return pairs


@dataclass
class Track:
    """One digit followed across frames: its latest box, its recent sightings and their labels."""
    box: tuple[int, int, int, int]
    window: int
    votes: deque = field(default_factory=deque)  # (label, confidence) of its last `window` sightings
    seen: deque = field(default_factory=deque)  # True/False for each of the last `window` frames
    misses: int = 0  # frames in a row without a sighting

    def observe(self, digit: Digit) -> None:
        self.box, self.misses = tuple(digit.box), 0
        self._push(self.votes, (digit.label, digit.confidence))
        self._push(self.seen, True)

    def miss(self) -> None:
        self.misses += 1
        self._push(self.seen, False)

    def _push(self, q: deque, item) -> None:
        q.append(item)
        while len(q) > self.window:
            q.popleft()

    def label(self) -> tuple[int, float]:
        """Majority label; a tie goes to the higher summed confidence. Returns (label, its mean confidence)."""
        counts, conf = Counter(), Counter()
        for label, c in self.votes:
            counts[label] += 1
            conf[label] += c
        best = max(counts, key=lambda k: (counts[k], conf[k]))
        return best, conf[best] / counts[best]


class Stabilizer:
    """Steadies per-frame digits: follows boxes across frames by overlap and shows a digit while it was seen
    in `min_seen` of the last `window` frames, with the label most of those sightings gave.

    >>> stab = Stabilizer()
    >>> text_of(stab.update(clf.classify(frame)))
    """

    def __init__(self, window: int = WINDOW, min_seen: int = MIN_SEEN, match_iou: float = MATCH_IOU):
        if not 1 <= min_seen <= window:
            raise ValueError(f"need 1 <= min_seen <= window, got min_seen={min_seen}, window={window}")
        self.window, self.min_seen, self.match_iou = window, min_seen, match_iou
        self.tracks: list[Track] = []

    def update(self, digits: list[Digit]) -> list[Digit]:
        """This frame's detections in, the steady digits out (reading order, lines numbered from 0)."""
        pairs = match([t.box for t in self.tracks], [d.box for d in digits], self.match_iou)
        matched_tracks, matched_digits = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, j in pairs:
            self.tracks[i].observe(digits[j])
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.miss()
        for j, d in enumerate(digits):
            if j not in matched_digits:
                t = Track(tuple(d.box), self.window)
                t.observe(d)
                self.tracks.append(t)
        self.tracks = [t for t in self.tracks if t.misses < self.window]  # nothing left of it in the window
        return self.steady()

    def steady(self) -> list[Digit]:
        shown = []
        for t in self.tracks:
            if sum(t.seen) >= self.min_seen:
                label, conf = t.label()
                shown.append(Digit(label=label, confidence=conf, box=t.box))
        return reading_order(shown)  # the digit finder's own line grouping, so steady and raw texts agree

    def reset(self) -> None:
        self.tracks = []


# ---------------------------------------------------------------- outputs
def frame_record(frame: Frame, digits: list[Digit], raw: list[Digit]) -> dict:
    """One JSON Lines object: the steady reading of a frame, and the unsmoothed text as `raw`."""
    return {"frame": frame.index, "time": round(frame.time, 3), "text": text_of(digits),
            "digits": [{"label": d.label, "confidence": round(d.confidence, 4), "box": [int(v) for v in d.box],
                        "line": d.line} for d in digits],
            "raw": text_of(raw)}


class Printer:
    """stdout: 'json' = one object per processed frame; 'table' = a line whenever the text read changes."""

    def __init__(self, fmt: str | None, stream=None):
        self.fmt, self.stream, self.last = fmt, stream or sys.stdout, None
        if fmt == "table":
            print(f"{'frame':>7} {'time':>9}  text", file=self.stream, flush=True)

    def emit(self, record: dict) -> None:
        if self.fmt == "json":
            print(json.dumps(record), file=self.stream, flush=True)
        elif self.fmt == "table" and record["text"] != self.last:
            self.last = record["text"]
            print(f"{record['frame']:>7} {record['time']:>8.3f}s  {record['text'].replace(chr(10), ' / ') or '-'}",
                  file=self.stream, flush=True)


def gui_note() -> str | None:
    """None when a window can be shown, else the one-line reason why not."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no DISPLAY, so no window"
    try:
        cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # Qt builds: no toolbar
    except cv2.error:
        return "this OpenCV has no GUI (opencv-python-headless), so no window; pip install opencv-python for one"
    return None


class Window:
    """The OpenCV window: q/Esc quit, space pause/resume, s saves a PNG snapshot. `open` is False when there
    is no GUI; then show() does nothing."""

    def __init__(self, wanted: bool, snapshot_dir: Path):
        self.open, self.snapshot_dir = False, snapshot_dir
        if wanted:
            note = gui_note()
            if note:
                print(f"live: {note}; printing JSON Lines instead (--no-display skips this check)", file=sys.stderr)
            self.open = note is None

    def show(self, image: np.ndarray) -> bool:
        """Display the frame and handle keys; False when the user asked to quit."""
        if not self.open:
            return True
        cv2.imshow(WINDOW_TITLE, image)
        key = cv2.waitKey(1) & 0xFF
        if key in KEY_PAUSE:
            key = self._paused(image)
        if key in KEY_SNAPSHOT:
            self._snapshot(image)
        return key not in KEY_QUIT and self._visible()

    def _paused(self, image: np.ndarray) -> int:
        """Hold the picture until space again (returns no key) or q/Esc (returns it); s works while paused."""
        cv2.imshow(WINDOW_TITLE, mark_paused(image))  # the snapshot is still taken of the unmarked frame
        while self._visible():
            key = cv2.waitKey(PAUSE_POLL_MS) & 0xFF
            if key in KEY_SNAPSHOT:
                self._snapshot(image)
            elif key in KEY_PAUSE:
                return -1
            elif key in KEY_QUIT:
                return key
        return next(iter(KEY_QUIT))

    def _snapshot(self, image: np.ndarray) -> None:
        try:
            path = save_image(self.snapshot_dir / "live_snapshot.png", image)
            print(f"live: snapshot saved to {shown(path)}", file=sys.stderr)
        except OutputError as e:  # the run goes on: a snapshot is a side show
            print(f"live: error: {e}", file=sys.stderr)

    def _visible(self) -> bool:
        """False once the user closed the window with its title-bar button."""
        try:
            return cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        if self.open:
            cv2.destroyWindow(WINDOW_TITLE)
            cv2.waitKey(1)  # lets the GUI thread actually take the window down
            self.open = False


class FpsMeter:
    """Processed frames per second: a smoothed rate for the banner and the overall rate for the summary."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.rate, self.count = 0.0, 0

    def tick(self) -> None:
        now = time.perf_counter()
        step, self.last, self.count = now - self.last, now, self.count + 1
        if step > 0:
            self.rate = 1 / step if self.count == 1 else FPS_SMOOTHING * self.rate + (1 - FPS_SMOOTHING) / step

    def overall(self) -> float:
        elapsed = self.last - self.start
        return self.count / elapsed if elapsed > 0 else 0.0


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (systemd stop, docker stop, kill) ends the run like Ctrl-C, so the video is still closed."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- the loop
@dataclass
class Outputs:
    window: Window
    saver: VideoSaver
    printer: Printer


def process(frames, clf: DigitClassifier, out: Outputs, meter: FpsMeter) -> str:
    """Read, classify, steady, draw, show / save / print. Returns why it stopped."""
    stab, last_index = Stabilizer(), -1
    for frame in frames:
        raw = clf.classify(frame.image)
        digits = stab.update(raw)
        shown = annotate(frame.image, digits, banner=live_banner(text_of(digits), meter.rate))
        out.saver.write(shown, repeat=frame.index - last_index)  # before printing: a printed frame is saved
        out.printer.emit(frame_record(frame, digits, raw))
        last_index = frame.index
        meter.tick()
        if not out.window.show(shown):
            return "quit"
    return "end"


def run_live(source, model=None, save=None, display: bool = True, threads: int | None = None,
             fmt: str | None = None) -> int:
    """`digitedge live`: see the module docstring. Returns the exit code: 0, 1 when the video could not be
    saved, 130 when interrupted."""
    try:
        check_threads(threads)
    except ValueError as e:
        raise LiveError(f"--threads: {e}") from None
    if fmt not in (None, "json", "table"):
        raise LiveError(f"--format {fmt}: use json or table")
    spec = parse_source(source)
    if save:
        check_video_name(Path(save))
        if spec.kind == "file" and same_file(save, spec.target):
            raise LiveError(f"--save {shown(save)} is the --source video; name another file")
    if threads:
        cv2.setNumThreads(threads)  # the digit finder's OpenCV calls too, not only onnxruntime: one budget
    clf = DigitClassifier(model, threads)  # a bad model fails before the camera turns on
    src = open_source(source)
    reason, saved, save_error = "error", None, None
    with contextlib.ExitStack() as stack:
        stack.callback(src.close)
        saver = VideoSaver(save, src.fps, src.size)
        stack.callback(saver.discard)
        window = Window(display, Path(save).parent if save else Path.cwd())
        stack.callback(window.close)
        printer = Printer(fmt or (None if window.open else "json"))
        meter = FpsMeter()
        try:
            with sigterm_as_interrupt():
                reason = process(src, clf, Outputs(window, saver, printer), meter)
        except KeyboardInterrupt:
            reason = "interrupted"
        except BrokenPipeError:  # `digitedge live ... | head`: the reader left
            reason = "stdout closed"
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        finally:
            try:
                saved = saver.close()
            except OutputError as e:
                save_error = str(e)
            src.close()
            print(summary(src, meter, reason, saved, threads), file=sys.stderr)
            if save_error:
                print(f"live: error: {save_error}", file=sys.stderr)
    return EXIT_INTERRUPTED if reason == "interrupted" else EXIT_FAILED if save_error else EXIT_OK


def summary(src, meter: FpsMeter, reason: str, saved: Path | None, threads: int | None) -> str:
    why = {"end": "stream ended" if src.is_live else "end of file", "quit": "quit", "interrupted": "interrupted",
           "stdout closed": "stdout closed", "error": "error"}[reason]
    parts = [f"live: {src.name} ({src.size[0]}x{src.size[1]}): {src.frames_read} frames read, {meter.count} processed, "
             f"{max(0, src.frames_read - meter.count)} dropped, {meter.overall():.1f} FPS processed "
             f"({threads or 'all'} thread{'' if threads == 1 else 's'}); {why}"]
    if src.reconnects:
        parts.append(f"{src.reconnects} reconnect{'s' if src.reconnects > 1 else ''}")
    if saved:
        parts.append(f"video saved to {shown(saved)}")
    return "; ".join(parts)
