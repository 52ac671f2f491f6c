"""train, evaluate and export on hostile data, folders and interruptions: failed starts leave no run folder,
a kill never loses a history row for good, an interrupted or failing export leaves no file behind, reports and
exports never overwrite what is there, and no name writes outside --out."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from digitedge.errors import DataError, DigitedgeError, OutputError
from hostile import assert_only_added_under, cli, tree

quiet = lambda *a, **k: None  # noqa: E731


def small(mnist_dir, **kw):
    from digitedge.training.config import TrainConfig

    return TrainConfig(**{**dict(epochs=2, limit=400, val_size=200, batch_size=64, data_dir=str(mnist_dir), augment=False,
                                 scenes=0, glyphs=0, junk=0), **kw})


@pytest.mark.parametrize("labels", [
    bytes(200),  # all zeros: 'no magic'
    b"\x00\x00\x08\x01" + (10_000).to_bytes(4, "big") + bytes(192),  # header says 10,000 labels, holds 192
    b"\x00\x00\x08\xff" + bytes(196),  # 255 dimensions
    b"\x00\x00\x08\x03" + b"\xff" * 12 + bytes(184),  # a shape whose product overflows int64
    "fifo",
])
def test_mnist_label_file_of_200_bytes_is_one_data_error(labels, mnist_dir, tmp_path):
    from digitedge.training.data import FILES, load_mnist

    for key, (name, _) in FILES.items():
        if key != "test_labels":
            os.symlink(os.path.abspath(mnist_dir / name), tmp_path / name)
    raw = tmp_path / FILES["test_labels"][0][:-3]  # raw twin: no checksum, its header is all there is to check
    os.mkfifo(raw) if labels == "fifo" else raw.write_bytes(labels)
    with pytest.raises(DataError) as e:
        load_mnist("test", tmp_path)
    assert "\n" not in str(e.value)


def test_train_failed_starts_leave_no_run_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    empty = tmp_path / "no_mnist"
    empty.mkdir()
    before = tree(tmp_path)
    for args, says in ((["--out", tmp_path / "afile"], "exists and is not a folder"),
                       (["--data-dir", empty, "--out", tmp_path / "runs"], "MNIST files missing")):
        r = cli("train", "--epochs", "1", *args, timeout=120)
        assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, r.err
    assert tree(tmp_path) == before


def test_history_row_lost_to_a_kill_comes_back_on_resume(mnist_dir, tmp_path):
    """kill -9 while best.pt is written: last.pt holds the epoch, history.csv does not; resume restores the row."""
    from digitedge.training.train import train

    run = train(small(mnist_dir), out=tmp_path, report=False, log=quiet)
    full = (run / "history.csv").read_text()
    lines = full.splitlines(keepends=True)
    (run / "history.csv").write_text("".join(lines[:-1]))  # as the kill left it
    train(resume=run, report=False, log=quiet)
    assert (run / "history.csv").read_text() == full


def test_ctrl_c_in_the_first_epoch_removes_the_empty_run(mnist_dir, tmp_path, monkeypatch):
    from digitedge.training import train as train_mod

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "run_epoch", interrupted)
    said = []
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(small(mnist_dir), out=tmp_path / "runs", report=False, log=said.append)
    assert "nothing to resume" in said[-1] and "last.pt" not in said[-1]
    assert list((tmp_path / "runs").iterdir()) == []


def test_training_that_diverges_stops_with_one_line(mnist_dir, tmp_path, monkeypatch):
    from digitedge.training import train as train_mod

    monkeypatch.setattr(train_mod, "run_epoch", lambda *a, **k: (float("nan"), 0.1, None))
    with pytest.raises(DigitedgeError, match="training diverged in epoch 1"):
        train_mod.train(small(mnist_dir), out=tmp_path, report=False, log=quiet)


def test_interrupted_export_leaves_no_file_and_a_killed_ones_temp_is_swept(trained_run, tmp_path, monkeypatch):
    from digitedge.export import exporter

    def killed(model, path, opset):
        path.write_bytes(b"half an onnx file")
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter, "export_fp32", killed)
    with pytest.raises(KeyboardInterrupt):
        exporter.export(trained_run / "best.pt", out=tmp_path, check=False, log=quiet)
    assert os.listdir(tmp_path) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    orphan = tmp_path / f".digitedge-{dead}-abcd.onnx"  # what kill -9 leaves
    orphan.write_bytes(b"x" * 1000)
    from digitedge.files import output_dir

    output_dir(tmp_path, "--out")
    assert not orphan.exists()


def test_export_never_replaces_and_keeps_the_pair_together(trained_run, mnist_dir, tmp_path):
    """A user's best.onnx and a folder in the int8 name's place: the export goes to best_1.* as a pair."""
    from digitedge.export.exporter import export

    shutil.copy(trained_run / "best.pt", tmp_path / "best.pt")
    (tmp_path / "best.onnx").write_text("the user's")
    (tmp_path / "best_1.int8.onnx").mkdir()
    (tmp_path / ".best.onnx.tmp").symlink_to(tmp_path / "victim")  # the old predictable temp names
    (tmp_path / ".best.int8.onnx.tmp").symlink_to(tmp_path / "victim")
    before = tree(tmp_path)
    said = []
    assert export(tmp_path / "best.pt", quantize=True, calib=50, check=False, data_dir=mnist_dir, log=said.append)
    assert (tmp_path / "best.onnx").read_text() == "the user's"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("best_2")) == ["best_2.int8.onnx", "best_2.onnx"]
    assert any("not replaced, written as best_2" in line for line in said)
    assert_only_added_under(before, tree(tmp_path), "best_2.onnx", "best_2.int8.onnx")
    assert not (tmp_path / "victim").exists()


def test_failing_int8_write_leaves_neither_file(trained_run, mnist_dir, tmp_path, monkeypatch):
    from digitedge.export import exporter

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exporter, "quantize_int8", full_disk)
    with pytest.raises(DigitedgeError, match="int8 quantization failed"):
        exporter.export(trained_run / "best.pt", out=tmp_path, quantize=True, calib=50, check=False, data_dir=mnist_dir, log=quiet)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "..", "a/b"])
def test_export_name_cannot_leave_out(trained_run, tmp_path, name):
    from digitedge.export.exporter import export

    with pytest.raises(DigitedgeError, match="use a plain file name stem"):
        export(trained_run / "best.pt", out=tmp_path / "o" / "p", name=name, check=False, log=quiet)
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").rglob("*.onnx")) == []


def test_evaluate_out_never_overwrites_a_report_nor_follows_a_link(exported, mnist_dir, tmp_path):
    from digitedge.training.evaluate import evaluate

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "classification_report.txt").write_text("last week's")
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "confusion_matrix.png").symlink_to(tmp_path / "victim.png")
    before = tree(tmp_path)
    for out in ("old", "linked"):
        with pytest.raises(OutputError, match="already holds a report"):
            evaluate(exported / "best.onnx", tmp_path / out, data_dir=mnist_dir, log=quiet)
    assert tree(tmp_path) == before


def test_evaluate_failed_start_leaves_no_run_folder(tmp_path):
    (tmp_path / "model.onnx").write_text("not onnx")
    r = cli("evaluate", tmp_path / "model.onnx", cwd=tmp_path)
    assert r.code == 2 and len(r.err_lines) == 1 and "not a loadable ONNX model" in r.err
    assert not (tmp_path / "runs").exists()


def test_realeval_out_writes_a_new_file(tmp_path):
    """--real --out goes through the same writer (a free name, never over an earlier real.json)."""
    from digitedge.files import write_new

    (tmp_path / "real.json").write_text("earlier")
    assert write_new(tmp_path / "real.json", b"{}").name == "real_1.json"
    assert (tmp_path / "real.json").read_text() == "earlier"
    assert np.array_equal(sorted(os.listdir(tmp_path)), ["real.json", "real_1.json"])


@pytest.mark.parametrize("labels, says", [(b"\xff\xfe", "unreadable"), (b"x,y\n1,2\n", "every row needs a file and a label"),
                                          (b"file,label\na.png\n", "every row needs a file and a label")])
def test_realeval_labels_that_cannot_be_used_are_one_line(tmp_path, labels, says):
    (tmp_path / "labels.csv").write_bytes(labels)
    r = cli("evaluate", "--real", tmp_path)
    assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, r.err
