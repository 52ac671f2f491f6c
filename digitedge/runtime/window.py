"""The window sink: shows each annotated frame, in real time for files, and handles the keys.

Keys (also in the title bar and in `digitedge live --help`): q or Esc quits, space pauses and resumes, s saves the
frame shown as a PNG snapshot. A video file plays at its own rate (frame i is shown i / fps seconds after the
first), a still image stays STILL_SECONDS, a camera or stream is shown as it comes. OpenCV draws the window
(`CvDisplay`); the pacing and keys are plain Python, so tests drive them with a display of their own.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ..errors import OutputError
from ..files import shown
from ..gui import no_window_reason
from .draw import mark_paused
from .frame import LIVE, STILL, Frame
from .outputs import save_image
from .sinks import STILL_SECONDS

WINDOW_NAME = "digitedge live"
KEYS_HELP = "q/Esc: quit, space: pause, s: snapshot"
KEY_QUIT, KEY_PAUSE, KEY_SNAPSHOT = {ord("q"), ord("Q"), 27}, {ord(" ")}, {ord("s"), ord("S")}
KEY_POLL_MS = 50  # while paused or waiting for a still's time to pass, keys are read this often
LATE_RESYNC_S = 0.25  # a frame this late (slow processing) restarts the clock there rather than rushing to catch up


class CvDisplay:
    """An OpenCV HighGUI window."""

    def open(self) -> str | None:
        """None when the window is open, else the one-line reason why there is none."""
        reason = no_window_reason()
        if reason:
            return reason
        try:
            cv2.namedWindow(WINDOW_NAME, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)  # Qt builds: no toolbar
            cv2.setWindowTitle(WINDOW_NAME, f"{WINDOW_NAME}  ({KEYS_HELP})")
        except cv2.error:
            return "this OpenCV has no GUI, so no window (python -m digitedge.gui says how to get one)"
        return None

    def show(self, image: np.ndarray) -> None:
        cv2.imshow(WINDOW_NAME, image)

    def key(self, ms: int) -> int:
        return cv2.waitKey(max(1, ms)) & 0xFF

    def visible(self) -> bool:
        """False once the user closed the window with its title-bar button."""
        try:
            return cv2.getWindowProperty(WINDOW_NAME, cv2.WND_PROP_VISIBLE) >= 1
        except cv2.error:
            return False

    def close(self) -> None:
        cv2.destroyWindow(WINDOW_NAME)
        cv2.waitKey(1)  # lets the GUI thread actually take the window down


class Pacer:
    """When each frame is due on screen (wall clock, seconds), so files play in real time."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.anchor: tuple[str, float, float] | None = None  # (source, wall time, media time) of the clock's start
        self.until: float | None = None  # when the frame on screen has had its time

    def due(self, frame: Frame) -> float:
        now = self.clock()
        if frame.kind == LIVE:
            self.anchor = self.until = None
            return now
        if frame.kind == STILL:
            due = max(now, self.until or now)
            self.anchor, self.until = None, due + STILL_SECONDS
            return due
        if self.anchor is None or self.anchor[0] != frame.name:
            self.anchor = (frame.name, max(now, self.until or now), frame.time)
        due = self.anchor[1] + frame.time - self.anchor[2]
        if now - due > LATE_RESYNC_S:
            self.anchor, due = (frame.name, now, frame.time), now
        self.until = due + 1 / (frame.fps or 1 / STILL_SECONDS)
        return due

    def restart(self) -> None:
        """After a pause: the next frame is due at once and the clock goes on from there."""
        self.anchor = self.until = None


class Window:
    """The window as a sink: `write` shows a result when it is due and returns False when the user asked to quit.
    When no window can be shown, `open` is False and the reason is in `note`."""

    wants_picture = True
    failed, late_errors = 0, []

    def __init__(self, snapshot_dir: Path, display=None, clock=time.monotonic, err=None):
        self.display, self.snapshot_dir, self.err = display or CvDisplay(), snapshot_dir, err or sys.stderr
        self.pacer, self.clock = Pacer(clock), clock
        self.note = self.display.open()
        self.open = self.note is None
        self.quit = False
        self.shown: np.ndarray | None = None  # the picture on screen (snapshots while waiting take it)

    def write(self, result) -> bool:
        if not self.open:
            return True
        if not self._wait_until(self.pacer.due(result.frame), result.picture):
            return False
        self.display.show(result.picture)
        self.shown = result.picture
        return self._handle(self.display.key(1), result.picture) and self.display.visible()

    def _wait_until(self, due: float, picture: np.ndarray) -> bool:
        """Read keys until `due`; False when the user quit meanwhile."""
        while (left := due - self.clock()) > 0:
            if not self._handle(self.display.key(min(KEY_POLL_MS, int(left * 1000) + 1)),
                                self.shown if self.shown is not None else picture):
                return False
            if not self.display.visible():
                return False
        return True

    def _handle(self, key: int, picture: np.ndarray) -> bool:
        if key in KEY_PAUSE:
            key = self._paused(picture)
        if key in KEY_SNAPSHOT:
            self._snapshot(picture)
        if key in KEY_QUIT:
            self.quit = True
        return not self.quit

    def _paused(self, picture: np.ndarray) -> int:
        """Hold the picture until space again (returns no key) or q/Esc (returns it); s works while paused."""
        self.display.show(mark_paused(picture))  # the snapshot is still taken of the unmarked frame
        try:
            while self.display.visible():
                key = self.display.key(KEY_POLL_MS)
                if key in KEY_SNAPSHOT:
                    self._snapshot(picture)
                elif key in KEY_PAUSE:
                    self.display.show(picture)
                    return -1
                elif key in KEY_QUIT:
                    return key
            return next(iter(KEY_QUIT))
        finally:
            self.pacer.restart()

    def _snapshot(self, picture: np.ndarray) -> None:
        try:
            path = save_image(self.snapshot_dir / "live_snapshot.png", picture)
            print(f"live: snapshot saved to {shown(path)}", file=self.err)
        except OutputError as e:  # the run goes on: a snapshot is a side show
            print(f"live: error: {e}", file=self.err)

    def error(self, frame: Frame) -> None:
        pass

    def close(self) -> list[str]:
        """Let the last frame have its time on screen (a still its STILL_SECONDS), then take the window down."""
        if self.open:
            if not self.quit and self.pacer.until is not None and self.shown is not None:
                self._wait_until(self.pacer.until, self.shown)
            self.display.close()
            self.open = False
        return []

