"""Drawing results onto images: shared by `classify --save` and the `live` window/video."""

from __future__ import annotations

import cv2
import numpy as np

BOX_COLOR = (40, 200, 40)  # BGR
TEXT_COLOR = (255, 255, 255)
BANNER_COLOR = (30, 30, 30)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A displayable 8-bit BGR copy of any input the runtime accepts."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img.copy()


def annotate(image: np.ndarray, digits, banner: str | None = None) -> np.ndarray:
    """Boxes with 'label confidence' per digit, and an optional banner line at the top."""
    out = as_bgr(image)
    scale = max(0.4, min(out.shape[:2]) / 800)
    thick = max(1, int(round(2 * scale)))
    for d in digits:
        x, y, w, h = d.box
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOR, thick)
        label = f"{d.label} {d.confidence:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ty = y - 4 if y - th - 6 >= 0 else y + h + th + 4
        cv2.rectangle(out, (x, ty - th - 3), (x + tw + 4, ty + base - 1), BOX_COLOR, -1)
        cv2.putText(out, label, (x + 2, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, thick, cv2.LINE_AA)
    if banner:
        (tw, th), base = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, scale * 1.2, thick)
        cv2.rectangle(out, (0, 0), (out.shape[1], th + base + 10), BANNER_COLOR, -1)
        cv2.putText(out, banner, (6, th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale * 1.2, TEXT_COLOR, thick, cv2.LINE_AA)
    return out


def live_banner(text: str, fps: float) -> str:
    """The `live` window's top line: the text read (lines joined by ' / ', '-' for none) and the frame rate."""
    return f"{text.replace(chr(10), ' / ') or '-'}    {fps:.1f} FPS"


def mark_paused(image: np.ndarray, hint: str = "PAUSED  space: resume  s: snapshot  q: quit") -> np.ndarray:
    """A copy with a strip along the bottom saying the picture is frozen and which keys do what."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 800)
    thick = max(1, int(round(2 * scale)))
    (tw, th), base = cv2.getTextSize(hint, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    top = out.shape[0] - th - base - 10
    cv2.rectangle(out, (0, top), (out.shape[1], out.shape[0]), BANNER_COLOR, -1)
    cv2.putText(out, hint, (6, top + th + 5), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT_COLOR, thick, cv2.LINE_AA)
    return out
