"""What the user named on the command line -> the files to read: folders and globs expanded once.

Folders are walked without following links to folders (a `dirloop -> .` link would never end), a file
reached twice (through links, or named twice) is read once, and every name OpenCV is handed is one it can
take (a name that is not UTF-8 crashes it: such a file is opened here and passed as /proc/self/fd/N).
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ..errors import InputError
from ..files import shown

GLOB_CHARS = set("*?[")
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif"}
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mjpeg",
              ".mjpg", ".3gp"}  # a .gif is read as an image (its first frame)
WALKED_EXTS = IMAGE_EXTS | VIDEO_EXTS


def file_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk(top: str, skip: set) -> tuple[list[str], list[tuple[str, str]]]:
    """(every entry below `top` with an image or video extension, (folder, error) for folders that could not be listed).
    Links to folders are not followed; links to files are. Folders in `skip` (device, inode) are not entered."""
    found, unreadable, stack = [], [], [top]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            unreadable.append((folder, f"cannot list the folder ({e.strerror})"))
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if file_id(entry.path) not in skip:
                    stack.append(entry.path)
            elif Path(entry.name).suffix.lower() in WALKED_EXTS and not entry.is_dir():
                found.append(entry.path)
    return found, unreadable


def glob_files(pattern: str) -> list[str]:
    """glob.glob(pattern, recursive=True) for files, except that `**` does not follow links to folders."""
    parts = list(Path(pattern).parts)
    first = next((i for i, p in enumerate(parts) if GLOB_CHARS & set(p)), len(parts))
    root = os.path.join(*parts[:first]) if first else ""
    out: list[str] = []

    def visible(name, pat):  # as in glob: '*' does not match a leading dot
        return not name.startswith(".") or pat.startswith(".")

    def match(base: str, rest: list[str]) -> None:
        if not rest:
            if base and not os.path.isdir(base):  # a FIFO or device it matches gets its one error line later
                out.append(base)
            return
        head, tail = rest[0], rest[1:]
        if head == "**":
            stack = [base]
            while stack:
                folder = stack.pop()
                match(folder, tail)
                with_entries(folder, lambda e: e.is_dir(follow_symlinks=False) and visible(e.name, "")
                             and stack.append(e.path if folder else e.name))
            return
        if not GLOB_CHARS & set(head):
            path = os.path.join(base, head)
            if os.path.lexists(path):
                match(path, tail)
            return
        with_entries(base, lambda e: fnmatch.fnmatchcase(e.name, head) and visible(e.name, head)
                     and match(e.path if base else e.name, tail))

    match(root, parts[first:])
    return out


def with_entries(folder: str, fn) -> None:
    try:
        entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        fn(e)


def expand(paths: list[str], skip: list[str] = (), seen: set | None = None) -> list[tuple[str, str | None]]:
    """Each input as (path, error or None): files as given, folders recursively (image and video extensions only),
    globs; sorted within each argument, each file once. `skip`: folders not to walk into (the --save folder);
    `seen`: files already read by earlier calls (it is updated)."""
    out: list[tuple[str, str | None]] = []
    seen = set() if seen is None else seen
    skip_ids = {i for i in map(file_id, skip) if i}

    def fresh(found: list[str]) -> list[tuple[str, None]]:
        new = []
        for f in sorted(found):
            key = file_id(f) or f
            if key not in seen:
                seen.add(key)
                new.append((f, None))
        return new

    for p in paths:
        if os.path.isdir(p):
            found, unreadable = walk(p, skip_ids)
            out += fresh(found) or ([] if found else [(p, "folder holds no images or videos")])
            out += unreadable
        elif os.path.lexists(p):
            out += fresh([p])
        elif GLOB_CHARS & set(p):
            found = glob_files(p)
            out += fresh(found) or ([] if found else [(p, "pattern matches no files")])
        else:
            out.append((p, "no such file or folder"))
    return out


class OpenedPath:
    """A file path for OpenCV's video I/O, which crashes on names that are not UTF-8: such a path (or the folder
    of a file to be written) is opened here and handed over as /proc/self/fd/N. Close it when done."""

    def __init__(self, path: str | os.PathLike, folder: bool = False):
        self.fd, text = None, os.fspath(path)
        target = (os.path.dirname(text) or ".") if folder else text
        try:
            target.encode("utf-8")
            self.path = text
            return
        except UnicodeEncodeError:
            pass
        if not os.path.isdir("/proc/self/fd"):
            raise InputError(f"{shown(text)}: OpenCV cannot open a name that is not UTF-8 on this system; rename it")
        self.fd = os.open(target, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
        self.path = f"/proc/self/fd/{self.fd}" + (f"/{os.path.basename(text)}" if folder else "")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
