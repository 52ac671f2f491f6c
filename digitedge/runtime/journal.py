"""Where `classify --out` keeps its records, and what a later `--resume` reads back.

- `Journal`: one JSON Lines file (the local engine). Records are appended as they arrive, each batch by one
  write on a descriptor opened with O_APPEND (no Python buffer: a record written is in the file even if the
  process is killed a moment later), fsync'd every second and at the end. A kill -9 can at worst cut the batch
  being written (the kernel stops a write between pages), and a full disk leaves a short write: the file is cut
  back to its last whole record on the spot, and `--resume` cuts a killed run's tail the same way before
  appending. The file is never opened through a symlink (O_NOFOLLOW) and an existing one is never written
  without `--resume`.
- `RecordFolder`: a folder of JSON Lines files (the Ray engine) or Parquet parts (NAME.parquet, parquet.py). Each
  file is written whole (a temp file in the folder, then a free name: files.write_new), so a killed run leaves
  only whole files; the local engine gathers its records into parts first (`Parts`).

Resume key: the record's path, size and mtime_ns (from stat, not the content: a million files are not read
twice). An input whose key is in the output is skipped; a file changed since (size or mtime) is read again and
its new record follows the old one.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

from ..errors import OutputError
from ..files import TEMP_NAME, output_dir, shown, sweep_temps, write_new

FSYNC_EVERY_S = 1.0
RECORD_SUFFIX, PARQUET_SUFFIX = ".jsonl", ".parquet"
PART_ROWS, PART_SECONDS = 1000, 10.0  # a Parquet part: a thousand records, or what ten seconds brought
READ_BLOCK = 1 << 20


def key_of(record: dict) -> tuple | None:
    """The resume key of an --out record: (path, size, mtime_ns); None for a line that is not one of ours."""
    try:
        return record["path"], record["size"], record["mtime_ns"]
    except (KeyError, TypeError):
        return None


def keys_in(lines) -> set:
    keys = set()
    for line in lines:
        try:
            key = key_of(json.loads(line))
        except ValueError:
            continue
        if key is not None:
            keys.add(key)
    return keys


def encode(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")


class Journal:
    """--out results.jsonl. `done`: the keys of the records already there (with --resume)."""

    def __init__(self, path: str | os.PathLike, resume: bool = False):
        self.path = Path(path)
        if self.path.suffix.lower() != RECORD_SUFFIX:
            raise OutputError(f"--out {shown(self.path)}: name a JSON Lines file ending in {RECORD_SUFFIX}, "
                              f"a {PARQUET_SUFFIX} (a folder of Parquet parts) or, with --engine ray, a folder")
        output_dir(self.path.parent, "--out")
        self.done: set = set()
        self.fd = self._open(resume)
        self.synced = time.monotonic()

    def _open(self, resume: bool) -> int:
        nofollow = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:  # O_EXCL: an existing file, folder or link (even a dangling one) is never taken over
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL | nofollow, 0o666)
        except FileExistsError:
            if not resume:
                raise OutputError(f"--out {shown(self.path)}: exists; add --resume to continue it, or name a new "
                                  "file") from None
        except OSError as e:
            raise OutputError(f"--out {shown(self.path)}: cannot create it ({e.strerror or e})") from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | nofollow | os.O_NONBLOCK)
        except OSError as e:
            why = "a symbolic link: not written through" if e.errno == errno.ELOOP else e.strerror or str(e)
            raise OutputError(f"--out {shown(self.path)}: {why}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise OutputError(f"--out {shown(self.path)}: not a regular file")
        self.done = self._keys_of_whole_lines(fd)
        return fd

    @staticmethod
    def _keys_of_whole_lines(fd: int) -> set:
        """The keys of the file's complete lines, read block by block; a cut last line (a killed run's) is removed
        from the file."""
        keys, offset, rest = set(), 0, b""
        while block := os.pread(fd, READ_BLOCK, offset):
            offset += len(block)
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            keys |= keys_in(lines)
        if rest:
            os.ftruncate(fd, offset - len(rest))
        return keys

    def write(self, lines: list[str]) -> None:
        """Append records (one write); OutputError when they cannot all be written, the file left whole."""
        if not lines:
            return
        data = encode(lines)
        start = os.fstat(self.fd).st_size
        try:
            written = os.write(self.fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:
            try:
                os.ftruncate(self.fd, start)  # no half record is left behind
            except OSError:
                pass
            raise OutputError(f"--out {shown(self.path)}: not written ({e.strerror or e})") from None
        if time.monotonic() - self.synced > FSYNC_EVERY_S:
            self.sync()

    def sync(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        self.synced = time.monotonic()

    def close(self) -> None:
        if self.fd is not None:
            self.sync()
            os.close(self.fd)
            self.fd = None


class RecordFolder:
    """--out DIR: record files written whole (a temp file, then a free name): .jsonl files (--engine ray), or
    Parquet parts (NAME.parquet, either engine). `done`: the keys already there (--resume)."""

    def __init__(self, folder: str | os.PathLike, resume: bool = False, parquet: bool = False):
        self.folder, self.parquet = Path(folder), parquet
        self.suffix = PARQUET_SUFFIX if parquet else RECORD_SUFFIX
        if self.folder.suffix.lower() == RECORD_SUFFIX:
            raise OutputError(f"--out {shown(self.folder)}: --engine ray writes a folder of {RECORD_SUFFIX} files; "
                              "name a folder")
        if parquet:
            from .parquet import pyarrow

            pyarrow()  # not installed: one line before anything is read
        output_dir(self.folder, "--out")
        sweep_temps(self.folder)  # a killed run's unfinished files
        files = sorted(p for p in self.folder.iterdir() if p.suffix == self.suffix and not TEMP_NAME.match(p.name))
        if files and not resume:
            raise OutputError(f"--out {shown(self.folder)}: holds records already; add --resume to continue, or name "
                              "a new folder")
        self.done = set()
        for f in files:
            self.done |= keys_in_file(f, parquet)

    def write(self, lines: list[str], stem: str) -> Path | None:
        return write_new(self.folder / f"{stem}{self.suffix}", file_bytes(lines, self.parquet)) if lines else None

    def close(self) -> None:
        pass  # every file is finished when written


class Parts:
    """The local engine's --out NAME.parquet: records gathered into parts of PART_ROWS (or what PART_SECONDS
    brought), each written whole into the RecordFolder; a kill loses only the part being gathered, which
    --resume reads again."""

    def __init__(self, folder: RecordFolder, stem: str):
        self.out, self.stem, self.done = folder, stem, folder.done
        self.lines: list[str] = []
        self.parts, self.since = 0, time.monotonic()

    def write(self, lines: list[str]) -> None:
        self.lines += lines
        if len(self.lines) >= PART_ROWS or time.monotonic() - self.since > PART_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.out.write(self.lines, f"{self.stem}-{self.parts:05d}")
            self.parts += 1
        self.lines, self.since = [], time.monotonic()

    def close(self) -> None:
        self.flush()


def run_stem() -> str:
    """The name every file of one run starts with: when, and which process (never the name of an earlier run's)."""
    return f"records-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def file_bytes(lines: list[str], parquet: bool) -> bytes:
    if parquet:
        from .parquet import parquet_bytes

        return parquet_bytes(lines)
    return encode(lines)


def keys_in_file(path: Path, parquet: bool) -> set:
    if parquet:
        from .parquet import keys_in_part

        return keys_in_part(path)
    with open(path, "rb") as f:
        return keys_in(f)
