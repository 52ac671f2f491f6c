"""Archive throughput of `classify --out`: images/s with 1 worker, N workers and the Ray engine on one folder of
generated frames, in interleaved rounds, medians side by side.

    python -m digitedge.tools.archivebench runs/archive --data-dir ../shared/mnist    # 2,000 frames, 3 rounds

The folder gets FRAMES 640x480 JPEG frames of MNIST test digits (digitedge.tools.synth: rows, single digits and
blank paper, seed fixed) unless it holds them already. Each run reads the whole folder into a fresh output, as
`digitedge classify DIR --out results.jsonl --workers K` (or `--engine ray`) does; rates are given overall (the
run's images over its whole time) and after start-up (the images after the first batch over the time after it:
worker processes spawned and models loaded; for Ray, a local Ray started too), and each run's records are
checked to be the same as the first's. Other processes' CPU during the runs is reported: ratios measured on a
busy machine are not the machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from digitedge.files import write_new
from digitedge.runtime.archive import Totals, all_cores, read_archive
from digitedge.tools.loadtest import machine_cpu_s, others_line

FRAMES, ROUNDS, SEED = 2000, 3, 15
MIX = (("row", 0.5), ("single", 0.4), ("blank", 0.1))  # what an archive of meter photos and forms holds, roughly
JPEG_QUALITY = 90
GOAL_WORKERS, GOAL_RAY = 1.8, 1.5
NAME = "frame_{:05d}.jpg"


def write_frames(folder: str | os.PathLike, n: int, data_dir=None, seed: int = SEED) -> list[Path]:
    """n generated frames in `folder` (kept: a folder that holds them already is used as it is)."""
    from digitedge.tools.synth import scenes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / NAME.format(i) for i in range(n)]
    if all(p.is_file() for p in paths):
        return paths
    counts = [round(n * share) for _, share in MIX]
    counts[0] += n - sum(counts)
    images = [s.image for (kind, _), count in zip(MIX, counts) for s in scenes(kind, count, seed, data_dir=data_dir)]
    for path, image in zip(paths, images):
        if not path.is_file():
            write_new(path, cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes())
    return paths


def cpu_s() -> float:
    """CPU seconds used by this process and its finished children (workers, a local Ray)."""
    return sum(r.ru_utime + r.ru_stime for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)))


@dataclass
class Config:
    engine: str
    workers: int
    runs: list = field(default_factory=list)  # (Totals, wall s, other processes' cores)

    @property
    def label(self) -> str:
        return f"{self.engine} x{self.workers}"

    def median(self, fn) -> float:
        return statistics.median(fn(t, wall) for t, wall, _ in self.runs)


def run_once(folder: Path, cfg: Config, scratch: Path) -> set[str]:
    """One run of the folder into a new output; the set of its records (without index, same for every engine)."""
    out = scratch / f"{cfg.engine}{cfg.workers}-{len(cfg.runs)}"
    out = out.with_suffix(".jsonl") if cfg.engine == "local" else out
    totals, machine0, ours0, t0 = Totals(), machine_cpu_s(), cpu_s(), time.perf_counter()
    read_archive([str(folder)], out, workers=cfg.workers, engine=cfg.engine, quiet=True, totals=totals,
                 err=open(os.devnull, "w"))
    wall = time.perf_counter() - t0
    others = max(0.0, (machine_cpu_s() - machine0) - (cpu_s() - ours0)) / wall
    cfg.runs.append((totals, wall, others))
    files = [out] if out.is_file() else sorted(out.glob("*.jsonl"))
    return {line for f in files for line in f.read_text().splitlines()}


def bench(folder: Path, workers: int, rounds: int, ray: bool) -> tuple[list[Config], bool]:
    """Interleaved rounds of every config; whether every run's records equal the first's."""
    configs = [Config("local", 1), Config("local", workers)] + ([Config("ray", workers)] if ray else [])
    same, first = True, None
    with tempfile.TemporaryDirectory(prefix="archivebench-") as scratch:
        for _ in range(rounds):
            for cfg in configs:
                records = run_once(folder, cfg, Path(scratch))
                first = records if first is None else first
                same &= records == first
    return configs, same


def report(configs: list[Config], n: int, rounds: int, same: bool, load_before, load_after) -> str:
    one = configs[0].median(lambda t, w: t.steady_rate())
    lines = [f"digitedge archive bench | {os.cpu_count()} cores | {platform.platform()} | Python {platform.python_version()}",
             f"{n} generated 640x480 JPEG frames (synth rows, single digits, blank paper of MNIST test digits, seed {SEED}); "
             f"medians of {rounds} interleaved rounds | load average {load_before} -> {load_after}", "",
             "engine    workers  start-up s  images/s overall  images/s after start-up  x 1 worker  other CPU (cores)"]
    for c in configs:
        steady = c.median(lambda t, w: t.steady_rate())
        lines.append(f"{c.engine:8s} {c.workers:>8} {c.median(lambda t, w: t.first_s or 0):>11.2f} "
                     f"{c.median(lambda t, w: t.done / w):>17.1f} {steady:>24.1f} {steady / one if one else 0:>11.2f} "
                     f"{max(o for *_, o in c.runs):>18.2f}")
    lines += ["", "Goals (images/s after start-up)"]
    for c in configs[1:]:
        goal = GOAL_WORKERS if c.engine == "local" else GOAL_RAY
        ratio = c.median(lambda t, w: t.steady_rate()) / one if one else 0
        lines.append(f"  {c.label:10s} / local x1   {ratio:5.2f} x  >= {goal}  {'met' if ratio >= goal else 'NOT met'}")
    lines.append(f"  records of every run identical: {'yes' if same else 'NO'}")
    lines.append(others_line(max(o for c in configs for *_, o in c.runs)))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.archivebench", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="where the frames are (generated there when missing)")
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--frames", type=int, default=FRAMES)
    p.add_argument("--workers", type=int, default=all_cores(), help="N (default: all cores)")
    p.add_argument("--rounds", type=int, default=ROUNDS)
    p.add_argument("--no-ray", action="store_true", help="leave the Ray engine out")
    p.add_argument("--format", choices=["table", "json"], default="table")
    a = p.parse_args(argv)
    for name, low, high in (("frames", 1, 1_000_000), ("workers", 2, 256), ("rounds", 1, 20)):
        if not low <= getattr(a, name) <= high:
            p.error(f"--{name} must be in {low}..{high}")
    ray = not a.no_ray
    if ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            p.error("Ray is not installed (pip install 'digitedge[ray]'), or pass --no-ray")
    write_frames(a.folder, a.frames, a.data_dir)
    load_before = [round(x, 2) for x in os.getloadavg()]
    configs, same = bench(Path(a.folder), a.workers, a.rounds, ray)
    load_after = [round(x, 2) for x in os.getloadavg()]
    if a.format == "json":
        print(json.dumps({"frames": a.frames, "rounds": a.rounds, "same_records": same, "configs": [
            {"engine": c.engine, "workers": c.workers, "runs": [
                {"wall_s": w, "start_up_s": t.first_s, "images": t.done, "steady_images_s": t.steady_rate(),
                 "other_cores": o} for t, w, o in c.runs]} for c in configs]}, indent=1))
    else:
        print(report(configs, a.frames, a.rounds, same, load_before, load_after))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
