"""Reading user images safely: one clear error per bad file, no decompression bombs, EXIF orientation."""

from __future__ import annotations

import os

os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 26))  # OpenCV's own guard, before cv2 loads

import cv2  # noqa: E402
import numpy as np  # noqa: E402

MAX_PIXELS = 1 << 26  # 67 MP: beyond any phone photo; a bomb declares far more
MAX_FILE_BYTES = 200 << 20
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".gif"}


class ImageError(Exception):
    """A file that cannot be used as an image; str() is the one-line reason."""


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG or JPEG header without decoding the pixels."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data[:2] == b"\xff\xd8":
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
    if data[:8] == b"\x89PNG\r\n\x1a\n" and b"IEND" not in data[-64:]:
        raise ImageError("truncated PNG (no IEND chunk)")
    buf = np.frombuffer(data, np.uint8)
    try:
        # ANYDEPTH|ANYCOLOR keeps 16-bit and gray and applies EXIF orientation; only UNCHANGED keeps alpha.
        img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if img is not None and data[:8] == b"\x89PNG\r\n\x1a\n":
            full = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
            if full is not None and full.ndim == 3 and full.shape[2] == 4:
                img = full
    except cv2.error as e:
        raise ImageError(f"cannot decode image ({str(e).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ImageError("not an image, or a truncated/corrupt one")
    if img.shape[0] * img.shape[1] > MAX_PIXELS:
        raise ImageError(f"image too large ({img.shape[1]}x{img.shape[0]} pixels)")
    return img


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file; raises ImageError with a one-line reason (the caller adds the file name)."""
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise ImageError(f"file too large ({size / 1e6:.0f} MB)")
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise ImageError("is a directory") from None
    except OSError as e:
        raise ImageError(e.strerror or str(e)) from None
    return decode(data)
