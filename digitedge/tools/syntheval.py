"""Generated scenes from MNIST *test* digits (never trained on), read by the runtime: `digitedge evaluate --synth N`.

The camera-style kinds of `synth` (single digits, rows, blank paper, pages, forms, chalk) and one stress kind
per way real handwriting broke the first reader (`stress`). Fixed seed, so the figures are reproducible."""

from __future__ import annotations

import time

from ..runtime import DigitClassifier, text_of
from .realeval import Tally
from .stress import STRESS_KINDS, stress_scenes
from .synth import scenes

SEED = 2026  # not the samples' seed (0): the shipped samples are not part of this measurement
# kind -> share of N scenes; single digits weigh most, as in the acceptance.
MIX = {"single": 1.0, "row": 0.5, "blank": 0.5, "page": 0.1, "form": 0.2, "chalk": 0.2} | {k: 0.25 for k in STRESS_KINDS}


def kind_scenes(kind: str, count: int, data_dir=None):
    if kind in STRESS_KINDS:
        return stress_scenes(kind, count, SEED, data_dir=data_dir)
    return scenes(kind, count, SEED, data_dir=data_dir)


def evaluate_synth(n: int = 200, model=None, data_dir=None, kinds=None, log=print) -> dict:
    """Per kind: exact readings (for blank frames: no digit found) and digits right (1 - edits / length)."""
    clf = DigitClassifier(model)
    results = {}
    for kind in kinds or MIX:
        count = max(1, int(n * MIX[kind]))
        tally, t0 = Tally(), time.perf_counter()
        for scene in kind_scenes(kind, count, data_dir):
            digits = clf.classify(scene.image)
            tally.add(scene.text, digits, text_of(digits))
        secs = (time.perf_counter() - t0) / count
        results[kind] = f = tally.figures()
        what = "no digit found" if kind == "blank" else "read exactly"
        digits = f", digits {f['digits']:.1%}, precision {f['precision']:.1%}" if tally.truth_digits else ""
        log(f"{kind:10s}: {tally.exact}/{count} {what} ({f['exact']:.1%}){digits}; {secs * 1000:.0f} ms/frame incl. rendering")
    return results
