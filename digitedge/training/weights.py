"""Start weights for training: a digitedge checkpoint (.pt), or a digitedge fp32 .onnx read back into SimpleCNN.

The exporter names the ONNX initializers after SimpleCNN's state_dict (conv1.weight ... fc2.bias), so a fp32 export
holds every weight as it was trained. They are taken by name and shape, then the graph is checked to be SimpleCNN's:
the ONNX model and SimpleCNN with those weights must give the same logits on a probe batch, so a model of another
shape, another normalisation or label order is refused in one line, never fine-tuned by mistake. An int8 model holds
rounded weights only: its fp32 twin beside it (NAME.onnx for NAME.int8.onnx, as `export` writes them) is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, InputError, ModelError
from ..files import looks_like_checkpoint, read_bytes, shown
from .checkpoint import load_model
from .model import SimpleCNN

PROBE_SEED = 0
PROBE_IMAGES = 32
MAX_LOGIT_GAP = 1e-3  # onnxruntime vs PyTorch on the same fp32 weights: ~1e-5 (export's own gate is 1e-4)
INT8_SUFFIX = ".int8.onnx"


def start_model(path: str | Path, log=print) -> SimpleCNN:
    """SimpleCNN with the weights of a checkpoint or a digitedge fp32 .onnx (an int8 one: its fp32 twin);
    CheckpointError (one line) for anything else."""
    path = Path(path)
    try:
        head = read_bytes(path, 4, head=True)
    except InputError as e:
        raise CheckpointError(f"--weights {shown(path)}: {'no such file' if str(e) == 'no such file' else e}") from None
    if looks_like_checkpoint(head):
        return load_model(path)[0]
    return onnx_model(path, log)


def onnx_model(path: Path, log=print) -> SimpleCNN:
    import onnx
    from onnx import numpy_helper

    from ..runtime.model import MAX_MODEL_BYTES, OnnxModel

    try:
        proto = onnx.load_model_from_string(read_bytes(path, MAX_MODEL_BYTES))
    except InputError as e:
        raise CheckpointError(f"--weights {shown(path)}: {e}") from None
    except Exception:  # protobuf's DecodeError and friends: not an ONNX file
        raise CheckpointError(f"--weights {shown(path)}: neither a digitedge checkpoint nor an ONNX model") from None
    found = {i.name: i for i in proto.graph.initializer}
    expected = SimpleCNN().state_dict()
    if "conv2.weight" not in found and "conv2.weight_quantized" in found:
        return onnx_model(fp32_twin(path, log), log)
    missing = [k for k in expected if k not in found]
    if missing:
        raise CheckpointError(f"--weights {shown(path)}: not a SimpleCNN model (no weights named {', '.join(missing[:3])}); "
                              "fine-tune from a digitedge checkpoint or fp32 .onnx")
    state = {}
    for key, want in expected.items():
        array = numpy_helper.to_array(found[key])
        if array.shape != tuple(want.shape) or array.dtype != np.float32 or not np.isfinite(array).all():
            raise CheckpointError(f"--weights {shown(path)}: weight {key} is {array.dtype} {array.shape}; SimpleCNN needs "
                                  f"finite float32 {tuple(want.shape)}")
        state[key] = torch.from_numpy(array.copy())
    model = SimpleCNN()
    model.load_state_dict(state)
    model.eval()
    try:
        onnx_run = OnnxModel(path)
    except ModelError as e:
        raise CheckpointError(f"--weights {e}") from None
    probe = np.random.default_rng(PROBE_SEED).integers(0, 256, (PROBE_IMAGES, 28, 28)).astype(np.uint8)
    with torch.inference_mode():
        ours = model(torch.from_numpy(onnx_run.contract.to_input(probe))).numpy()
    gap = float(np.abs(ours - onnx_run.logits(probe)).max()) if onnx_run.labels == list(range(10)) else np.inf
    if not gap <= MAX_LOGIT_GAP:
        raise CheckpointError(f"--weights {shown(path)}: its graph is not SimpleCNN's with labels 0-9 (logits differ by "
                              f"{gap:.3g} on a probe batch); fine-tune from a digitedge checkpoint or fp32 .onnx")
    return model


def fp32_twin(path: Path, log=print) -> Path:
    """NAME.onnx beside NAME.int8.onnx: int8 weights are rounded, the fp32 twin holds them as trained."""
    twin = path.with_name(path.name[: -len(INT8_SUFFIX)] + ".onnx") if path.name.endswith(INT8_SUFFIX) else None
    if twin is None or not twin.is_file():
        raise CheckpointError(f"--weights {shown(path)}: an int8 model holds rounded weights; pass its fp32 .onnx "
                              "(written beside it by `digitedge export`) or the checkpoint")
    log(f"--weights {shown(path)} is int8: starting from its fp32 twin {shown(twin)}")
    return twin
