"""`digitedge export`: checkpoint -> NAME.onnx (fp32) and NAME.int8.onnx, self-describing and parity-checked.

Both files are written to temp names first and renamed only after every check passed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .. import __version__
from ..errors import CheckpointError
from ..files import digest
from ..runtime.model import INPUT_SHAPE, META_PREFIX, PREPROCESS_RECIPE, to_input
from ..training.checkpoint import load_model
from ..training.data import load_mnist
from . import parity
from .quantize import quantize as quantize_int8

CALIB_SEED = 0  # which training images calibrate int8: fixed, so exports are reproducible


def newest_checkpoint(runs: Path = Path("runs/train")) -> Path:
    found = sorted(runs.glob("*/best.pt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise CheckpointError(f"no checkpoint given and no {runs}/*/best.pt: run `digitedge train` first, or pass CHECKPOINT")
    return found[-1]


def export_fp32(model: torch.nn.Module, path: Path, opset: int) -> None:
    """torch.onnx.export with the dynamo exporter (PyTorch's recommended one), dynamic batch."""
    dummy = torch.rand(2, *INPUT_SHAPE)
    batch = torch.export.Dim("batch")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # The exporter narrates each step and warns about optional torchvision ops; keep the CLI quiet.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), dynamo=True, opset_version=opset, input_names=["input"],
                          output_names=["logits"], dynamic_shapes=({0: batch},), external_data=False)


def set_metadata(path: Path, meta: dict[str, str], doc: str) -> None:
    """Write digitedge.* metadata_props and a doc string, then run the full ONNX checker."""
    model = onnx.load(str(path))
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=META_PREFIX + key, value=value)
    model.doc_string = doc
    model.producer_name, model.producer_version = "digitedge", __version__
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def onnx_logits(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: to_input(images[i:i + 1000])})[0] for i in range(0, len(images), 1000)])


def torch_logits(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return np.concatenate([model(torch.from_numpy(to_input(images[i:i + 1000]))).numpy()
                               for i in range(0, len(images), 1000)])


def base_metadata(ckpt_path: Path, ckpt: dict) -> dict[str, str]:
    return {
        "labels": json.dumps([str(i) for i in range(10)]),
        "input": json.dumps({"name": "input", "dtype": "float32", "shape": ["N", *INPUT_SHAPE], "layout": "NCHW",
                             "scale": "pixel / 255, range [0, 1]", "polarity": "white digit on black (MNIST)"}),
        "output": json.dumps({"name": "logits", "dtype": "float32", "shape": ["N", 10]}),
        "preprocess": PREPROCESS_RECIPE,
        "checkpoint_sha256": digest(ckpt_path),
        "train_config": json.dumps(ckpt.get("config", {})),
        "version": __version__,
    }


def export(checkpoint=None, out=None, quantize=False, opset=18, calib=2000, check=True, data_dir=None,
           calib_method="minmax", name=None, log=print) -> bool:
    """Export (and quantize); returns True when every parity check passed. Raises DigitedgeError on bad input."""
    t0 = time.time()
    ckpt_path = Path(checkpoint) if checkpoint else newest_checkpoint()
    model, ckpt = load_model(ckpt_path)
    out = Path(out) if out else ckpt_path.parent
    out.mkdir(parents=True, exist_ok=True)
    stem = name or ckpt_path.stem
    final = {"fp32": out / f"{stem}.onnx", "int8": out / f"{stem}.int8.onnx"}
    tmp = {k: v.with_name(f".{v.name}.tmp") for k, v in final.items()}
    meta = base_metadata(ckpt_path, ckpt)
    test = load_mnist("test", data_dir) if (check or quantize) else None
    checks: list[parity.Check] = []
    try:
        export_fp32(model, tmp["fp32"], opset)
        if test is not None:
            ref = torch_logits(model, test.images)
            fp32 = onnx_logits(tmp["fp32"], test.images)
            meta["test_accuracy"] = f"{parity.accuracy(fp32, test.labels):.4f}"
            checks += parity.fp32_checks(ref, fp32)
        set_metadata(tmp["fp32"], meta, "digitedge SimpleCNN, fp32")
        written = [("fp32", tmp["fp32"], meta)]
        if quantize:
            train = load_mnist("train", data_dir)
            pick = np.random.default_rng(CALIB_SEED).choice(len(train.labels), size=min(calib, len(train.labels)), replace=False)
            settings = quantize_int8(tmp["fp32"], tmp["int8"], train.images[np.sort(pick)], calib_method)
            int8 = onnx_logits(tmp["int8"], test.images)
            meta8 = dict(meta, test_accuracy=f"{parity.accuracy(int8, test.labels):.4f}", quantization=json.dumps(settings))
            set_metadata(tmp["int8"], meta8, "digitedge SimpleCNN, static int8 (QDQ)")
            checks += parity.int8_checks(fp32, int8, test.labels)
            checks.append(parity.size_check(tmp["fp32"].stat().st_size, tmp["int8"].stat().st_size))
            written.append(("int8", tmp["int8"], meta8))
        if checks:
            log(parity.format_table(checks))
        failed = [c.name for c in checks if not c.ok]
        if failed and check:
            log(f"export: parity check failed ({'; '.join(failed)}); nothing written (--no-check to write anyway)")
            return False
        for kind, path, kind_meta in written:
            replaced = final[kind].exists()  # said, never silent: an earlier export is being replaced
            os.replace(path, final[kind])
            acc = kind_meta.get("test_accuracy")
            log(f"{final[kind]}  {final[kind].stat().st_size / 1e6:.2f} MB" + (f"  MNIST test accuracy {acc}" if acc else "")
                + ("  (replaced the earlier file)" if replaced else ""))
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    log(f"Export done in {time.time() - t0:.1f}s. Results saved to {out}")
    return True
