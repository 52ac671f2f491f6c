"""`digitedge evaluate`: accuracy and the report for a checkpoint (.pt) or an exported model (.onnx)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import next_run_dir, shown
from .data import load_mnist
from .report import report_folder, write_report


def checkpoint_predictor(path: Path):
    import torch

    from .checkpoint import load_model
    from .train import to_tensor

    model, _ = load_model(path)

    def predict(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.concatenate([model(to_tensor(images[i:i + 1000])).argmax(1).numpy() for i in range(0, len(images), 1000)])
    return predict


def onnx_predictor(path: Path):
    from ..runtime.model import OnnxModel

    model = OnnxModel(path)
    return lambda images: np.concatenate([model.logits(images[i:i + 1000]).argmax(1) for i in range(0, len(images), 1000)])


def evaluate(model_path, out=None, data_dir=None, history=None, log=print) -> float:
    """Predict the 10,000 MNIST test images, write the report files into `out` (default: a new
    runs/evaluate/expN, made only once the predictions are done), return accuracy."""
    model_path = Path(model_path)
    if out:
        report_folder(Path(out))  # before the work: a folder that holds a report is refused now, not after it
    predict = (onnx_predictor if model_path.suffix == ".onnx" else checkpoint_predictor)(model_path)  # fails fast
    test = load_mnist("test", data_dir)
    y_pred = predict(test.images)
    acc = float((y_pred == test.labels).mean())
    out = Path(out) if out else next_run_dir("runs/evaluate")
    write_report(out, test.labels, y_pred, test.images, history, title=shown(model_path.name))
    log(f"{shown(model_path)}: MNIST test accuracy {acc:.4f} ({int((y_pred == test.labels).sum())}/{len(y_pred)})")
    log(f"Results saved to {shown(out)}")
    return acc
