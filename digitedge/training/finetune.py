"""Fine-tuning on a user's own digits (`train --data DIR`, issue 11): their labelled folders, a held-out share of them
for validation and the report, and the epochs that mix them with MNIST so MNIST accuracy holds.

An epoch is the user's training digits, cycled up to FINETUNE_USER_PER_EPOCH of them (all of them when there are more), plus
`mix` times as many images drawn afresh from MNIST's training part and the extra crops: with the defaults (mix 3)
a quarter of every batch is the user's, and the run's length does not grow with 10 or 50 examples per digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..files import shown
from ..tools.harvest import REJECT
from .config import FINETUNE_USER_PER_EPOCH as USER_PER_EPOCH
from .labelled import Labelled, load_labelled


@dataclass
class UserDigits:
    train_images: np.ndarray  # uint8 [N, 28, 28]
    train_labels: np.ndarray  # int64 [N]: a digit, or REJECT
    val_images: np.ndarray
    val_labels: np.ndarray
    val_files: list[str]


def load_user_digits(folders: list[str], holdout: float, seed: int, log=print) -> UserDigits:
    """Every labelled folder read (a line each), then a seeded share of each label held out (at least one image of
    every label that has two)."""
    sets: list[Labelled] = []
    for folder in folders:
        data = load_labelled(folder)
        log(data.summary(folder))
        sets.append(data)
    images = np.concatenate([s.crops for s in sets])
    labels = np.concatenate([s.labels for s in sets])
    files = [f"{shown(Path(folder).name)}/{f}" for folder, s in zip(folders, sets) for f in s.files]
    val = holdout_indices(labels, holdout, seed)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return UserDigits(images[train], labels[train], images[val], labels[val], [files[i] for i in val])


def holdout_indices(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Per label, round(share x count) images (at least 1 when share > 0 and the label has 2; never its last one)."""
    rng = np.random.default_rng([seed, 11])
    picked = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n = min(len(members) - 1, max(round(share * len(members)), 1 if share > 0 else 0))
        picked.append(members[:n])
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, np.int64)


def epoch_length(n_user: int, mix: float) -> int:
    user = max(n_user, USER_PER_EPOCH)
    return user + round(user * mix)


def epoch_order(n_user: int, n_total: int, mix: float, gen: torch.Generator) -> torch.Tensor:
    """Indices of one epoch into [user digits first, then the replay pool]: the user's cycled, the pool's drawn afresh,
    all shuffled together."""
    user_count = max(n_user, USER_PER_EPOCH)
    user = torch.cat([torch.randperm(n_user, generator=gen) for _ in range(math.ceil(user_count / n_user))])[:user_count]
    pool = n_total - n_user
    replay = n_user + torch.randint(pool, (epoch_length(n_user, mix) - user_count,), generator=gen) if pool else user[:0]
    order = torch.cat([user, replay])
    return order[torch.randperm(len(order), generator=gen)]


def write_user_report(run_dir: Path, best: Path, user: UserDigits, before: float | None, log=print) -> Path | None:
    """The report on the held-out user digits (`data_val/`: confusion matrix, classification report, misclassified),
    with the start weights' accuracy beside the fine-tuned one."""
    from .evaluate import checkpoint_predictor
    from .report import write_report

    digits = user.val_labels != REJECT
    if not digits.any():
        log("no held-out --data digits to report on (--holdout 0, or one image per label)")
        return None
    y_pred = checkpoint_predictor(best)(user.val_images[digits])
    acc = float((y_pred == user.val_labels[digits]).mean())
    out = run_dir / "data_val"
    write_report(out, user.val_labels[digits], y_pred, user.val_images[digits], title="held-out --data digits")
    was = f"{before:.1%} with the start weights -> " if before is not None else ""
    log(f"held-out --data digits ({int(digits.sum())}): {was}{acc:.1%} fine-tuned; report in {shown(out)}")
    return out
