"""An exported digitedge .onnx file in onnxruntime: session, metadata, and the input contract.

Imports only onnxruntime and numpy: this is what runs on the edge device.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import ModelError

# The input contract every digitedge model is exported with (also written into its metadata).
INPUT_SHAPE = (1, 28, 28)
PREPROCESS_RECIPE = "mnist-20box-com/1"  # fit into 20x20 keeping aspect, centre of mass at 14,14 in 28x28
SUPPORTED_RECIPES = {PREPROCESS_RECIPE}
META_PREFIX = "digitedge."
DEFAULT_MODEL = "digitedge.int8.onnx"


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    return Path(str(resources.files("digitedge.models").joinpath(name)))


def to_input(crops: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] (white digit on black) -> float32 [N, 1, 28, 28] in [0, 1]."""
    crops = np.asarray(crops)
    if crops.ndim == 2:
        crops = crops[None]
    if crops.ndim != 3 or crops.shape[1:] != INPUT_SHAPE[1:]:
        raise ValueError(f"expected crops of shape [N, 28, 28], got {crops.shape}")
    return (crops.astype(np.float32) * np.float32(1 / 255))[:, None]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The digitedge.* metadata_props of a model file, prefix stripped, without building a session."""
    return _metadata(_session(Path(path), ort.SessionOptions()))


def _session(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    if not path.is_file():
        raise ModelError(f"{path}: no such model; train and export one (`digitedge export --quantize`) or pass --model")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... types
        first = (str(e).strip().splitlines() or [e.__class__.__name__])[0]
        raise ModelError(f"{path}: not a loadable ONNX model ({first[:160]})") from None


def _metadata(session: ort.InferenceSession) -> dict[str, str]:
    meta = session.get_modelmeta().custom_metadata_map
    return {k[len(META_PREFIX):]: v for k, v in meta.items() if k.startswith(META_PREFIX)}


class OnnxModel:
    """One onnxruntime session over a digitedge model, tuned for small-batch latency on a CPU."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int | None = None):
        self.path = Path(path) if path else shipped_model_path()
        self.session = _session(self.path, session_options(threads))
        self.meta = _metadata(self.session)
        if "labels" not in self.meta:
            raise ModelError(f"{self.path}: no digitedge metadata (labels); export it with `digitedge export`")
        recipe = self.meta.get("preprocess", "")
        if recipe not in SUPPORTED_RECIPES:
            raise ModelError(f"{self.path}: trained for preprocessing {recipe!r}, this runtime knows {sorted(SUPPORTED_RECIPES)}")
        self.labels = [int(x) for x in json.loads(self.meta["labels"])]
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """uint8 [N, 28, 28] crops -> float32 logits [N, 10]."""
        return self.run(to_input(crops))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        return softmax(self.logits(crops))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# Session settings, each kept because `digitedge bench` and its probes measured it (docs/benchmarks.md).
# Batch 1 on a 2nd thread: no gain on int8 (98 vs 95 us) unless the other core is idle, and that core is
# the camera loop's and OpenCV's.
DEFAULT_THREADS = 1
# threads > 1 only: workers spinning while idle fight OpenCV's own pool inside find_digits; on 2 threads a
# 5-digit frame took 9.5 ms spinning vs 5.3 ms blocking (5.2 on 1 thread). Spinning wins only bare batch-64
# predict (~20 % more images/s), not what the runtime is for.
ALLOW_SPINNING = "0"
# ORT's QDQ propagation hoists a QuantizeLinear above a MaxPool. For an int8 model whose first conv block is
# left in fp32 (a 1-channel int8 conv is the slowest layer) that turns an fp32 NCHWc max-pool into ORT's slow
# uint8 NCHW one (118 vs 82 us per digit); on today's all-int8 model the optimised graph is identical.
DISABLED_OPTIMIZERS = "QDQPropagationTransformer"


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """Latency settings chosen by measurement (docs/benchmarks.md): one intra-op thread by default, full graph
    optimisation (ORT_ENABLE_ALL: int8 100 vs 147 us, fp32 185 vs 272 us per digit against ENABLE_EXTENDED;
    2.7 ms to build), no inter-op pool. Left at ORT's defaults because they measured no different: the memory
    arena and pattern planner, dynamic_block_base (1, 2, 4 were no faster at batch 64 on two threads),
    denormals-as-zero."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or DEFAULT_THREADS
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", ALLOW_SPINNING)
    so.add_session_config_entry("optimization.disable_specified_optimizers", DISABLED_OPTIMIZERS)
    so.log_severity_level = 3  # errors only: no warnings on a user's terminal
    return so
