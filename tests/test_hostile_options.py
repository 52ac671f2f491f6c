"""Every option of every verb validated at the boundary: out-of-range, non-finite and mistyped values are one line,
exit 2, naming the option and the allowed range; the Python API refuses the same values with a ValueError."""

from __future__ import annotations

import math

import numpy as np
import pytest

from digitedge.cli import main

BAD_OPTIONS = [  # argv, what the one line must say
    (["train", "--seed", "-1"], "--seed: -1 is out of range (allowed: 0 to 4294967295)"),
    (["train", "--seed", "1e20"], "--seed: '1e20' is not a whole number"),
    (["train", "--seed", "100000000000000000000"], "--seed: 100000000000000000000 is out of range"),
    (["train", "--lr", "nan"], "--lr: nan is out of range (allowed: a finite number in (0, 1])"),
    (["train", "--lr", "inf"], "--lr: inf is out of range"),
    (["train", "--lr", "0"], "--lr: 0 is out of range"),
    (["train", "--lr=-1e-3"], "--lr: -1e-3 is out of range"),
    (["train", "--subset", "-4999"], "--subset: -4999 is out of range (allowed: 1 to 55000)"),
    (["train", "--subset", "-10000"], "--subset: -10000 is out of range"),
    (["train", "--subset", "0"], "--subset: 0 is out of range"),
    (["train", "--epochs", "0"], "--epochs: 0 is out of range (allowed: 1 to 1000)"),
    (["train", "--epochs", "2.5"], "--epochs: '2.5' is not a whole number"),
    (["train", "--batch-size", "-8"], "--batch-size: -8 is out of range (allowed: 1 to 8192)"),
    (["train", "--device", "tpu"], "--device: invalid choice: 'tpu'"),
    (["export", "--calib", "0"], "--calib: 0 is out of range (allowed: 50 to 60000)"),
    (["export", "--calib", "-5"], "--calib: -5 is out of range"),
    (["export", "--opset", "1"], "--opset: 1 is out of range (allowed: 18 to 25)"),
    (["export", "--opset", "999"], "--opset: 999 is out of range"),
    (["export", "--name", "../../x"], "--name: '../../x': use a plain file name stem"),
    (["export", "--name", "/tmp/x"], "--name: '/tmp/x': use a plain file name stem"),
    (["export", "--name", ".hidden"], "--name: '.hidden': use a plain file name stem"),
    (["export", "--name", ""], "--name: '': use a plain file name stem"),
    (["classify", "x.png", "--conf", "nan"], "--conf: nan is out of range (allowed: a finite number in [0, 1])"),
    (["classify", "x.png", "--conf", "-5"], "--conf: -5 is out of range"),
    (["classify", "x.png", "--conf", "1e9"], "--conf: 1e9 is out of range"),
    (["classify", "x.png", "--conf", "half"], "--conf: 'half' is not a number"),
    (["classify", "x.png", "--threads", "-1"], "--threads: -1 is out of range (allowed: 1 to 256)"),
    (["classify", "x.png", "--threads", "0"], "--threads: 0 is out of range"),
    (["classify", "x.png", "--threads", "99999999999"], "--threads: 99999999999 is out of range"),
    (["live", "--threads", "-1"], "--threads: -1 is out of range"),
    (["live", "--source", "99999999999999999999", "--no-display"], "camera index 99999999999999999999: use 0 to 99"),
    (["bench", "--seconds", "inf"], "--seconds: inf is out of range (allowed: a finite number in (0, 600])"),
    (["bench", "--seconds", "nan"], "--seconds: nan is out of range"),
    (["bench", "--seconds", "0"], "--seconds: 0 is out of range"),
    (["bench", "--threads", "0"], "--threads: 0 is out of range"),
    (["evaluate", "--synth", "0"], "--synth: 0 is out of range (allowed: 1 to 100000)"),
    (["evaluate", "--synth", "-3"], "--synth: -3 is out of range"),
    (["classify", "x.png", "--formt", "json"], "--formt (did you mean --format?)"),
]


@pytest.mark.parametrize("argv, says", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_is_one_line_exit_2(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, not even a run folder
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threshold", [math.nan, -0.1, 1.5, math.inf, "0.5", None, True])
def test_api_refuses_a_threshold_outside_0_1(threshold):
    from digitedge.runtime import DigitClassifier

    with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\]"):
        DigitClassifier(threshold=threshold)


@pytest.mark.parametrize("threads", [0, -1, 10**11, 2.5, "4", True])
def test_api_refuses_a_bad_thread_count(threads):
    from digitedge.runtime import DigitClassifier

    with pytest.raises(ValueError, match="threads must be a whole number from 1 to 256"):
        DigitClassifier(threads=threads)


@pytest.mark.parametrize("field, value", [("lr", math.inf), ("lr", math.nan), ("lr", 0.0), ("limit", -10_000),
                                          ("seed", -1), ("seed", 10**20), ("epochs", 0), ("batch_size", 2.0)])
def test_train_api_refuses_what_the_cli_refuses(field, value, tmp_path):
    from digitedge.errors import DigitedgeError
    from digitedge.training.config import TrainConfig
    from digitedge.training.train import train

    with pytest.raises(DigitedgeError, match=f"{field} = .*: allowed"):
        train(TrainConfig(**{field: value}), out=tmp_path / "runs")
    assert not (tmp_path / "runs").exists(), "a refused start leaves no run folder"


def test_bench_api_refuses_infinite_seconds():
    from digitedge.tools.bench import BenchError, benchmark

    for seconds in (math.inf, math.nan, 0, -1, 601):
        with pytest.raises(BenchError, match=r"allowed a finite number in \(0, 600\]"):
            benchmark(seconds=seconds)


def test_float_crops_in_0_1_are_used_as_they_are(mnist_dir):
    """predict on float crops in [0, 1] gives what uint8 crops give (no second division by 255); floats outside
    [0, 1] are refused, never rescaled silently."""
    from digitedge.runtime import DigitClassifier
    from digitedge.training.data import load_mnist

    clf = DigitClassifier()
    test = load_mnist("test", mnist_dir)
    crops = test.images[:200]
    as_uint8 = clf.predict(crops)
    assert np.array_equal(clf.predict(crops.astype(np.float32) * np.float32(1 / 255)), as_uint8)
    assert np.allclose(clf.predict(crops[:, None]), as_uint8, atol=1e-5), "[N, 1, 28, 28] too"
    assert (as_uint8.argmax(1) == test.labels[:200]).mean() >= 0.97
    assert (clf.predict(crops / 255.0).argmax(1) == as_uint8.argmax(1)).mean() >= 0.99
    for bad in (crops.astype(np.float32), np.full((2, 28, 28), np.nan, np.float32), crops.astype(np.int32) - 1):
        with pytest.raises(ValueError, match="crops"):
            clf.predict(bad)
    assert clf.predict(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)


def test_api_images_are_read_or_refused_never_guessed():
    """bool and [0, 1] float images read like their uint8 twin; None, 8-bit data in a uint16 array and floats past 1
    are refused with the reason, not read as a blank page."""
    from conftest import paper_with_text
    from digitedge.runtime import DigitClassifier, ImageError, text_of

    clf = DigitClassifier()
    gray = paper_with_text(["4"], height=200)[..., 0]
    assert text_of(clf.classify(gray)) == "4"
    assert text_of(clf.classify(gray > 128)) == "4"
    assert text_of(clf.classify(gray / 255.0)) == "4"
    for bad, says in ((None, "image is None"), (gray.astype(np.uint16), "uint16 image whose values stop at"),
                      (gray.astype(np.float32), "floats must be finite and in"), (gray.astype(np.int64) - 300, "0..255"),
                      (np.zeros((0, 4), np.uint8), "empty image"), (np.zeros((4, 4, 2), np.uint8), "expected H x W"),
                      ("no/such.png", "no/such.png: no such file")):
        with pytest.raises(ImageError, match=says):
            clf.classify(bad)
