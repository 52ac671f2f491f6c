"""`classify --out DIR --engine ray`: the same reading on Ray Data, on this machine or a cluster.

    files (ray.data.read_binary_files, paths included)
      -> map_batches(DigitReader): one Reader (DigitClassifier, one-thread onnxruntime) per actor, a fixed pool of
         one actor per CPU of the cluster (or --workers)
      -> write_datasink(RecordFiles): each write task's records as one JSON Lines file in DIR, written whole

The inputs are listed, checked and numbered on the driver (archive.list_items), as for the local engine, so the
records are the same; inputs that cannot be read at all (missing, not regular files, too large, unreadable; on
Ray also names that are not UTF-8) never reach Ray: the driver writes their error records itself. Without
--ray-address a local Ray starts for the run (as many CPUs as --workers, else all cores) and stops after it;
with it, the run joins that cluster, whose nodes must see the inputs and DIR at the same paths (a shared file
system) and have digitedge installed.

Why a Datasink of our own rather than write_json: Ray's JSON writer goes through pandas, which would write a
bad input's record with null fields (and floats its own way), and writes straight to the final name, so a killed
run would leave a cut file. RecordFiles writes the very lines the local engine writes, through files.write_new.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time

import numpy as np

from ..errors import DigitedgeError
from ..files import write_new
from .archive import Batch, Item, Reader, Settings, Totals, all_cores, archived
from .journal import file_bytes, run_stem
from .model import first_line
from .pipeline import error_record
from .sources import still

BATCH_SIZE = 16  # images per actor call: the model already batches a page's crops; this only amortises the call
WRITERS = 1  # write tasks at a time: appending lines is light next to reading the images
ROWS_PER_FILE = 1000  # Ray buffers rows so a million images are a thousand files, not 60,000
NOT_UTF8 = "Ray reads only file names that are UTF-8; rename it, or use --engine local"


class RayUnavailable(DigitedgeError):
    pass


def import_ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise RayUnavailable("--engine ray needs Ray Data: pip install 'digitedge[ray]'") from None
    return ray


def utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


class DigitReader:
    """The map_batches UDF: built once per actor (its own Reader: model session, OpenCV), then called per batch."""

    def __init__(self, settings: Settings, items: dict[str, Item]):
        self.reader, self.items = Reader(settings), items

    def __call__(self, batch: dict) -> dict:
        items = [self.items[p] for p in batch["path"]]
        done = self.reader.read(items, list(batch["bytes"]))
        return {"record": np.array(done.lines, dtype=object), "done_at": np.full(len(done.lines), time.time())}


def record_files(folder: str, stem: str, suffix: str, parquet: bool):
    """RecordFiles, a ray.data.Datasink subclass (defined on first use: Ray is an optional extra)."""
    from ray.data import Datasink
    from ray.data.block import BlockAccessor

    class RecordFiles(Datasink):
        """Each write task's records as one new file in `folder` (temp file, then a free name): the lines the
        local engine writes, or a Parquet part of them."""

        def __init__(self):
            self.result = None

        @property
        def min_rows_per_write(self) -> int:
            return ROWS_PER_FILE

        def write(self, blocks, ctx) -> dict:
            lines, done_at = [], []
            for block in blocks:
                table = BlockAccessor.for_block(block).to_arrow()
                lines += table.column("record").to_pylist()
                done_at += table.column("done_at").to_pylist()
            write_new(os.path.join(folder, f"{stem}-{ctx.task_idx:05d}{suffix}"), file_bytes(lines, parquet))
            records = [json.loads(line) for line in lines]
            return {"rows": len(lines), "digits": sum(len(r.get("digits", ())) for r in records),
                    "errors": [f"{r['path']}: error: {r['error']}" for r in records if "error" in r],
                    "done_at": collections.Counter(done_at)}

        def on_write_complete(self, write_result) -> None:
            self.result = write_result

    return RecordFiles()


def quiet_ray(ray) -> None:
    """Ray logs its start, every execution step and progress bars on stderr: keep ours the only lines there
    (Ray's errors still show)."""
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False


def run_ray(todo: list[Item], folder, settings: Settings, workers: int | None, ray_address: str | None,
            totals: Totals, progress, err) -> None:
    """Read `todo` on Ray into the RecordFolder `folder`, counting into `totals`."""
    ray = import_ray()
    stem = run_stem()
    bad = [it for it in todo if it.error is not None or not utf8(it.path)]
    if bad:
        frames = [still(it.path, it.error or NOT_UTF8) for it in bad]
        lines = [archived(error_record(f), it) for f, it in zip(frames, bad)]
        folder.write(lines, f"{stem}-unread")
        totals.add(Batch(lines, [f"{f.name}: error: {f.error}" for f in frames]), None, err)
    by_path = {os.path.abspath(it.path): it for it in todo if it.error is None and utf8(it.path)}
    if not by_path:
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine unasked
    started_here = not ray.is_initialized()
    t0 = time.time() - progress.elapsed()  # the run's start on the wall clock the actors stamp their batches with
    quiet_ray(ray)
    if started_here:
        try:
            ray.init(address=ray_address, num_cpus=None if ray_address else workers or all_cores(),
                     include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as e:  # Ray's own types: ConnectionError, RuntimeError, a bare Exception on a start timeout
            where = f"cannot join the Ray cluster at {ray_address}" if ray_address else "a local Ray did not start"
            raise RayUnavailable(f"--engine ray: {where} ({first_line(e)})") from None
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = min(workers or cpus, cpus)  # an actor per CPU: more would wait for CPUs that never come
        totals.notes.append(f"Ray: {actors} actor{'s' if actors > 1 else ''} on {cpus} CPU{'s' if cpus > 1 else ''}, "
                            f"{'joined ' + ray_address if ray_address else 'local Ray started'} in "
                            f"{progress.elapsed():.1f} s")
        # Reading bytes is I/O: every CPU is left to the actors, and the read tasks are as many as the actors
        # (without a cap, CPU-free tasks start a worker process each: dozens on two cores, slower than one worker).
        ds = ray.data.read_binary_files(list(by_path), include_paths=True, num_cpus=0, concurrency=actors)
        ds = ds.map_batches(DigitReader, fn_constructor_kwargs={"settings": settings, "items": by_path},
                            batch_size=BATCH_SIZE, batch_format="numpy", num_cpus=settings.threads,
                            # Ray >= 2.51 spells `concurrency=actors` so for a class-based UDF: a fixed actor pool
                            compute=ray.data.ActorPoolStrategy(size=actors))
        sink = record_files(str(folder.folder.resolve()), stem, folder.suffix, folder.parquet)
        ds.write_datasink(sink, ray_remote_args={"num_cpus": 0}, concurrency=WRITERS)
    finally:
        if started_here:
            ray.shutdown()
    count(sink.result.write_returns, t0, totals, err)


def count(returns: list[dict], t0: float, totals: Totals, err) -> None:
    """Fold the write tasks' returns into `totals`, batch by batch as the actors finished them."""
    done_at = collections.Counter()
    for r in returns:
        done_at.update(r["done_at"])
        for line in r["errors"]:
            print(line, file=err)
    for at in sorted(done_at):
        totals.count(done_at[at], at - t0)
    totals.failed += sum(len(r["errors"]) for r in returns)
    totals.digits += sum(r["digits"] for r in returns)
