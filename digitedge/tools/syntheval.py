"""Camera-style frames rendered from MNIST *test* digits (never trained on), read by the runtime:
`digitedge evaluate --synth N`. Fixed seed, so the figures are reproducible."""

from __future__ import annotations

import time

from ..runtime import DigitClassifier, text_of
from .realeval import aligned_correct
from .synth import scenes

SEED = 2026  # not the samples' seed (0): the shipped samples are not part of this measurement
# kind -> share of N scenes; single digits weigh most, as in the acceptance.
MIX = {"single": 1.0, "row": 0.5, "blank": 0.5, "page": 0.1, "form": 0.2, "chalk": 0.2}


def evaluate_synth(n: int = 200, model=None, data_dir=None, log=print) -> dict:
    clf = DigitClassifier(model)
    results = {}
    for kind, share in MIX.items():
        count = max(1, int(n * share))
        exact = right = total = 0
        t0 = time.perf_counter()
        for scene in scenes(kind, count, SEED, data_dir=data_dir):
            read = text_of(clf.classify(scene.image))
            exact += read == scene.text
            right += aligned_correct(scene.text, read)
            total += len(scene.text.replace("\n", ""))
        secs = (time.perf_counter() - t0) / count
        results[kind] = exact / count
        what = "no digit found" if kind == "blank" else "read exactly"
        digits = f", {right}/{total} digits right in reading order ({right / total:.1%})" if total else ""
        log(f"{kind:6s}: {exact}/{count} {what} ({exact / count:.1%}){digits}; {secs * 1000:.0f} ms/frame incl. rendering")
    return results
