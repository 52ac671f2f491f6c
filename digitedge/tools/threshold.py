"""Precision of the reported digits against the confidence threshold, on labelled real sets (issue 10, point 3).

    python -m digitedge.tools.threshold ../shared/realdigits ../shared/realdigits/wild

Each folder holds a `labels.csv` (`file,label[,source,kind]`), as `digitedge evaluate --real` reads it. The
digits are read once at the default threshold; a higher threshold keeps those at or above it. Printed: over
all sets, the precision (right / reported) and the share of true digits kept at each threshold; then, per
source, the threshold chosen leave-one-source-out — the lowest that reaches the target precision on all the
other sources — and what it gives on the source left out.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..errors import DigitedgeError
from ..runtime import DigitClassifier, ImageError, read_image, text_of
from ..runtime.classifier import DEFAULT_THRESHOLD
from .realeval import Tally, read_digits, read_labels

SHOWN = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9)
GRID = np.round(np.arange(DEFAULT_THRESHOLD, 0.96, 0.01), 2)  # thresholds tried leave-one-source-out


def precision_at(pairs: list, threshold: float) -> tuple[float, int]:
    """(precision, right digits) of the reported digits `pairs` [(confidence, right)] at `threshold`."""
    kept = [right for conf, right in pairs if conf >= threshold]
    return (sum(kept) / len(kept) if kept else 1.0), int(sum(kept))


def lowest_threshold(pairs: list, target: float) -> float | None:
    """The lowest threshold of GRID at which `pairs` reach `target` precision; None if none does."""
    return next((float(t) for t in GRID if precision_at(pairs, t)[0] >= target), None)


def collect(folders, model=None) -> tuple[dict, dict]:
    """Per source ("kind source"): [(confidence, right)] of the digits read, and the number of true digits."""
    clf = DigitClassifier(model)
    pairs, truth = defaultdict(list), defaultdict(int)
    for folder in map(Path, folders):
        for row in read_labels(folder):
            try:
                digits = read_digits(clf, read_image(folder / row["file"]))
            except ImageError as e:  # a fixed set: an unreadable file is a miss, as `evaluate --real` counts it
                print(f"threshold: {row['file']}: {e}", file=sys.stderr)
                digits = []
            tally = Tally()
            tally.add(row["label"], digits, text_of(digits))
            key = f"{row.get('kind', '')} {row.get('source', folder.name)}".strip()
            pairs[key] += tally.confidences
            truth[key] += tally.truth_digits
    return pairs, truth


def report(pairs: dict, truth: dict, target: float, log=print) -> None:
    every = [p for v in pairs.values() for p in v]
    total = max(1, sum(truth.values()))
    log("all sets: threshold  precision  kept")
    for t in SHOWN:
        p, right = precision_at(every, t)
        log(f"  {t:.2f}  {p:.3f}  {right / total:.3f}")
    log(f"leave one source out (threshold: the lowest with >= {target:.0%} precision on the others):")
    for source in sorted(pairs):
        t = lowest_threshold([p for k, v in pairs.items() if k != source for p in v], target)
        if t is None:
            log(f"  {source:45.45} none reaches {target:.0%} on the others")
            continue
        p, right = precision_at(pairs[source], t)
        log(f"  {source:45.45} {t:.2f}  precision {p:.3f}  kept {right / max(truth[source], 1):.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m digitedge.tools.threshold", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="folders with a labels.csv")
    parser.add_argument("--model", help="an .onnx model (default: the shipped int8 model)")
    parser.add_argument("--target", type=float, default=0.99, help="precision to reach (default 0.99)")
    args = parser.parse_args(argv)
    if not 0 < args.target <= 1:
        parser.error(f"--target must be in (0, 1], got {args.target}")
    try:
        pairs, truth = collect(args.folders, args.model)
    except DigitedgeError as e:  # a folder without a readable labels.csv, a model that cannot be loaded
        print(f"threshold: {e}", file=sys.stderr)
        return 2
    report(pairs, truth, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
