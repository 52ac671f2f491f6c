"""The one loop every verb runs: frames from a source -> classify -> steady the reading when the source moves ->
annotate (only when a sink shows or saves pictures) -> sinks; then the sinks are closed and one summary line says
what was read, how fast, why it stopped and what was saved.

    code = run(source, Pipeline(clf), [Printer("json"), SaveVideo("out.mp4")], label="live")

Stops: the end of the source; a sink that asks (the window's q/Esc); Ctrl-C or SIGTERM (exit 130); a closed stdout
(exit 1). Whatever the stop, every sink is closed, so a video is finished and playable. Exit code: 0, or 1 when an
input could not be read or an output not written (each said in one line), 130 when interrupted.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, ModelError
from ..signals import handling, raise_interrupt
from .classifier import Digit, DigitClassifier, text_of
from .draw import annotate, live_banner
from .frame import Frame, Source
from .tracking import Stabilizer

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
FPS_SMOOTHING = 0.9  # banner FPS: exponential average over about 10 frames


@dataclass
class Result:
    frame: Frame
    digits: list[Digit]  # the steady digits for a moving source, else the frame's own
    raw: list[Digit]  # this frame's digits alone
    ms: float  # classify (and steady) time
    picture: np.ndarray | None = None  # annotated, when a sink wants it

    @property
    def text(self) -> str:
        return text_of(self.digits)

    def record(self) -> dict:
        """The one record schema (JSON Lines of every verb): where, which frame, what was read."""
        f = self.frame
        return {"path": f.name, "frame": f.index, "time": round(f.time, 3), "text": self.text, "raw": text_of(self.raw),
                "digits": [d.to_dict() for d in self.digits]}


def error_record(frame: Frame) -> dict:
    """The record of an input that could not be read: where, and why (in place of what was read)."""
    return {"path": frame.name, "error": frame.error}


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


class Pipeline:
    """One frame's work: classify, steady (frames of a video or stream, per source), annotate."""

    def __init__(self, clf: DigitClassifier):
        self.clf, self.stabilizer, self.source = clf, Stabilizer(), None
        self.meter = FpsMeter()

    def process(self, frame: Frame, draw: bool = False) -> Result:
        """Raises InputError/ModelError when the frame cannot be classified (the loop makes that one line)."""
        t0 = time.perf_counter()
        raw = self.clf.classify(frame.image)
        if not frame.moving:
            digits, self.source = raw, None
        else:
            if frame.name != self.source:  # a new video: nothing carries over from the last one
                self.stabilizer.reset()
                self.source = frame.name
            digits = self.stabilizer.update(raw)
        result = Result(frame, digits, raw, (time.perf_counter() - t0) * 1000)
        if draw:
            text = text_of(digits)
            banner = live_banner(text, self.meter.rate) if frame.moving else (text.replace("\n", " / ") or None)
            result.picture = annotate(frame.image, digits, banner=banner)
        return result


@dataclass
class Stats:
    processed: int = 0
    failed: int = 0
    digits: int = 0
    ms: float = 0.0
    moving: bool = False
    notes: list[str] = field(default_factory=list)


def loop(frames, pipeline: Pipeline, sinks: list, stats: Stats) -> str:
    """The loop. Returns why it stopped: 'end' or 'quit'. Sinks are called in order: savers before the printer,
    so a frame printed is a frame saved."""
    draw = any(s.wants_picture for s in sinks)
    for frame in frames:
        if frame.error is None:
            try:
                result = pipeline.process(frame, draw)
            except (InputError, ModelError) as e:
                frame.error = str(e)
        if frame.error is not None:
            stats.failed += 1
            for s in sinks:
                s.error(frame)
            continue
        go_on = all([s.write(result) is not False for s in sinks])  # every sink gets the frame, even after a quit
        stats.processed += 1  # counted once every sink has it: a frame said processed is a frame saved
        stats.digits += len(result.digits)
        stats.ms += result.ms
        stats.moving |= frame.moving
        pipeline.meter.tick()
        if not go_on:
            return "quit"
    return "end"


def run(source: Source, pipeline: Pipeline, sinks: list, label: str, threads: int | None = None,
        summary_to=None, err=None) -> int:
    """Run the loop over `source` into `sinks`, close them all whatever happens, print the summary to `summary_to`
    (None: no summary) and each output error after it on `err`; return the exit code."""
    err = err or sys.stderr
    stats, reason = Stats(), "error"
    try:
        with handling([signal.SIGTERM], raise_interrupt):  # a SIGTERM ends it like Ctrl-C: outputs closed
            reason = loop(source, pipeline, sinks, stats)
    except KeyboardInterrupt:
        reason = "interrupted"
    except BrokenPipeError:  # `digitedge ... | head`: the reader left; the outputs are still finished
        reason, summary_to = "stdout closed", err if summary_to is not None else None
    finally:
        source.close()
        for s in sinks:
            stats.notes += s.close()
        if summary_to is not None and reason != "error":  # an error on the way is the CLI's one line, not a summary
            print(summary(label, source, stats, pipeline.meter, reason, threads), file=summary_to, flush=True)
        for s in sinks:
            for line in s.late_errors:
                print(f"{label}: error: {line}", file=err)
    if reason == "stdout closed":
        raise BrokenPipeError  # the CLI says nothing more and exits 1
    if reason == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_FAILED if stats.failed or any(s.failed for s in sinks) else EXIT_OK


def summary(label: str, src: Source, stats: Stats, meter: FpsMeter, reason: str, threads: int | None) -> str:
    """One line: what was read, how fast, why it stopped, what was saved."""
    noun, one = ("frames", "frame") if stats.moving else ("images", "image")
    why = {"end": "stream ended" if src.is_live else "end of input", "quit": "quit", "interrupted": "interrupted",
           "stdout closed": "stdout closed", "error": "error"}[reason]
    size = f" ({src.size[0]}x{src.size[1]})" if src.size else ""
    per = stats.ms / stats.processed if stats.processed else 0.0
    line = (f"{label}: {src.name}{size}: {src.frames_read} {noun} read, {stats.processed} processed, {src.dropped} dropped, "
            f"{stats.failed} failed, {stats.digits} digit(s); {meter.overall():.1f} FPS processed, {per:.1f} ms per {one} "
            f"({threads or 'all'} thread{'' if threads == 1 else 's'}); {why}")
    if getattr(src, "measured_fps", None):
        line += f"; source {src.measured_fps:.1f} FPS measured"
    if src.reconnects:
        line += f"; {src.reconnects} reconnect{'s' if src.reconnects > 1 else ''}"
    return "; ".join([line] + stats.notes)
