"""MNIST on disk: find the four IDX files, verify them, read them (numpy only, no torch).

Lookup order for the folder: an explicit ``data_dir``, else ``$DIGITEDGE_DATA``, else the user cache
(``$XDG_CACHE_HOME/digitedge/mnist``). Missing files are downloaded into that folder from public
mirrors; with no network the error says which files are missing and where to put them.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, InputError
from ..files import digest, read_bytes, shown

# The four standard files and their published MD5s.
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MAX_IDX_BYTES = 256 << 20  # the largest MNIST file, raw, is 47 MB
# IDX type codes we accept (MNIST uses only 0x08, unsigned byte).
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Split:
    images: np.ndarray  # uint8 [N, 28, 28], white digit on black
    labels: np.ndarray  # int64 [N]


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "digitedge" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    if data_dir:
        return Path(data_dir)
    if os.environ.get("DIGITEDGE_DATA"):
        return Path(os.environ["DIGITEDGE_DATA"])
    return default_data_dir()


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw, checking its header against its length."""
    path = Path(path)
    try:
        raw = read_bytes(path, MAX_IDX_BYTES)  # a FIFO or device in the data folder: refused, not read forever
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except InputError as e:
        raise DataError(f"{shown(path)}: {e}") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{shown(path)}: cannot read ({e.__class__.__name__}: {e}); the file is corrupt or truncated") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize  # exact: np.prod would wrap around for a forged header
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataError(f"{path}: {what}: header says shape {shape} ({expected} bytes), file holds {got}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 IDX file (gzip when the name ends in .gz); tests and tools make fixtures with it."""
    path = Path(path)
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def _download(name: str, dest: Path, progress: bool) -> None:
    """Fetch one file from the first mirror that answers, into a temp file then renamed."""
    errors = []
    for mirror in MIRRORS:
        try:
            with urllib.request.urlopen(mirror + name, timeout=20) as r:
                total = int(r.headers.get("Content-Length") or 0)
                fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
                with os.fdopen(fd, "wb") as out:
                    bar = _bar(total, name) if progress else None
                    for chunk in iter(lambda: r.read(1 << 16), b""):
                        out.write(chunk)
                        if bar:
                            bar.update(len(chunk))
                    if bar:
                        bar.close()
                os.replace(tmp, dest)
                return
        except (urllib.error.URLError, OSError) as e:
            errors.append(f"{mirror}: {e}")
    raise OSError("; ".join(errors))


def _bar(total: int, name: str):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total or None, unit="B", unit_scale=True, desc=name, leave=False)


def ensure_files(data_dir: str | os.PathLike | None = None, download: bool = True, progress: bool = True) -> Path:
    """Make sure the four files are in the folder and match their checksums; return the folder."""
    folder = resolve_data_dir(data_dir)
    missing = [name for name, _ in FILES.values() if not _find(folder, name)]
    if missing and download:
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for name in missing:
                _download(name, folder / name, progress)
        except OSError as e:
            raise DataError(
                f"MNIST files missing in {folder}: {', '.join(missing)}; download failed ({e}). "
                f"Put the four MNIST files there, or point --data-dir / DIGITEDGE_DATA at a folder that has them."
            ) from None
        missing = []
    if missing:
        raise DataError(f"MNIST files missing in {folder}: {', '.join(missing)}; put them there or set DIGITEDGE_DATA")
    for name, expected in FILES.values():
        path = _find(folder, name)
        # A raw (uncompressed) copy has other checksums; its header/length check in read_idx guards it.
        if path.suffix == ".gz" and (found := digest(path, "md5")) != expected:
            raise DataError(f"{path}: checksum mismatch (md5 {found}, expected {expected}); the file is corrupt, delete it")
    return folder


def _find(folder: Path, name: str) -> Path | None:
    """The gzip file, or its raw twin without .gz."""
    for candidate in (folder / name, folder / name[:-3]):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(split: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Split:
    """Load 'train' (60,000) or 'test' (10,000) as uint8 images and int64 labels."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    folder = ensure_files(data_dir, download=download)
    images = read_idx(_find(folder, FILES[f"{split}_images"][0]))
    labels = read_idx(_find(folder, FILES[f"{split}_labels"][0]))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{folder}: {split} images {images.shape} and labels {labels.shape} do not match MNIST's layout")
    return Split(images=images, labels=labels.astype(np.int64))
