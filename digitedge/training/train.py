"""The training loop: SimpleCNN on MNIST with on-the-fly augmentation, checkpoints and a run folder.

The whole data set lives in one tensor (60k x 28 x 28 is 47 MB as float), so batches are index slices:
no DataLoader workers to fight over the two cores, and one code path for CPU and CUDA.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
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


def load_splits(cfg: TrainConfig, log=print):
    """Train/validation tensors: a seeded, fixed hold-out of `val_size` images from the 60k; the training
    part is MNIST plus the extra crops (finder crops of generated scenes, glyphs, junk: label REJECT)."""
    train = load_mnist("train", cfg.data_dir or None)
    order = np.random.default_rng(cfg.seed).permutation(len(train.labels))
    val_idx = order[: cfg.val_size]
    train_idx = order[cfg.val_size:cfg.val_size + cfg.limit] if cfg.limit else order[cfg.val_size:]
    extra = build_extra(cfg.scenes, cfg.glyphs, cfg.junk, cfg.seed, cfg.data_dir or None,
                        train.images[train_idx], val_idx, log=log)
    x = to_tensor(np.concatenate([train.images[train_idx], extra.images]))
    y = torch.from_numpy(np.concatenate([train.labels[train_idx], extra.labels]))
    return x, y, to_tensor(train.images[val_idx]), torch.from_numpy(train.labels[val_idx])


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


def run_epoch(model, x, y, cfg, device, bf16, optimizer=None, scheduler=None, gen=None, desc="", loss=None):
    """One pass; trains when an optimizer is given, else evaluates. Returns (loss, accuracy on the digits,
    predictions). `loss(logits, y, cfg, training)`: `loss_of` unless another is given."""
    loss_fn = loss or loss_of
    training = optimizer is not None
    model.train(training)
    n = len(y)
    order = torch.randperm(n, generator=gen) if training else torch.arange(n)
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
    """history.csv rewritten whole from the history (atomically): it always matches a checkpoint's rows."""
    text = io.StringIO()
    csv.writer(text).writerows([HISTORY_FIELDS] + [[row[k] for k in HISTORY_FIELDS] for row in history])
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


def train(cfg: TrainConfig | None = None, out: str | os.PathLike = "runs/train", resume: str | os.PathLike | None = None,
          report: bool = True, log=print) -> Path:
    """Train (or resume) a run; returns its folder. Ctrl-C keeps the last complete checkpoint."""
    start_epoch, history, best_acc = 0, [], -1.0
    if resume:
        run_dir = Path(resume)
        run_dir = run_dir.parent if run_dir.is_file() else run_dir
        ckpt = load_checkpoint(run_dir / "last.pt", resume=True)
        cfg = TrainConfig.from_dict(ckpt["config"])
        check_config(cfg)
        start_epoch, history = ckpt["epoch"], list(ckpt["history"])
        best_acc = max((row["val_acc"] for row in history), default=-1.0)
        log(f"Resuming {run_dir} from epoch {start_epoch}/{cfg.epochs}")
    else:
        cfg = cfg or TrainConfig()
        check_config(cfg)
        run_dir = None  # made once the device and the data are known to work: a failed start leaves no folder
        if os.path.lexists(out) and not os.path.isdir(out):  # said now, not after minutes of data preparation
            raise OutputError(f"--out {shown(out)}: exists and is not a folder")

    device = select_device(cfg.device)
    bf16 = use_bf16(cfg, device)
    torch.manual_seed(cfg.seed)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_train, y_train, x_val, y_val = load_splits(cfg, log)
    if run_dir is None:
        run_dir = next_run_dir(out)
        replace_own(run_dir / "config.json", (json.dumps(cfg.to_dict(), indent=2) + "\n").encode())
    model = SimpleCNN().to(device, memory_format=torch.channels_last)
    steps = math.ceil(len(y_train) / cfg.batch_size)
    optimizer, scheduler = make_optimizer(model, cfg, steps)
    if resume:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        gen.set_state(ckpt["rng"])
    log(f"Training SimpleCNN on {len(y_train)} images ({int((y_train < 0).sum())} not digits; validation {len(y_val)}), device {device}"
        f"{' bf16' if bf16 else ''}, {cfg.epochs} epochs -> {run_dir}")

    csv_path = run_dir / "history.csv"
    write_history(csv_path, history)  # on resume, from last.pt: a row lost to a kill during best.pt comes back
    t_start = time.time()
    try:
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            t0 = time.time()
            lr = scheduler.get_last_lr()[0]
            tr_loss, tr_acc, _ = run_epoch(model, x_train, y_train, cfg, device, bf16, optimizer, scheduler, gen,
                                           desc=f"epoch {epoch}/{cfg.epochs}")
            if not math.isfinite(tr_loss):
                raise DigitedgeError(f"training diverged in epoch {epoch} (loss {tr_loss}); try a lower --lr than {cfg.lr:g}")
            va_loss, va_acc, _ = run_epoch(model, x_val, y_val, cfg, device, bf16)
            row = dict(epoch=epoch, train_loss=round(tr_loss, 5), train_acc=round(tr_acc, 5), val_loss=round(va_loss, 5),
                       val_acc=round(va_acc, 5), lr=round(lr, 7), seconds=round(time.time() - t0, 1))
            history.append(row)
            ckpt = dict(format=FORMAT, version=__version__, config=cfg.to_dict(), epoch=epoch, history=history,
                        model={k: v.detach().cpu() for k, v in model.state_dict().items()},
                        optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), rng=gen.get_state())
            atomic_save(ckpt, run_dir / "last.pt")
            if va_acc > best_acc:
                best_acc = va_acc
                atomic_save({k: ckpt[k] for k in ("format", "version", "config", "epoch", "history", "model")},
                            run_dir / "best.pt")
            write_history(csv_path, history)
            log(f"epoch {epoch:3d}/{cfg.epochs}  train loss {tr_loss:.4f} acc {tr_acc:.4f}  "
                f"val loss {va_loss:.4f} acc {va_acc:.4f}  {row['seconds']:.0f}s")
    except KeyboardInterrupt:
        if (run_dir / "last.pt").exists():
            log(f"\nInterrupted. The last complete checkpoint is {run_dir / 'last.pt'}; "
                f"continue with: digitedge train --resume {run_dir}")
        else:
            log(f"\nInterrupted before the first epoch ended: nothing to resume; {remove_empty_run(run_dir)}")
        raise
    log(f"Trained {cfg.epochs - start_epoch} epochs in {time.time() - t_start:.0f}s; best val acc {best_acc:.4f}")
    if report:
        from .evaluate import evaluate

        evaluate(run_dir / "best.pt", out=run_dir, data_dir=cfg.data_dir or None, history=history, log=log)
    return run_dir
