"""`digitedge classify --out`: archives read on worker processes and on Ray give the same records as one image at a
time; a kill -9 (or SIGTERM) then --resume gives every input exactly once; bad files are error records; the output
file is never taken over, never written through a link, and holds only whole records after a failed write.

Frames: camera-style 640x480 JPEGs of MNIST test digits (digitedge.tools.archivebench.write_frames, as the bench
makes them), fewer than the bench's 2,000 to keep CI short, plus three corrupt files.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hostile import cli, digit_png, tree

FRAMES = 40
CORRUPT = {"cut.jpg": "truncated JPEG", "junk.png": "not an image", "empty.jpg": "empty file"}
ENVELOPE = ("index", "size", "mtime_ns")


@pytest.fixture(scope="module")
def archive(mnist_dir, tmp_path_factory) -> Path:
    from digitedge.tools.archivebench import write_frames

    folder = tmp_path_factory.mktemp("archive") / "frames"
    paths = write_frames(folder, FRAMES, mnist_dir)
    data = paths[0].read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    (folder / "junk.png").write_bytes(b"not a picture " * 50)
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def lines_of(out: Path) -> list[str]:
    files = sorted(out.glob("*.jsonl")) if out.is_dir() else [out]
    return [line for f in files for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(archive, tmp_path_factory) -> list[str]:
    """The records of `--workers 1`: each input once, in input order, corrupt files as error records."""
    out = tmp_path_factory.mktemp("ref") / "w1.jsonl"
    r = cli("classify", archive, "--out", out, "--workers", "1", timeout=300)
    assert r.code == 1, r.err  # the corrupt files
    lines = lines_of(out)
    records = [json.loads(line) for line in lines]
    assert [r["index"] for r in records] == list(range(FRAMES + len(CORRUPT))), "one worker: input order"
    errors = {Path(r["path"]).name: r["error"] for r in records if "error" in r}
    assert set(errors) == set(CORRUPT) and all(why in errors[name] for name, why in CORRUPT.items())
    bad_lines = [line for line in r.err_lines if ": error: " in line]
    assert len(bad_lines) == len(CORRUPT), r.err  # one line per bad input, the run went on
    assert "1 worker process" in r.err_lines[-1] and f"{FRAMES + len(CORRUPT)} read now" in r.err_lines[-1]
    return lines


def test_two_workers_and_single_image_classify_give_the_same_records(archive, reference, tmp_path):
    out = tmp_path / "w2.jsonl"
    r = cli("classify", archive, "--out", out, "--workers", "2", timeout=300)
    assert r.code == 1 and "2 worker processes" in r.err_lines[-1], r.err
    two = lines_of(out)
    assert len(two) == len(reference) and set(two) == set(reference)
    assert sum('"text": "' in line and '"text": ""' not in line for line in two) >= FRAMES // 2, "frames were read"
    single = cli("classify", archive, "--format", "json", timeout=300)
    one_at_a_time = {line for line in single.out.splitlines()}
    stripped = {json.dumps({k: v for k, v in json.loads(line).items() if k not in ENVELOPE}) for line in two}
    assert stripped == one_at_a_time


def test_ray_engine_gives_the_same_records(archive, reference, tmp_path):
    pytest.importorskip("ray.data", reason="the ray extra is not installed: pip install '.[ray]'")
    out = tmp_path / "ray"
    r = cli("classify", archive, "--out", out, "--engine", "ray", "--workers", "2", timeout=600, address_space=None)
    assert r.code == 1 and "Ray: 2 actors" in r.err_lines[-1], r.err
    assert sorted(lines_of(out)) == sorted(reference)
    assert sum(": error: " in line for line in r.err_lines) == len(CORRUPT)
    assert not [p for p in out.iterdir() if p.suffix != ".jsonl"], "only whole files: no temp file left"
    again = cli("classify", archive, "--out", out, "--engine", "ray", "--resume", timeout=120, address_space=None)
    assert again.code == 0 and f"0 read now, {len(reference)} already in" in again.err_lines[-1], again.err
    assert sorted(lines_of(out)) == sorted(reference)
    table = tmp_path / "ray.parquet"
    r = cli("classify", archive, "--out", table, "--engine", "ray", "--workers", "2", timeout=600, address_space=None)
    assert r.code == 1 and parquet_records(table) == by_index(reference), r.err


def parquet_records(folder: Path) -> list[dict]:
    """The rows of a NAME.parquet folder as records: a field a record does not have is null there."""
    import pyarrow.parquet as pq

    rows = pq.read_table(folder).to_pylist()
    return sorted(({k: v for k, v in row.items() if v is not None} for row in rows), key=lambda r: r["index"])


def by_index(lines: list[str]) -> list[dict]:
    return sorted(map(json.loads, lines), key=lambda r: r["index"])


def test_parquet_output_holds_the_same_records_in_whole_parts(archive, reference, tmp_path):
    pytest.importorskip("pyarrow", reason="--out NAME.parquet needs pyarrow (the ray extra has it)")
    out = tmp_path / "r.parquet"
    r = cli("classify", archive, "--out", out, "--workers", "2", timeout=300)
    assert r.code == 1, r.err
    assert parquet_records(out) == by_index(reference)
    parts = sorted(out.iterdir())
    assert parts and all(p.suffix == ".parquet" for p in parts)
    again = cli("classify", archive, "--out", out, "--resume", timeout=120)
    assert again.code == 0 and f"{len(reference)} already in" in again.err_lines[-1] and sorted(out.iterdir()) == parts


def children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_stopped_at_a_random_point_then_resume_reads_every_input_exactly_once(archive, reference, tmp_path, sig):
    """kill -9 of the parent; SIGTERM to it; Ctrl-C in a terminal (SIGINT to the whole process group, workers too)."""
    out = tmp_path / "r.jsonl"
    stop_at = random.Random().randint(1, len(reference) // 3)
    argv = [sys.executable, "-m", "digitedge.cli", "classify", str(archive), "--out", str(out), "--workers", "2"]
    # A terminal's Ctrl-C reaches a process that has SIGINT at its default; a test run started in the background
    # of a non-interactive shell (a CI job) inherits it ignored, and Python keeps that: restore it for the run.
    run = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120

    def written() -> int:
        return out.read_bytes().count(b"\n") if out.exists() else 0

    while written() < 1 and time.monotonic() < deadline:
        time.sleep(0.002)
    workers = children(run.pid)  # the workers, found once they read (scanning /proc takes longer than a chunk)
    while written() < stop_at and time.monotonic() < deadline:
        time.sleep(0.002)
    assert run.poll() is None and workers, "stopped while reading"
    if sig == signal.SIGINT:
        os.killpg(run.pid, sig)
    else:
        run.send_signal(sig)
    err = run.communicate(timeout=60)[1].decode()
    kept = out.read_text().splitlines()
    assert 0 < len(kept) < len(reference) and set(kept) <= set(reference), "whole records, none twice"
    if sig != signal.SIGKILL:  # a clean stop: the chunks being read are finished and kept, then exit 130
        assert run.returncode == 130 and "interrupted" in err.splitlines()[-1] and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while any(map(alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(alive, workers)), "the workers left with their parent"
    r = cli("classify", archive, "--out", out, "--resume", "--workers", "2", timeout=300)
    assert f"{len(kept)} already in" in r.err_lines[-1], r.err
    assert sorted(out.read_text().splitlines()) == sorted(reference), "every input exactly once"


def test_resume_cuts_a_torn_last_record_and_reads_that_input_again(archive, reference, tmp_path):
    out = tmp_path / "r.jsonl"
    out.write_text("".join(line + "\n" for line in reference[:5]) + reference[5][:40])  # a kill inside a write
    r = cli("classify", archive, "--out", out, "--resume", "--workers", "1", timeout=300)
    assert r.code == 1 and "5 already in" in r.err_lines[-1], r.err
    assert out.read_text().splitlines() == reference


def test_a_failed_write_leaves_whole_records_and_resume_finishes(archive, reference, tmp_path):
    """A full disk (RLIMIT_FSIZE: writes past 20 kB fail): one line, exit 1, every line in the file whole."""
    out = tmp_path / "r.jsonl"
    r = cli("classify", archive, "--out", out, "--workers", "1", fsize=20_000, timeout=300)
    assert r.code == 1 and any("not written" in line for line in r.err_lines), r.err
    kept = out.read_text().splitlines()
    assert 0 < len(kept) < len(reference) and set(kept) <= set(reference) and out.read_text().endswith("\n")
    cli("classify", archive, "--out", out, "--resume", "--workers", "1", timeout=300)
    assert sorted(out.read_text().splitlines()) == sorted(reference)


def test_output_is_never_taken_over_or_written_through_a_link(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(digit_png("4"))
    (tmp_path / "theirs.jsonl").write_text("mine\n")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "theirs.jsonl")
    os.mkfifo(tmp_path / "fifo.jsonl")
    before = tree(tmp_path)
    for name, flags, says in (("theirs.jsonl", [], "exists; add --resume"), ("link.jsonl", [], "exists"),
                              ("link.jsonl", ["--resume"], "a symbolic link: not written through"),
                              ("fifo.jsonl", ["--resume"], "not a regular file"),
                              ("results.txt", [], "ending in .jsonl")):
        r = cli("classify", tmp_path / "in", "--out", tmp_path / name, *flags)
        assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, (name, r.err)
    assert tree(tmp_path) == before


def test_listings_videos_and_cameras(archive, tmp_path):
    frames = sorted(archive.glob("frame_*.jpg"))[:3]
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 100)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# three frames, one missing\n{frames[0]}\n\n{os.path.relpath(frames[1], tmp_path)}\nmissing.jpg\n")
    table = tmp_path / "list.csv"
    table.write_text(f"label,path\n7,{frames[2]}\n1,{frames[0]}\n")
    r = cli("classify", listing, table, tmp_path / "clip.mp4", "0", "--out", tmp_path / "r.jsonl", "--workers", "1")
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    got = [(Path(r["path"]).name, r.get("error", "read")) for r in sorted(records, key=lambda r: r["index"])]
    assert got == [(frames[0].name, "read"), (frames[1].name, "read"), ("missing.jpg", "no such file or folder"),
                   (frames[2].name, "read"), ("clip.mp4", "a video: --out reads image files (read videos without --out)"),
                   ("0", "a camera or stream: --out reads image files")], "a file listed twice is read once"
    assert r.code == 1 and sum(": error: " in line for line in r.err_lines) == 3, r.err


@pytest.mark.parametrize("args, says", [
    (["--resume"], "--resume goes with --out"),
    (["--workers", "2", "--engine", "ray"], "--workers, --engine ray go with --out"),
    (["--out", "r.jsonl", "--ray-address", "auto"], "add --engine ray"),
    (["--out", "r.jsonl", "--save", "copies"], "--save"),
    (["--out", "r.jsonl", "--workers", "0"], "out of range"),
])
def test_archive_options_are_checked_in_one_line(tmp_path, args, says):
    (tmp_path / "a.png").write_bytes(digit_png("4"))
    r = cli("classify", tmp_path / "a.png", *args, cwd=tmp_path)
    assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, r.err
    assert sorted(os.listdir(tmp_path)) == ["a.png"]


def test_archive_engines_run_without_torch(tmp_path):
    """The edge install reads archives too: the engines (and Ray Data, when installed) never load torch."""
    (tmp_path / "a.png").write_bytes(digit_png("4"))
    code = ("import sys; sys.modules['torch'] = None; from digitedge.runtime.archive import read_archive; "
            "import digitedge.runtime.rayengine, importlib.util; "
            "importlib.util.find_spec('ray') and __import__('ray.data'); "
            f"assert read_archive([{str(tmp_path / 'a.png')!r}], {str(tmp_path / 'r.jsonl')!r}, workers=1, quiet=True) == 0; "
            "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "r.jsonl").read_text())["text"] == "4"


def test_archive_bench_smoke(archive, capsys):
    """The bench runs end to end on a few frames (its figures are for docs/benchmarks.md, not asserted here) and
    checks that every run's records are the same."""
    from digitedge.tools.archivebench import main

    code = main([str(archive), "--frames", "8", "--rounds", "1", "--workers", "2", "--no-ray"])
    out = capsys.readouterr().out
    assert code == 0 and "records of every run identical: yes" in out, out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("local ")] == [["local", "1"],
                                                                                             ["local", "2"]]
