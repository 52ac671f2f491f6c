"""The training loop: SimpleCNN on MNIST with on-the-fly augmentation, checkpoints and a run folder.

The whole data set lives in one tensor (60k x 28 x 28 is 47 MB as float), so batches are index slices:
no DataLoader workers to fight over the two cores, and one code path for CPU and CUDA.

With `data` (labelled folders of the user's digits) it is a fine-tune (finetune.py): it starts from `weights` (by
default the shipped model), each epoch mixes the user's digits with MNIST, best.pt is picked on the held-out user
digits (their validation loss breaking ties; MNIST's validation accuracy is logged beside), and the report adds a
report on those digits (data_val/).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import __version__
from ..contract import EVAL_BATCH, to_input
from ..errors import DigitedgeError, OutputError
from ..files import next_run_dir, replace_own, shown
from .checkpoint import FORMAT, atomic_save, load_checkpoint
from .config import TrainConfig
from .data import load_mnist
from .extra import build_extra
from .finetune import UserDigits, epoch_length, epoch_order, load_user_digits, write_user_report
from .limits import check_config
from .model import SimpleCNN

HISTORY_FIELDS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DigitedgeError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise DigitedgeError(f"--device {name}: expected auto, cpu or cuda")
    return torch.device(name)


def use_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    if not cfg.bf16:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float [N, 1, 28, 28] in [0, 1], the model's input contract."""
    return torch.from_numpy(to_input(images))


@dataclass
class Splits:
    x: torch.Tensor  # the training images: the user's first when fine-tuning, then MNIST's and the extra crops
    y: torch.Tensor
    x_val: torch.Tensor  # what picks best.pt: the held-out user digits when fine-tuning (and there are some), else MNIST's
    y_val: torch.Tensor
    x_mnist: torch.Tensor  # MNIST's validation images (fine-tune: reported beside the user's)
    y_mnist: torch.Tensor
    user: UserDigits | None = None

    def epoch(self, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
        """The indices of one training epoch, in order."""
        if self.user is None:
            return torch.randperm(len(self.y), generator=gen)
        return epoch_order(len(self.user.train_labels), len(self.y), cfg.mix, gen)

    def epoch_length(self, cfg: TrainConfig) -> int:
        return len(self.y) if self.user is None else epoch_length(len(self.user.train_labels), cfg.mix)


def load_splits(cfg: TrainConfig, log=print) -> Splits:
    """Train/validation tensors: a seeded, fixed hold-out of `val_size` images from the 60k; the training
    part is MNIST plus the extra crops (finder crops of generated scenes, glyphs, junk: label REJECT), after the user's
    digits when fine-tuning (a seeded share of them held out)."""
    user = load_user_digits(cfg.data, cfg.holdout, cfg.seed, log) if cfg.data else None  # their errors first: fast
    train = load_mnist("train", cfg.data_dir or None)
    order = np.random.default_rng(cfg.seed).permutation(len(train.labels))
    val_idx = order[: cfg.val_size]
    train_idx = order[cfg.val_size:cfg.val_size + cfg.limit] if cfg.limit else order[cfg.val_size:]
    extra = build_extra(cfg.scenes, cfg.glyphs, cfg.junk, cfg.seed, cfg.data_dir or None,
                        train.images[train_idx], val_idx, log=log)
    first = [user.train_images] if user else []
    x = to_tensor(np.concatenate(first + [train.images[train_idx], extra.images]))
    y = torch.from_numpy(np.concatenate(([user.train_labels] if user else []) + [train.labels[train_idx], extra.labels]))
    x_mnist, y_mnist = to_tensor(train.images[val_idx]), torch.from_numpy(train.labels[val_idx])
    if user is None or not len(user.val_labels):
        return Splits(x, y, x_mnist, y_mnist, x_mnist, y_mnist, user)
    return Splits(x, y, to_tensor(user.val_images), torch.from_numpy(user.val_labels), x_mnist, y_mnist, user)


def loss_of(logits: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, training: bool) -> torch.Tensor:
    """Cross-entropy on digits; on REJECT crops, outlier exposure: cross-entropy against the uniform
    distribution, so what is not a digit spreads its belief over all ten classes. Summed, per batch item."""
    logits = logits.float()
    digit = y >= 0
    total = F.cross_entropy(logits[digit], y[digit], label_smoothing=cfg.label_smoothing if training else 0.0,
                            reduction="sum") if digit.any() else logits.sum() * 0
    if (~digit).any():
        total = total - cfg.reject_weight * F.log_softmax(logits[~digit], 1).mean(1).sum()
    return total / len(y)


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random affine (rotate, zoom, shear, shift) per image, then thicken or thin some strokes."""
    n = x.shape[0]

    def uniform(*shape):  # in [-1, 1), drawn on the CPU generator so CPU and CUDA runs share a stream
        return (torch.rand(*shape, generator=gen) * 2 - 1).to(x.device)

    angle = uniform(n) * math.radians(cfg.rotate)
    scale = 1 + uniform(n) * cfg.scale
    shear = uniform(n) * cfg.shear
    shift = uniform(n, 2) * cfg.shift * 2  # affine_grid coordinates span [-1, 1]: 2 units per side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin + shear, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    if cfg.thickness > 0:
        pick = (torch.rand(n, generator=gen) * 2 / cfg.thickness).floor().to(x.device).view(n, 1, 1, 1)
        thick = torch.maximum(x, 0.7 * F.max_pool2d(x, 3, 1, 1))  # ~1 px bolder, soft edge
        thin = 0.5 * (x - F.max_pool2d(-x, 3, 1, 1))  # halfway to an erosion
        x = torch.where(pick == 0, thick, torch.where(pick == 1, thin, x))
    return x


def run_epoch(model, x, y, cfg, device, bf16, optimizer=None, scheduler=None, gen=None, desc="", loss=None, order=None):
    """One pass (over `order`, default all of x shuffled); trains when an optimizer is given, else evaluates. Returns
    (loss, accuracy on the digits, predictions). `loss(logits, y, cfg, training)`: `loss_of` unless another is given."""
    loss_fn = loss or loss_of
    training = optimizer is not None
    model.train(training)
    if order is None:
        order = torch.randperm(len(y), generator=gen) if training else torch.arange(len(y))
    n = len(order)
    bs = cfg.batch_size if training else EVAL_BATCH
    loss_sum, correct, digits, preds = 0.0, 0, 0, []
    bar = tqdm(range(0, n, bs), desc=desc, leave=False, dynamic_ncols=True, disable=True if not desc else None)  # None: off when not a terminal
    for i in bar:
        idx = order[i:i + bs]
        xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
        if training and cfg.augment:
            xb = augment(xb, cfg, gen)
        xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(training), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            logits = model(xb)
            batch_loss = loss_fn(logits, yb, cfg, training)
        if training:
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            optimizer.step()
            scheduler.step()
        pred = logits.argmax(1)
        loss_sum += batch_loss.item() * len(yb)
        correct += (pred == yb).sum().item()
        digits += (yb >= 0).sum().item()
        preds.append(pred.cpu())
        seen = min(i + bs, n)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / max(digits, 1):.4f}")
    return loss_sum / n, correct / max(digits, 1), torch.cat(preds)


def make_optimizer(model, cfg: TrainConfig, steps_per_epoch: int):
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, epochs=cfg.epochs,
                                                    steps_per_epoch=steps_per_epoch, pct_start=0.2)
    return optimizer, scheduler


def write_history(path: Path, history: list[dict]) -> None:
    """history.csv rewritten whole from the history (atomically): it always matches a checkpoint's rows. A fine-tune's
    rows have a column more (mnist_val_acc)."""
    fields = list(history[0]) if history else HISTORY_FIELDS
    text = io.StringIO()
    csv.writer(text).writerows([fields] + [[row[k] for k in fields] for row in history])
    replace_own(path, text.getvalue().encode())


def remove_empty_run(run_dir: Path) -> str:
    """A run stopped before its first checkpoint: remove the files it wrote and the folder, if nothing else is there."""
    for name in ("config.json", "history.csv"):
        (run_dir / name).unlink(missing_ok=True)
    try:
        run_dir.rmdir()
        return f"removed {run_dir}"
    except OSError:
        return f"{run_dir} holds no checkpoint"


def score(row: dict) -> tuple[float, float]:
    """What picks best.pt: validation accuracy; a fine-tune's (on the held-out user digits: few, often all right from
    the start) then its validation loss, so ties go to the epoch that learned the user's digits best, not the first."""
    return row["val_acc"], -row["val_loss"] if "mnist_val_acc" in row else 0.0


def shipped_fp32() -> str:
    from ..runtime.model import shipped_model_path

    return str(shipped_model_path("digitedge.onnx"))


def train(cfg: TrainConfig | None = None, out: str | os.PathLike = "runs/train", resume: str | os.PathLike | None = None,
          report: bool = True, log=print) -> Path:
    """Train (or resume) a run; returns its folder. Ctrl-C keeps the last complete checkpoint."""
    start_epoch, history, best = 0, [], (-math.inf, -math.inf)
    if resume:
        run_dir = Path(resume)
        run_dir = run_dir.parent if run_dir.is_file() else run_dir
        ckpt = load_checkpoint(run_dir / "last.pt", resume=True)
        cfg = TrainConfig.from_dict(ckpt["config"])
        check_config(cfg)
        start_epoch, history = ckpt["epoch"], list(ckpt["history"])
        best = max((score(row) for row in history), default=best)
        log(f"Resuming {run_dir} from epoch {start_epoch}/{cfg.epochs}")
    else:
        cfg = cfg or TrainConfig()
        check_config(cfg)
        if cfg.data and not cfg.weights:
            cfg = replace(cfg, weights=shipped_fp32())  # a fine-tune starts from the shipped model unless told
        run_dir = None  # made once the device and the data are known to work: a failed start leaves no folder
        if os.path.lexists(out) and not os.path.isdir(out):  # said now, not after minutes of data preparation
            raise OutputError(f"--out {shown(out)}: exists and is not a folder")

    device = select_device(cfg.device)
    bf16 = use_bf16(cfg, device)
    torch.manual_seed(cfg.seed)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = SimpleCNN()
    if cfg.weights and not resume:  # before the data: a bad --weights is said at once
        from .weights import start_model

        model = start_model(cfg.weights, log)
    data = load_splits(cfg, log)
    x_train, y_train, x_val, y_val = data.x, data.y, data.x_val, data.y_val
    if run_dir is None:
        run_dir = next_run_dir(out)
        replace_own(run_dir / "config.json", (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())
    model = model.to(device, memory_format=torch.channels_last)
    steps = math.ceil(data.epoch_length(cfg) / cfg.batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, steps)
    before = None
    if resume:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        gen.set_state(ckpt["rng"])
    elif data.user is not None and len(data.user.val_labels):
        before = run_epoch(model, x_val, y_val, cfg, device, bf16)[1]
    what = (f"fine-tuning {shown(cfg.weights)} on {len(data.user.train_labels)} of your digits (validation "
            f"{len(data.user.val_labels)}) mixed with {len(y_train) - len(data.user.train_labels)} MNIST and extra images "
            f"({data.epoch_length(cfg)} per epoch)" if data.user is not None else
            f"Training SimpleCNN on {len(y_train)} images ({int((y_train < 0).sum())} not digits; validation {len(y_val)})")
    log(f"{what}, device {device}{' bf16' if bf16 else ''}, {cfg.epochs} epochs -> {run_dir}")

    csv_path = run_dir / "history.csv"
    write_history(csv_path, history)  # on resume, from last.pt: a row lost to a kill during best.pt comes back
    t_start = time.time()
    try:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            t0 = time.time()
            lr = scheduler.get_last_lr()[0]
            tr_loss, tr_acc, _ = run_epoch(model, x_train, y_train, cfg, device, bf16, optimizer, scheduler, gen,
                                           desc=f"epoch {epoch}/{cfg.epochs}", order=data.epoch(cfg, gen))
            if not math.isfinite(tr_loss):
                raise DigitedgeError(f"training diverged in epoch {epoch} (loss {tr_loss}); try a lower --lr than {cfg.lr:g}")
            va_loss, va_acc, _ = run_epoch(model, x_val, y_val, cfg, device, bf16)
            row = dict(epoch=epoch, train_loss=round(tr_loss, 5), train_acc=round(tr_acc, 5), val_loss=round(va_loss, 5),
                       val_acc=round(va_acc, 5), lr=round(lr, 7))
            if data.user is not None:
                row["mnist_val_acc"] = round(run_epoch(model, data.x_mnist, data.y_mnist, cfg, device, bf16)[1], 5)
            row["seconds"] = round(time.time() - t0, 1)
            history.append(row)
            ckpt = dict(format=FORMAT, version=__version__, config=cfg.to_dict(), epoch=epoch, history=history,
                        model={k: v.detach().cpu() for k, v in model.state_dict().items()},
                        optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), rng=gen.get_state())
            atomic_save(ckpt, run_dir / "last.pt")
            if score(row) > best:
                best = score(row)
                atomic_save({k: ckpt[k] for k in ("format", "version", "config", "epoch", "history", "model")},
                            run_dir / "best.pt")
            write_history(csv_path, history)
            mnist = f"  MNIST val acc {row['mnist_val_acc']:.4f}" if "mnist_val_acc" in row else ""
            log(f"epoch {epoch:3d}/{cfg.epochs}  train loss {tr_loss:.4f} acc {tr_acc:.4f}  "
                f"val loss {va_loss:.4f} acc {va_acc:.4f}{mnist}  {row['seconds']:.0f}s")
    except KeyboardInterrupt:
        if (run_dir / "last.pt").exists():
            log(f"\nInterrupted. The last complete checkpoint is {run_dir / 'last.pt'}; "
                f"continue with: digitedge train --resume {run_dir}")
        else:
            log(f"\nInterrupted before the first epoch ended: nothing to resume; {remove_empty_run(run_dir)}")
        raise
    log(f"Trained {cfg.epochs - start_epoch} epochs in {time.time() - t_start:.0f}s; best val acc {best[0]:.4f}")
    if report:
        from .evaluate import evaluate

        evaluate(run_dir / "best.pt", out=run_dir, data_dir=cfg.data_dir or None, history=history, log=log)
        if data.user is not None:
            write_user_report(run_dir, run_dir / "best.pt", data.user, before, log)
    return run_dir
