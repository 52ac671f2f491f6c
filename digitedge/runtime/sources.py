"""The source layer: what the user named -> frames, for every verb. A new kind of input goes here, and only here.

    with open_source("0") as src:             # live: one source, opened now (a failure raises SourceError)
        for frame in src: ...                 # camera 0; "clip.mp4"; "rtsp://cam/stream"; "photos/"; "scans/*.png"
    for frame in Inputs(["a.png", "scans/", "clip.mp4"], vid_stride=5): ...   # classify: many, errors as frames

Each `Frame` is (name, index, time, image or error) plus its kind: a still image, a frame of a video file, or a
frame of a live camera or stream. Files, folders and globs are expanded by `inputs.expand` (no folder links
followed, each file once); images are read by `imageio.read_image` and videos opened by `open_capture`, the one
place OpenCV is handed a capture. A video file yields every frame (or every Nth) in order. A camera or stream is
read by a grabber thread that keeps only the newest frame, so a slow consumer always gets the present and the
frames it missed are counted as dropped; a camera or stream whose read fails is reopened a few times with a short
backoff, then the iteration ends. Every capture is released in `finally`. OpenCV + numpy only.
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

from ..errors import DigitedgeError, InputError
from ..files import file_kind, read_bytes, shown
from .imageio import read_image
from .inputs import GLOB_CHARS, IMAGE_EXTS, VIDEO_EXTS, OpenedPath, expand

log = logging.getLogger(__name__)

ACCEPTED = ("a camera index (0, 1, ...), a video file (clip.mp4), a stream URL (rtsp://host/stream, "
            "http://host/video.mjpg) or images (photo.jpg, a folder, 'scans/*.png')")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
OPEN_TIMEOUT_MS = 5000  # a URL that has not answered by then is reported as down (ffmpeg's default is 30 s)
READ_TIMEOUT_MS = 5000  # a stream silent this long counts as dropped and is reopened
RECONNECT_DELAYS = (0.25, 0.5, 1.0)  # s before each reopen of a dropped camera/stream; then it has ended
MAX_FPS = 240.0
MAX_CAMERA_INDEX = 99  # OpenCV reads index + 100 * k as "camera index with backend k"; ints past C's range crash it
MAX_VID_STRIDE = 10_000
WAIT_POLL = 0.1  # s: the consumer wakes this often, so Ctrl-C is handled promptly while a stream is silent
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

STILL, VIDEO, LIVE = "image", "video", "live"  # Frame.kind


class SourceError(DigitedgeError):
    """A source that is not one of the accepted forms, or that cannot be opened; str() is one line."""


@dataclass
class Frame:
    name: str  # where it came from, printable: the file, 'camera 0' or the URL with its password hidden
    index: int = 0  # position in its source from 0 (a live source's dropped frames count too); 0 for a still
    time: float = 0.0  # s: index / fps in a video file, since opening for a live source, 0 for a still
    image: np.ndarray | None = None  # as read: BGR/BGRA/gray, 8 or 16 bit; None when `error` says why
    error: str | None = None
    kind: str = STILL  # STILL, VIDEO (a file: every frame, its own clock) or LIVE (camera/stream: the wall clock)
    path: str | None = None  # the file as the OS names it (not UTF-8 names kept as they are), for naming outputs
    fps: float | None = None  # the rate of a video file (after --vid-stride); None for stills and live sources

    @property
    def moving(self) -> bool:
        """A frame of a video or stream: readings are steadied across such frames."""
        return self.kind != STILL


@dataclass(frozen=True)
class SourceSpec:
    kind: str  # "camera", "stream", "video" or "images"
    target: int | str  # camera index, URL, video path, or the image path / folder / glob

    @property
    def is_live(self) -> bool:
        """Cameras and streams run on their own clock: frames are dropped rather than queued."""
        return self.kind in ("camera", "stream")

    @property
    def name(self) -> str:
        """For messages: 'camera 0', the path, or the URL with any password hidden."""
        if self.kind == "camera":
            return f"camera {shown(str(self.target))}"
        return redact(shown(str(self.target)))


def redact(url: str) -> str:
    """rtsp://user:secret@cam/stream -> rtsp://***@cam/stream: error lines end up in logs."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", url)


def is_video_name(path: str | os.PathLike) -> bool:
    """Videos are told from images by the name's extension (a GIF is read as an image: its first frame)."""
    return Path(path).suffix.lower() in VIDEO_EXTS


def live_spec(source: str | int) -> SourceSpec | None:
    """A camera index or a stream URL (checked: SourceError when malformed), or None for anything else."""
    if isinstance(source, int) and not isinstance(source, bool):
        return SourceSpec("camera", camera_index(source))
    text = str(source).strip()
    if text.isdigit():  # as in Ultralytics and OpenCV's samples: digits are a camera index, even if a file is named so
        return SourceSpec("camera", camera_index(int(text)))
    scheme = SCHEME.match(text)
    if not scheme:
        return None
    if scheme.group(1).lower() not in STREAM_SCHEMES:
        raise SourceError(f"{redact(shown(text))}: unsupported URL scheme {scheme.group(1)!r}; use {', '.join(s + '://' for s in STREAM_SCHEMES[:6])}...")
    if not text.isprintable() or shown(text) != text:
        raise SourceError(f"{redact(shown(text))}: a URL must be printable UTF-8 text")
    return SourceSpec("stream", text)


def parse_source(source: str | int) -> SourceSpec:
    """Classify one --source without opening it; raises SourceError listing the accepted forms."""
    spec = live_spec(source)
    if spec:
        return spec
    text = str(source).strip()
    if GLOB_CHARS & set(text) and not os.path.lexists(text):
        return SourceSpec("images", text)
    path = Path(text).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is None:
        if is_video_name(path) or Path(text).suffix.lower() in IMAGE_EXTS or os.sep in text:
            raise SourceError(f"{shown(text)}: no such file; check the path, or pass {ACCEPTED}")
        raise SourceError(f"{shown(text)!r} is not a source; pass {ACCEPTED}")
    if stat.S_ISDIR(mode):
        return SourceSpec("images", str(path))
    if stat.S_ISREG(mode):
        return SourceSpec("images" if path.suffix.lower() in IMAGE_EXTS else "video", str(path))
    if stat.S_ISCHR(mode) and os.path.realpath(path).startswith("/dev/video"):  # a camera by its device name
        return SourceSpec("camera", str(path))
    raise SourceError(f"{shown(text)}: not a regular file ({file_kind(mode)}); pass {ACCEPTED}")


def camera_index(index: int) -> int:
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"camera index {index}: use 0 to {MAX_CAMERA_INDEX} (0 is the first camera)")
    return index


def open_capture(spec: SourceSpec) -> cv2.VideoCapture | None:
    """An opened cv2.VideoCapture for a camera, stream or video file, or None."""
    if spec.kind == "stream" and cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        # ffmpeg takes timeouts, so a dead host fails in seconds. No plain retry after it: that would be ffmpeg
        # again with its 30 s default. Builds without ffmpeg (GStreamer only) take the generic path below.
        cap = cv2.VideoCapture(spec.target, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS])
    elif spec.kind == "video":
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


def reported_fps(cap: cv2.VideoCapture) -> float | None:
    """The rate the container or device states, when it is believable (MJPEG over HTTP often says 0 or 90000)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if 1.0 <= fps <= MAX_FPS else None


def check_stride(vid_stride) -> int:
    if isinstance(vid_stride, bool) or not isinstance(vid_stride, (int, np.integer)) or not 1 <= vid_stride <= MAX_VID_STRIDE:
        raise ValueError(f"vid_stride must be a whole number from 1 to {MAX_VID_STRIDE}, got {vid_stride!r}")
    return int(vid_stride)


def open_video(spec: SourceSpec, vid_stride: int = 1) -> VideoFile | LiveStream:
    """Open a camera, stream or video file; raises SourceError with one line when it cannot be read."""
    cap = open_capture(spec)
    if cap is None:
        raise open_failure(spec)
    ok, first = cap.read()  # proves there are frames: a camera may open and yet give none (busy, no permission)
    if not ok or first is None:
        cap.release()
        raise open_failure(spec)
    src = LiveStream(spec, cap, first) if spec.is_live else VideoFile(spec, cap, first, vid_stride)
    log.debug("%s: %s, %dx%d, stated rate %s fps, backend %s", src.name, spec.kind, *src.size, src.reported_fps,
              cap.getBackendName())
    return src


def open_source(source: str | int, vid_stride: int = 1) -> Source:
    """`live --source`: one source of any kind, opened now; raises SourceError with one line when it cannot be."""
    spec = parse_source(source)
    if spec.kind != "images":
        return open_video(spec, check_stride(vid_stride))
    paths = expand([spec.target])
    if len(paths) == 1 and paths[0][1] is not None:
        raise SourceError(f"{spec.name}: is a folder with no images in it; pass {ACCEPTED}" if os.path.isdir(spec.target)
                          else f"{spec.name}: {paths[0][1]}")
    return Stills(spec.name, paths)


class Source:
    """What the loop and the summary read from any source: its name, counters, and a context manager."""
    name = ""
    size: tuple[int, int] | None = None  # (w, h) of the first frame, as decoded (one video or stream)
    is_live = False
    frames_read = 0  # frames taken from it (a live source's include those dropped to keep up)
    dropped = 0  # ... of which the loop never saw (a live source's, to keep up)
    reconnects = 0

    def __iter__(self):
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        pass


class Stills(Source):
    """Image files, in the order given: each read when its turn comes; a bad one is a frame holding its error."""

    def __init__(self, name: str, paths: list[tuple[str, str | None]]):
        self.name, self.paths = name, paths

    def __iter__(self):
        for path, error in self.paths:
            self.frames_read += 1
            yield still(path, error)


def still(path: str, error: str | None = None) -> Frame:
    """One image file as a frame (read now, unless `error` already says why it cannot be)."""
    image = None
    if error is None:
        try:
            image = read_image(path)
        except InputError as e:
            error = str(e)
    return Frame(shown(path), image=image, error=error, path=path)


class VideoSource(Source):
    """Common part of video files and live sources: name, size, rate, counters."""

    def __init__(self, spec: SourceSpec, cap: cv2.VideoCapture, first: np.ndarray):
        self.spec, self.name, self.is_live = spec, spec.name, spec.is_live
        self.reported_fps = reported_fps(cap)
        self.size = (first.shape[1], first.shape[0])  # (w, h) of the frames as decoded, not as declared
        self.frames_read = 1
        self.frames_yielded = 0

    @property
    def dropped(self) -> int:
        return self.frames_read - self.frames_yielded


class VideoFile(VideoSource):
    """Every frame of a video file (or every `vid_stride`th), in order, read on demand."""

    FALLBACK_FPS = 25.0  # a file that states no rate: the common PAL rate

    def __init__(self, spec, cap, first, vid_stride: int = 1):
        super().__init__(spec, cap, first)
        self._cap, self._next, self.stride = cap, first, vid_stride
        self.fps = self.reported_fps or self.FALLBACK_FPS

    def __iter__(self):
        index = 0
        try:
            while self._next is not None:
                yield Frame(self.name, index, index / self.fps, self._next, kind=VIDEO, path=str(self.spec.target),
                            fps=self.fps / self.stride)
                self.frames_yielded += 1
                self._next = None
                for _ in range(self.stride - 1):  # grab() skips a frame without decoding it (nor counting it as read)
                    if not self._cap.grab():
                        return
                ok, image = self._cap.read()  # False at the end of the file: never use the image then
                if ok and image is not None:
                    self._next, index = image, index + self.stride
                    self.frames_read += 1
        finally:
            self.close()

    @property
    def dropped(self) -> int:
        return 0  # frames skipped by --vid-stride were asked to be skipped

    def close(self) -> None:
        self._next = None
        self._cap.release()


class LiveStream(VideoSource):
    """A camera or stream: a grabber thread reads continuously and keeps only the newest frame."""

    def __init__(self, spec, cap, first):
        super().__init__(spec, cap, first)
        self.fps = None  # a live source's real rate is measured from the frames' arrival times (see sinks)
        self._cap, self._t0 = cap, time.monotonic()
        self._cond, self._stop = threading.Condition(), threading.Event()
        self._latest: Frame | None = self._frame(0, 0.0, first)
        self._ended, self._first_timed = False, None
        self._thread = threading.Thread(target=self._grab, name=f"grab {self.name}", daemon=True)
        self._thread.start()

    def _frame(self, index: int, t: float, image: np.ndarray) -> Frame:
        return Frame(self.name, index, t, image, kind=LIVE, path=f"camera{self.spec.target}" if self.spec.kind == "camera"
                     else "stream")

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
            self._latest = self._frame(self.frames_read, time.monotonic() - self._t0, image)
            if self.frames_read == 1:
                self._first_timed = self._latest.time
            self.frames_read += 1
            self._cond.notify_all()

    @property
    def measured_fps(self) -> float | None:
        """Frames per second as they arrived, from the 2nd frame on (the 1st was read while opening), or None."""
        with self._cond:
            span = self._latest.time - self._first_timed if self._first_timed is not None else 0.0
            return (self._latest.index - 1) / span if span > 0 else None

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


class Inputs(Source):
    """`classify`'s arguments, in order: files, folders and globs (each file once), video files (every
    `vid_stride`th frame), cameras and stream URLs. Opened one after the other when their turn comes; whatever
    cannot be read is a frame holding its one-line error, and the rest are still read."""

    def __init__(self, args: list[str], vid_stride: int = 1, skip: list = ()):
        self.args, self.stride, self.skip = list(args), check_stride(vid_stride), list(skip)
        self.name = shown(self.args[0]) if len(self.args) == 1 else f"{len(self.args)} inputs"
        self._open: VideoSource | None = None
        self._done = {"frames_read": 0, "dropped": 0, "reconnects": 0}  # counters of the sources already closed

    def _count(self, key: str) -> int:
        return self._done[key] + (getattr(self._open, key) if self._open else 0)

    frames_read = property(lambda self: self._count("frames_read"))
    dropped = property(lambda self: self._count("dropped"))
    reconnects = property(lambda self: self._count("reconnects"))

    def __iter__(self):
        seen: set = set()
        for arg in self.args:
            try:
                spec = live_spec(arg)
            except SourceError as e:
                yield Frame(shown(arg), error=str(e).removeprefix(f"{shown(arg)}: "))
                continue
            if spec:
                yield from self._video(spec, arg)
                continue
            for path, error in expand([arg], skip=self.skip, seen=seen):
                if error is None and is_video_name(path):
                    yield from self._video(SourceSpec("video", path), path)
                else:
                    self._done["frames_read"] += 1
                    yield still(path, error)

    def _video(self, spec: SourceSpec, arg: str):
        try:
            if spec.kind == "video":
                read_bytes(spec.target, 0, head=True)  # a FIFO or device would block OpenCV: refused unopened
            self._open = open_video(spec, self.stride)
        except (InputError, SourceError) as e:
            self._done["frames_read"] += 1
            yield Frame(shown(arg), error=str(e).removeprefix(f"{spec.name}: "), path=arg)
            return
        src = self._open
        try:
            yield from src
        finally:
            src.close()
            for key in self._done:
                self._done[key] += getattr(src, key)
            self._open = None

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
