"""Reading user images safely: one clear error per bad file or array, no decompression bombs, EXIF orientation."""

from __future__ import annotations

import os

import cv2
import numpy as np

from .. import MAX_IMAGE_PIXELS as MAX_PIXELS  # also OpenCV's own limit, set before cv2 loaded
from ..errors import InputError
from ..files import read_bytes, shown

MAX_FILE_BYTES = 200 << 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ImageError(InputError, ValueError):
    """A file or array that cannot be used as an image; str() is the one-line reason. A ValueError too, so
    `except ValueError` around the Python API catches it."""


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, WebP, GIF or BMP header without decoding the pixels (OpenCV's own limit
    also guards, but only when digitedge was imported before cv2)."""
    if data[:8] == PNG_SIGNATURE and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
        return jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        return webp_size(data)
    if data[:4] in (b"GIF8",) and len(data) >= 10:
        return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    if data[:2] == b"BM" and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(int.from_bytes(data[22:26], "little", signed=True))
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    return None


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas of an extended (VP8X), lossless (VP8L) or lossy (VP8) WebP."""
    kind = data[12:16]
    if kind == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 ":
        return int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF
    return None


def png_complete(data: bytes) -> bool:
    """True when walking the PNG's chunks reaches IEND: bytes after it (a trailer some tools append) are fine,
    and the bytes "IEND" inside compressed data are never mistaken for the chunk."""
    i = len(PNG_SIGNATURE)
    while i + 8 <= len(data):
        if data[i + 4:i + 8] == b"IEND":
            return True
        i += 12 + int.from_bytes(data[i:i + 4], "big")  # length, type, data, CRC
    return False


def decode(data: bytes) -> np.ndarray:
    """Bytes -> image array (8/16-bit, gray/BGR/BGRA), EXIF orientation applied; raises ImageError."""
    if not data:
        raise ImageError("empty file")
    size = declared_size(data)
    if size and size[0] * size[1] > MAX_PIXELS:
        raise ImageError(f"image too large ({size[0]}x{size[1]} pixels, limit {MAX_PIXELS / 1e6:.0f} MP)")
    # A phone may append a trailer after the end-of-image marker: the marker must follow the last scan.
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < data.rfind(b"\xff\xda"):
        raise ImageError("truncated JPEG (no end-of-image marker)")
    if data[:8] == PNG_SIGNATURE and not png_complete(data):
        raise ImageError("truncated PNG (no IEND chunk)")
    buf = np.frombuffer(data, np.uint8)
    try:
        # ANYDEPTH|ANYCOLOR keeps 16-bit and gray and applies EXIF orientation; only UNCHANGED keeps alpha.
        img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if img is not None and data[:8] == PNG_SIGNATURE:
            full = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if full is not None and full.ndim == 3 and full.shape[2] == 4:
                img = full
    except cv2.error as e:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(e):  # OpenCV's own bomb guard, for formats whose header we do not parse
            raise ImageError(f"image too large (over {MAX_PIXELS / 1e6:.0f} MP)") from None
        raise ImageError(f"cannot decode image ({str(e).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ImageError("not an image, or a truncated/corrupt one")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageError(f"image too large ({img.shape[1]}x{img.shape[0]} pixels)")
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file; raises ImageError with a one-line reason (the caller adds the file name)."""
    try:
        data = read_bytes(path, MAX_FILE_BYTES)
    except InputError as e:
        raise ImageError(str(e)) from None
    return decode(data)


def as_image(image) -> np.ndarray:
    """An array handed to the Python API, checked and brought to what the digit finder reads (uint8 or uint16;
    gray, BGR or BGRA); a path is read with read_image. Raises ImageError naming what is off, never guesses:
    floats must lie in [0, 1], other integers in 0..255, and uint16 must use its 16-bit range."""
    if isinstance(image, (str, bytes, os.PathLike)):
        try:
            return read_image(image)
        except ImageError as e:
            raise ImageError(f"{shown(image)}: {e}") from None
    if image is None:
        raise ImageError("image is None (cv2.imread returns None for a file it cannot read; "
                         "digitedge.runtime.read_image(path) says why)")
    img = np.asarray(image)
    if img.dtype.kind not in "biuf":
        raise ImageError(f"image of dtype {img.dtype}: expected a numeric array (uint8, uint16, float in [0, 1])")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        raise ImageError(f"image of shape {img.shape}: expected H x W, or H x W x 1, 3 (BGR) or 4 (BGRA)")
    if img.size == 0:
        raise ImageError(f"empty image (shape {img.shape})")
    if img.dtype == np.bool_:
        return img.astype(np.uint8) * np.uint8(255)
    if img.dtype == np.uint8:
        return img
    lo, hi = img.min(), img.max()
    if img.dtype == np.uint16:
        if 0 < hi <= 255:
            raise ImageError(f"uint16 image whose values stop at {hi}: 8-bit data in a 16-bit array would read as "
                             "black; pass image.astype(np.uint8)")
        return img
    if img.dtype.kind == "f":
        if not np.isfinite(lo) or not np.isfinite(hi) or lo < 0 or hi > 1:
            raise ImageError(f"float image with values in [{lo:g}, {hi:g}]: floats must be finite and in [0, 1] "
                             "(for 0..255 data pass image.astype(np.uint8))")
        return (img * 255 + 0.5).astype(np.uint8)
    if lo < 0 or hi > 255:
        raise ImageError(f"{img.dtype} image with values in [{lo}, {hi}]: integers must lie in 0..255 (or use uint16)")
    return img.astype(np.uint8)
