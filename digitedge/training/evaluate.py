"""`digitedge evaluate`: accuracy and the report for a checkpoint (.pt) or an exported model (.onnx).

Both are fed through the one input contract (digitedge.contract), so a checkpoint and its export are scored alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contract import batched, to_input
from ..errors import InputError
from ..files import looks_like_checkpoint, next_run_dir, read_bytes, shown
from .data import load_mnist
from .report import report_folder, write_report


def checkpoint_predictor(path: Path):
    import torch

    from .checkpoint import load_model

    model, _ = load_model(path)

    def predict(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(to_input(images))).argmax(1).numpy()
    return lambda images: batched(predict, images)


def onnx_predictor(path: Path):
    from ..runtime.model import OnnxModel

    model = OnnxModel(path)
    return lambda images: batched(lambda x: model.logits(x).argmax(1), images)


def is_checkpoint(path: Path) -> bool:
    """A PyTorch checkpoint by its first bytes, whatever its name (an unreadable file goes to the ONNX loader, which
    says why in its own words)."""
    try:
        return looks_like_checkpoint(read_bytes(path, 4, head=True))
    except InputError:
        return path.suffix in (".pt", ".pth")  # a missing .pt is "no such checkpoint", not "no such model"


def evaluate(model_path=None, out=None, data_dir=None, history=None, log=print) -> float:
    """Predict the 10,000 MNIST test images with a checkpoint or .onnx model (default: the shipped int8 model), write
    the report files into `out` (default: a new runs/evaluate/expN, made only once the predictions are done), return
    accuracy."""
    if model_path is None:
        from ..runtime.model import shipped_model_path

        model_path = shipped_model_path()
    model_path = Path(model_path)
    if out:
        report_folder(Path(out))  # before the work: a folder that holds a report is refused now, not after it
    predict = (checkpoint_predictor if is_checkpoint(model_path) else onnx_predictor)(model_path)  # fails fast
    test = load_mnist("test", data_dir)
    y_pred = predict(test.images)
    acc = float((y_pred == test.labels).mean())
    out = Path(out) if out else next_run_dir("runs/evaluate")
    write_report(out, test.labels, y_pred, test.images, history, title=shown(model_path.name))
    log(f"{shown(model_path)}: MNIST test accuracy {acc:.4f} ({int((y_pred == test.labels).sum())}/{len(y_pred)})")
    log(f"Results saved to {shown(out)}")
    return acc
