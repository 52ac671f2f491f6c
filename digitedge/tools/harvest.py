"""What the runtime's digit finder cuts out of generated scenes, labelled: the model's training data for the
real world (issue 10: train on what the runtime sees).

Each scene is rendered with its digits' boxes known; `find_digits` (the runtime's own finder) proposes regions;
a region that holds one digit whole is that digit, and a region that holds none (a rule or grid piece, a page
edge, a separator, a letter) or several is `REJECT`: the model learns to spread its belief over all ten classes
for those, so the finder can stay permissive. Regions in between, parts of one digit and stray sticks (which
look like whole digits once normalised) are left out.

    python -m digitedge.tools.harvest --data-dir ../shared/mnist --scenes 40   # the finder's recall per kind
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context

import numpy as np

from ..runtime.preprocess import find_digits
from ..training.data import Split
from . import synth
from .stress import STRESS_KINDS, stress_scene
from .synth import KINDS

REJECT = -1
WHOLE = 0.75  # a region holds a digit when it covers this share of the digit's box ...
PURE = 0.5  # ... and this share of the region is that digit's box
MERGED = 0.5  # a region covering this share of two digits' boxes holds both
STRAY = 0.2  # a region that overlaps no digit's box by more than this share of itself: not a digit at all ...
STICK = 0.4  # ... unless it is a stick narrower than this x its height, which no model can tell from a 1
# scenes per harvest, by kind: camera-style kinds and every stress kind, writing from MNIST *train* digits
MIX = {"single": 1.0, "row": 1.0, "page": 0.15, "form": 0.3, "chalk": 0.3, "blank": 0.3,
       "canvas": 1.0, "grid": 0.6, "border": 0.6, "desk": 0.2, "pencil": 0.5, "separators": 0.6, "slope": 0.4,
       "cheque": 0.6, "styles": 0.5, "boxes": 0.4, "underline": 0.4}


@dataclass
class Harvest:
    crops: np.ndarray  # uint8 [N, 28, 28], the finder's crops
    labels: np.ndarray  # int64 [N], digit or REJECT


def overlap(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return max(0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0, min(ay + ah, by + bh) - max(ay, by))


def label_region(box, truth: list[tuple[tuple, int]]) -> int | None:
    """The digit a region holds whole; REJECT for a stray region (a rule, grid or page-edge piece, a
    separator, a letter) or one holding several digits; None (left out of training) for anything else:
    a region in between, a part of one digit (the top loop of an 8 is a perfect 0), or a stray stick (a
    piece of a rule is a perfect 1: the finder's rules must tell them apart, the model cannot)."""
    area = max(1, box[2] * box[3])
    covers = [(overlap(box, g) / max(1, g[2] * g[3]), overlap(box, g) / area, label) for g, label in truth]
    whole = [c for c in covers if c[0] >= WHOLE and c[1] >= PURE]
    big = [c for c in covers if c[0] >= MERGED]
    if len(whole) == 1 and len(big) == 1:
        return whole[0][2]
    if len(big) >= 2:
        return REJECT
    if sum(c[1] for c in covers) <= STRAY and box[2] >= STICK * box[3]:
        return REJECT
    return None


def scene_truth(scene) -> list[tuple[tuple, int]]:
    digits = [int(c) for c in scene.text if c.isdigit()]
    return list(zip(scene.boxes, digits))


def kind_scenes(kind: str, n: int, seed: int, data_dir, split: str, exclude=None, first: int = 0):
    """Scenes first..first+n-1 of a kind, writing with an MNIST split less the `exclude`d images."""
    data = synth._dataset(data_dir, split)
    if exclude is not None and len(exclude):
        keep = np.setdiff1d(np.arange(len(data.labels)), exclude)
        data = Split(data.images[keep], data.labels[keep])
    for i in range(first, first + n):
        yield stress_scene(kind, data, seed, i) if kind in STRESS_KINDS else synth.scene(kind, data, seed, i)


def harvest_kind(args) -> tuple[list, list, Counter]:
    """(crops, labels, counts) for n scenes of one kind; counts: digits found whole, missed, rejects."""
    kind, n, seed, data_dir, split, exclude, first = args
    crops, labels, counts = [], [], Counter()
    for scene in kind_scenes(kind, n, seed, data_dir, split, exclude, first):
        truth = scene_truth(scene)
        found = set()
        for region in find_digits(scene.image):
            label = label_region(region.box, truth)
            if label is None:
                counts["unclear"] += 1
                continue
            crops.append(region.crop)
            labels.append(label)
            if label == REJECT:
                counts["reject"] += 1
            else:
                found.update(i for i, (g, _) in enumerate(truth) if overlap(region.box, g) / max(1, g[2] * g[3]) >= WHOLE)
        counts["digits"] += len(truth)
        counts["whole"] += len(found)
        counts["scenes"] += 1
    return crops, labels, counts


def harvest(scenes_total: int, seed: int, data_dir=None, split: str = "train", workers: int = 1,
            mix: dict | None = None, exclude=None, log=None) -> Harvest:
    """Crops and labels from about `scenes_total` scenes spread over the kinds of `mix`, written with the
    digits of an MNIST split less the `exclude`d ones (a validation hold-out)."""
    mix = mix or MIX
    share = sum(mix.values())
    jobs = []
    for kind, weight in mix.items():
        count = max(1, round(scenes_total * weight / share))
        chunk = max(1, count // (4 * workers))  # several chunks per kind: the pool stays busy to the end
        jobs += [(kind, min(chunk, count - start), seed, data_dir, split, exclude, start) for start in range(0, count, chunk)]
    crops, labels, counts = [], [], Counter()
    t0 = time.perf_counter()
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            results = list(pool.imap(harvest_kind, jobs))  # in job order: the same harvest every time
    else:
        results = [harvest_kind(job) for job in jobs]
    for c, lab, cnt in results:
        crops += c
        labels += lab
        counts += cnt
    if log:
        log(f"harvest: {counts['scenes']} scenes, {len(labels)} crops ({counts['reject']} rejects), "
            f"{counts['whole']}/{counts['digits']} digits found whole, {time.perf_counter() - t0:.0f}s")
    if not crops:
        return Harvest(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.int64))
    return Harvest(np.stack(crops), np.array(labels, np.int64))


def finder_report(n: int, seed: int, data_dir, split: str = "test", log=print) -> dict:
    """Per kind: share of digits the finder cuts out whole, and non-digit regions per scene."""
    out = {}
    for kind in list(KINDS) + list(STRESS_KINDS):
        _, labels, c = harvest_kind((kind, n, seed, data_dir, split, None, 0))
        out[kind] = (c["whole"] / max(1, c["digits"]), c["reject"] / max(1, c["scenes"]))
        log(f"{kind:10s}: {c['whole']}/{c['digits']} digits found whole ({out[kind][0]:.1%}), "
            f"{out[kind][1]:.2f} non-digit regions per scene, {c['unclear']} unclear")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.harvest", description="the digit finder's recall per scene kind")
    p.add_argument("--data-dir", help="folder with the four MNIST files (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--scenes", type=int, default=40, help="scenes per kind (default 40)")
    p.add_argument("--seed", type=int, default=2026)
    args = p.parse_args(argv)
    finder_report(args.scenes, args.seed, args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
