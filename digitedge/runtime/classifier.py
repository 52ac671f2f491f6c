"""DigitClassifier: the one object users call. Finds the digits on an image and classifies them."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .imageio import as_image
from .model import OnnxModel
from .preprocess import find_digits, mnist_crop, reading_order
from .split import rejoin, split_region

DEFAULT_THRESHOLD = 0.5  # below this top-1 probability a region is not reported as a digit
TOP_K = 3


@dataclass
class Digit:
    label: int
    confidence: float
    box: tuple[int, int, int, int]  # (x, y, w, h) in the input image
    line: int = 0  # reading line, 0 = top
    top_k: list[tuple[int, float]] = field(default_factory=list)
    crop: np.ndarray | None = field(default=None, repr=False, compare=False)  # the 28x28 crop the model read

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": [int(v) for v in self.box],
                "line": self.line, "top_k": [[k, round(p, 4)] for k, p in self.top_k]}


def text_of(digits: list[Digit]) -> str:
    """Digits in reading order; lines joined by a newline."""
    lines: dict[int, str] = {}
    for d in digits:
        lines[d.line] = lines.get(d.line, "") + str(d.label)
    return "\n".join(lines[k] for k in sorted(lines))


class DigitClassifier:
    """Reads handwritten digits off photos, scans and frames with an exported digitedge .onnx model.

    >>> clf = DigitClassifier()            # the shipped int8 model
    >>> digits = clf.classify(cv2.imread("page.jpg"))
    >>> text_of(digits)
    """

    def __init__(self, model: str | os.PathLike | None = None, threads: int | None = None,
                 threshold: float = DEFAULT_THRESHOLD, device: str | None = None):
        check_threshold(threshold)
        self.model = OnnxModel(model, threads, device)  # device: cpu (default), cuda, openvino or auto
        self.threshold = float(threshold)
        self.labels = self.model.labels

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Ready MNIST-style crops, uint8 [N, 28, 28] (or floats already in [0, 1]) -> probabilities [N, 10]."""
        return self.model.probabilities(crops)

    def classify(self, image) -> list[Digit]:
        """Every digit on the image, in reading order. `image`: a path, or an array (gray/BGR/BGRA; uint8, uint16,
        bool, or floats in [0, 1]; any size). Raises ImageError (a ValueError) for anything else, None included."""
        regions = find_digits(as_image(image))
        if not regions:
            return []
        probs = self.predict(np.stack([r.crop for r in regions]))
        regions, probs = rejoin(regions, probs, self.predict, self.threshold)  # a digit broken in two
        digits = []
        for r, p in zip(regions, probs):
            parts = [(r.box, p, r.crop)]
            if p.max() < self.threshold and r.strength is not None:  # perhaps two touching digits
                found = split_region(r.strength, self.predict, self.threshold)
                if found:
                    x0, y0, s = r.box[0], r.box[1], r.scale
                    parts = [((x0 + int(x / s), y0 + int(y / s), max(1, round(q.shape[1] / s)),
                               max(1, round(q.shape[0] / s))), pq, mnist_crop(q)) for x, y, q, pq in found]
            digits += [d for box, q, crop in parts if (d := self.digit(q, box, crop=crop))]
        # The lines are formed from the digits read: a comma or a speck the model rejects, which the finder
        # ordered with the digits, bends no line's course.
        return reading_order(digits)

    def digit(self, p: np.ndarray, box, line: int = 0, crop: np.ndarray | None = None) -> Digit | None:
        """The digit one crop's probabilities name, or None below the threshold."""
        order = np.argsort(p)[::-1][:TOP_K]
        if p[order[0]] < self.threshold:
            return None
        return Digit(label=self.labels[order[0]], confidence=float(p[order[0]]), box=box, line=line,
                     top_k=[(self.labels[k], float(p[k])) for k in order], crop=crop)


def check_threshold(threshold) -> None:
    """A confidence threshold is a finite number in [0, 1]; ValueError otherwise (nan would pass everything)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
            or not math.isfinite(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
