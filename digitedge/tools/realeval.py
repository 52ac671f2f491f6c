"""The real-world figures: `digitedge evaluate --real DIR`.

DIR holds a `labels.csv` (`file,label[,source,kind]`; a label with several lines is the text in reading order,
lines joined by a newline), and any sub-folder with a `labels.csv` of its own is a further set, scored apart.
A folder of a user's own digits (`DIR/<label>/*.png`, as `classify --save-crops` writes it and `train --data` reads
it; labels 0-9, or `reject` for what must be read as nothing) is one set too; its labels.csv may use `reject` as well.
Every file is read through the same runtime users call (a 28x28 crop by the model alone: it is what the finder
cut) and scored per set, per kind (single, multi, scan, canvas, ...) and per source (a source is one writer or
collection; judge by source, not by image):

- exact: the text read is the label;
- digits: 1 - edit distance / label length, summed over the images (a missed, extra or wrong digit costs one);
- precision: of the digits reported, the share that are right and in order (longest common subsequence), and
  kept: the share of the label's digits that were reported right (what the rejection threshold leaves);
- reliability: expected calibration error of the reported digits' confidences (10 bins).

The USPS / Semeion scans in `scans/` and scikit-learn's load_digits are far-domain probes of the model alone
(16x16 and 8x8 digits sent through the MNIST normalisation).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError, DigitedgeError, InputError
from ..files import output_dir, read_bytes, shown, write_new
from ..runtime import DigitClassifier, ImageError, read_image, text_of
from ..runtime.preprocess import mnist_crop
from ..training.labelled import REJECT_NAME, labelled_rows, named, read_digits

PROBE_UPSCALE = 64  # px: small scans are enlarged before the MNIST normalisation
RELIABILITY_BINS = 10


def matched(truth: str, read: str) -> list[bool]:
    """For each digit read, whether it is one of the truth's digits in order (a longest common subsequence;
    difflib's matcher is greedy and undercounts after an early insertion)."""
    truth, read = truth.replace("\n", ""), read.replace("\n", "")
    table = np.zeros((len(truth) + 1, len(read) + 1), np.int32)
    for i, a in enumerate(truth, 1):
        for j, b in enumerate(read, 1):
            table[i, j] = table[i - 1, j - 1] + 1 if a == b else max(table[i - 1, j], table[i, j - 1])
    hits, i, j = [False] * len(read), len(truth), len(read)
    while i and j:
        if truth[i - 1] == read[j - 1] and table[i, j] == table[i - 1, j - 1] + 1:
            hits[j - 1] = True
            i, j = i - 1, j - 1
        elif table[i - 1, j] >= table[i, j - 1]:
            i -= 1
        else:
            j -= 1
    return hits


def aligned_correct(truth: str, read: str) -> int:
    """Digits of `truth` read right and in order."""
    return sum(matched(truth, read))


def edit_distance(a: str, b: str) -> int:
    a, b = a.replace("\n", ""), b.replace("\n", "")
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


@dataclass
class Tally:
    """Scores of a group of images (a kind, a source, a whole set)."""
    images: int = 0
    exact: int = 0
    truth_digits: int = 0
    edits: int = 0
    reported: int = 0
    right: int = 0
    confidences: list = field(default_factory=list)  # (confidence, right) per reported digit

    def add(self, truth: str, digits, read: str) -> None:
        hits = matched(truth, read)
        self.images += 1
        self.exact += read == truth
        self.truth_digits += len(truth.replace("\n", ""))
        self.edits += edit_distance(truth, read)
        self.reported += len(hits)
        self.right += sum(hits)
        self.confidences += [(d.confidence, hit) for d, hit in zip(digits, hits)]

    def figures(self) -> dict:
        n = max(self.images, 1)
        return {"images": self.images, "exact": self.exact / n,
                "digits": max(0.0, 1 - self.edits / max(self.truth_digits, 1)),
                "precision": self.right / self.reported if self.reported else 1.0,
                "kept": self.right / max(self.truth_digits, 1), "ece": calibration_error(self.confidences)}


def calibration_error(pairs) -> float:
    """Expected calibration error: |accuracy - mean confidence| per confidence bin, weighted by its size."""
    if not pairs:
        return 0.0
    conf = np.array([c for c, _ in pairs])
    right = np.array([r for _, r in pairs], np.float64)
    bins = np.minimum((conf * RELIABILITY_BINS).astype(int), RELIABILITY_BINS - 1)
    return float(sum(abs(right[bins == b].mean() - conf[bins == b].mean()) * (bins == b).sum()
                     for b in np.unique(bins)) / len(conf))


def read_labels(folder: Path) -> list[dict]:
    """labels.csv rows with `kind` and `source` filled in where the file lacks them; DigitedgeError with one
    line for a file that is not such a table."""
    path = folder / "labels.csv"
    try:
        # StringIO keeps the newlines inside quoted multi-line labels (splitlines would drop them)
        table = list(csv.DictReader(io.StringIO(read_bytes(path, 64 << 20).decode("utf-8"), newline="")))
    except (InputError, UnicodeDecodeError, csv.Error) as e:
        raise DigitedgeError(f"{shown(path)}: unreadable ({e})") from None
    rows = []
    for row in table:
        if not isinstance(row.get("file"), str) or not row["file"] or not isinstance(row.get("label"), str):
            raise DigitedgeError(f"{shown(path)}: every row needs a file and a label (columns file,label[,source,kind])")
        label = row["label"].strip("\n")
        parent = Path(row["file"]).parent.name  # photos/..., pages/...: the folder is the kind
        kind = row.get("kind") or parent or ("single" if len(label) == 1 else "multi")
        if label.strip().lower() == REJECT_NAME:  # a training folder's labels.csv: not a digit, to be read as nothing
            label, kind = "", REJECT_NAME
        source = row.get("source") or Path(row["file"]).name.split("_")[0]
        rows.append(dict(file=row["file"], label=label, kind=kind, source=short_source(source)))
    return rows


def short_source(source: str) -> str:
    """'github:owner/repo path@commit' -> 'owner/repo'; anything else as it is."""
    return source.removeprefix("github:").split(" ")[0].split("@")[0]


def score_set(clf: DigitClassifier, folder: Path, log=print, rows=None, skipped=None) -> dict:
    """Read every file of one labels.csv (or of `rows`, a user's DIR/<label>/ folders); per kind and per source
    tallies, and the failures. A file that cannot be read counts as a miss in a labels.csv set (the set is fixed),
    and is skipped in a user's label folders (counted in one line with `skipped`, what the listing passed over, as
    `train --data` does)."""
    skip = rows is not None
    rows = read_labels(folder) if rows is None else rows
    kinds, sources, whole = defaultdict(Tally), defaultdict(Tally), Tally()
    failures, skipped, t0 = [], list(skipped or []), time.perf_counter()
    for row in rows:
        try:
            digits = read_digits(clf, read_image(folder / row["file"]))  # a 28x28 crop: the model alone
        except ImageError as e:
            if skip:
                skipped.append((row["file"], str(e)))
                continue
            log(f"  {row['file']}: error: {e}")
            digits = []
        read = text_of(digits)
        for tally in (kinds[row["kind"]], sources[(row["kind"], row["source"])], whole):
            tally.add(row["label"], digits, read)
        if read != row["label"]:
            failures.append({"file": row["file"], "label": row["label"], "read": read})
    if skip and not whole.images:
        raise DataError(f"{shown(folder)}: none of its {len(rows)} image file(s) could be used ({named(skipped)})")
    if skipped:
        log(f"{shown(folder)}: {len(skipped)} file(s) skipped ({named(skipped)})")
    seconds = (time.perf_counter() - t0) / max(len(rows), 1)
    return {"skipped": len(skipped), "kinds": {k: t.figures() for k, t in sorted(kinds.items())},
            "sources": {f"{k} {s}": t.figures() for (k, s), t in sorted(sources.items())},
            "all": whole.figures(), "seconds_per_image": seconds, "failures": failures}


def format_row(name: str, f: dict) -> str:
    return (f"  {name[:44]:44s} {f['images']:4d}  exact {f['exact']:6.1%}  digits {f['digits']:6.1%}  "
            f"precision {f['precision']:6.1%}  kept {f['kept']:6.1%}  ECE {f['ece']:.3f}")


def log_set(name: str, result: dict, log=print) -> None:
    log(f"{name}: {result['all']['images']} images, {result['seconds_per_image'] * 1000:.0f} ms per image")
    for kind, f in result["kinds"].items():
        log(format_row(f"[{kind}]", f))
    for source, f in result["sources"].items():
        log(format_row(source, f))
    log(format_row("[all]", result["all"]))


# ---------------------------------------------------------------- far-domain probes (the model alone)
def probe_crops(images: np.ndarray) -> np.ndarray:
    """Small ink-high digit scans (N, h, w) in [0, 1] -> MNIST-style crops through mnist_crop."""
    crops = []
    for img in images:
        big = cv2.resize((img * 255).astype(np.float32), (PROBE_UPSCALE, PROBE_UPSCALE), interpolation=cv2.INTER_CUBIC)
        crop = mnist_crop(np.clip(big, 0, 255).astype(np.uint8))
        crops.append(crop if crop is not None else np.zeros((28, 28), np.uint8))
    return np.stack(crops)


def load_usps(root: Path):
    path = root / "scans" / "usps" / "zip.test.gz"
    rows = [line.split() for line in gzip.open(path, "rt") if line.strip()]
    labels = np.array([int(float(r[0])) for r in rows])
    images = (np.array([[float(v) for v in r[1:257]] for r in rows], np.float32).reshape(-1, 16, 16) + 1) / 2
    return images, labels


def load_semeion(root: Path):
    data = np.loadtxt(root / "scans" / "semeion" / "semeion.data")
    return data[:, :256].reshape(-1, 16, 16).astype(np.float32), data[:, 256:].argmax(1)


def load_sklearn_digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target


def probe_accuracy(clf: DigitClassifier, images, labels) -> float:
    return float((clf.predict(probe_crops(images)).argmax(1) == labels).mean())


def run_probes(clf: DigitClassifier, root: Path, log=print) -> dict:
    """The model alone on far-domain digit sets: USPS and Semeion when DIR has them (scans/), and
    scikit-learn's load_digits when scikit-learn is installed."""
    results = {}
    probes = [("sklearn load_digits", load_sklearn_digits)]
    if (root / "scans").is_dir():
        probes[:0] = [("USPS test", lambda: load_usps(root)), ("Semeion", lambda: load_semeion(root))]
    for name, loader in probes:
        try:
            images, labels = loader()
        except (OSError, ImportError, ValueError) as e:
            log(f"{name}: skipped ({e.__class__.__name__}: {e})")
            continue
        results[name] = probe_accuracy(clf, images, labels)
        log(f"{name} (far-domain probe, {len(labels)} digits): top-1 {results[name]:.1%}")
    return results


def evaluate_real(root, model=None, out=None, log=print) -> dict:
    root = Path(root)
    folders = [root] if (root / "labels.csv").is_file() else []
    folders += sorted(p for p in root.iterdir() if (p / "labels.csv").is_file()) if root.is_dir() else []
    rows, passed = labelled_rows(root) if not folders else (None, [])  # DIR/<label>/*.png (issue 11): one set
    folders = folders or [root]
    clf = DigitClassifier(model)
    results = {"model": str(clf.model.path), "threshold": clf.threshold, "sets": {}}
    log(f"{clf.model.path.name} at --conf {clf.threshold}; digits = 1 - edits/length; precision = right/reported; "
        "kept = right/true digits")
    for folder in folders:
        name = "." if folder == root else folder.name
        results["sets"][name] = score_set(clf, folder, log, rows, passed)
        log_set(f"{root.name}/{name}" if name != "." else root.name, results["sets"][name], log)
    results["probes"] = run_probes(clf, root, log) if rows is None else {}  # a user's label folders: no scans
    if out:
        saved = write_new(output_dir(out, "--out") / "real.json", (json.dumps(results, indent=2) + "\n").encode())
        log(f"Results saved to {saved}")
    return results
