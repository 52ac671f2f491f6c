"""An exported digitedge .onnx file in onnxruntime: session, metadata, and the input contract.

Imports only onnxruntime and numpy: this is what runs on the edge device.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import InputError, ModelError
from ..files import read_bytes, shown

# The input contract every digitedge model is exported with (also written into its metadata).
INPUT_SHAPE = (1, 28, 28)
PREPROCESS_RECIPE = "mnist-20box-com/1"  # fit into 20x20 keeping aspect, centre of mass at 14,14 in 28x28
SUPPORTED_RECIPES = {PREPROCESS_RECIPE}
META_PREFIX = "digitedge."
DEFAULT_MODEL = "digitedge.int8.onnx"
MAX_MODEL_BYTES = 256 << 20  # the shipped fp32 model is 3.6 MB; a file this large is not one of ours
MAX_THREADS = 256
INTEGER = re.compile(r"^-?\d{1,9}$")


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    return Path(str(resources.files("digitedge.models").joinpath(name)))


def to_input(crops: np.ndarray) -> np.ndarray:
    """MNIST-style crops (white digit on black) -> float32 [N, 1, 28, 28] in [0, 1].

    Accepts [N, 28, 28], [28, 28] or [N, 1, 28, 28]: uint8 (or other integers) in 0..255, bool, or floats
    already in [0, 1], which are used as they are. Anything else is a ValueError, never a silent rescale."""
    crops = np.asarray(crops)
    if crops.ndim == 4 and crops.shape[1] == 1:
        crops = crops[:, 0]
    if crops.ndim == 2:
        crops = crops[None]
    if crops.ndim != 3 or crops.shape[1:] != INPUT_SHAPE[1:]:
        raise ValueError(f"expected crops of shape [N, 28, 28], got {crops.shape}")
    if crops.dtype.kind not in "biuf":
        raise ValueError(f"crops of dtype {crops.dtype}: expected uint8 in 0..255 or floats in [0, 1]")
    if crops.dtype.kind == "f":
        if crops.size and not (np.isfinite(crops).all() and crops.min() >= 0 and crops.max() <= 1):
            raise ValueError(f"float crops must be finite and in [0, 1] (got [{crops.min():g}, {crops.max():g}]); "
                             "pass uint8 for 0..255 pixels")
        return crops.astype(np.float32)[:, None]
    if crops.dtype.kind == "b":
        return crops.astype(np.float32)[:, None]
    if crops.size and (crops.min() < 0 or crops.max() > 255):
        raise ValueError(f"integer crops must lie in 0..255 (got [{crops.min()}, {crops.max()}])")
    return (crops.astype(np.float32) * np.float32(1 / 255))[:, None]


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The digitedge.* metadata_props of a model file, prefix stripped, without building a session."""
    return _metadata(_session(Path(path), ort.SessionOptions()))


def _session(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    try:
        data = read_bytes(path, MAX_MODEL_BYTES)  # a FIFO or /dev/zero as a model: refused, not read forever
    except InputError as e:
        if str(e) == "no such file":
            raise ModelError(f"{shown(path)}: no such model; train and export one (`digitedge export --quantize`) "
                             "or pass --model") from None
        raise ModelError(f"{shown(path)}: {e}") from None
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelError(f"{shown(path)}: not a loadable ONNX model ({first_line(e)})") from None


def first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [e.__class__.__name__])[0][:160]


def parse_labels(path: Path, text: str) -> list[int]:
    """The metadata's labels: a JSON list of distinct whole numbers (written as strings by `digitedge export`)."""
    try:
        labels = json.loads(text)
    except ValueError:
        labels = None
    if not isinstance(labels, list) or len(labels) < 2 or not all(
            (isinstance(x, int) and not isinstance(x, bool)) or (isinstance(x, str) and INTEGER.match(x)) for x in labels):
        raise ModelError(f"{shown(path)}: metadata 'labels' must be a JSON list of whole numbers like [\"0\", \"1\", ...], "
                         f"got {text[:60]!r}")
    labels = [int(x) for x in labels]
    if len(set(labels)) != len(labels):
        raise ModelError(f"{shown(path)}: metadata 'labels' repeats a label: {labels[:20]}")
    return labels


def check_contract(session: ort.InferenceSession, path: Path, n_labels: int) -> None:
    """One float32 input [N, 1, 28, 28], a float32 output [N, n_labels], finite on a test batch; else ModelError
    naming what is off (a model from elsewhere must not give a traceback or a silently wrong answer)."""
    want = f"a digitedge model takes one float32 input [N, {', '.join(map(str, INPUT_SHAPE))}]"
    inputs, out = session.get_inputs(), session.get_outputs()[0]
    if len(inputs) != 1:
        raise ModelError(f"{shown(path)}: has {len(inputs)} inputs; {want}")
    inp = inputs[0]
    fixed = [d for d, w in zip(inp.shape[1:], INPUT_SHAPE) if isinstance(d, int) and d != w]
    if inp.type != "tensor(float)" or len(inp.shape) != 4 or fixed:
        raise ModelError(f"{shown(path)}: input {inp.name!r} is {inp.type} {inp.shape}; {want} (batch N dynamic)")
    if out.type != "tensor(float)" or len(out.shape) != 2 or (isinstance(out.shape[1], int) and out.shape[1] != n_labels):
        raise ModelError(f"{shown(path)}: output {out.name!r} is {out.type} {out.shape}; expected float32 [N, {n_labels}], "
                         f"a score for each of its {n_labels} labels")
    probe = np.zeros((2, *INPUT_SHAPE), np.float32)
    probe[1, 0, 6:22, 12:16] = 1.0  # a '1'
    try:
        y = session.run([out.name], {inp.name: probe})[0]
    except Exception as e:
        raise ModelError(f"{shown(path)}: fails on a test batch ({first_line(e)})") from None
    if y.shape != (2, n_labels):
        raise ModelError(f"{shown(path)}: gives output {y.shape} for 2 crops; expected (2, {n_labels})")
    if not np.isfinite(y).all():
        raise ModelError(f"{shown(path)}: gives NaN or infinite scores on a test batch; the model is broken")


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
            raise ModelError(f"{shown(self.path)}: no digitedge metadata (labels); export it with `digitedge export`")
        recipe = self.meta.get("preprocess", "")
        if recipe not in SUPPORTED_RECIPES:
            raise ModelError(f"{shown(self.path)}: trained for preprocessing {recipe[:60]!r}, this runtime knows "
                             f"{sorted(SUPPORTED_RECIPES)}")
        self.labels = parse_labels(self.path, self.meta["labels"])
        check_contract(self.session, self.path, len(self.labels))
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """MNIST-style crops (see to_input) -> float32 logits [N, len(labels)]."""
        x = to_input(crops)
        if not len(x):
            return np.zeros((0, len(self.labels)), np.float32)
        return self.run(x)

    def run(self, x: np.ndarray) -> np.ndarray:
        try:
            y = self.session.run([self.output_name], {self.input_name: x})[0]
        except Exception as e:  # onnxruntime's own types
            raise ModelError(f"{shown(self.path)}: failed on this input ({first_line(e)})") from None
        if not np.isfinite(y).all():
            raise ModelError(f"{shown(self.path)}: gave NaN or infinite scores for this input")
        return y

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
    check_threads(threads)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads or DEFAULT_THREADS
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", ALLOW_SPINNING)
    so.add_session_config_entry("optimization.disable_specified_optimizers", DISABLED_OPTIMIZERS)
    so.log_severity_level = 4  # fatal only: an error reaches the user as our one line, not as ORT's log line too
    return so


def check_threads(threads) -> None:
    """None (the default) or a whole number from 1 to MAX_THREADS; ValueError otherwise."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                or not 1 <= threads <= MAX_THREADS):
        raise ValueError(f"threads must be a whole number from 1 to {MAX_THREADS}, got {threads!r}")
