"""OpenCV captures: video files, cameras and streams as sources of frames. The one place a capture is opened.

A video file yields every frame (or every Nth) in order. A camera or stream is read by a grabber thread that keeps
only the newest frame, so a slow consumer always gets the present (one frame of latency) and the frames it missed
are counted as dropped; one whose read fails is reopened a few times with a short backoff, then the iteration
ends cleanly. Every capture is released in `finally`.
"""

from __future__ import annotations

import logging
import threading
import time

import cv2
import numpy as np

from .frame import LIVE, VIDEO, Frame, Source, SourceError, SourceSpec
from .inputs import OpenedPath

log = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 5000  # a URL that has not answered by then is reported as down (ffmpeg's default is 30 s)
READ_TIMEOUT_MS = 5000  # a stream silent this long counts as dropped and is reopened
RECONNECT_DELAYS = (0.25, 0.5, 1.0)  # s before each reopen of a dropped camera/stream; then it has ended
MAX_FPS = 240.0
WAIT_POLL = 0.1  # s: the consumer wakes this often, so Ctrl-C is handled promptly while a stream is silent


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


def open_video(spec: SourceSpec, vid_stride: int = 1) -> VideoFile | LiveStream:
    """Open a camera, stream or video file (every `vid_stride`th frame of a file); raises SourceError with one line
    when it cannot be read."""
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
