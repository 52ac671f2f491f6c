"""Checkpoints: written atomically, loaded with weights_only=True, checked before use."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import CheckpointError
from .model import SimpleCNN

FORMAT = "digitedge-checkpoint/1"


def atomic_save(obj, path: str | os.PathLike) -> None:
    """torch.save into a temp file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load and validate a digitedge checkpoint; raise CheckpointError with one clear line otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes are not the user's business
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad file: pickle, zip, unsafe globals
        text = str(e).strip()
        if "Weights only load failed" in text:
            reason = "it holds Python objects, not just weights; refused, as digitedge loads with weights_only=True"
        else:
            reason = (text.splitlines() or [e.__class__.__name__])[0][:160]
        raise CheckpointError(f"{path}: not a readable checkpoint ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "model" not in ckpt:
        raise CheckpointError(f"{path}: not a digitedge checkpoint (expected format {FORMAT!r} with a 'model' entry)")
    expected = SimpleCNN().state_dict()
    state = ckpt["model"]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit SimpleCNN (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(f"{path}: weight {key} has shape {tuple(state[key].shape)}, SimpleCNN needs {tuple(tensor.shape)}")
    return ckpt


def load_model(path: str | os.PathLike) -> tuple[SimpleCNN, dict]:
    """The SimpleCNN of a checkpoint, in eval mode, and the checkpoint dict."""
    ckpt = load_checkpoint(path)
    model = SimpleCNN()
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt
