"""Tracking: steadies per-frame readings of a video or stream. Pure Python (no OpenCV), unit-tested on its own.

Two majority votes over each tracked digit's last WINDOW frames: it is shown while seen in MIN_SEEN of them (appears
on its 3rd frame, survives a 1-2 frame miss, gone on the 3rd frame without it, so blank paper reads "" by then;
specks seen once or twice never show), with the label most of its sightings gave (a one-frame flip is outvoted, a
new label held for 3 frames wins 3:2).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from .classifier import Digit
from .preprocess import reading_order

WINDOW = 5
MIN_SEEN = 3
MATCH_IOU = 0.3  # box overlap that makes a detection the same digit as a track (hand shake moves a few px)


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(old_boxes, new_boxes, threshold: float = MATCH_IOU) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs (i_old, j_new), best overlap first (a handful of digits: no need for Hungarian)."""
    scored = sorted(((iou(a, b), i, j) for i, a in enumerate(old_boxes) for j, b in enumerate(new_boxes)), reverse=True)
    used_old, used_new, pairs = set(), set(), []
    for score, i, j in scored:
        if score < threshold:
            break
        if i not in used_old and j not in used_new:
            used_old.add(i), used_new.add(j)
            pairs.append((i, j))
    return pairs


@dataclass
class Track:
    """One digit followed across frames: its latest box, its recent sightings and their labels."""
    box: tuple[int, int, int, int]
    window: int
    votes: deque = field(default_factory=deque)  # (label, confidence) of its last `window` sightings
    seen: deque = field(default_factory=deque)  # True/False for each of the last `window` frames
    misses: int = 0  # frames in a row without a sighting

    def observe(self, digit: Digit) -> None:
        self.box, self.misses = tuple(digit.box), 0
        self._push(self.votes, (digit.label, digit.confidence))
        self._push(self.seen, True)

    def miss(self) -> None:
        self.misses += 1
        self._push(self.seen, False)

    def _push(self, q: deque, item) -> None:
        q.append(item)
        while len(q) > self.window:
            q.popleft()

    def label(self) -> tuple[int, float]:
        """Majority label; a tie goes to the higher summed confidence. Returns (label, its mean confidence)."""
        counts, conf = Counter(), Counter()
        for label, c in self.votes:
            counts[label] += 1
            conf[label] += c
        best = max(counts, key=lambda k: (counts[k], conf[k]))
        return best, conf[best] / counts[best]


class Stabilizer:
    """Steadies per-frame digits: follows boxes across frames by overlap and shows a digit while it was seen
    in `min_seen` of the last `window` frames, with the label most of those sightings gave.

    >>> stab = Stabilizer()
    >>> text_of(stab.update(clf.classify(frame)))
    """

    def __init__(self, window: int = WINDOW, min_seen: int = MIN_SEEN, match_iou: float = MATCH_IOU):
        if not 1 <= min_seen <= window:
            raise ValueError(f"need 1 <= min_seen <= window, got min_seen={min_seen}, window={window}")
        self.window, self.min_seen, self.match_iou = window, min_seen, match_iou
        self.tracks: list[Track] = []

    def update(self, digits: list[Digit]) -> list[Digit]:
        """This frame's detections in, the steady digits out (reading order, lines numbered from 0)."""
        pairs = match([t.box for t in self.tracks], [d.box for d in digits], self.match_iou)
        matched_tracks, matched_digits = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, j in pairs:
            self.tracks[i].observe(digits[j])
        for i, t in enumerate(self.tracks):
            if i not in matched_tracks:
                t.miss()
        for j, d in enumerate(digits):
            if j not in matched_digits:
                t = Track(tuple(d.box), self.window)
                t.observe(d)
                self.tracks.append(t)
        self.tracks = [t for t in self.tracks if t.misses < self.window]  # nothing left of it in the window
        return self.steady()

    def steady(self) -> list[Digit]:
        shown = []
        for t in self.tracks:
            if sum(t.seen) >= self.min_seen:
                label, conf = t.label()
                shown.append(Digit(label=label, confidence=conf, box=t.box))
        return reading_order(shown)  # the digit finder's own line grouping, so steady and raw texts agree

    def reset(self) -> None:
        self.tracks = []
