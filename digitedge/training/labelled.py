"""Labelled folders of a user's own digits (issue 11): what `train --data DIR` learns from and `evaluate --real DIR`
scores. numpy and OpenCV only (no torch), so the evaluation reads them too.

Two layouts:
- `DIR/<label>/*.png|jpg|...`: the folder names the label: `0` to `9`, or `reject` for what is not a digit (trained
  toward no answer, like the junk crops); a label folder may hold sub-folders (links to folders are not followed);
- `DIR/labels.csv` with the columns `file,label` (file relative to DIR), when it is there.

An entry is either a ready crop, a 28x28 image as `classify --save-crops` writes it (MNIST's format: white digit on
black; a light ground is inverted), used as it is, or a photo of one digit, which goes through the runtime's own
digit finder exactly as at classify time (the largest region it finds is the digit). A file that cannot be used is
skipped, and the skipped files are counted in one line; a folder with nothing usable, or with a label that is not
one, is one error line.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, InputError
from ..files import read_bytes, shown
from ..runtime.classifier import Digit
from ..runtime.imageio import ImageError, read_image
from ..runtime.inputs import IMAGE_EXTS
from ..runtime.preprocess import MNIST_SIZE, find_digits, to_gray
from ..tools.harvest import REJECT

REJECT_NAME = "reject"
LABELS = {**{str(d): d for d in range(10)}, REJECT_NAME: REJECT}
LABELS_CSV = "labels.csv"
MAX_FILES = 200_000  # a folder holding more is not a set of hand-sorted digits: said in one line, not walked for hours
BORDER = 2  # px: a ready crop whose outer ring is light is dark ink on light ground
SHOWN_SKIPS = 3  # skipped files named in the summary line


@dataclass
class Entry:
    file: str  # relative to the folder, '/'-separated, printable
    path: Path
    label: int  # a digit, or REJECT


@dataclass
class Labelled:
    crops: np.ndarray  # uint8 [N, 28, 28], white digit on black
    labels: np.ndarray  # int64 [N]: a digit, or REJECT
    files: list[str]  # the entry of each crop, relative to its folder
    photos: int  # entries read through the digit finder (the rest were ready crops)
    skipped: list[tuple[str, str]]  # (file, why)

    def summary(self, folder) -> str:
        """One line: what was read, per label, and what was skipped (the first few named)."""
        counts = Counter(int(v) for v in self.labels)
        per = " ".join(f"{REJECT_NAME if k == REJECT else k}:{counts[k]}" for k in sorted(counts, key=lambda k: (k < 0, k)))
        line = (f"{shown(folder)}: {len(self.labels)} digit image(s) ({per}); {self.photos} photo(s) read through the "
                "digit finder, the rest ready 28x28 crops")
        return line + skipped_text(self.skipped)


def skipped_text(skipped: list[tuple[str, str]]) -> str:
    """'; N file(s) skipped (a: why; b: why; and 3 more)', or '' when none was."""
    return f"; {len(skipped)} file(s) skipped ({named(skipped)})" if skipped else ""


def named(skipped: list[tuple[str, str]]) -> str:
    more = f"; and {len(skipped) - SHOWN_SKIPS} more" if len(skipped) > SHOWN_SKIPS else ""
    return "; ".join(f"{f}: {why}" for f, why in skipped[:SHOWN_SKIPS]) + more


def check_folder(folder: Path) -> None:
    try:
        mode = os.stat(folder).st_mode
    except OSError as e:
        why = "a symlink loop" if e.errno == errno.ELOOP else "no such folder" if e.errno == errno.ENOENT else e.strerror
        raise DataError(f"{shown(folder)}: {why}") from None
    if not stat.S_ISDIR(mode):
        raise DataError(f"{shown(folder)}: not a folder (expected DIR/<label>/*.png or DIR/{LABELS_CSV})")


def list_entries(folder: str | os.PathLike) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The entries of a labelled folder, sorted, and (file, why) for what was passed over; DataError (one line) for a
    folder that is missing, empty of labelled images, or names a label that is not one."""
    folder = Path(folder)
    check_folder(folder)
    if (folder / LABELS_CSV).is_file():
        entries, skipped = csv_entries(folder), []
    else:
        entries, skipped = folder_entries(folder)
    if not entries:
        found = f" ({len(skipped)} file(s) passed over: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise DataError(f"{shown(folder)}: no labelled images{found}; expected DIR/<label>/*.png with labels 0-9 or "
                        f"{REJECT_NAME}, or DIR/{LABELS_CSV} with columns file,label")
    return entries, skipped


def csv_entries(folder: Path) -> list[Entry]:
    path = folder / LABELS_CSV
    try:
        text = read_bytes(path, 64 << 20).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (InputError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{shown(path)}: unreadable ({e})") from None
    entries = []
    for line, row in enumerate(rows, 2):
        name, label = row.get("file"), row.get("label")
        if not isinstance(name, str) or not name.strip() or not isinstance(label, str):
            raise DataError(f"{shown(path)}: line {line}: every row needs a file and a label (columns file,label)")
        if label.strip().lower() not in LABELS:
            raise DataError(f"{shown(path)}: line {line}: label {shown(label)[:20]!r} is not one of 0-9, {REJECT_NAME}")
        entries.append(Entry(shown(name.strip()), folder / name.strip(), LABELS[label.strip().lower()]))
    return entries


def folder_entries(folder: Path) -> tuple[list[Entry], list[tuple[str, str]]]:
    """DIR/<label>/...: every image file under each label folder (links to files are read, links to folders not)."""
    entries, skipped, unknown = [], [], []
    for top in sorted(os.scandir(folder), key=lambda e: e.name):
        if top.name.startswith("."):
            continue
        if not top.is_dir():  # a looping or dangling link is no folder either: said, not silently passed over
            if top.is_symlink() and not os.path.exists(top.path):
                skipped.append((shown(top.name), "a broken link or a symlink loop"))
            continue
        if top.name.lower() not in LABELS:
            unknown.append(shown(top.name))
            continue
        label = LABELS[top.name.lower()]
        for path, why in walk_files(Path(top.path)):
            name = shown(path.relative_to(folder).as_posix())
            if why:
                skipped.append((name, why))
            else:
                entries.append(Entry(name, path, label))
            if len(entries) + len(skipped) > MAX_FILES:
                raise DataError(f"{shown(folder)}: more than {MAX_FILES:,} files; name the folder of labelled digits itself")
    if unknown:
        raise DataError(f"{shown(folder)}: folder{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown[:5])} "
                        f"{'are not labels' if len(unknown) > 1 else 'is not a label'}: label folders are named 0-9 or "
                        f"{REJECT_NAME} (move the images into one, or delete what is not a digit)")
    return entries, skipped


def walk_files(top: Path):
    """(path, None) for each image file below `top`, (path, why) for what is passed over; sorted, links to folders not
    followed (a `loop -> ..` link would never end), hidden names ignored."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            items = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as e:
            yield folder, f"cannot list the folder ({e.strerror})"
            continue
        for item in items:
            path = Path(item.path)
            if item.name.startswith("."):
                continue
            if item.is_dir(follow_symlinks=False):
                stack.append(path)
            elif item.is_symlink() and item.is_dir():
                yield path, "a link to a folder (not followed)"
            elif path.suffix.lower() not in IMAGE_EXTS:
                yield path, "not an image file name"
            else:
                yield path, None


def ready_crop(image: np.ndarray) -> np.ndarray | None:
    """A 28x28 image as the model's crop (white digit on black), or None when the image is not that size."""
    if image.shape[:2] != (MNIST_SIZE, MNIST_SIZE):
        return None
    gray = to_gray(image)
    ring = np.concatenate([gray[:BORDER].ravel(), gray[-BORDER:].ravel(), gray[:, :BORDER].ravel(), gray[:, -BORDER:].ravel()])
    return 255 - gray if ring.mean() > 127 else gray


def entry_crop(image: np.ndarray) -> tuple[np.ndarray | None, bool]:
    """(the crop of one entry, whether it went through the finder); the crop is None when the finder found nothing."""
    crop = ready_crop(image)
    if crop is not None:
        return crop, False
    regions = find_digits(image)
    if not regions:
        return None, True
    return max(regions, key=lambda r: r.box[2] * r.box[3]).crop, True


def load_labelled(folder: str | os.PathLike) -> Labelled:
    """Every usable entry of a labelled folder as a crop; DataError (one line) when none is usable."""
    folder = Path(folder)
    entries, skipped = list_entries(folder)
    crops, labels, files, photos = [], [], [], 0
    for e in entries:
        try:
            crop, found = entry_crop(read_image(e.path))
        except (ImageError, ValueError) as err:
            skipped.append((e.file, str(err)))
            continue
        if crop is None:
            skipped.append((e.file, "the digit finder found no digit on it"))
            continue
        crops.append(crop)
        labels.append(e.label)
        files.append(e.file)
        photos += found
    if not crops:
        raise DataError(f"{shown(folder)}: none of its {len(entries)} image file(s) could be used ({named(skipped)})")
    return Labelled(np.stack(crops), np.array(labels, np.int64), files, photos, skipped)


# ---------------------------------------------------------------- evaluation (`evaluate --real DIR`)
def labelled_rows(folder: str | os.PathLike) -> tuple[list[dict], list[tuple[str, str]]]:
    """DIR/<label>/* as the evaluation's rows (file, label, kind, source): kind `digit` (source: the label) or
    `reject` (to be read as nothing); and (file, why) for what was passed over."""
    entries, skipped = list_entries(folder)
    return [dict(file=e.file, label="" if e.label == REJECT else str(e.label), kind=REJECT_NAME if e.label == REJECT
                 else "digit", source=REJECT_NAME if e.label == REJECT else str(e.label)) for e in entries], skipped


def read_digits(clf, image: np.ndarray) -> list[Digit]:
    """What the runtime reads on one entry: a ready crop is read by the model alone (it is what the finder cut), a
    photo exactly as at classify time."""
    crop = ready_crop(image)
    if crop is None:
        return clf.classify(image)
    digit = clf.digit(clf.predict(crop[None])[0], (0, 0, MNIST_SIZE, MNIST_SIZE), crop=crop)
    return [digit] if digit else []
