"""What every source yields and every sink takes: `Frame`; what a source is (`SourceSpec`, `Source`). No OpenCV."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import DigitedgeError
from ..files import shown

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
