"""One worker's inference: a single thread with its own onnxruntime session, behind a bounded admission count.

The event loop only receives and answers; decoding and the digit finder run on the inference thread, so a
slow image never stalls /healthz or the 503s that keep memory bounded when the queue is full.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..files import digest
from ..runtime.classifier import DigitClassifier
from ..runtime.frame import Frame
from ..runtime.imageio import ImageError, declared_size, decode
from ..runtime.pipeline import Pipeline
from .config import ServeConfig

log = logging.getLogger("digitedge.serve")


class ApiError(Exception):
    """A request that gets a JSON error: status, one-line message, extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def busy(message: str) -> ApiError:
    # Retry-After: a frame takes milliseconds, so a second is long enough for the queue to move.
    return ApiError(503, message, {"Retry-After": "1"})


class Engine:
    def __init__(self, cfg: ServeConfig):
        # OpenCV's pool would spread one worker over every core: N workers would then fight for them.
        cv2.setNumThreads(cfg.threads)
        self.cfg = cfg
        self.clf = DigitClassifier(cfg.model, threads=cfg.threads)
        self.pipeline = Pipeline(self.clf)  # the loop's own step, so the answer is the record `classify` writes
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="digitedge-infer")
        self.admitted = 0
        self.started: float | None = None  # perf_counter() when the running job began; None when idle
        self.stuck = False  # set by the worker's watchdog: this worker is leaving
        self._warm_up()
        self.model_info = self._model_info()

    def _warm_up(self) -> None:
        """The first classify is ~5x slower (onnxruntime's kernels, OpenCV's buffers): pay it here, not on a user's
        first request. A drawn '7' on grey paper takes the digit finder and the model through every step."""
        paper = np.full((480, 640), 220, np.uint8)
        cv2.putText(paper, "7", (260, 330), cv2.FONT_HERSHEY_SIMPLEX, 6, 30, 18, cv2.LINE_AA)
        for _ in range(3):
            self.clf.classify(paper)

    def _model_info(self) -> dict:
        path = Path(self.clf.model.path)
        return {"file": path.name, "sha256": digest(path), "labels": self.clf.labels, "threshold": self.clf.threshold,
                "threads": self.cfg.threads, "workers": self.cfg.workers, "metadata": self.clf.model.meta}

    # ------------------------------------------------------------ admission
    def admit(self) -> None:
        """Count a request in, or refuse it: a full queue answers 503 at once rather than holding its body."""
        if self.admitted >= self.cfg.queue:
            raise busy(f"server busy: {self.admitted} requests in this worker's queue (limit {self.cfg.queue})")
        self.admitted += 1

    def release(self) -> None:
        self.admitted -= 1

    # ------------------------------------------------------------ reading
    async def read(self, data: bytes, name: str, deadline: float) -> dict:
        """Decode and classify on the inference thread; 503 when the deadline passes first (a job still queued
        is dropped, one already running finishes and its answer is discarded). `name`: the record's path."""
        loop = asyncio.get_running_loop()
        job = asyncio.wrap_future(self.pool.submit(self._read, data, name, time.perf_counter()))
        try:
            return await asyncio.wait_for(job, max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise busy(f"not answered within --timeout {self.cfg.timeout:g} s; the server is overloaded") from None

    def busy_for(self) -> float:
        """Seconds the current job has been running (0 when idle)."""
        started = self.started
        return time.perf_counter() - started if started is not None else 0.0

    def _read(self, data: bytes, name: str, queued: float) -> dict:
        self.started = t0 = time.perf_counter()
        try:
            return self._decode_and_classify(data, name, queued, t0)
        finally:
            self.started = None

    def _decode_and_classify(self, data: bytes, name: str, queued: float, t0: float) -> dict:
        """The pipeline's record of this image (`Result.record`, as `classify --format json` prints it) plus its
        size and this server's timings."""
        size = declared_size(data)
        if size:
            self._check_pixels(*size)
        try:
            image = decode(data)
        except ImageError as e:
            raise ApiError(400, str(e)) from None
        self._check_pixels(image.shape[1], image.shape[0])
        t1 = time.perf_counter()
        try:
            record = self.pipeline.process(Frame(name, image=image)).record()
        except Exception as e:  # a runtime bug on an odd image: one log line and a 422, not a traceback and a 500
            log.error("digitedge serve: cannot read a %dx%d image: %s: %s", image.shape[1], image.shape[0],
                      type(e).__name__, e)
            raise ApiError(422, f"cannot read digits from this image ({type(e).__name__})") from None
        t2 = time.perf_counter()
        timing = {"queue_ms": (t0 - queued) * 1e3, "decode_ms": (t1 - t0) * 1e3, "classify_ms": (t2 - t1) * 1e3}
        return {**record, "width": int(image.shape[1]), "height": int(image.shape[0]),
                "timing": {k: round(v, 2) for k, v in timing.items()}}

    def _check_pixels(self, width: int, height: int) -> None:
        if width * height > self.cfg.max_pixels:
            raise ApiError(413, f"image too large: {width}x{height} = {width * height / 1e6:.1f} MP "
                                f"(limit {self.cfg.max_pixels_mp:g} MP, --max-pixels)")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
