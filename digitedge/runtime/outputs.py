"""Annotated images and videos to disk, through digitedge.files' rules: a temp file in the target folder, then a
name nobody holds yet (`name_1`, `name_2`, ... rather than overwriting), never through a planted link; a write
that fails is an OutputError with one line. OpenCV encodes; Python writes (OpenCV's own file writing crashes on
names that are not UTF-8)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..files import new_temp, output_dir, publish, shown, write_new
from .inputs import OpenedPath

SAVE_FOURCC = "mp4v"  # in every OpenCV build, unlike H.264
SAVE_EXTS = {".mp4", ".m4v", ".mov", ".avi", ".mkv"}


def save_image(wanted: str | os.PathLike, image: np.ndarray) -> Path:
    """Encode by the name's extension and write as a new file; returns the name it got."""
    wanted = Path(wanted)
    ok, data = cv2.imencode(wanted.suffix or ".png", image)
    if not ok:
        raise OutputError(f"{shown(wanted)}: OpenCV could not encode the image")
    return write_new(wanted, data.tobytes())


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class VideoSaver:
    """Annotated video at the source's size and rate, written to a temp file in the target folder and moved to
    its name on close (a free one: an earlier video is never replaced), after checking that the file plays to
    the last frame (a full disk otherwise leaves a video without its index). A None path saves nothing."""

    def __init__(self, path: str | os.PathLike | None, fps: float, size: tuple[int, int]):
        self.path, self.size, self.frames, self.writer, self.tmp = (Path(path) if path else None), size, 0, None, None
        if self.path is None:
            return
        check_video_name(self.path)
        folder = output_dir(self.path.parent, "--save")
        self.tmp = new_temp(folder, self.path.suffix.lower())  # ASCII, and the suffix picks the container
        target = OpenedPath(self.tmp, folder=True)
        try:
            self.writer = cv2.VideoWriter(target.path, cv2.VideoWriter_fourcc(*SAVE_FOURCC), fps, size)
        finally:
            target.close()
        if not self.writer.isOpened():
            self.discard()
            raise OutputError(f"--save {shown(self.path)}: OpenCV cannot open a video writer there")

    def write(self, image: np.ndarray, repeat: int = 1) -> None:
        """`repeat` > 1 fills a live source's dropped frames with this one, so the video keeps real time."""
        if self.writer is None:
            return
        if (image.shape[1], image.shape[0]) != self.size:  # a stream that changed resolution mid-way
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        for _ in range(max(1, repeat)):
            self.writer.write(image)
            self.frames += 1

    def close(self) -> Path | None:
        """Finish the file; the saved path, None when nothing was saved; OutputError when it could not be."""
        if self.writer is None:
            return None
        self.writer.release()
        self.writer = None
        if not self.frames:
            self.discard()
            return None
        if video_frames(self.tmp) != self.frames:
            self.discard()
            raise OutputError(f"--save {shown(self.path)}: the video could not be written completely "
                              "(disk full or write error); nothing saved")
        try:
            return publish(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise OutputError(f"--save {shown(self.path)}: not written ({e.strerror or e})") from None

    def discard(self) -> None:
        self.writer = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def check_video_name(path: Path) -> None:
    if path.suffix.lower() not in SAVE_EXTS:
        raise OutputError(f"--save {shown(path)}: name a video file ending in .mp4 "
                          f"(or {', '.join(sorted(SAVE_EXTS - {'.mp4'}))})")


def video_frames(path: Path) -> int:
    """Frames a video file says it holds (0 when it does not open: no index written)."""
    source = OpenedPath(path)
    cap = cv2.VideoCapture(source.path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()
        source.close()
