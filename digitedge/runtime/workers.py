"""The local engine of `classify --out`: N worker processes, each with its own Reader (a one-thread onnxruntime
session, one-thread OpenCV), fed chunks of inputs; the parent lists the inputs, appends the records and counts.

Workers are spawned, not forked (onnxruntime's and OpenCV's thread pools do not survive a fork). A chunk's records
come back together and are appended at once, in the order chunks finish (`index` says where each input stood).
At most IN_FLIGHT_PER_WORKER chunks per worker are queued, so a Ctrl-C or SIGTERM costs nothing read: the parent
stops submitting, waits for the chunks being read, appends them, and stops (exit 130). While the workers read, the
two signals only set a flag the loop looks at: a KeyboardInterrupt raised at any point, inside concurrent.futures'
submit or wait with a future's lock held, could leave the parent waiting forever. Workers start with SIGINT ignored
(the parent decides when to stop) and leave when the parent is gone, so a kill -9 leaves no orphans.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..errors import InputError
from ..signals import handling
from .archive import Item, Reader, Settings, Totals, all_cores

CHUNK_MAX = 32  # inputs per task: enough to make a task's overhead (pickling, a queue hop) vanish ...
CHUNKS_PER_WORKER = 8  # ... and small enough that every worker gets several, so none idles at the end
IN_FLIGHT_PER_WORKER = 2
WATCH_S = 1.0
POLL_S = 0.1  # how often the loop looks for a stop asked by a signal

_reader: Reader | None = None  # the worker process's own


def _start(settings: Settings, parent: int) -> None:
    global _reader
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    _reader = Reader(settings)


def _watch(parent: int) -> None:
    """A worker whose parent was killed (kill -9, OOM) would otherwise wait on its queue forever."""
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)


def _read(items: list[Item]):
    return _reader.read(items)


def chunk_size(n: int, workers: int) -> int:
    return max(1, min(CHUNK_MAX, n // (workers * CHUNKS_PER_WORKER)))


@contextlib.contextmanager
def stop_asked():
    """SIGINT (unless ignored, as in a background job) and SIGTERM set the event this yields, and nothing more."""
    stop = threading.Event()
    listened = [sig for sig in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(sig) is not signal.SIG_IGN]
    with handling(listened, lambda signum, frame: stop.set()):
        yield stop


def run_workers(todo: list[Item], journal, settings: Settings, workers: int | None, ray_address, totals: Totals,
                progress, err) -> None:
    """Read `todo` on `workers` processes (default: all cores) into `journal`, counting into `totals`."""
    if not todo:
        return
    workers = min(workers or all_cores(), len(todo))  # no process without an input to read
    totals.notes.append(f"{workers} worker process{'es' if workers > 1 else ''}")
    size = chunk_size(len(todo), workers)
    chunks = iter([todo[i:i + size] for i in range(0, len(todo), size)])
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(settings, os.getpid()))
    pending: set = set()

    def top_up() -> None:
        while len(pending) < IN_FLIGHT_PER_WORKER * workers and (chunk := next(chunks, None)):
            pending.add(pool.submit(_read, chunk))

    def keep(future) -> None:
        journal.write(future.result().lines)  # in the file before it is counted: a record counted is a record kept
        totals.add(future.result(), progress.elapsed(), err)
        progress.tick(totals)

    with stop_asked() as stop:
        try:
            # workers spawned with SIGINT ignored keep it so (Python keeps an inherited SIG_IGN): a Ctrl-C while
            # they import is not a traceback from each of them
            with handling([signal.SIGINT], signal.SIG_IGN):
                top_up()  # spawns the workers
            while pending:
                done, _ = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.discard(future)
                    keep(future)
                if stop.is_set():  # the chunks being read are finished and kept; those not started, dropped
                    pending -= {future for future in pending if future.cancel()}
                else:
                    top_up()
        except BrokenProcessPool:
            raise InputError("a worker process died (out of memory, or a crash on some image); the records so far "
                             "are kept: --resume reads the rest") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if stop.is_set():
        raise KeyboardInterrupt
