"""The one place that opens input files and writes output files (standard library only: no torch, no numpy).

Inputs: regular files only (a FIFO would block, /dev/zero never ends), read up to a size cap.
Outputs: written to a fresh temp file in the target folder, then moved to a name nobody holds yet (a free
name, `name_1`, `name_2`, ... rather than overwriting), so a crash never leaves half a file under the real
name, nothing a user made is replaced, and no planted symlink is ever written through.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path

from .errors import InputError, OutputError

TEMP_PREFIX = ".digitedge-"  # .digitedge-<pid>-<random><suffix>: ASCII (OpenCV and ffmpeg get it), and
TEMP_NAME = re.compile(r"^\.digitedge-(\d+)-")  # recognisable, so a later run removes a killed run's leftovers
READ_CHUNK = MIB = 1 << 20
MAX_FREE_NAMES = 10_000
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def shown(path: str | os.PathLike) -> str:
    """A path as it can be printed: bytes that are not UTF-8 (kept by Python as surrogates) shown as \\xff."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


TORCH_MAGIC = (b"PK\x03\x04", b"\x80")  # torch.save writes a zip (versions before 1.6: a pickle); ONNX never starts so


def looks_like_checkpoint(data: bytes) -> bool:
    """True for the first bytes of a PyTorch checkpoint: how every verb tells a .pt from an .onnx, whatever the name."""
    return data.startswith(TORCH_MAGIC)


def digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


# ---------------------------------------------------------------- inputs
def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def refusal(st: os.stat_result, limit: int | None = None) -> str | None:
    """Why a file with this stat is not read as an input (not a regular file, or over `limit` bytes), or None.
    The one wording, whether the file is opened now (read_bytes) or only listed (an archive's inputs)."""
    if not stat.S_ISREG(st.st_mode):
        return "is a folder" if stat.S_ISDIR(st.st_mode) else f"not a regular file ({file_kind(st.st_mode)})"
    if limit is not None and st.st_size > limit:
        return f"file too large ({st.st_size / MIB:.0f} MiB, limit {limit / MIB:.0f} MiB)"
    return None


def read_bytes(path: str | os.PathLike, limit: int, head: bool = False) -> bytes:
    """The whole of a regular file, at most `limit` bytes (with `head`, its first `limit` bytes, however large it
    is); raises InputError with a one-line reason.

    O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. The size is checked again
    while reading, as a file may grow (or lie about its size, like /proc files)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as e:
        if e.errno == errno.ENXIO:  # a socket
            raise InputError("not a regular file (a socket)") from None
        raise InputError(e.strerror or str(e)) from None
    try:
        st = os.fstat(fd)
        why = refusal(st, None if head else limit)
        if why:
            raise InputError(why)
        if head:
            return os.read(fd, limit)
        chunks, total = [], 0
        while chunk := os.read(fd, READ_CHUNK):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise InputError(f"file too large (over {limit / MIB:.0f} MiB)")
        return b"".join(chunks)
    except OSError as e:
        raise InputError(e.strerror or str(e)) from None
    finally:
        os.close(fd)


# ---------------------------------------------------------------- outputs
def output_dir(path: str | os.PathLike, option: str) -> Path:
    """Create (if needed) and check an output folder: it must be a folder we can write into. The check writes
    and removes a temp file, so a read-only folder or a full disk is one line before any work is done."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{option} {shown(folder)}: exists and is not a folder") from None
    except OSError as e:
        raise OutputError(f"{option} {shown(folder)}: cannot create the folder ({e.strerror or e})") from None
    try:
        new_temp(folder).unlink()
    except OSError as e:
        raise OutputError(f"{option} {shown(folder)}: cannot write there ({e.strerror or e})") from None
    return folder


def sweep_temps(folder: Path) -> None:
    """Remove temp files left in `folder` by digitedge runs that were killed (their process is gone)."""
    try:
        names = [e.name for e in os.scandir(folder) if TEMP_NAME.match(e.name)]
    except OSError:
        return
    for name in names:
        pid = int(TEMP_NAME.match(name).group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
        except OSError:  # alive, owned by someone else
            pass


def new_temp(folder: Path, suffix: str = "") -> Path:
    """A new empty file of ours in `folder` (created exclusively, random name), readable as the umask allows."""
    sweep_temps(folder)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=suffix)
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def temp_file(folder: str | os.PathLike, suffix: str = ""):
    """A temp path in `folder` for a writer that wants a file name; removed unless it was published."""
    tmp = new_temp(Path(folder), suffix)
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def free_stems(stem: str):
    """The one never-overwrite naming rule: stem, then stem_1, stem_2, ... (run folders are exp, exp2, ...)."""
    yield stem
    for n in range(1, MAX_FREE_NAMES):
        yield f"{stem}_{n}"


def free_names(wanted: Path):
    """wanted, then stem_1.ext, stem_2.ext, ..."""
    for stem in free_stems(wanted.stem):
        yield wanted.with_name(f"{stem}{wanted.suffix}")


def claim(path: Path) -> bool:
    """Create `path` empty if nobody holds the name (O_EXCL: an existing file, folder or link, even a dangling
    one, is left alone); True when it is ours now."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
        return True
    except FileExistsError:
        return False


def publish(tmp: Path, wanted: Path) -> Path:
    """Move a finished temp file to `wanted`, or to the first free name after it; returns where it went.
    The name is claimed first, then the temp file renamed over our own claim: nothing else is ever replaced."""
    for target in free_names(wanted):
        if claim(target):
            try:
                os.replace(tmp, target)
            except OSError:
                target.unlink(missing_ok=True)
                raise
            return target
    raise OutputError(f"{shown(wanted)}: no free name left beside it")


def write_new(wanted: str | os.PathLike, data: bytes) -> Path:
    """Write `data` as a new file at `wanted` (or a free name beside it); OutputError with one line on failure."""
    wanted = Path(wanted)
    try:
        with temp_file(wanted.parent, wanted.suffix) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
            return publish(tmp, wanted)
    except OSError as e:
        raise OutputError(f"{shown(wanted)}: not written ({e.strerror or e})") from None


def replace_own(path: str | os.PathLike, data: bytes) -> None:
    """Atomically (re)write a file this run owns (history.csv in its run folder): temp file, then rename,
    which replaces a link planted at `path` rather than writing through it."""
    path = Path(path)
    try:
        with temp_file(path.parent, path.suffix) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"{shown(path)}: not written ({e.strerror or e})") from None


def next_run_dir(base: str | os.PathLike, name: str = "exp") -> Path:
    """runs/<task>/exp, exp2, exp3, ...: a new folder every time, never one that exists (mkdir is the test,
    so two runs started at once cannot share one)."""
    base = output_dir(base, "--out")
    for i in range(1, MAX_FREE_NAMES):
        path = base / (name if i == 1 else f"{name}{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise OutputError(f"{shown(base)}: no free run folder name")
