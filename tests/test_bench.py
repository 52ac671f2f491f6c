"""`digitedge bench`: one smoke run through the CLI (tiny time budget, JSON) checked for shape and sanity,
plus the small pieces (skips, checkpoint lookup, interleaving, ratios, child RSS) on their own.

No timing assertions: the numbers depend on the machine and its load; only their consistency is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitedge.cli import main
from digitedge.errors import DigitedgeError
from digitedge.runtime.model import shipped_model_path
from digitedge.tools import bench

ROOT = Path(__file__).resolve().parents[1]
SMOKE_SECONDS = "0.05"
SMOKE_TIMEOUT_S = 240  # a hung run must fail, not block the suite; a normal smoke run takes ~20 s
MODEL_ROWS = {("pytorch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"),
              ("openvino", "int8")}
FRAME_ROWS = 3  # one digit, a row of digits, a notebook page (MNIST digits); or the drawn frames without MNIST


@pytest.fixture(scope="module")
def report():
    """One `digitedge bench --seconds 0.05 --format json --goals` from the repository root (where runs/ lives)."""
    done = subprocess.run([sys.executable, "-m", "digitedge.cli", "bench", "--seconds", SMOKE_SECONDS, "--format", "json",
                           "--goals"],
                          cwd=ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def measured(rows, kind):
    return [r for r in rows if r["kind"] == kind and not r["skipped"]]


def test_machine_info_names_cpu_threads_and_versions(report):
    m = report["machine"]
    assert m["cpu"] and m["cores"] >= 1
    assert m["threads"][0] == 1 and m["threads"] == sorted(set(m["threads"]))
    for lib in ("onnxruntime", "numpy", "opencv"):
        assert m["versions"][lib]
    assert {"openvino", "torch"} <= set(m["versions"])  # present even when the library is absent (None)
    assert report["settings"]["quick"] is True  # 0.05 s is a smoke budget


def test_every_backend_has_a_row_per_thread_count_or_a_reason(report):
    rows = [r for r in report["rows"] if r["kind"] == "model"]
    threads = report["machine"]["threads"]
    for backend, precision in MODEL_ROWS:
        mine = [r for r in rows if (r["backend"], r["precision"]) == (backend, precision)]
        if len(mine) == 1 and mine[0]["skipped"]:
            assert isinstance(mine[0]["skipped"], str) and len(mine[0]["skipped"]) > 10
            assert backend != "onnxruntime", f"the runtime's own rows must run: {mine[0]['skipped']}"
        else:
            assert sorted(r["threads"] for r in mine) == threads


def test_model_rows_are_sane(report):
    rows = measured(report["rows"], "model")
    assert rows
    for r in rows:
        assert 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["throughput_ips"] > 0 and r["throughput_batch"] == bench.THROUGHPUT_BATCH
        assert r["ratio"] >= 1.0 and r["throughput_ratio"] >= 1.0
        assert r["size_bytes"] == os.path.getsize(r["file"])
        if r["accuracy"] is None:
            assert r["accuracy_skipped"]
        else:
            assert 0.0 <= r["accuracy"] <= 1.0 and r["accuracy_images"] > 0
    for t in report["machine"]["threads"]:
        group = [r for r in rows if r["threads"] == t]
        assert min(r["ratio"] for r in group) == pytest.approx(1.0)
        assert min(r["throughput_ratio"] for r in group) == pytest.approx(1.0)


def test_accuracy_is_measured_when_mnist_is_there(report):
    rows = measured(report["rows"], "model")
    if report["settings"]["data"] != "MNIST test":
        pytest.skip(f"no MNIST here: {report['settings']['data']}")
    assert all(r["accuracy"] > 0.9 for r in rows)  # a trained digit model; far below this means a broken pipeline


def test_frame_and_cold_start_rows(report):
    frames = [r for r in report["rows"] if r["kind"] == "frame"]
    assert len(frames) == (FRAME_ROWS if report["settings"]["data"] == "MNIST test" else len(bench.DRAWN_TEXTS))
    for r in frames:
        assert r["threads"] == 1 and 0 < r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"] and r["expected"]
        assert r["via"] == "digitedge.runtime.pipeline.loop", "frames go through the loop classify and live run"
    cold = [r for r in report["rows"] if r["kind"] == "cold_start"]
    assert len(cold) == 1
    if cold[0]["skipped"]:
        assert isinstance(cold[0]["skipped"], str)
    else:
        assert 0 < cold[0]["wall_min_s"] <= cold[0]["wall_s"] <= cold[0]["wall_max_s"] and cold[0]["peak_rss_mb"] > 0


def test_goals_only_when_asked(report):
    """The project's internal targets are shown with --goals only: the plain table ends with the cold start."""
    plain = {k: v for k, v in report.items() if k != "goals"}
    assert "Goals" in bench.format_report(report) and "Goals" not in bench.format_report(plain)
    assert bench.format_report(plain).splitlines()[-1].startswith("Cold start:")


def test_goals_are_reported(report):
    goals = report["goals"]
    assert len(goals) == 6
    for g in goals:
        assert g["limit"] > 0 and g["unit"]
        if g["value"] is None:
            assert g["met"] is None and g["note"]
        else:
            assert g["met"] == (g["value"] <= g["limit"])


def test_openvino_absent_is_a_skip_with_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # makes `import openvino` raise ImportError
    b = bench.openvino_backend(shipped_model_path(), "int8")
    assert b.make is None and "openvino" in b.skipped and "pip install" in b.skipped


def test_torch_absent_is_a_skip_with_a_reason(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"not used")
    b = bench.pytorch_backend(ckpt, None)
    assert b.make is None and "torch" in b.skipped


def test_checkpoint_lookup_explains_a_miss(tmp_path, monkeypatch):
    fp32 = shipped_model_path(bench.SHIPPED_FP32)
    monkeypatch.chdir(tmp_path)  # no runs/ here
    path, reason = bench.find_checkpoint(fp32)
    assert path is None and "sha256" in reason
    path, reason = bench.find_checkpoint(fp32, checkpoint=tmp_path / "missing.pt")
    assert path is None and "no such checkpoint" in reason
    assert bench.pytorch_backend(None, reason).skipped == reason


def test_model_files_pairs_fp32_with_its_int8_twin(tmp_path):
    fp32, int8 = bench.model_files(None)
    assert fp32.name == "digitedge.onnx" and int8.name == "digitedge.int8.onnx"
    with pytest.raises(DigitedgeError, match="fp32"):
        bench.model_files(int8)
    with pytest.raises(DigitedgeError, match="no such model"):
        bench.model_files(tmp_path / "nope.onnx")


def test_bad_arguments_are_a_usage_error(capsys):
    assert main(["bench", "--seconds", "0"]) == 2
    assert "--seconds" in capsys.readouterr().err


def test_interleave_warms_up_and_times_every_runner():
    calls = {"a": 0, "b": 0}
    prepared = []

    def runner(name):
        def call():
            calls[name] += 1
        return bench.Runner(call, lambda: prepared.append(name))

    runners = [runner("a"), runner("b")]
    bench.interleave(runners, seconds=0.001, rounds=4)
    for r in runners:
        assert len(r.samples) >= 4 * bench.MIN_BURST_CALLS
        p50, p90, p99 = r.percentiles_ms()
        assert 0 <= p50 <= p90 <= p99
    assert calls["a"] >= bench.WARMUP_CALLS + 4 * (bench.BURST_WARMUP_CALLS + bench.MIN_BURST_CALLS)
    assert prepared.count("a") == 1 + 4  # before the warm-up and before every burst
    assert prepared[:4] == ["a", "b", "a", "b"]  # warm-ups, then round 0
    assert prepared[4:6] == ["b", "a"]  # round 1 starts with the other runner


def test_ratios_are_per_thread_group():
    def row(threads, ms, ips):
        r = {"kind": "model", "threads": threads, "_latency": bench.Runner(lambda: None, lambda: None),
             "_throughput": bench.Runner(lambda: None, lambda: None)}
        r["_latency"].samples = [ms / 1e3] * 3
        r["_throughput"].samples = [bench.THROUGHPUT_BATCH / ips] * 3
        return r

    rows = [row(1, 2.0, 100.0), row(1, 1.0, 400.0), row(2, 0.5, 200.0)]
    bench.fill_timings(rows)
    assert [r["ratio"] for r in rows] == pytest.approx([2.0, 1.0, 1.0])
    assert [r["throughput_ratio"] for r in rows] == pytest.approx([4.0, 1.0, 1.0])
    assert all("_latency" not in r for r in rows)


def test_spawn_reports_the_childs_own_peak_rss(tmp_path):
    ballast = np.ones(25_000_000)  # 200 MB touched here: must not show up as the child's peak
    wall, rss_mb, code = bench.spawn([sys.executable, "-c", "print('hi')"], tmp_path / "log.txt")
    assert code == 0 and wall > 0 and 0 < rss_mb < ballast.nbytes / bench.MB / 2
    assert (tmp_path / "log.txt").read_text().strip() == "hi"
