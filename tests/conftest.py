"""Shared fixtures. MNIST comes from $DIGITEDGE_DATA (tests that need it skip with a reason when unset);
everything else is generated here. Nothing is downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    folder = os.environ.get("DIGITEDGE_DATA")
    if not folder or not (Path(folder) / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("MNIST not available: set DIGITEDGE_DATA to a folder with the four MNIST files")
    return Path(folder)


@pytest.fixture(scope="session")
def trained_run(mnist_dir, tmp_path_factory) -> Path:
    """A small real training run (2 epochs on 3,000 images): fast, and good enough to classify."""
    from digitedge.training.config import TrainConfig
    from digitedge.training.train import train

    out = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(epochs=2, limit=3000, val_size=500, data_dir=str(mnist_dir), batch_size=64, lr=3e-3,
                      scenes=0, glyphs=200, junk=200)
    return train(cfg, out=out, report=True, log=lambda *a, **k: None)


@pytest.fixture(scope="session")
def exported(trained_run, mnist_dir, tmp_path_factory) -> Path:
    """fp32 + int8 ONNX exported from `trained_run` (parity checks on, as users run it)."""
    from digitedge.export.exporter import export

    out = tmp_path_factory.mktemp("export")
    assert export(trained_run / "best.pt", out=out, quantize=True, calib=500, data_dir=mnist_dir, log=lambda *a: None)
    return out


def paper_with_text(lines: list[str], height: int = 120, size=(640, 480)) -> np.ndarray:
    """Dark handwritten-looking digits (Hershey script) on light paper, one string per line."""
    import cv2

    w, h = size
    img = np.full((h, w, 3), 235, np.uint8)
    y = height
    for text in lines:
        cv2.putText(img, "  ".join(text), (40, y), cv2.FONT_HERSHEY_SIMPLEX, height / 40, (30, 30, 30), max(2, height // 14),
                    cv2.LINE_AA)
        y += int(height * 1.6)
    return img


def pytest_addoption(parser):
    parser.addoption("--first-release", metavar="DIR", default=None,
                     help="read the stress scenes with the digit finder and model of a checkout of the first release "
                          "(commit 62379a0) in DIR, to see them fail there")


@pytest.fixture(scope="session")
def reader(request):
    """The reader under test: the current finder and shipped model, or (--first-release DIR) those of the first
    release, loaded from their files into the current classifier."""
    from digitedge.runtime import DigitClassifier

    first = request.config.getoption("--first-release")
    if not first:
        return DigitClassifier()
    import importlib.util
    import sys

    import digitedge.runtime.classifier as classifier
    from digitedge.runtime.preprocess import Region

    spec = importlib.util.spec_from_file_location("first_release_preprocess",
                                                  Path(first) / "digitedge" / "runtime" / "preprocess.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    original = classifier.find_digits
    request.addfinalizer(lambda: setattr(classifier, "find_digits", original))
    # its regions as this release's (no ink strength: nothing is split or read together again)
    classifier.find_digits = lambda image: [Region(r.box, r.crop, r.line) for r in module.find_digits(image)]
    return DigitClassifier(Path(first) / "digitedge" / "models" / "digitedge.int8.onnx")
