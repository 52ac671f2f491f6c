"""`digitedge classify SOURCE... --out results.jsonl`: an archive of images read once each, on every core (or a
Ray cluster), into records that survive a kill and resume where they stopped.

    code = read_archive(["scans/", "list.txt"], "results.jsonl", workers=4, resume=True)

The parts both engines share live here: the listing (each input an `Item`: its index in input order, and its
resume key: path, size, mtime_ns), the `Reader` one process runs (frames through the one loop into records), and
the record as --out keeps it: `Result.record()` (or the error record) plus `index`, `size` and `mtime_ns`, in a
.jsonl file, or as Parquet in NAME.parquet (a folder of parts: parquet.py).
Records are written as they are done, in no set order: `index` says where each input stood.
Every input gets a record: inputs = results + errors, always. The engines: workers.py (processes on this
machine), rayengine.py (Ray Data); where records go: journal.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from ..errors import InputError, OutputError
from ..files import refusal, shown
from .classifier import DEFAULT_THRESHOLD, DigitClassifier
from .frame import Frame
from .imageio import MAX_FILE_BYTES
from .inputs import expand
from .pipeline import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Pipeline, Stats, error_record, loop
from .sources import SourceError, is_video_name, live_spec, still

ENGINES = ("local", "ray")
PROGRESS_EVERY_S = 10.0
VIDEO_REFUSED = "a video: --out reads image files (read videos without --out)"
LIVE_REFUSED = "a camera or stream: --out reads image files"


@dataclass(frozen=True)
class Item:
    index: int  # position in the listing of the inputs
    path: str  # as the OS names it
    size: int | None = None
    mtime_ns: int | None = None
    error: str | None = None  # why it cannot be read, found while listing

    @property
    def name(self) -> str:
        return shown(self.path)

    @property
    def key(self) -> tuple:
        return self.name, self.size, self.mtime_ns


def list_items(sources: list[str], skip: list = ()) -> list[Item]:
    """Every input, numbered: files, folders, globs and listings expanded (each file once); a file that cannot be
    read (missing, not a regular file, too large, unreadable), a video, camera or stream is an Item holding why."""
    items: list[Item] = []
    seen: set = set()  # a file named twice (or reached through a link) is one input
    for arg in sources:
        try:
            live = live_spec(arg)
        except SourceError as e:  # a malformed URL
            items.append(Item(len(items), arg, error=str(e).removeprefix(f"{shown(arg)}: ")))
            continue
        if live:
            items.append(Item(len(items), arg, error=LIVE_REFUSED))
            continue
        for path, error in expand([arg], skip=skip, seen=seen):
            items.append(_item(len(items), path, error))
    return items


def _item(index: int, path: str, error: str | None) -> Item:
    if error is not None:
        return Item(index, path, error=error)
    if is_video_name(path):
        return Item(index, path, error=VIDEO_REFUSED)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Item(index, path, error="no such file")  # a dangling link: read_bytes' own words
    except OSError as e:
        return Item(index, path, error=e.strerror or str(e))
    why = refusal(st, MAX_FILE_BYTES) or (None if os.access(path, os.R_OK) else os.strerror(13))
    return Item(index, path, st.st_size, st.st_mtime_ns, why)


def archived(record: dict, item: Item) -> str:
    """A record as --out keeps it (one JSON line): the one schema, plus where the input stood and its resume key."""
    return json.dumps({**record, "index": item.index, "size": item.size, "mtime_ns": item.mtime_ns})


@dataclass(frozen=True)
class Settings:
    """What every worker process or Ray actor needs to build its own reader (picklable)."""
    model: str
    threshold: float = DEFAULT_THRESHOLD
    device: str | None = None
    threads: int = 1  # onnxruntime and OpenCV threads per worker: one, so N workers use N cores


@dataclass
class Batch:
    lines: list[str]  # the records, as --out lines
    errors: list[str] = field(default_factory=list)  # one line per input that could not be read
    digits: int = 0

    @property
    def failed(self) -> int:
        return len(self.errors)


class Records:
    """The loop's sink in a worker: each frame's record (or error record) as an --out line, items taken in order."""

    wants_picture, failed, late_errors = False, 0, []

    def __init__(self, items: list[Item]):
        self.items, self.lines, self.errors = iter(items), [], []

    def write(self, result) -> None:
        self.lines.append(archived(result.record(), next(self.items)))

    def error(self, frame: Frame) -> None:
        self.lines.append(archived(error_record(frame), next(self.items)))
        self.errors.append(f"{frame.name}: error: {frame.error}")

    def close(self) -> list[str]:
        return []


class Reader:
    """One process's reading: its own one-thread onnxruntime session and OpenCV, frames through the one loop."""

    def __init__(self, settings: Settings):
        cv2.setNumThreads(settings.threads)  # OpenCV's pool would otherwise spread each worker over every core
        clf = DigitClassifier(settings.model, threads=settings.threads, threshold=settings.threshold,
                              device=settings.device)
        self.pipeline = Pipeline(clf)

    def read(self, items: list[Item], data: list[bytes] | None = None) -> Batch:
        """Records of `items`, read from their files, or decoded from `data` (their bytes, read by Ray)."""
        frames = (still(it.path, it.error, None if data is None else data[i]) for i, it in enumerate(items))
        sink, stats = Records(items), Stats()
        loop(frames, self.pipeline, [sink], stats)
        return Batch(sink.lines, sink.errors, stats.digits)


@dataclass
class Totals:
    """What an engine did, for the summary (and the bench): counts and times from the start of the run."""
    inputs: int = 0
    skipped: int = 0  # already in the output (--resume)
    done: int = 0
    failed: int = 0
    digits: int = 0
    first_s: float | None = None  # when the first batch of records was out (start-up + one batch)
    first_n: int = 0  # ... how many records it held
    last_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def add(self, batch: Batch, at: float | None, err) -> None:
        """Count a batch that is in the output now, and say its bad inputs (one line each)."""
        for line in batch.errors:
            print(line, file=err)
        self.count(len(batch.lines), at, batch.failed, batch.digits)

    def count(self, n: int, at: float | None, failed: int = 0, digits: int = 0) -> None:
        """`n` records out at `at` s into the run (None: records of inputs never read, kept out of the rates),
        `failed` of them errors."""
        self.done, self.failed, self.digits = self.done + n, self.failed + failed, self.digits + digits
        if at is None:
            self.first_n += n
            return
        if self.first_s is None or at < self.first_s:
            self.first_s, self.first_n = at, self.first_n + n
        self.last_s = max(self.last_s, at)

    def steady_rate(self) -> float:
        """Images per second once started: the records after the first batch over the time after it."""
        span = self.last_s - (self.first_s or 0.0)
        return (self.done - self.first_n) / span if span > 0 and self.done > self.first_n else 0.0


class Progress:
    """A line on stderr every PROGRESS_EVERY_S while a long archive is read (none with -q)."""

    def __init__(self, total: int, err, quiet: bool):
        self.total, self.err, self.quiet = total, err, quiet
        self.start = self.last = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def tick(self, totals: Totals) -> None:
        now = time.perf_counter()
        if self.quiet or now - self.last < PROGRESS_EVERY_S:
            return
        self.last = now
        rate = totals.done / (now - self.start)
        left = (self.total - totals.done) / rate if rate > 0 else 0
        print(f"classify: {totals.done}/{self.total} ({100 * totals.done / max(1, self.total):.0f} %), "
              f"{rate:.0f} images/s, {left:.0f} s left", file=self.err, flush=True)


def check_engine(engine: str, workers: int | None, ray_address: str | None) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
    if ray_address and engine != "ray":
        raise ValueError("--ray-address needs --engine ray")


def all_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def read_archive(sources: list[str], out: str | os.PathLike, model=None, threshold=None, device=None, threads=None,
                 workers: int | None = None, resume: bool = False, engine: str = "local",
                 ray_address: str | None = None, quiet: bool = False, err=None, totals: Totals | None = None) -> int:
    """Read every input into `out` (a .jsonl file, a .parquet folder of parts; with engine 'ray' a folder of .jsonl
    files, or a .parquet one); returns the exit code: 0, 1 when
    an input could not be read or the output not written (each said in one line), 130 when interrupted.
    `totals`: filled with the counts and times (the bench reads them)."""
    err = err or sys.stderr
    check_engine(engine, workers, ray_address)
    clf = DigitClassifier(model, threads=threads or 1, threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                          device=device)  # a bad model or option is one line here, before any worker starts
    settings = Settings(os.path.abspath(clf.model.path), clf.threshold, device, threads or 1)
    del clf
    from .journal import PARQUET_SUFFIX, Journal, Parts, RecordFolder, run_stem

    parquet = Path(out).suffix.lower() == PARQUET_SUFFIX
    if engine == "ray":
        from .rayengine import run_ray as run_engine

        output = RecordFolder(out, resume, parquet)
    else:
        from .workers import run_workers as run_engine

        output = Parts(RecordFolder(out, resume, True), run_stem()) if parquet else Journal(out, resume)
    skip = [out]  # a folder of records is never read as inputs
    totals = totals or Totals()
    progress = Progress(0, err, quiet)
    reason, code = "end of input", EXIT_OK
    try:
        items = list_items(sources, skip=skip)
        todo = [it for it in items if it.key not in output.done]
        totals.inputs, totals.skipped, progress.total = len(items), len(items) - len(todo), len(todo)
        run_engine(todo, output, settings, workers, ray_address, totals, progress, err)
    except KeyboardInterrupt:
        reason, code = "interrupted", EXIT_INTERRUPTED
    except (OutputError, InputError) as e:
        print(f"classify: error: {e}", file=err)
        reason, code = "stopped", EXIT_FAILED
    finally:
        output.close()
    if not quiet:
        print(summary(totals, out, reason), file=err, flush=True)
    if code == EXIT_OK and totals.failed:
        code = EXIT_FAILED
    return code


def summary(t: Totals, out, reason: str) -> str:
    """One line: what was read, how fast (start-up apart), why it stopped, where the records are."""
    line = (f"classify: {t.inputs} inputs: {t.done} read now, {t.skipped} already in {shown(out)}, {t.failed} failed, "
            f"{t.digits} digit(s)")
    if t.done and t.last_s:
        line += f"; {t.done / t.last_s:.1f} images/s overall"
    if t.steady_rate():
        line += f", {t.steady_rate():.1f} images/s after {t.first_s:.1f} s start-up"
    return "; ".join([line, *t.notes, reason, f"records in {shown(out)}"])
