"""The real-world figures: `digitedge evaluate --real ../shared/realdigits`.

Reads a realdigits folder (labels.csv: file,label[,source,license]) through the same runtime users call:
single-digit photos (top-1 of the text read), full pages (digits right in reading order, by alignment),
and the USPS / Semeion scans as far-domain probes (16x16 digits sent through the MNIST normalisation).
Also scikit-learn's load_digits (8x8 scans of 43 writers) when scikit-learn is installed.
"""

from __future__ import annotations

import csv
import gzip
import json
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from ..errors import DigitedgeError, InputError
from ..files import output_dir, read_bytes, shown, write_new
from ..runtime import DigitClassifier, ImageError, read_image, text_of
from ..runtime.preprocess import mnist_crop

PROBE_UPSCALE = 64  # px: small scans are enlarged before the MNIST normalisation


def aligned_correct(truth: str, read: str) -> int:
    """Digits of `truth` read right and in order: the longest common subsequence (difflib's matcher is
    greedy and undercounts after an early insertion)."""
    truth, read = truth.replace("\n", ""), read.replace("\n", "")
    row = [0] * (len(read) + 1)
    for a in truth:
        prev_diag = 0
        for j, b in enumerate(read, 1):
            prev_diag, row[j] = row[j], prev_diag + 1 if a == b else max(row[j], row[j - 1])
    return row[-1]


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


def read_labels(path: Path) -> list[dict]:
    """labels.csv as rows with at least `file` and `label`; DigitedgeError with one line otherwise."""
    try:
        rows = list(csv.DictReader(read_bytes(path, 64 << 20).decode("utf-8").splitlines()))
    except (InputError, UnicodeDecodeError, csv.Error) as e:
        raise DigitedgeError(f"{shown(path)}: unreadable ({e})") from None
    if any(not isinstance(r.get("file"), str) or not isinstance(r.get("label"), str) for r in rows):
        raise DigitedgeError(f"{shown(path)}: every row needs a file and a label (columns file,label)")
    return rows


def evaluate_real(root, model=None, out=None, log=print) -> int:
    root = Path(root)
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise DigitedgeError(f"{labels_csv}: missing; --real wants a realdigits folder with labels.csv")
    clf = DigitClassifier(model)
    rows = read_labels(labels_csv)
    results = {"model": str(clf.model.path)}
    confusion, per_source, failures = Counter(), Counter(), []
    ok = n = 0
    t0 = time.perf_counter()
    pages = []
    for row in rows:
        path = root / row["file"]
        try:
            read = text_of(clf.classify(read_image(path)))
        except ImageError as e:
            read = f"<error: {e}>"
        if "\n" in row["label"] or row["file"].startswith("pages/"):
            pages.append((row["file"], row["label"], read))
            continue
        source = Path(row["file"]).name.split("_")[0]
        n += 1
        hit = read == row["label"]
        ok += hit
        per_source[(source, hit)] += 1
        if not hit:
            confusion[(row["label"], read or "∅")] += 1
            failures.append((row["file"], row["label"], read))
    secs = time.perf_counter() - t0
    if n:
        results["photos_top1"] = ok / n
        log(f"photos: {ok}/{n} read right ({ok / n:.1%})")
        for source in sorted({s for s, _ in per_source}):
            good, bad = per_source[(source, True)], per_source[(source, False)]
            log(f"  {source}: {good}/{good + bad} ({good / (good + bad):.1%})")
        if confusion:
            log("  failures (true -> read, ∅ = nothing found): "
                + ", ".join(f"{t}->{r.replace(chr(10), '/')} x{c}" for (t, r), c in confusion.most_common()))
    for file, truth, read in pages:
        right, total = aligned_correct(truth, read), len(truth.replace("\n", ""))
        results[f"page:{file}"] = right / total
        extra = len(read.replace("\n", "")) - right
        log(f"{file}: {right}/{total} digits right in reading order ({right / total:.1%}), {extra} extra, "
            f"lines read {read.count(chr(10)) + 1 if read else 0} of {truth.count(chr(10)) + 1}")
    for name, loader in (("USPS test", lambda: load_usps(root)), ("Semeion", lambda: load_semeion(root)),
                         ("sklearn load_digits", load_sklearn_digits)):
        try:
            images, labels = loader()
        except (OSError, ImportError, ValueError) as e:
            log(f"{name}: skipped ({e.__class__.__name__}: {e})")
            continue
        acc = probe_accuracy(clf, images, labels)
        results[f"probe:{name}"] = acc
        log(f"{name} (far-domain probe, {len(labels)} digits): top-1 {acc:.1%}")
    log(f"({secs / max(1, n + len(pages)):.3f} s per photo/page)")
    if out:
        saved = write_new(output_dir(out, "--out") / "real.json", (json.dumps(dict(results, failures=failures), indent=2) + "\n").encode())
        log(f"Results saved to {saved}")
    return 0
