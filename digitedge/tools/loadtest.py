"""Load test of `digitedge serve` on 127.0.0.1: N keep-alive clients post 640x480 JPEG frames for a fixed time,
once per --workers value; requests/s, latency percentiles, errors, memory, and the other processes' CPU.

    python -m digitedge.tools.loadtest --data-dir ../shared/mnist        # workers 1 and 2, 16 clients, 20 s

Bounded: loopback only, a fixed duration, a 30 s cap on each request. The clients are plain asyncio sockets
(tens of microseconds per request) so they take little CPU from the server on the same machine. Frames are
camera-style photos of MNIST test digits (digitedge.tools.synth); every answer is checked against what the
runtime itself reads on the same frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from digitedge.tools.serverproc import ServerProcess

SIZE = (640, 480)
JPEG_QUALITY = 85
REQUEST_TIMEOUT_S = 30.0
CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
GOAL_RATIO, GOAL_RSS = 1.6, 1.10
IDLE_CORES = 0.15  # other processes' CPU (in cores) above which the machine is reported as not idle


# ------------------------------------------------------------ frames
def make_frames(n: int, data_dir=None, seed: int = 0) -> tuple[list[bytes], list[str], str]:
    """n JPEG frames, what the runtime reads on each, and where they came from."""
    from digitedge.errors import DataError
    from digitedge.runtime import DigitClassifier, text_of

    try:
        from digitedge.tools.synth import scenes

        images = [s.image for kind in ("single", "row") for s in scenes(kind, (n + 1) // 2, seed, data_dir=data_dir)][:n]
        source = f"synth single + row scenes of MNIST test digits, seed {seed}"
    except (DataError, OSError):  # no MNIST here: digits drawn with a cv2 font instead
        images = []
        for i in range(n):
            img = np.full((SIZE[1], SIZE[0], 3), 232, np.uint8)
            cv2.putText(img, str(1000 + 379 * i)[: 1 + i % 4], (60, 300), cv2.FONT_HERSHEY_SIMPLEX, 4, (30, 30, 30), 10)
            images.append(img)
        source = "cv2 font digits (no MNIST found)"
    clf = DigitClassifier()
    frames, texts = [], []
    for image in images:
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
        frames.append(data)
        texts.append(text_of(clf.classify(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))))
    return frames, texts, source


# ------------------------------------------------------------ clients
@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    wrong: int = 0
    first: float = 0.0
    last: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


async def one(reader, writer, request: bytes) -> tuple[int, bytes, bytes]:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    body = await reader.readexactly(int(CONTENT_LENGTH.search(head)[1]))
    return int(head[9:12]), head, body


async def client(host, port, requests, expected, offset, stop_at, tally: Tally) -> None:
    conn, i = None, offset
    while time.perf_counter() < stop_at:
        k, i = i % len(requests), i + 1
        t0 = time.perf_counter()
        try:
            conn = conn or await asyncio.open_connection(host, port)
            status, head, body = await asyncio.wait_for(one(*conn, requests[k]), REQUEST_TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TypeError) as e:
            tally.error(type(e).__name__)
            if conn:
                conn[1].close()
            conn = None
            continue
        t1 = time.perf_counter()
        tally.latencies.append(t1 - t0)
        tally.last = max(tally.last, t1)
        if status != 200:
            tally.error(f"HTTP {status}")
        elif expected[k] not in body:
            tally.wrong += 1
        if b"connection: close" in head.lower():
            conn[1].close()
            conn = None
    if conn:
        conn[1].close()


async def load(url: str, frames: list[bytes], texts: list[str], clients: int, seconds: float) -> Tally:
    host, port = url.removeprefix("http://").split(":")
    requests = [(f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
                 f"Content-Length: {len(f)}\r\n\r\n").encode() + f for f in frames]
    expected = [b'"text":' + json.dumps(t).encode() + b"," for t in texts]
    tally = Tally()
    tally.first = time.perf_counter()
    stop_at = tally.first + seconds
    await asyncio.gather(*(client(host, int(port), requests, expected, i * 7, stop_at, tally) for i in range(clients)))
    return tally


# ------------------------------------------------------------ the machine
def machine_cpu_s() -> float:
    """CPU seconds spent busy on all cores since boot (/proc/stat): counts processes that come and go too."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pids) -> float:
    """CPU seconds used so far by these processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def busiest_others(ours: set[int]) -> list[str]:
    """Other processes using CPU right now (a one-second look), for the report."""
    def ticks():
        out = {}
        for entry in os.scandir("/proc"):
            if entry.name.isdigit() and int(entry.name) not in ours:
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                out[int(entry.name)] = (stat[stat.index("(") + 1: stat.rindex(")")],
                                        sum(map(int, stat[stat.rindex(")") + 2:].split()[11:13])))
        return out
    before = ticks()
    time.sleep(1.0)
    used = sorted(((t - before.get(pid, (n, t))[1], n, pid) for pid, (n, t) in ticks().items()), reverse=True)
    return [f"{pid} {command(pid, name)}" for t, name, pid in used[:3] if t > 5]


def command(pid: int, name: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:70].strip()
    except OSError:
        return name


# ------------------------------------------------------------ one run, the report
@dataclass
class Run:
    workers: int
    requests: int
    errors: dict
    wrong: int
    rps: float
    p50_ms: float
    p99_ms: float
    rss_warm_mb: float
    rss_after_mb: float
    others_cores: float
    others_top: list
    load_before: tuple
    exit_code: int


def run_one(workers: int, frames, texts, clients: int, seconds: float, warmup: float) -> Run:
    load_before = os.getloadavg()
    with ServerProcess("--workers", str(workers)) as server:
        asyncio.run(load(server.url, frames, texts, clients, warmup))
        rss_warm = server.rss_mb()
        ours = {os.getpid(), *server.pids()}
        machine0, ours0 = machine_cpu_s(), process_cpu_s(ours)
        tally = asyncio.run(load(server.url, frames, texts, clients, seconds))
        elapsed = tally.last - tally.first
        others = max(0.0, (machine_cpu_s() - machine0) - (process_cpu_s(ours) - ours0)) / elapsed
        rss_after = server.rss_mb()
        top = busiest_others(ours) if others > IDLE_CORES else []
        code = server.stop()
    lat = np.array(tally.latencies) * 1e3
    return Run(workers, len(lat), tally.errors, tally.wrong, len(lat) / elapsed,
               float(np.percentile(lat, 50)) if len(lat) else 0.0, float(np.percentile(lat, 99)) if len(lat) else 0.0,
               rss_warm, rss_after, others, top, load_before, code)


def report(runs: list[Run], clients: int, seconds: float, warmup: float, source: str) -> str:
    import platform

    lines = [f"digitedge serve load test | {os.cpu_count()} cores | {platform.platform()} | Python {platform.python_version()}",
             f"{clients} clients, keep-alive, {seconds:g} s after {warmup:g} s warm-up per run; 640x480 JPEG frames: {source}",
             "", "workers  requests  errors  wrong    req/s   p50 ms   p99 ms  RSS warm  RSS after  RSS x  "
                 "other CPU (cores)  load avg before"]
    for r in runs:
        errors = sum(r.errors.values())
        lines.append(f"{r.workers:>7} {r.requests:>9} {errors:>7} {r.wrong:>6} {r.rps:>8.1f} {r.p50_ms:>8.1f} "
                     f"{r.p99_ms:>8.1f} {r.rss_warm_mb:>6.0f} MB {r.rss_after_mb:>6.0f} MB  "
                     f"{r.rss_after_mb / r.rss_warm_mb:>5.3f}  {r.others_cores:>17.2f}  "
                     f"{', '.join(f'{x:.2f}' for x in r.load_before)}")
        if r.errors:
            lines.append(f"        errors: {r.errors}")
        if r.others_top:
            lines.append(f"        busiest other processes just after: {'; '.join(r.others_top)}")
    lines += ["", "Goals"]
    by = {r.workers: r for r in runs}
    if 1 in by and 2 in by:
        ratio = by[2].rps / by[1].rps
        lines.append(f"  requests/s, --workers 2 / --workers 1        {ratio:6.2f} x  >= {GOAL_RATIO}   "
                     f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    errors = sum(sum(r.errors.values()) + r.wrong for r in runs)
    lines.append(f"  errors and wrong readings, all runs          {errors:6d}    == 0     {'met' if not errors else 'NOT met'}")
    for r in runs:
        growth = r.rss_after_mb / r.rss_warm_mb
        lines.append(f"  RSS after run / after warm-up, workers {r.workers}     {growth:6.3f} x  <= {GOAL_RSS:.2f}  "
                     f"{'met' if growth <= GOAL_RSS else 'NOT met'}")
    lines.append(others_line(max(r.others_cores for r in runs)))
    return "\n".join(lines)


def others_line(busy: float) -> str:
    """Whether the machine was idle during the runs: ratios measured while it was busy are not the machine's."""
    return (f"  other processes' CPU during the runs: up to {busy:.2f} cores"
            + (" (NOT idle: rerun on an idle machine for the ratios)" if busy > IDLE_CORES else " (idle)"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.loadtest", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--frames", type=int, default=32, help="distinct frames, posted in turn")
    p.add_argument("--format", choices=["table", "json"], default="table")
    a = p.parse_args(argv)
    for name, low, high in (("clients", 1, 256), ("seconds", 0.5, 600), ("warmup", 0, 120), ("frames", 1, 1000)):
        if not low <= getattr(a, name) <= high:
            p.error(f"--{name} must be in {low}..{high}")
    if not all(1 <= w <= 64 for w in a.workers):
        p.error("--workers must be in 1..64")
    frames, texts, source = make_frames(a.frames, a.data_dir)
    runs = [run_one(w, frames, texts, a.clients, a.seconds, a.warmup) for w in a.workers]
    if a.format == "json":
        print(json.dumps({"clients": a.clients, "seconds": a.seconds, "frames": source,
                          "runs": [r.__dict__ for r in runs]}, indent=1))
    else:
        print(report(runs, a.clients, a.seconds, a.warmup, source))
    failed = any(r.errors or r.wrong or r.exit_code for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
