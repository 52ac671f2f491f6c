"""Acceptance check for `digitedge live`: render a camera-style clip from MNIST *test* digits, run the real
CLI on it (`digitedge live --source clip.mp4 --no-display --save annotated.mp4`), and score what it printed.

    python -m digitedge.tools.liveeval --data-dir /work/shared/mnist [--seed 0] [--shots 24] [--threads 1]

Checks: one JSON line per frame of the clip, a saved video with as many frames, and the share of frames whose
steady text equals the expected text (blank paper -> ""), leaving out the first SETTLE frames of each shot.
The unsmoothed text (`raw`) is scored the same way, to show what the smoothing adds. Results go to a new
folder runs/liveeval/exp, exp2, ... (clip, annotated video, JSON Lines, results.json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import cv2

from digitedge.files import next_run_dir
from digitedge.tools.synth import write_clip
from digitedge.training.data import DataError

SETTLE = 3  # frames after each cut that are not scored: the smoothing is still letting go of the last sheet
GOAL = 0.93  # share of scored frames read exactly
FPS, SECONDS_PER_SHOT, SIZE = 15, 1.0, (640, 480)
SHOTS = 24  # 8 each of single digits, digit rows and blank paper on average: 360 frames
SHOW_FAILURES = 12


def kind_of(text: str) -> str:
    return "blank" if not text else "single" if len(text) == 1 else "row"


def count_frames(path: str | Path) -> int:
    """Decoded frames of a video (the container's frame count is only an estimate)."""
    cap, n = cv2.VideoCapture(str(path)), 0
    try:
        while cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def run_live(clip: Path, video: Path, threads: int | None) -> tuple[list[dict], str, int]:
    """The CLI as a user runs it: (JSON records from stdout, stderr, exit code)."""
    cmd = [sys.executable, "-m", "digitedge.cli", "live", "--source", str(clip), "--no-display", "--save", str(video)]
    if threads:
        cmd += ["--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return records, done.stderr, done.returncode


def score(expected: list[str], got: list[str], shot_len: int, settle: int = SETTLE) -> dict:
    """Exact-text rate over frames past `settle` in each shot, overall and per kind of shot; and the misses."""
    hits, totals, misses = defaultdict(int), defaultdict(int), []
    for i, (want, have) in enumerate(zip(expected, got)):
        if i % shot_len < settle:
            continue
        for key in ("all", kind_of(want)):
            totals[key] += 1
            hits[key] += want == have
        if want != have:
            misses.append((i, want, have))
    scored = totals["all"]  # a short `got` is caught by the frame-count check, not here
    return {"exact": hits["all"] / scored if scored else 0.0, "scored": scored,
            "by_kind": {k: {"exact": hits[k] / totals[k], "frames": totals[k]} for k in ("single", "row", "blank") if totals[k]},
            "misses": misses}


def settle_frames(expected: list[str], got: list[str], shot_len: int) -> list[int]:
    """Per shot: the frame (0 = the cut) from which the text is right to the end of the shot; shot_len if never."""
    out = []
    for start in range(0, min(len(expected), len(got)), shot_len):
        want, have = expected[start:start + shot_len], got[start:start + shot_len]
        k = len(have)
        while k > 0 and have[k - 1] == want[k - 1]:
            k -= 1
        out.append(k)
    return out


def report(res: dict, raw: dict, frames: int, lines: int, saved: int, summary: str) -> str:
    rows = [summary.strip(), f"clip frames {frames}, JSON lines {lines}, saved video frames {saved}",
            f"exact text (first {SETTLE} frames of each shot not scored): {res['exact']:.1%} of {res['scored']} frames "
            f"(goal {GOAL:.0%}); unsmoothed {raw['exact']:.1%}"]
    rows += [f"  {k:<6} {v['exact']:6.1%} of {v['frames']} frames (unsmoothed {raw['by_kind'][k]['exact']:.1%})"
             for k, v in res["by_kind"].items()]
    settle = sorted(res["settle"])
    rows.append(f"new sheet read right from frame {settle[len(settle) // 2]} after the cut (median of {len(settle)} "
                f"shots; worst {settle[-1]})")
    if res["misses"]:
        rows.append(f"misses (frame: expected -> read), first {min(SHOW_FAILURES, len(res['misses']))} of {len(res['misses'])}:")
        rows += [f"  {i}: {w!r} -> {h!r}" for i, w, h in res["misses"][:SHOW_FAILURES]]
    return "\n".join(rows)


def evaluate(data_dir=None, seed: int = 0, shots: int = SHOTS, threads: int | None = None, out="runs/liveeval") -> int:
    run = next_run_dir(out)
    clip, video = run / "clip.mp4", run / "annotated.mp4"
    expected = write_clip(clip, data_dir, seed=seed, fps=FPS, size=SIZE, shots=shots, seconds_per_shot=SECONDS_PER_SHOT)
    records, stderr, code = run_live(clip, video, threads)
    (run / "live.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if code != 0:
        print(f"digitedge live failed (exit {code}):\n{stderr}", file=sys.stderr)
        return 1
    shot_len = max(1, round(FPS * SECONDS_PER_SHOT))
    res = score(expected, [r["text"] for r in records], shot_len)
    raw = score(expected, [r["raw"] for r in records], shot_len)
    res["settle"] = settle_frames(expected, [r["text"] for r in records], shot_len)
    frames, saved = count_frames(clip), count_frames(video)
    print(report(res, raw, frames, len(records), saved, stderr.strip().splitlines()[-1]))
    ok = len(records) == len(expected) == frames == saved and res["exact"] >= GOAL
    (run / "results.json").write_text(json.dumps({
        "seed": seed, "shots": shots, "frames": frames, "json_lines": len(records), "saved_frames": saved,
        "exact": res["exact"], "exact_unsmoothed": raw["exact"], "by_kind": res["by_kind"], "settle_frames": res["settle"], "goal": GOAL, "passed": ok,
        "misses": res["misses"]}, indent=1))
    print(f"{'PASS' if ok else 'FAIL'}; results saved to {run}")
    return 0 if ok else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.liveeval", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="folder with the four MNIST files (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shots", type=int, default=SHOTS, help=f"shots of {SECONDS_PER_SHOT:g} s (default {SHOTS})")
    p.add_argument("--threads", type=int, help="passed to `live --threads`")
    p.add_argument("--out", default="runs/liveeval", help="parent of the result folders (default runs/liveeval)")
    a = p.parse_args(argv)
    if a.shots < 1:
        p.error("--shots must be >= 1")
    try:
        return evaluate(a.data_dir, a.seed, a.shots, a.threads, a.out)
    except (DataError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
