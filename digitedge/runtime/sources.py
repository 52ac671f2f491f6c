"""The source layer: what the user named -> frames, for every verb. A new kind of input goes here, and only here.

    with open_source("0") as src:             # live: one source, opened now (a failure raises SourceError)
        for frame in src: ...                 # camera 0; "clip.mp4"; "rtsp://cam/stream"; "photos/"; "scans/*.png"
    for frame in Inputs(["a.png", "scans/", "clip.mp4"], vid_stride=5): ...   # classify: many, errors as frames

Each `Frame` (frame.py) is (name, index, time, image or error) plus its kind: a still image, a frame of a video
file, or a frame of a live camera or stream. Files, folders and globs are expanded by `inputs.expand` (no folder
links followed, each file once); images are read by `imageio.read_image`; videos, cameras and streams are opened
by `capture.open_video`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..files import file_kind, read_bytes, shown
from .capture import open_video
from .frame import LIVE, STILL, VIDEO, Frame, Source, SourceError, SourceSpec, redact  # noqa: F401 (the layer's API)
from .imageio import decode, read_image
from .inputs import GLOB_CHARS, IMAGE_EXTS, LIST_EXTS, VIDEO_EXTS, expand

ACCEPTED = ("a camera index (0, 1, ...), a video file (clip.mp4), a stream URL (rtsp://host/stream, "
            "http://host/video.mjpg) or images (photo.jpg, a folder, 'scans/*.png')")
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
MAX_CAMERA_INDEX = 99  # OpenCV reads index + 100 * k as "camera index with backend k"; ints past C's range crash it
MAX_VID_STRIDE = 10_000
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


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
        return SourceSpec("images" if path.suffix.lower() in IMAGE_EXTS | LIST_EXTS else "video", str(path))
    if stat.S_ISCHR(mode) and os.path.realpath(path).startswith("/dev/video"):  # a camera by its device name
        return SourceSpec("camera", str(path))
    raise SourceError(f"{shown(text)}: not a regular file ({file_kind(mode)}); pass {ACCEPTED}")


def camera_index(index: int) -> int:
    if not 0 <= index <= MAX_CAMERA_INDEX:
        raise SourceError(f"camera index {index}: use 0 to {MAX_CAMERA_INDEX} (0 is the first camera)")
    return index


def check_stride(vid_stride) -> int:
    if isinstance(vid_stride, bool) or not isinstance(vid_stride, (int, np.integer)) or not 1 <= vid_stride <= MAX_VID_STRIDE:
        raise ValueError(f"vid_stride must be a whole number from 1 to {MAX_VID_STRIDE}, got {vid_stride!r}")
    return int(vid_stride)


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


class Stills(Source):
    """Image files, in the order given: each read when its turn comes; a bad one is a frame holding its error."""

    def __init__(self, name: str, paths: list[tuple[str, str | None]]):
        self.name, self.paths = name, paths

    def __iter__(self):
        for path, error in self.paths:
            self.frames_read += 1
            yield still(path, error)


def still(path: str, error: str | None = None, data: bytes | None = None) -> Frame:
    """One image file as a frame: read now (or decoded from `data`, its bytes read elsewhere, e.g. by Ray), unless
    `error` already says why it cannot be."""
    image = None
    if error is None:
        try:
            image = read_image(path) if data is None else decode(data)
        except InputError as e:
            error = str(e)
    return Frame(shown(path), image=image, error=error, path=path)


class Inputs(Source):
    """`classify`'s arguments, in order: files, folders and globs (each file once), video files (every
    `vid_stride`th frame), cameras and stream URLs. Opened one after the other when their turn comes; whatever
    cannot be read is a frame holding its one-line error, and the rest are still read."""

    def __init__(self, args: list[str], vid_stride: int = 1, skip: list = ()):
        self.args, self.stride, self.skip = list(args), check_stride(vid_stride), list(skip)
        self.name = shown(self.args[0]) if len(self.args) == 1 else f"{len(self.args)} inputs"
        self._open: Source | None = None  # the video, camera or stream being read
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
