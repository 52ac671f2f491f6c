"""The model's input contract, in one place: training feeds SimpleCNN by it, `digitedge export` writes it into the
model's metadata (`digitedge.input`), and the runtime reads it back from there before it feeds a model.

numpy only (no torch, no onnxruntime), so every stage can import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

PREPROCESS_RECIPE = "mnist-20box-com/1"  # fit into 20x20 keeping aspect, centre of mass at 14,14 in 28x28
LEGACY_SCALE_TEXT = "pixel / 255, range [0, 1]"  # how models exported before the divisor was written say it
EVAL_BATCH = 1000  # images per forward pass when a whole split is scored (evaluate, export parity, validation)


@dataclass(frozen=True)
class InputContract:
    """What a digitedge model takes: one float32 tensor `name` of shape [N, *shape] (NCHW), pixels / divisor,
    white digit on black (MNIST polarity)."""
    name: str = "input"
    shape: tuple[int, int, int] = (1, 28, 28)  # C, H, W
    divisor: float = 255.0

    def to_metadata(self) -> str:
        """The `digitedge.input` metadata value (the human-readable `scale` is kept for older readers)."""
        return json.dumps({"name": self.name, "dtype": "float32", "shape": ["N", *self.shape], "layout": "NCHW",
                           "divisor": self.divisor, "scale": f"pixel / {self.divisor:g}, range [0, 1]",
                           "polarity": "white digit on black (MNIST)"})

    @classmethod
    def from_metadata(cls, text: str | None) -> "InputContract":
        """Read `digitedge.input`; None (a model exported without it) means the default contract. ValueError with
        the reason when the value cannot be used."""
        if text is None:
            return DEFAULT_INPUT
        try:
            d = json.loads(text)
        except ValueError:
            raise ValueError(f"metadata 'input' is not JSON: {text[:60]!r}") from None
        if not isinstance(d, dict):
            raise ValueError(f"metadata 'input' must be a JSON object, got {text[:60]!r}")
        shape, name = d.get("shape"), d.get("name", DEFAULT_INPUT.name)
        divisor = d.get("divisor", DEFAULT_INPUT.divisor if d.get("scale", LEGACY_SCALE_TEXT) == LEGACY_SCALE_TEXT else None)
        if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                      and 0 < v <= 4096 for v in shape[1:])):
            raise ValueError(f"metadata 'input' shape must be [N, C, H, W], got {shape!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"metadata 'input' name must be a string, got {name!r}")
        if isinstance(divisor, bool) or not isinstance(divisor, (int, float)) or not 1 <= divisor <= 65535:
            raise ValueError(f"metadata 'input' divisor must be a number from 1 to 65535, got {d.get('divisor', d.get('scale'))!r}")
        if d.get("dtype", "float32") != "float32" or d.get("layout", "NCHW") != "NCHW":
            raise ValueError(f"metadata 'input' must be float32 NCHW, got {d.get('dtype')} {d.get('layout')}")
        return cls(name, tuple(shape[1:]), float(divisor))

    def to_input(self, crops) -> np.ndarray:
        """MNIST-style crops (white digit on black) -> float32 [N, C, H, W] in [0, 1].

        Accepts [N, H, W], [H, W] or [N, 1, H, W]: uint8 (or other integers) in 0..255, bool, or floats already in
        [0, 1], which are used as they are. Anything else is a ValueError, never a silent rescale."""
        crops = np.asarray(crops)
        if crops.ndim == 4 and crops.shape[1] == 1:
            crops = crops[:, 0]
        if crops.ndim == 2:
            crops = crops[None]
        h, w = self.shape[1:]
        if crops.ndim != 3 or crops.shape[1:] != (h, w):
            raise ValueError(f"expected crops of shape [N, {h}, {w}], got {crops.shape}")
        if crops.dtype.kind not in "biuf":
            raise ValueError(f"crops of dtype {crops.dtype}: expected uint8 in 0..255 or floats in [0, 1]")
        if crops.dtype.kind == "f":
            if crops.size and not (np.isfinite(crops).all() and crops.min() >= 0 and crops.max() <= 1):
                raise ValueError(f"float crops must be finite and in [0, 1] (got [{crops.min():g}, {crops.max():g}]); "
                                 "pass uint8 for 0..255 pixels")
            return crops.astype(np.float32)[:, None]
        if crops.dtype.kind == "b":
            return crops.astype(np.float32)[:, None]
        if crops.size and (crops.min() < 0 or crops.max() > 255):
            raise ValueError(f"integer crops must lie in 0..255 (got [{crops.min()}, {crops.max()}])")
        return (crops.astype(np.float32) * np.float32(1 / self.divisor))[:, None]


DEFAULT_INPUT = InputContract()
INPUT_SHAPE = DEFAULT_INPUT.shape
to_input = DEFAULT_INPUT.to_input


def batched(fn, images, size: int = EVAL_BATCH) -> np.ndarray:
    """fn applied to `images` EVAL_BATCH at a time, the results concatenated (a whole split at once would need
    ~10 GB of activations)."""
    return np.concatenate([np.asarray(fn(images[i:i + size])) for i in range(0, len(images), size)])
