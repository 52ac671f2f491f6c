"""Two ways to teach SimpleCNN what is not a digit, measured side by side (issue 10):

- outlier exposure (what ships): ten outputs, non-digit crops trained toward the uniform distribution, a
  region rejected when its top probability is under the threshold;
- a reject class: an eleventh output trained on the same crops, a region rejected when it wins or when the
  top digit probability is under the threshold. (It changes the paper's Table 1: Linear 128->11.)

Same data (MNIST + the finder's crops of generated scenes + glyphs + junk), same schedule and seed; scored on
the MNIST test split and on the finder's crops of scenes written with MNIST *test* digits (never trained on):

    python -m digitedge.tools.rejects --data-dir ../shared/mnist --epochs 8
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..training.config import TrainConfig
from ..training.data import load_mnist
from ..training.model import SimpleCNN
from ..training.train import make_optimizer, run_epoch, select_device, to_tensor, load_splits, use_bf16
from .harvest import REJECT, harvest

TEST_SCENES = 1500  # generated scenes (MNIST test digits) whose finder crops score the two models
THRESHOLD = 0.5  # the runtime's default --conf


class WithRejectClass(SimpleCNN):
    """SimpleCNN with an eleventh output, 'not a digit'."""

    def __init__(self):
        super().__init__()
        self.fc2 = nn.Linear(128, 11)


def reject_class_loss(logits, y, cfg, training):
    """Cross-entropy over eleven classes: REJECT is class 10."""
    target = torch.where(y < 0, torch.full_like(y, 10), y)
    return F.cross_entropy(logits.float(), target, label_smoothing=cfg.label_smoothing if training else 0.0)


def fit(model, loss, cfg, x, y, device, log):
    bf16 = use_bf16(cfg, device)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = model.to(device, memory_format=torch.channels_last)
    optimizer, scheduler = make_optimizer(model, cfg, math.ceil(len(y) / cfg.batch_size))
    for epoch in range(1, cfg.epochs + 1):
        tr_loss, tr_acc, _ = run_epoch(model, x, y, cfg, device, bf16, optimizer, scheduler, gen, loss=loss)
        log(f"  epoch {epoch}/{cfg.epochs}: loss {tr_loss:.4f}, digit accuracy {tr_acc:.4f}")
    return model.eval()


def probabilities(model, crops: np.ndarray, device) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([F.softmax(model(to_tensor(crops[i:i + 1000]).to(device)).float(), 1).cpu().numpy()
                               for i in range(0, len(crops), 1000)])


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a digit scores above a non-digit): the area under the ROC curve, by ranks."""
    scores = np.concatenate([pos, neg])
    ranks = scores.argsort().argsort() + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def score(p: np.ndarray, labels: np.ndarray, reject_class: bool) -> dict:
    digit_p = p[:, :10]
    top = digit_p.max(1)
    rejected = top < THRESHOLD
    if reject_class:
        rejected |= p.argmax(1) == 10
    is_digit = labels >= 0
    right = (digit_p.argmax(1) == labels) & ~rejected
    return {"digit accuracy, kept and right": float(right[is_digit].mean()),
            "digits rejected": float(rejected[is_digit].mean()),
            "non-digits rejected": float(rejected[~is_digit].mean()),
            "AUROC digit vs non-digit": auroc(top[is_digit], top[~is_digit])}


def compare(cfg: TrainConfig, log=print) -> dict:
    device = select_device(cfg.device)
    splits = load_splits(cfg, log)
    x, y = splits.x, splits.y
    test = load_mnist("test", cfg.data_dir or None)
    held = harvest(TEST_SCENES, seed=cfg.seed + 1, data_dir=cfg.data_dir or None, split="test", workers=2, log=log)
    out = {}
    for name, model, loss, extra_class in (("outlier exposure (uniform)", SimpleCNN(), None, False),
                                           ("reject class (11 outputs)", WithRejectClass(), reject_class_loss, True)):
        log(f"{name}:")
        model = fit(model, loss, cfg, x, y, device, log)
        mnist = float((probabilities(model, test.images, device)[:, :10].argmax(1) == test.labels).mean())
        out[name] = {"MNIST test accuracy": mnist} | score(probabilities(model, held.crops, device), held.labels, extra_class)
    log(f"\nscored on MNIST test and on {len(held.labels)} finder crops of {TEST_SCENES} generated test scenes "
        f"({int((held.labels == REJECT).sum())} not digits); threshold {THRESHOLD}")
    names = list(out)
    log(f"{'':34s}" + "".join(f"{n:>30s}" for n in names))
    for metric in out[names[0]]:
        log(f"{metric:34s}" + "".join(f"{out[n][metric]:>30.4f}" for n in names))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.rejects", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="folder with the four MNIST files (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--epochs", type=int, default=8, help="epochs for each model (default 8)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    compare(TrainConfig(epochs=args.epochs, seed=args.seed, data_dir=args.data_dir or ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
