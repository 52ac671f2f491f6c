"""`digitedge export`: checkpoint -> NAME.onnx (fp32) and NAME.int8.onnx, self-describing and parity-checked.

Both files are written to temp files first and published together, under a free name, only after every check
passed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
import warnings
from argparse import ArgumentTypeError
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from .. import __version__
from ..contract import DEFAULT_INPUT, PREPROCESS_RECIPE, batched, to_input
from ..errors import CheckpointError, DigitedgeError, OutputError
from ..files import claim, digest, free_stems, output_dir, shown, temp_file
from ..options import file_stem
from ..runtime.model import META_PREFIX, first_line
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
    dummy = torch.rand(2, *DEFAULT_INPUT.shape)
    batch = torch.export.Dim("batch")
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # The exporter narrates each step and warns about optional torchvision ops; keep the CLI quiet.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (dummy,), str(path), dynamo=True, opset_version=opset, input_names=[DEFAULT_INPUT.name],
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
    return batched(lambda x: session.run(None, {name: to_input(x)})[0], images)


def torch_logits(model: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return batched(lambda x: model(torch.from_numpy(to_input(x))).numpy(), images)


def base_metadata(ckpt_path: Path, ckpt: dict) -> dict[str, str]:
    return {
        "labels": json.dumps([str(i) for i in range(10)]),
        "input": DEFAULT_INPUT.to_metadata(),  # what the runtime reads back to feed the model
        "output": json.dumps({"name": "logits", "dtype": "float32", "shape": ["N", 10]}),
        "preprocess": PREPROCESS_RECIPE,
        "checkpoint_sha256": digest(ckpt_path),
        "train_config": json.dumps(ckpt.get("config", {})),
        "version": __version__,
    }


def export(checkpoint=None, out=None, quantize=False, opset=18, calib=2000, check=True, data_dir=None,
           calib_method="minmax", name=None, log=print) -> bool:
    """Export (and quantize); returns True when every parity check passed. Raises DigitedgeError on bad input.
    Both files are written to temp files in `out` and published together under a free stem (best, best_1, ...):
    an earlier export is never replaced, and a failure leaves neither file."""
    t0 = time.time()
    ckpt_path = Path(checkpoint) if checkpoint else newest_checkpoint()
    model, ckpt = load_model(ckpt_path)
    out = output_dir(out if out else ckpt_path.parent, "--out")
    stem = name or ckpt_path.stem
    try:
        file_stem(stem)  # written inside --out: never ../x nor an absolute name
    except ArgumentTypeError as e:
        raise DigitedgeError(f"--name {e}") from None
    meta = base_metadata(ckpt_path, ckpt)
    test = load_mnist("test", data_dir) if (check or quantize) else None
    checks: list[parity.Check] = []
    with temp_file(out, ".onnx") as tmp32, temp_file(out, ".onnx") as tmp8:
        export_fp32(model, tmp32, opset)
        check_opset(tmp32, opset)
        if test is not None:
            ref = torch_logits(model, test.images)
            fp32 = onnx_logits(tmp32, test.images)
            meta["test_accuracy"] = f"{parity.accuracy(fp32, test.labels):.4f}"
            checks += parity.fp32_checks(ref, fp32)
        set_metadata(tmp32, meta, "digitedge SimpleCNN, fp32")
        written = [(tmp32, ".onnx", meta)]
        if quantize:
            train = load_mnist("train", data_dir)
            pick = np.random.default_rng(CALIB_SEED).choice(len(train.labels), size=min(calib, len(train.labels)), replace=False)
            try:
                settings = quantize_int8(tmp32, tmp8, train.images[np.sort(pick)], calib_method)
            except Exception as e:  # onnxruntime.quantization raises plain errors for what it cannot handle
                raise DigitedgeError(f"int8 quantization failed at opset {opset} ({first_line(e)}); nothing written") from None
            int8 = onnx_logits(tmp8, test.images)
            meta8 = dict(meta, test_accuracy=f"{parity.accuracy(int8, test.labels):.4f}", quantization=json.dumps(settings))
            set_metadata(tmp8, meta8, "digitedge SimpleCNN, static int8 (QDQ)")
            checks += parity.int8_checks(fp32, int8, test.labels)
            checks.append(parity.size_check(tmp32.stat().st_size, tmp8.stat().st_size))
            written.append((tmp8, ".int8.onnx", meta8))
        if checks:
            log(parity.format_table(checks))
        failed = [c.name for c in checks if not c.ok]
        if failed and check:
            log(f"export: parity check failed ({'; '.join(failed)}); nothing written (--no-check to write anyway)")
            return False
        final = publish_together(out, stem, [(tmp, suffix) for tmp, suffix, _ in written])
        if final[0].stem != stem:
            log(f"export: {stem}.onnx{' or ' + stem + '.int8.onnx' if quantize else ''} exists in {shown(out)}; "
                f"not replaced, written as {final[0].stem}")
        for path, (_, _, kind_meta) in zip(final, written):
            acc = kind_meta.get("test_accuracy")
            log(f"{shown(path)}  {path.stat().st_size / 1e6:.2f} MB" + (f"  MNIST test accuracy {acc}" if acc else ""))
    log(f"Export done in {time.time() - t0:.1f}s. Results saved to {shown(out)}")
    return True


def check_opset(path: Path, opset: int) -> None:
    """The exporter may fall back to another opset without an error: the file must have the one asked for."""
    got = [o.version for o in onnx.load(str(path), load_external_data=False).opset_import if o.domain in ("", "ai.onnx")]
    if got != [opset]:
        raise DigitedgeError(f"--opset {opset}: the exporter wrote opset {got[0] if got else 'none'}; use 18 (the default)")


def publish_together(out: Path, stem: str, files: list[tuple[Path, str]]) -> list[Path]:
    """Move temp files to out/STEM<suffix> under one free stem (STEM, STEM_1, ...): all of them or none."""
    for candidate in free_stems(stem):
        targets = [out / f"{candidate}{suffix}" for _, suffix in files]
        claimed = []
        try:
            for target in targets:
                if not claim(target):
                    break
                claimed.append(target)
            else:
                for (tmp, _), target in zip(files, targets):
                    os.replace(tmp, target)
                return targets
        except OSError as e:
            for target in claimed:
                target.unlink(missing_ok=True)
            raise OutputError(f"{shown(out / stem)}: not written ({e.strerror or e}); nothing exported") from None
        for target in claimed:
            target.unlink(missing_ok=True)
    raise OutputError(f"{shown(out / stem)}: no free name left in {shown(out)}")
