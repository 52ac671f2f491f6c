"""One source opener: a camera index, a video file or a stream URL -> frames in source order.

    with open_source("0") as src:              # camera 0; "clip.mp4"; "rtsp://cam/stream"; "http://host/video.mjpg"
        for frame in src:                      # Frame(index, time, image), index counted in source order
            ...

A file yields every frame in order. A camera or stream is read by a grabber thread that keeps only the
newest frame, so a slow consumer always gets the present (one frame of latency) and the frames it missed
are counted as dropped. A stream or camera whose read fails is reopened a few times with a short backoff,
then the iteration ends cleanly. Every capture is released in `finally`. OpenCV + numpy only.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DigitedgeError
from ..files import file_kind, shown
from .inputs import OpenedPath

log = logging.getLogger(__name__)

ACCEPTED = "a camera index (0, 1, ...), a video file (clip.mp4) or a stream URL (rtsp://host/stream, http://host/video.mjpg)"
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mjpeg",
              ".mjpg", ".gif", ".3gp"}
OPEN_TIMEOUT_MS = 5000  # a URL that has not answered by then is reported as down (ffmpeg's default is 30 s)
READ_TIMEOUT_MS = 5000  # a stream silent this long counts as dropped and is reopened
RECONNECT_DELAYS = (0.25, 0.5, 1.0)  # s before each reopen of a dropped camera/stream; then it has ended
FALLBACK_FPS = 25.0  # when a source reports no usable rate (MJPEG over HTTP often says 0 or 90000)
MAX_FPS = 240.0
MAX_CAMERA_INDEX = 99  # OpenCV reads index + 100 * k as "camera index with backend k"; ints past C's range crash it
WAIT_POLL = 0.1  # s: the consumer wakes this often, so Ctrl-C is handled promptly while a stream is silent
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class SourceError(DigitedgeError):
    """A source that is not one of the accepted forms, or that cannot be opened; str() is one line."""


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "file" or "stream"
    target: int | str  # camera index, file path or URL

    @property
    def is_live(self) -> bool:
        """Cameras and streams run on their own clock: frames are dropped rather than queued."""
        return self.kind != "file"

    @property
    def name(self) -> str:
        """For messages: 'camera 0', the path, or the URL with any password hidden."""
        if self.kind == "camera":
            return f"camera {shown(str(self.target))}"
        return redact(shown(str(self.target)))


@dataclass
class Frame:
    index: int  # position in the source, from 0 (a live source's dropped frames count too)
    time: float  # s: index / fps for a file, since opening for a live source
    image: np.ndarray  # BGR uint8


def redact(url: str) -> str:
    """rtsp://user:secret@cam/stream -> rtsp://***@cam/stream: error lines end up in logs."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url)


def parse_source(source: str | int) -> SourceSpec:
    """Classify a --source string without opening it; raises SourceError listing the accepted forms."""
    if isinstance(source, int) and not isinstance(source, bool):
        return SourceSpec("camera", camera_index(source))
    text = str(source).strip()
    if text.isdigit():  # as in Ultralytics and OpenCV's samples: digits are a camera index, even if a file is named so
        return SourceSpec("camera", camera_index(int(text)))
    scheme = SCHEME.match(text)
    if scheme:
        if scheme.group(1).lower() not in STREAM_SCHEMES:
            raise SourceError(f"{redact(shown(text))}: unsupported URL scheme {scheme.group(1)!r}; use {', '.join(s + '://' for s in STREAM_SCHEMES[:6])}...")
        if not text.isprintable() or shown(text) != text:
            raise SourceError(f"{redact(shown(text))}: a URL must be printable UTF-8 text")
        return SourceSpec("stream", text)
    path = Path(text).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is None:
        if path.suffix.lower() in VIDEO_EXTS or os.sep in text:
            raise SourceError(f"{shown(text)}: no such file; check the path, or pass {ACCEPTED}")
        raise SourceError(f"{shown(text)!r} is not a source; pass {ACCEPTED}")
    if stat.S_ISDIR(mode):
        raise SourceError(f"{shown(text)}: is a folder; live reads one source: {ACCEPTED}")
    if stat.S_ISREG(mode):
        return SourceSpec("file", str(path))
    if stat.S_ISCHR(mode) and os.path.realpath(path).startswith("/dev/video"):  # a camera by its device name
        return SourceSpec("camera", str(path))
    raise SourceError(f"{shown(text)}: not a regular file ({file_kind(mode)}); pass {ACCEPTED}")


def camera_index(index: int) -> int:
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"camera index {index}: use 0 to {MAX_CAMERA_INDEX} (0 is the first camera)")
    return index


def open_capture(spec: SourceSpec) -> cv2.VideoCapture | None:
    """An opened cv2.VideoCapture for the spec, or None."""
    if spec.kind == "stream" and cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        # ffmpeg takes timeouts, so a dead host fails in seconds. No plain retry after it: that would be ffmpeg
        # again with its 30 s default. Builds without ffmpeg (GStreamer only) take the generic path below.
        cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS])
    elif spec.kind == "file":
        path = OpenedPath(spec.target)  # a name that is not UTF-8 would crash OpenCV
        try:
            cap = cv2.VideoCapture(path.path)
        finally:
            path.close()
    else:
        cap = cv2.VideoCapture(spec.target)
    if cap.isOpened():
        return cap
    cap.release()
    return None


def open_failure(spec: SourceSpec) -> SourceError:
    """The one line that says why a source did not open and what to try."""
    if spec.kind == "camera":
        return SourceError(f"camera {spec.target} cannot be opened (not connected, in use by another program, or no "
                           "permission); check the index (0 is the first camera) or pass a video file or stream URL")
    if spec.kind == "stream":
        return SourceError(f"{spec.name}: the stream does not answer or sends no video (waited {OPEN_TIMEOUT_MS / 1000:g} s); "
                           "check the URL in a browser or VLC")
    return SourceError(f"{spec.name}: not a video OpenCV can decode, or it has no frames; convert it to .mp4 (H.264) "
                       "or pass another source")


def source_fps(cap: cv2.VideoCapture) -> float:
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if 1.0 <= fps <= MAX_FPS else FALLBACK_FPS


def open_source(source: str | int) -> FileSource | LiveSource:
    """Open a --source (see parse_source); raises SourceError with one line when it cannot be read."""
    spec = parse_source(source)
    cap = open_capture(spec)
    if cap is None:
        raise open_failure(spec)
    ok, first = cap.read()  # proves there are frames: a camera may open and yet give none (busy, no permission)
    if not ok or first is None:
        cap.release()
        raise open_failure(spec)
    return (LiveSource if spec.is_live else FileSource)(spec, cap, first)


class VideoSource:
    """Common part: name, size, rate, counters, context manager. Iterate for Frame objects."""

    def __init__(self, spec: SourceSpec, cap: cv2.VideoCapture, first: np.ndarray):
        self.spec, self.name, self.is_live = spec, spec.name, spec.is_live
        self.fps = source_fps(cap)
        self.size = (first.shape[1], first.shape[0])  # (w, h) of the frames as decoded, not as declared
        self.frames_read = 1
        self.frames_yielded = 0
        self.reconnects = 0

    @property
    def dropped(self) -> int:
        return self.frames_read - self.frames_yielded

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        raise NotImplementedError


class FileSource(VideoSource):
    """Every frame of a video file, in order, read on demand."""

    def __init__(self, spec, cap, first):
        super().__init__(spec, cap, first)
        self._cap, self._next = cap, first

    def __iter__(self):
        try:
            while self._next is not None:
                index = self.frames_read - 1
                frame, self._next = Frame(index, index / self.fps, self._next), None
                self.frames_yielded += 1
                yield frame
                ok, image = self._cap.read()  # False at the end of the file: never use the image then
                if ok and image is not None:
                    self._next = image
                    self.frames_read += 1
        finally:
            self.close()

    def close(self) -> None:
        self._next = None
        self._cap.release()


class LiveSource(VideoSource):
    """A camera or stream: a grabber thread reads continuously and keeps only the newest frame."""

    def __init__(self, spec, cap, first):
        super().__init__(spec, cap, first)
        self._cap, self._t0 = cap, time.monotonic()
        self._cond, self._stop = threading.Condition(), threading.Event()
        self._latest: Frame | None = Frame(0, 0.0, first)
        self._ended = False
        self._thread = threading.Thread(target=self._grab, name=f"grab {self.name}", daemon=True)
        self._thread.start()

    def _grab(self) -> None:
        try:
            while not self._stop.is_set():
                ok, image = self._cap.read()
                if ok and image is not None:
                    self._publish(image)
                elif not self._reopen():
                    break
        finally:
            self._cap.release()  # only this thread touches the capture once it runs
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _publish(self, image: np.ndarray) -> None:
        with self._cond:
            self._latest = Frame(self.frames_read, time.monotonic() - self._t0, image)
            self.frames_read += 1
            self._cond.notify_all()

    def _reopen(self) -> bool:
        """After a failed read: reopen with backoff; False when the source has really gone."""
        self._cap.release()
        for attempt, delay in enumerate(RECONNECT_DELAYS, 1):
            if self._stop.wait(delay):
                return False
            cap = open_capture(self.spec)
            if cap is not None:
                self._cap = cap
                self.reconnects += 1
                log.warning("%s: read failed, reopened (try %d of %d)", self.name, attempt, len(RECONNECT_DELAYS))
                return True
        log.warning("%s: read failed and %d reopen tries failed; stopping", self.name, len(RECONNECT_DELAYS))
        return False

    def __iter__(self):
        last = -1
        try:
            while True:
                with self._cond:
                    while not self._ended and (self._latest is None or self._latest.index == last):
                        self._cond.wait(WAIT_POLL)
                    if self._latest is None or self._latest.index == last:  # ended, nothing new
                        return
                    frame = self._latest
                last = frame.index
                self.frames_yielded += 1
                yield frame
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        # A read blocked on a silent stream returns within READ_TIMEOUT_MS; the thread is a daemon past that.
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(READ_TIMEOUT_MS / 1000 + 1)
