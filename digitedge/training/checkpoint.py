"""Checkpoints: written atomically, loaded with weights_only=True, checked before use."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import torch

from ..errors import CheckpointError, InputError
from ..files import looks_like_checkpoint, read_bytes, replace_own, shown
from .model import SimpleCNN

FORMAT = "digitedge-checkpoint/1"
MAX_CHECKPOINT_BYTES = 1 << 30  # last.pt with the optimiser state is ~11 MB
RESUME_KEYS = ("config", "epoch", "history", "optimizer", "scheduler", "rng")


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save into a temp file in the same folder, then rename: a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    replace_own(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, resume: bool = False) -> dict:
    """Load and validate a digitedge checkpoint (with `resume`, one that training can continue from: last.pt);
    raise CheckpointError with one clear line otherwise."""
    path = Path(path)
    try:
        data = read_bytes(path, MAX_CHECKPOINT_BYTES)  # a FIFO or /dev/zero: refused, not read forever
    except InputError as e:
        raise CheckpointError(f"{shown(path)}: {'no such checkpoint' if str(e) == 'no such file' else e}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes are not the user's business
            ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file: pickle, zip, unsafe globals
        text = str(e).strip()
        if not looks_like_checkpoint(data):
            reason = "not a PyTorch file"
        elif "Weights only load failed" in text:
            reason = "it holds Python objects, not just weights; refused, as digitedge loads with weights_only=True"
        else:
            reason = (text.splitlines() or [e.__class__.__name__])[0][:160]
        raise CheckpointError(f"{shown(path)}: not a readable checkpoint ({reason})") from None
    path = shown(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or not isinstance(ckpt.get("model"), dict):
        raise CheckpointError(f"{path}: not a digitedge checkpoint (expected format {FORMAT!r} with a 'model' entry)")
    expected = SimpleCNN().state_dict()
    state = ckpt["model"]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit SimpleCNN (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, tensor in expected.items():
        if not isinstance(state[key], torch.Tensor):
            raise CheckpointError(f"{path}: weight {key} is a {type(state[key]).__name__}, not a tensor")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{path}: weight {key} has shape {tuple(state[key].shape)}, SimpleCNN needs {tuple(tensor.shape)}")
        if not state[key].is_floating_point():
            raise CheckpointError(f"{path}: weight {key} is {state[key].dtype}; SimpleCNN needs floating-point weights")
        if not torch.isfinite(state[key]).all():
            raise CheckpointError(f"{path}: weight {key} holds NaN or infinite values")
    missing = [k for k in RESUME_KEYS if k not in ckpt] if resume else []
    if missing or (resume and not (isinstance(ckpt["epoch"], int) and isinstance(ckpt["history"], list)
                                   and isinstance(ckpt["config"], dict))):
        raise CheckpointError(f"{path}: cannot resume from it (lacks or garbles {', '.join(missing) or 'epoch/history/config'}); "
                              "resume needs the run's last.pt")
    return ckpt


def load_model(path: str | os.PathLike) -> tuple[SimpleCNN, dict]:
    """The SimpleCNN of a checkpoint, in eval mode, and the checkpoint dict."""
    ckpt = load_checkpoint(path)
    model = SimpleCNN()
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
