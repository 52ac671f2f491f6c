"""`digitedge bench`: latency, throughput, size and accuracy of every installed CPU backend, side by side.

How it measures, and why:
- every backend starts from what the runtime hands its model: uint8 crops [N, 28, 28] -> logits. onnxruntime
  goes through `digitedge.runtime.OnnxModel` (the code users call, with the runtime's own session settings);
  OpenVINO gets its fastest Python path (shape made static per batch size, a pre-set shared input tensor),
  so a win over it is not a win over a handicapped rival; PyTorch is eager fp32 under `inference_mode`, on
  the checkpoint the .onnx was exported from;
- every measurement is warmed up, then timed in ROUNDS short bursts taken round-robin over all backends
  (order rotated each round), so clock drift and the neighbours' load hit every row alike;
- latency percentiles are over every timed call; throughput is batch / median batch time; each row's
  ratio is against the fastest row of its group (same metric, same thread count): 1.00 = fastest;
- end to end: `DigitClassifier.classify` on 640x480 camera-style frames (synthetic, from MNIST test digits),
  and the cold start of `digitedge classify one.png` as a fresh process (wall time and peak RSS).

torch and openvino are imported only here, lazily, and their rows are skipped with a reason when absent.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .. import __version__
from ..contract import DEFAULT_INPUT, INPUT_SHAPE, to_input
from ..errors import CheckpointError, DataError, DigitedgeError, ModelError
from ..files import digest
from ..runtime.classifier import DigitClassifier
from ..runtime.frame import Frame
from ..runtime.model import OnnxModel, check_threads, read_metadata, shipped_model_path
from ..runtime.pipeline import Pipeline, Stats, loop

# -- timing
ROUNDS = 10  # bursts per measurement, interleaved over all backends: drift hits every row alike
WARMUP_CALLS = 20  # untimed calls per measurement first: weights prepacked, pools started, caches filled
BURST_WARMUP_CALLS = 2  # untimed calls at each burst's start: another backend's threads just had the cores
MIN_BURST_CALLS = 3  # however small the budget, a burst times at least this many calls
PERCENTILES = (50, 90, 99)
# -- workloads
LATENCY_BATCH = 1
THROUGHPUT_BATCH = 64
ACCURACY_BATCH = 250  # divides both image counts below: one compiled shape per backend
ACCURACY_IMAGES = 10_000  # all of MNIST test
MAX_SECONDS = 600  # per measurement: about an hour for the whole table
QUICK_SECONDS = 0.5  # budgets below this are smoke runs: fewer accuracy images and cold starts (the output says so)
QUICK_ACCURACY_IMAGES = 1_000
COLD_REPS, QUICK_COLD_REPS = 5, 2  # timed cold starts (median), after one untimed run that warms the file cache
FRAME_SIZE = (640, 480)
FRAME_SEED = 0
ROW_DIGITS = 5
PAGE_SIZE, PAGE_LINES, PAGE_LINE_DIGITS = (1000, 1300), 6, 8  # a ruled notebook page with a red margin
DRAWN_TEXTS = ("7", "30514")  # the two frames' digits when there is no MNIST to render from
# -- where the PyTorch row's checkpoint is looked for (matched by the .onnx's checkpoint_sha256)
CHECKPOINT_GLOB = "runs/train/*/best.pt"
SHIPPED_FP32 = "digitedge.onnx"
INT8_SUFFIX = ".int8.onnx"
# -- goals (docs/benchmarks.md)
GOAL_INT8_VS_OPENVINO = 1.0  # runtime int8 p50 / OpenVINO int8 p50, batch 1, one thread
GOAL_FP32_VS_PYTORCH = 0.6  # runtime fp32 p50 / PyTorch eager p50, batch 1, one thread
GOAL_FRAME_MS = 2.5  # one-digit 640x480 frame -> digits, p50, one thread
GOAL_PAGE_MS = 80.0  # 1000x1300 notebook page -> digits, p50, one thread
GOAL_COLD_S = 0.3  # `digitedge classify one.png`, process start to exit
GOAL_COLD_RSS_MB = 120.0
# ru_maxrss is KiB on Linux, bytes on macOS
RSS_BYTES = 1 if sys.platform == "darwin" else 1024
MB = 1e6


class BenchError(DigitedgeError):
    """A bench argument the user can fix."""


# ---------------------------------------------------------------- backends
@dataclass
class Predictor:
    fn: Callable[[np.ndarray], np.ndarray]  # uint8 crops [N, 28, 28] -> logits [N, 10]
    prepare: Callable[[], None] = lambda: None  # before each burst: process-wide settings (torch's thread count)


@dataclass
class Backend:
    backend: str
    precision: str
    via: str  # what exactly is called
    file: Path | None
    make: Callable[[int], Predictor] | None  # threads -> predictor
    skipped: str | None = None


def onnxruntime_backend(path: Path, precision: str) -> Backend:
    via = "digitedge.runtime.OnnxModel.logits"
    if not path.is_file():
        return Backend("onnxruntime", precision, via, path, None, f"{path}: no such model (`digitedge export --quantize` writes it)")
    return Backend("onnxruntime", precision, via, path, lambda threads: Predictor(OnnxModel(path, threads).logits))


def openvino_backend(path: Path, precision: str) -> Backend:
    via = "openvino CompiledModel, static shape, pre-set input tensor"
    try:
        import openvino as ov
    except (ImportError, OSError):  # OSError: installed, but its native libraries do not load here
        return Backend("openvino", precision, via, path, None, "openvino not installed (pip install 'digitedge[bench]')")
    if not path.is_file():
        return Backend("openvino", precision, via, path, None, f"{path}: no such model")
    core = ov.Core()
    return Backend("openvino", precision, via, path, lambda threads: Predictor(_openvino_fn(ov, core, path, threads)))


def _openvino_fn(ov, core, path: Path, threads: int):
    """OpenVINO at its best from Python: one static-shape compile per batch size, inputs written in place."""
    requests = {}  # batch size -> (infer request, its input buffer, its output tensor)

    def request(n):
        model = core.read_model(str(path))
        model.reshape([n, *INPUT_SHAPE])  # static shapes: ~10 % faster than dynamic at batch 1 (measured)
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
        req, x = compiled.create_infer_request(), np.empty((n, *INPUT_SHAPE), np.float32)
        req.set_input_tensor(ov.Tensor(x, shared_memory=True))
        return req, x, req.get_output_tensor(0)

    def fn(crops):
        if len(crops) not in requests:
            requests[len(crops)] = request(len(crops))
        req, x, out = requests[len(crops)]
        np.multiply(crops[:, None], np.float32(1 / DEFAULT_INPUT.divisor), out=x, casting="unsafe")  # == to_input(), in place
        req.infer()
        return out.data

    return fn


def pytorch_backend(checkpoint: Path | None, reason: str | None) -> Backend:
    via = "torch eager, inference_mode"
    if checkpoint is None:
        return Backend("pytorch", "fp32", via, None, None, reason)
    try:
        import torch

        from ..training.checkpoint import load_model
    except ImportError:
        return Backend("pytorch", "fp32", via, checkpoint, None, "torch not installed (pip install 'digitedge[train]')")
    try:
        model, _ = load_model(checkpoint)
    except CheckpointError as e:
        return Backend("pytorch", "fp32", via, checkpoint, None, str(e))

    def make(threads):
        def fn(crops):
            with torch.inference_mode():
                return model(torch.from_numpy(to_input(crops))).numpy()
        return Predictor(fn, prepare=lambda: torch.set_num_threads(threads))  # torch's pool is process-wide

    return Backend("pytorch", "fp32", via, checkpoint, make)


def find_checkpoint(fp32: Path, checkpoint=None, pattern: str = CHECKPOINT_GLOB) -> tuple[Path | None, str | None]:
    """The checkpoint the .onnx was exported from: (path, None), or (None, why not)."""
    if checkpoint:
        return (Path(checkpoint), None) if Path(checkpoint).is_file() else (None, f"{checkpoint}: no such checkpoint")
    wanted = read_metadata(fp32).get("checkpoint_sha256")
    if not wanted:
        return None, f"{fp32.name} names no source checkpoint (metadata checkpoint_sha256)"
    for candidate in sorted(Path().glob(pattern)):
        if digest(candidate) == wanted:
            return candidate, None
    return None, f"no {pattern} with sha256 {wanted[:12]}... (the checkpoint {fp32.name} was exported from)"


def model_files(model) -> tuple[Path, Path]:
    """--model (an fp32 .onnx) or the shipped one, and its .int8.onnx twin."""
    fp32 = Path(model) if model else shipped_model_path(SHIPPED_FP32)
    if fp32.name.endswith(INT8_SUFFIX):
        raise BenchError(f"{fp32}: pass the fp32 model; its {INT8_SUFFIX} twin is benchmarked alongside it")
    if not fp32.is_file():
        raise ModelError(f"{fp32}: no such model; run `digitedge export --quantize` or pass --model")
    return fp32, fp32.with_suffix(INT8_SUFFIX)


def backends(fp32: Path, int8: Path, checkpoint=None) -> list[Backend]:
    ckpt, reason = find_checkpoint(fp32, checkpoint)
    return [pytorch_backend(ckpt, reason),
            onnxruntime_backend(fp32, "fp32"), onnxruntime_backend(int8, "int8"),
            openvino_backend(fp32, "fp32"), openvino_backend(int8, "int8")]


# ---------------------------------------------------------------- interleaved timing
@dataclass
class Runner:
    call: Callable[[], object]
    prepare: Callable[[], None]
    samples: list[float] = field(default_factory=list)  # seconds per timed call

    def percentiles_ms(self) -> list[float]:
        return [float(v) * 1e3 for v in np.percentile(self.samples, PERCENTILES)]


def _burst(runner: Runner, seconds: float) -> None:
    runner.prepare()
    for _ in range(BURST_WARMUP_CALLS):
        runner.call()
    end = time.perf_counter() + seconds
    n = 0
    while n < MIN_BURST_CALLS or time.perf_counter() < end:
        t0 = time.perf_counter()
        runner.call()
        runner.samples.append(time.perf_counter() - t0)
        n += 1


def interleave(runners: list[Runner], seconds: float, rounds: int = ROUNDS) -> None:
    """Warm every runner up, then give each `seconds` in total as `rounds` bursts, round-robin."""
    if not runners:
        return
    for r in runners:
        r.prepare()
        for _ in range(WARMUP_CALLS):
            r.call()
    for i in range(rounds):
        shift = i % len(runners)  # rotate the order so no backend always runs right after the same one
        for r in runners[shift:] + runners[:shift]:
            _burst(r, seconds / rounds)


# ---------------------------------------------------------------- inputs
def load_test(data_dir):
    """MNIST test split, or (None, reason): never downloads, a benchmark must not wait on the network."""
    from ..training.data import load_mnist

    try:
        return load_mnist("test", data_dir, download=False), None
    except DataError as e:
        return None, f"no MNIST test data ({e})"


def model_inputs(test) -> np.ndarray:
    """THROUGHPUT_BATCH crops: real test digits when there are any (the first LATENCY_BATCH time batch 1)."""
    if test is not None:
        return np.ascontiguousarray(test.images[:THROUGHPUT_BATCH])
    return np.random.default_rng(FRAME_SEED).integers(0, 256, (THROUGHPUT_BATCH, *INPUT_SHAPE[1:]), dtype=np.uint8)


@dataclass
class Scene:
    name: str
    frame: Frame  # a still, as the source layer yields it
    expected: str


def scene(name: str, image: np.ndarray, expected: str) -> Scene:
    return Scene(name, Frame(name, image=image), expected)


def frames(test) -> list[Scene]:
    """A 640x480 camera-style frame with one digit and one with ROW_DIGITS: from MNIST, else drawn by cv2."""
    rng = np.random.default_rng(FRAME_SEED)
    if test is None:
        return [scene(f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}, {len(t)} digit{'s' * (len(t) > 1)} (cv2 font)", drawn_frame(t), t)
                for t in DRAWN_TEXTS]
    from .synth import render_page, render_row, render_single

    labels = [int(v) for v in test.labels[:1 + ROW_DIGITS]]
    one = render_single(test.images[0], labels[0], rng, size=FRAME_SIZE)
    row = render_row(list(test.images[1:1 + ROW_DIGITS]), labels[1:], rng, size=FRAME_SIZE)
    first = 1 + ROW_DIGITS
    lines = [[(test.images[first + PAGE_LINE_DIGITS * i + j], int(test.labels[first + PAGE_LINE_DIGITS * i + j]))
              for j in range(PAGE_LINE_DIGITS)] for i in range(PAGE_LINES)]
    page = render_page(lines, rng, size=PAGE_SIZE)
    return [scene(f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}, 1 digit", one.image, one.text),
            scene(f"{FRAME_SIZE[0]}x{FRAME_SIZE[1]}, {ROW_DIGITS} digits", row.image, row.text),
            scene(f"{PAGE_SIZE[0]}x{PAGE_SIZE[1]} notebook page, {PAGE_LINES}x{PAGE_LINE_DIGITS} digits", page.image,
                  page.text)]


def drawn_frame(text: str) -> np.ndarray:
    """Dark handwriting-like digits on off-white paper with sensor noise, when MNIST is not available."""
    w, h = FRAME_SIZE
    img = np.full((h, w, 3), 225, np.uint8)
    scale = 6.0 if len(text) == 1 else 3.0
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale, 12)
    cv2.putText(img, text, ((w - tw) // 2, (h + th) // 2), cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, scale, (40, 40, 40), 12,
                cv2.LINE_AA)
    noise = np.random.default_rng(FRAME_SEED).normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- rows
def model_rows(found: list[Backend], thread_counts: list[int], test, n_acc: int) -> tuple[list[dict], list[Runner]]:
    """One row per backend x thread count (runners not yet timed), accuracy filled in; a skipped backend: one row."""
    crops = model_inputs(test)
    rows, runners = [], []
    for b in found:
        base = {"kind": "model", "backend": b.backend, "precision": b.precision, "via": b.via,
                "file": str(b.file) if b.file else None, "size_bytes": b.file.stat().st_size if b.file and b.file.is_file() else None}
        predictors, failure = (None, b.skipped) if b.skipped else load_predictors(b, thread_counts, crops)
        if failure:
            rows.append(base | empty_metrics(threads=None, skipped=failure))
            continue
        accuracy, acc_reason = measure_accuracy(predictors[-1], test, n_acc)
        for t, p in zip(thread_counts, predictors):
            lat = Runner(lambda p=p: p.fn(crops[:LATENCY_BATCH]), p.prepare)
            thr = Runner(lambda p=p: p.fn(crops), p.prepare)
            runners += [lat, thr]
            rows.append(base | empty_metrics(threads=t) | {"accuracy": accuracy, "accuracy_images": n_acc if accuracy is not None else None,
                                                           "accuracy_skipped": acc_reason, "_latency": lat, "_throughput": thr})
    return rows, runners


def load_predictors(b: Backend, thread_counts: list[int], crops: np.ndarray) -> tuple[list[Predictor] | None, str | None]:
    """A predictor per thread count, each called once at both batch sizes so a model a backend cannot
    load or compile becomes a skipped row rather than a crash in the middle of the timing."""
    try:
        predictors = [b.make(t) for t in thread_counts]
        for p in predictors:
            p.prepare()
            p.fn(crops[:LATENCY_BATCH]), p.fn(crops)
        return predictors, None
    except (RuntimeError, ValueError, DigitedgeError) as e:  # OpenVINO raises RuntimeError, the runtime ModelError
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        return None, f"{b.backend} could not run {b.file}: {first[:200]}"


def empty_metrics(threads, skipped=None) -> dict:
    return {"threads": threads, "batch": LATENCY_BATCH, "p50_ms": None, "p90_ms": None, "p99_ms": None, "ratio": None,
            "throughput_batch": THROUGHPUT_BATCH, "throughput_ips": None, "throughput_ratio": None,
            "accuracy": None, "accuracy_images": None, "skipped": skipped}


def measure_accuracy(p: Predictor, test, n: int) -> tuple[float | None, str | None]:
    if test is None:
        return None, "no MNIST test data"
    p.prepare()
    images, labels = test.images[:n], test.labels[:n]
    hits = sum(int((p.fn(images[i:i + ACCURACY_BATCH]).argmax(1) == labels[i:i + ACCURACY_BATCH]).sum())
               for i in range(0, len(images), ACCURACY_BATCH))
    return hits / len(images), None


def frame_rows(model: Path, scenes: list[Scene]) -> tuple[list[dict], list[Runner]]:
    """Each frame through the loop every verb runs (pipeline.loop: classify, and nothing drawn as no sink wants
    pictures), one thread: what a camera loop on one core pays per frame."""
    if not model.is_file():
        return [{"kind": "frame", "skipped": f"{model}: no such model"}], []
    pipe = Pipeline(DigitClassifier(model, threads=1))
    rows, runners = [], []
    for sc in scenes:
        r = Runner(lambda sc=sc: loop([sc.frame], pipe, [], Stats()), lambda: None)
        runners.append(r)
        rows.append({"kind": "frame", "name": sc.name, "backend": "onnxruntime", "precision": precision_of(model),
                     "via": "digitedge.runtime.pipeline.loop", "file": str(model), "threads": 1,
                     "p50_ms": None, "p90_ms": None, "p99_ms": None, "ratio": None,
                     "expected": sc.expected, "read": pipe.process(sc.frame).text, "skipped": None, "_latency": r})
    return rows, runners


def precision_of(model: Path) -> str:
    return "int8" if model.name.endswith(INT8_SUFFIX) else "fp32"


def fill_timings(rows: list[dict]) -> None:
    """Percentiles and throughput from the runners, then ratios to the fastest row of each group."""
    for row in rows:
        lat, thr = row.pop("_latency", None), row.pop("_throughput", None)
        if lat is not None:
            row["p50_ms"], row["p90_ms"], row["p99_ms"] = lat.percentiles_ms()
            row["calls"] = len(lat.samples)
        if thr is not None:
            row["throughput_ips"] = THROUGHPUT_BATCH / float(np.median(thr.samples))
            row["throughput_calls"] = len(thr.samples)
    for group in {(r["kind"], r.get("threads")) for r in rows}:
        members = [r for r in rows if (r["kind"], r.get("threads")) == group and r.get("p50_ms")]
        best = min((r["p50_ms"] for r in members), default=None)
        fastest = max((r["throughput_ips"] for r in members if r.get("throughput_ips")), default=None)
        for r in members:
            r["ratio"] = r["p50_ms"] / best
            if r.get("throughput_ips"):
                r["throughput_ratio"] = fastest / r["throughput_ips"]


# ---------------------------------------------------------------- cold start
def classify_command(image: Path, model: Path | None) -> list[str]:
    """`digitedge classify IMAGE` as a user runs it: the console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("digitedge")
    exe = str(script) if script.is_file() else shutil.which("digitedge")
    argv = [exe] if exe else [sys.executable, "-c", "import sys; from digitedge.cli import main; sys.exit(main())"]
    return argv + ["classify", str(image)] + (["--model", str(model)] if model else [])


# Linux carries a process's peak RSS over exec, so a child spawned straight from this (large) process would
# report this process's size: a small launcher process starts and times the command instead.
LAUNCHER = """
import json, os, sys, time
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - t0, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]))
"""


def spawn(argv: list[str], log: Path) -> tuple[float, float, int]:
    """Run argv to exit, output to log: (wall seconds, peak RSS in MB of that process alone, exit code)."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, str(log), *argv], capture_output=True, text=True, check=True)
    wall, maxrss, code = json.loads(done.stdout)
    return wall, maxrss * RSS_BYTES / MB, code


def cold_start_row(sc: Scene, model: Path | None, reps: int) -> dict:
    row = {"kind": "cold_start", "command": None, "runs": reps, "wall_s": None, "wall_min_s": None, "wall_max_s": None,
           "peak_rss_mb": None, "read": None, "expected": sc.expected, "skipped": None}
    if not (hasattr(os, "posix_spawn") and hasattr(os, "wait4")):
        return row | {"skipped": "needs os.posix_spawn and os.wait4 (POSIX)"}
    with tempfile.TemporaryDirectory() as tmp:
        image, log = Path(tmp) / "one.png", Path(tmp) / "log.txt"
        cv2.imwrite(str(image), sc.frame.image)
        argv = classify_command(image, model)
        row["command"] = "digitedge classify one.png" + (f" --model {model}" if model else "")
        try:
            runs = [spawn(argv, log) for _ in range(reps + 1)][1:]  # the first run only warms the file cache
        except (OSError, subprocess.CalledProcessError) as e:  # the launcher itself failed: no such executable...
            detail = (getattr(e, "stderr", None) or str(e)).strip().splitlines() or [e.__class__.__name__]
            return row | {"skipped": f"could not start {argv[0]}: {detail[-1][:200]}"}
        failed = [code for _, _, code in runs if code != 0]
        if failed:
            last = (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
            return row | {"skipped": f"`digitedge classify` exited {failed[0]}: {last[:200]}"}
        row["read"] = log.read_text(errors="replace").strip()[-200:]
    walls, rss = [w for w, _, _ in runs], [m for _, m, _ in runs]
    return row | {"wall_s": float(np.median(walls)), "wall_min_s": min(walls), "wall_max_s": max(walls),
                  "peak_rss_mb": float(np.median(rss))}


# ---------------------------------------------------------------- machine and goals
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to what platform knows
    return platform.processor() or platform.machine()


def version_of(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """1/5/15-minute load: on a shared machine the first thing to read next to the numbers."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_info(thread_counts: list[int]) -> dict:
    import onnxruntime

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "threads": thread_counts, "load_average": load_average(),
            "versions": {"digitedge": __version__, "onnxruntime": onnxruntime.__version__, "openvino": version_of("openvino"),
                         "torch": version_of("torch"), "opencv": cv2.__version__, "numpy": np.__version__}}


def find_row(rows, **want) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in want.items()) and r.get("p50_ms")), None)


def goal(name, value, limit, unit, why_missing) -> dict:
    return {"goal": name, "value": value, "limit": limit, "unit": unit,
            "met": None if value is None else value <= limit, "note": why_missing if value is None else None}


def ratio_goal(name, rows, num, den, limit) -> dict:
    a, b = find_row(rows, kind="model", threads=1, **num), find_row(rows, kind="model", threads=1, **den)
    value = a["p50_ms"] / b["p50_ms"] if a and b else None
    return goal(name, value, limit, "x", "a row it needs was skipped")


def goals(rows: list[dict]) -> list[dict]:
    frame = next((r for r in rows if r["kind"] == "frame" and r.get("p50_ms")), None)
    page = next((r for r in rows if r["kind"] == "frame" and "page" in r.get("name", "") and r.get("p50_ms")), None)
    cold = next((r for r in rows if r["kind"] == "cold_start"), None) or {}
    return [
        ratio_goal("runtime int8 p50 / OpenVINO int8 p50 (batch 1, 1 thread)", rows,
                   dict(backend="onnxruntime", precision="int8"), dict(backend="openvino", precision="int8"), GOAL_INT8_VS_OPENVINO),
        ratio_goal("runtime fp32 p50 / PyTorch eager p50 (batch 1, 1 thread)", rows,
                   dict(backend="onnxruntime", precision="fp32"), dict(backend="pytorch", precision="fp32"), GOAL_FP32_VS_PYTORCH),
        goal("640x480 one-digit frame -> digits, p50 (1 thread)", frame and frame["p50_ms"], GOAL_FRAME_MS, "ms",
             "frame row skipped"),
        goal("1000x1300 notebook page -> digits, p50 (1 thread)", page and page["p50_ms"], GOAL_PAGE_MS, "ms",
             "page row skipped (needs MNIST)"),
        goal("`digitedge classify one.png` cold start, median wall", cold.get("wall_s"), GOAL_COLD_S, "s",
             cold.get("skipped") or "cold start skipped"),
        goal("`digitedge classify one.png` peak RSS", cold.get("peak_rss_mb"), GOAL_COLD_RSS_MB, "MB",
             cold.get("skipped") or "cold start skipped"),
    ]


# ---------------------------------------------------------------- entry point
def benchmark(model=None, threads=None, seconds=2.0, data_dir=None, checkpoint=None, with_goals=False) -> dict:
    """Run everything; return the JSON document (machine, settings, rows, and the project's goals when asked)."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise BenchError(f"--seconds {seconds!r}: allowed a finite number in (0, {MAX_SECONDS}]")
    try:
        check_threads(threads)
    except ValueError as e:
        raise BenchError(f"--threads: {e}") from None
    fp32, int8 = model_files(model)
    all_cores = threads or os.cpu_count() or 1
    thread_counts = sorted({1, all_cores})
    quick = seconds < QUICK_SECONDS
    test, data_reason = load_test(data_dir)
    n_acc = min(QUICK_ACCURACY_IMAGES if quick else ACCURACY_IMAGES, len(test.labels)) if test is not None else 0
    info = machine_info(thread_counts)
    rows, runners = model_rows(backends(fp32, int8, checkpoint), thread_counts, test, n_acc)
    e2e_model = int8 if int8.is_file() else fp32  # the runtime's default precision when there is one
    scenes = frames(test)
    more_rows, more_runners = frame_rows(e2e_model, scenes)
    interleave(runners + more_runners, seconds)
    rows += more_rows
    fill_timings(rows)
    cold_model = None if model is None else e2e_model  # the shipped default needs no --model: the command users type
    rows.append(cold_start_row(scenes[0], cold_model, QUICK_COLD_REPS if quick else COLD_REPS))
    info["load_average_after"] = load_average()
    settings = {"seconds_per_measurement": seconds, "rounds": ROUNDS, "warmup_calls": WARMUP_CALLS,
                "burst_warmup_calls": BURST_WARMUP_CALLS, "latency_batch": LATENCY_BATCH, "throughput_batch": THROUGHPUT_BATCH,
                "accuracy_images": n_acc, "data": data_reason or "MNIST test", "quick": quick, "percentiles": list(PERCENTILES)}
    doc = {"digitedge_bench": 1, "machine": info, "settings": settings, "rows": rows}
    return doc | ({"goals": goals(rows)} if with_goals else {})


def run_bench(model=None, threads=None, seconds=2.0, fmt="table", data_dir=None, checkpoint=None, goals=False) -> int:
    doc = benchmark(model, threads, seconds, data_dir, checkpoint, with_goals=goals)
    print(json.dumps(doc, indent=1) if fmt == "json" else format_report(doc))
    return 0


# ---------------------------------------------------------------- table
def _f(v, spec):
    """format(v, spec), or a dash as wide as the spec's width when there is no value."""
    width = int(spec.split(".")[0] or 0)
    return "-".rjust(width) if v is None else format(v, spec)


def _size(n):
    return "-" if n is None else f"{n / MB:.2f} MB"


def format_report(doc: dict) -> str:
    m, s = doc["machine"], doc["settings"]
    v = m["versions"]
    lines = [f"digitedge bench {v['digitedge']} | {m['cpu']}, {m['cores']} cores | {m['platform']} | Python {m['python']}",
             "onnxruntime {onnxruntime} | openvino {openvino} | torch {torch} | opencv {opencv} | numpy {numpy}".format(
                 **{k: v[k] or "absent" for k in v}),
             f"threads {'/'.join(map(str, m['threads']))} | {s['seconds_per_measurement']} s per measurement in {s['rounds']} "
             f"interleaved bursts after {s['warmup_calls']} warm-up calls | load average {m['load_average']} -> {m['load_average_after']}",
             "", format_models(doc["rows"], s), "", format_frames(doc["rows"]), "", format_cold(doc["rows"])]
    if "goals" in doc:  # the project's own targets: internal, shown with --goals
        lines += ["", format_goals(doc["goals"])]
    return "\n".join(lines)


def format_models(rows, s) -> str:
    accuracy = f"on {s['accuracy_images']:,} MNIST test images" if s["accuracy_images"] else f"n/a: {s['data']}"
    head = (f"Model: batch-{LATENCY_BATCH} latency (ms), batch-{THROUGHPUT_BATCH} throughput; x = times the fastest "
            f"of the same thread count; accuracy {accuracy}")
    cols = f"{'backend':12} {'prec':4} {'thr':>3} {'p50':>7} {'p90':>7} {'p99':>7} {'x':>5} {'img/s':>7} {'x':>5} {'size':>9} {'acc':>7}"
    out = [head, cols]
    for r in sorted((r for r in rows if r["kind"] == "model" and not r["skipped"]), key=lambda r: (r["threads"], r["p50_ms"])):
        out.append(f"{r['backend']:12} {r['precision']:4} {r['threads']:>3} {_f(r['p50_ms'], '7.3f')} {_f(r['p90_ms'], '7.3f')} "
                   f"{_f(r['p99_ms'], '7.3f')} {_f(r['ratio'], '5.2f')} {_f(r['throughput_ips'], '7.0f')} "
                   f"{_f(r['throughput_ratio'], '5.2f')} {_size(r['size_bytes']):>9} {_f(r['accuracy'], '7.4f')}")
    out += [f"skipped: {r['backend']} {r['precision']}: {r['skipped']}" for r in rows if r["kind"] == "model" and r["skipped"]]
    return "\n".join(out)


def format_frames(rows) -> str:
    out = ["End to end: a frame through the classify/live loop (pipeline.loop), 1 thread (ms per frame; lines "
           "of a reading joined by /)",
           f"{'frame':36} {'model':5} {'p50':>7} {'p90':>7} {'p99':>7} {'x':>5}  read / expected"]

    def text(t):
        return t.replace("\n", "/") if t else "-"

    for r in (r for r in rows if r["kind"] == "frame"):
        if r["skipped"]:
            out.append(f"skipped: {r['skipped']}")
            continue
        out.append(f"{r['name']:36} {r['precision']:5} {_f(r['p50_ms'], '7.2f')} {_f(r['p90_ms'], '7.2f')} {_f(r['p99_ms'], '7.2f')} "
                   f"{_f(r['ratio'], '5.2f')}  {text(r['read'])} / {text(r['expected'])}")
    return "\n".join(out)


def format_cold(rows) -> str:
    r = next(r for r in rows if r["kind"] == "cold_start")
    if r["skipped"]:
        return f"Cold start: skipped: {r['skipped']}"
    return (f"Cold start: `{r['command']}`, median of {r['runs']}: {r['wall_s']:.3f} s wall "
            f"(min {r['wall_min_s']:.3f}, max {r['wall_max_s']:.3f}), peak RSS {r['peak_rss_mb']:.0f} MB")


def format_goals(gs) -> str:
    out = ["Goals"]
    for g in gs:
        verdict = "n/a: " + g["note"] if g["met"] is None else ("met" if g["met"] else "NOT met")
        out.append(f"  {g['goal']:58} {_f(g['value'], '8.3f')} {g['unit']:2} <= {g['limit']:<5} {verdict}")
    return "\n".join(out)
