"""A real (small) training run: report files, checkpoints, resume after an interruption, determinism."""

import csv
import json

import pytest
import torch

from digitedge.training import train as train_mod
from digitedge.training.checkpoint import load_checkpoint
from digitedge.training.config import TrainConfig

REPORT_FILES = ["confusion_matrix.png", "curves.png", "classification_report.txt", "classification_report.json",
                "misclassified.png", "history.csv", "config.json", "best.pt", "last.pt"]


def small(mnist_dir, **kw):
    return TrainConfig(**{**dict(epochs=2, limit=1500, val_size=300, batch_size=64, lr=3e-3, data_dir=str(mnist_dir),
                                 scenes=0, glyphs=0, junk=0), **kw})


def quiet(*args, **kwargs):
    pass


def test_training_run_writes_every_report_file(trained_run):
    for name in REPORT_FILES:
        assert (trained_run / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(trained_run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert set(rows[0]) == set(train_mod.HISTORY_FIELDS)
    report = json.loads((trained_run / "classification_report.json").read_text())
    assert report["macro avg"]["support"] == 10_000 and report["accuracy"] > 0.85  # 2 epochs on 3k images
    assert json.loads((trained_run / "config.json").read_text())["epochs"] == 2


def test_checkpoints_are_self_describing_and_load_weights_only(trained_run):
    ckpt = load_checkpoint(trained_run / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["config"]["limit"] == 3000 and len(ckpt["history"]) == 2
    assert {"optimizer", "scheduler", "rng"} <= set(ckpt)
    torch.load(trained_run / "best.pt", weights_only=True)


def test_run_folders_never_overwrite(tmp_path):
    from digitedge.files import next_run_dir

    first = next_run_dir(tmp_path)
    second = next_run_dir(tmp_path)
    assert (first.name, second.name) == ("exp", "exp2")


def test_resume_after_interruption_matches_an_uninterrupted_run(mnist_dir, tmp_path, monkeypatch):
    straight = train_mod.train(small(mnist_dir), out=tmp_path / "a", report=False, log=quiet)

    real_run_epoch = train_mod.run_epoch
    calls = {"train": 0}

    def interrupt_second_epoch(*args, **kwargs):
        if len(args) > 6 and args[6] is not None:  # the optimizer argument: a training pass
            calls["train"] += 1
            if calls["train"] == 2:
                raise KeyboardInterrupt
        return real_run_epoch(*args, **kwargs)

    monkeypatch.setattr(train_mod, "run_epoch", interrupt_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_mod.train(small(mnist_dir), out=tmp_path / "b", report=False, log=quiet)
    interrupted = tmp_path / "b" / "exp"
    assert load_checkpoint(interrupted / "last.pt")["epoch"] == 1, "the last complete checkpoint survives Ctrl-C"
    monkeypatch.setattr(train_mod, "run_epoch", real_run_epoch)

    resumed = train_mod.train(resume=interrupted, report=False, log=quiet)
    assert resumed == interrupted
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert b["epoch"] == 2
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=0, atol=0)
    assert [r["val_acc"] for r in a["history"]] == [r["val_acc"] for r in b["history"]]
    assert len(list(csv.DictReader(open(resumed / "history.csv")))) == 2


def test_cli_rejects_flags_that_conflict_with_resume(tmp_path, capsys):
    from digitedge.cli import main

    assert main(["train", "--resume", str(tmp_path), "--epochs", "3"]) == 2
    assert "--resume continues a run with its saved config" in capsys.readouterr().err


def test_cli_suggests_close_option(capsys):
    from digitedge.cli import main

    assert main(["train", "--epoch", "3"]) == 2
    assert "did you mean --epochs?" in capsys.readouterr().err


def test_evaluate_writes_report_for_checkpoint_and_onnx(exported, trained_run, mnist_dir, tmp_path):
    from digitedge.training.evaluate import evaluate

    acc_pt = evaluate(trained_run / "best.pt", tmp_path / "pt", data_dir=mnist_dir, log=quiet)
    acc_onnx = evaluate(exported / "best.onnx", tmp_path / "onnx", data_dir=mnist_dir, log=quiet)
    assert acc_pt == pytest.approx(acc_onnx, abs=1e-4)
    for folder in ("pt", "onnx"):
        for name in ("confusion_matrix.png", "classification_report.txt", "classification_report.json", "misclassified.png"):
            assert (tmp_path / folder / name).stat().st_size > 0
