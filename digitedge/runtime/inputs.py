"""What the user named on the command line -> the files to read: folders, globs and listings expanded once.

A listing is a .txt file (a path per line; blank lines and # comments skipped) or a .csv file (its `path` column,
else its first) naming images, folders or globs, relative to the listing's own folder, as in Ultralytics.

Folders are walked without following links to folders (a `dirloop -> .` link would never end), a file
reached twice (through links, or named twice) is read once, and every name OpenCV is handed is one it can
take (a name that is not UTF-8 crashes it: such a file is opened here and passed as /proc/self/fd/N).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
from pathlib import Path

from ..errors import InputError
from ..files import read_bytes, shown

GLOB_CHARS = set("*?[")
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif"}
VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mjpeg",
              ".mjpg", ".3gp"}  # a .gif is read as an image (its first frame)
WALKED_EXTS = IMAGE_EXTS | VIDEO_EXTS
LIST_EXTS = {".txt", ".csv"}  # named on the command line, never found by walking a folder
MAX_LIST_BYTES = 256 << 20  # ~2 million paths
CSV_PATH_COLUMNS = ("path", "file", "filename")


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


def listed(path: str) -> list[str]:
    """The entries of a .txt or .csv listing, relative to its folder; InputError when it cannot be read. Names that
    are not UTF-8 are kept as the OS spells them (surrogate escapes, as os.fsdecode does)."""
    text = os.fsdecode(read_bytes(path, MAX_LIST_BYTES))
    if Path(path).suffix.lower() == ".csv":
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header = [c.strip().lower() for c in rows[0]] if rows else []
        column = next((header.index(c) for c in CSV_PATH_COLUMNS if c in header), None)
        if column is not None:
            rows = rows[1:]
        entries = [r[column or 0].strip() for r in rows if len(r) > (column or 0)]
    else:
        entries = [line.strip() for line in text.splitlines() if not line.strip().startswith("#")]
    base = os.path.dirname(path)
    return [e if os.path.isabs(e) else os.path.join(base, e) for e in entries if e]


def expand(paths: list[str], skip: list[str] = (), seen: set | None = None,
           listings: bool = True) -> list[tuple[str, str | None]]:
    """Each input as (path, error or None): files as given, folders recursively (image and video extensions only),
    globs, and the entries of .txt/.csv listings (when `listings`; a listing inside a listing is a plain file);
    sorted within each argument, each file once. `skip`: folders not to walk into (the --save folder);
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
        elif listings and Path(p).suffix.lower() in LIST_EXTS and os.path.lexists(p):
            try:
                entries = listed(p)
            except InputError as e:
                out.append((p, f"cannot read the listing ({e})"))
                continue
            out += expand(entries, skip, seen, listings=False) if entries else [(p, "the listing names no files")]
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
