"""DigitClassifier: the one object users call. Finds the digits on an image and classifies them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .model import OnnxModel
from .preprocess import find_digits

DEFAULT_THRESHOLD = 0.5  # below this top-1 probability a region is not reported as a digit
TOP_K = 3


@dataclass
class Digit:
    label: int
    confidence: float
    box: tuple[int, int, int, int]  # (x, y, w, h) in the input image
    line: int = 0  # reading line, 0 = top
    top_k: list[tuple[int, float]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"label": self.label, "confidence": round(self.confidence, 4), "box": [int(v) for v in self.box],
                "line": self.line, "top_k": [[k, round(p, 4)] for k, p in self.top_k]}


def text_of(digits: list[Digit]) -> str:
    """Digits in reading order; lines joined by a newline."""
    lines: dict[int, str] = {}
    for d in digits:
        lines[d.line] = lines.get(d.line, "") + str(d.label)
    return "\n".join(lines[k] for k in sorted(lines))


def reading(digits: list[Digit]) -> dict:
    """One image's reading as a JSON-ready record; `classify --format json` and the HTTP API both send it."""
    return {"text": text_of(digits), "digits": [d.to_dict() for d in digits]}


class DigitClassifier:
    """Reads handwritten digits off photos, scans and frames with an exported digitedge .onnx model.

    >>> clf = DigitClassifier()            # the shipped int8 model
    >>> digits = clf.classify(cv2.imread("page.jpg"))
    >>> text_of(digits)
    """

    def __init__(self, model: str | os.PathLike | None = None, threads: int | None = None,
                 threshold: float = DEFAULT_THRESHOLD):
        self.model = OnnxModel(model, threads)
        self.threshold = threshold
        self.labels = self.model.labels

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Ready MNIST-style crops uint8 [N, 28, 28] -> probabilities [N, 10]."""
        return self.model.probabilities(crops)

    def classify(self, image: np.ndarray) -> list[Digit]:
        """Every digit on the image (gray/BGR/BGRA, 8 or 16 bit, any size), in reading order."""
        regions = find_digits(image)
        if not regions:
            return []
        probs = self.predict(np.stack([r.crop for r in regions]))
        digits = []
        for r, p in zip(regions, probs):
            order = np.argsort(p)[::-1][:TOP_K]
            if p[order[0]] < self.threshold:
                continue
            digits.append(Digit(label=self.labels[order[0]], confidence=float(p[order[0]]), box=r.box, line=r.line,
                                top_k=[(self.labels[k], float(p[k])) for k in order]))
        return renumber_lines(digits)


def renumber_lines(digits: list[Digit]) -> list[Digit]:
    """Lines emptied by the threshold leave gaps; number the rest 0, 1, 2..."""
    index = {line: i for i, line in enumerate(sorted({d.line for d in digits}))}
    for d in digits:
        d.line = index[d.line]
    return digits
