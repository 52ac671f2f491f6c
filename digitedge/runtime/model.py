"""An exported digitedge .onnx file in onnxruntime: session, metadata, and the input contract.

Imports only onnxruntime and numpy: this is what runs on the edge device.
"""

from __future__ import annotations

import json
import logging
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..contract import DEFAULT_INPUT, PREPROCESS_RECIPE, InputContract, to_input  # noqa: F401 (to_input: API)
from ..errors import DigitedgeError, InputError, ModelError
from ..files import looks_like_checkpoint, read_bytes, shown

SUPPORTED_RECIPES = {PREPROCESS_RECIPE}
META_PREFIX = "digitedge."
DEFAULT_MODEL = "digitedge.int8.onnx"
MAX_MODEL_BYTES = 256 << 20  # the shipped fp32 model is 3.6 MB; a file this large is not one of ours
MAX_THREADS = 256
log = logging.getLogger(__name__)
INTEGER = re.compile(r"^-?\d{1,9}$")


def shipped_model_path(name: str = DEFAULT_MODEL) -> Path:
    return Path(str(resources.files("digitedge.models").joinpath(name)))


def shipped_samples() -> Path:
    """The sample photos that ship inside the package (`digitedge classify --samples`)."""
    return Path(str(resources.files("digitedge").joinpath("samples")))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The digitedge.* metadata_props of a model file, prefix stripped, without building a session."""
    return _metadata(_session(Path(path), ort.SessionOptions(), ["CPUExecutionProvider"]))


def _session(path: Path, options: ort.SessionOptions, providers: list[str]) -> ort.InferenceSession:
    try:
        data = read_bytes(path, MAX_MODEL_BYTES)  # a FIFO or /dev/zero as a model: refused, not read forever
    except InputError as e:
        if str(e) == "no such file":
            raise ModelError(f"{shown(path)}: no such model; train and export one (`digitedge export --quantize`) "
                             "or pass --model") from None
        raise ModelError(f"{shown(path)}: {e}") from None
    if looks_like_checkpoint(data):  # the same answer from every verb that runs a model, whatever the file is named
        raise ModelError(f"{shown(path)}: a PyTorch checkpoint, not an .onnx model; export it first: "
                         f"digitedge export {shown(path)} --quantize")
    try:
        return ort.InferenceSession(data, options, providers=providers)
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


def check_contract(session: ort.InferenceSession, path: Path, n_labels: int, contract: InputContract) -> None:
    """One float32 input as the metadata's contract says (and the digit finder's crops fit), a float32 output
    [N, n_labels], finite on a test batch; else ModelError naming what is off (a model from elsewhere must not
    give a traceback or a silently wrong answer)."""
    want = f"a digitedge model takes one float32 input [N, {', '.join(map(str, DEFAULT_INPUT.shape))}]"
    if contract.shape != DEFAULT_INPUT.shape:  # the finder cuts MNIST-size crops: another size cannot be fed
        raise ModelError(f"{shown(path)}: metadata 'input' says [N, {', '.join(map(str, contract.shape))}]; {want}")
    inputs, out = session.get_inputs(), session.get_outputs()[0]
    if len(inputs) != 1:
        raise ModelError(f"{shown(path)}: has {len(inputs)} inputs; {want}")
    inp = inputs[0]
    fixed = [d for d, w in zip(inp.shape[1:], contract.shape) if isinstance(d, int) and d != w]
    if inp.type != "tensor(float)" or len(inp.shape) != 4 or fixed:
        raise ModelError(f"{shown(path)}: input {inp.name!r} is {inp.type} {inp.shape}; {want} (batch N dynamic)")
    if inp.name != contract.name:
        raise ModelError(f"{shown(path)}: input is named {inp.name!r}, its metadata 'input' says {contract.name!r}")
    if out.type != "tensor(float)" or len(out.shape) != 2 or (isinstance(out.shape[1], int) and out.shape[1] != n_labels):
        raise ModelError(f"{shown(path)}: output {out.name!r} is {out.type} {out.shape}; expected float32 [N, {n_labels}], "
                         f"a score for each of its {n_labels} labels")
    probe = np.zeros((2, *contract.shape), np.float32)
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
    """One onnxruntime session over a digitedge model, tuned for small-batch latency on a CPU (or on the execution
    provider `device` names: see providers_for)."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int | None = None, device: str | None = None):
        self.path = Path(path) if path else shipped_model_path()
        providers = providers_for(device)
        self.session = _session(self.path, session_options(threads), providers)
        check_provider(self.session, device, providers)
        self.meta = _metadata(self.session)
        if "labels" not in self.meta:
            raise ModelError(f"{shown(self.path)}: no digitedge metadata (labels); export it with `digitedge export`")
        recipe = self.meta.get("preprocess", "")
        if recipe not in SUPPORTED_RECIPES:
            raise ModelError(f"{shown(self.path)}: trained for preprocessing {recipe[:60]!r}, this runtime knows "
                             f"{sorted(SUPPORTED_RECIPES)}")
        self.labels = parse_labels(self.path, self.meta["labels"])
        try:  # the runtime feeds the model as its own metadata says (older models without it: the default contract)
            self.contract = InputContract.from_metadata(self.meta.get("input"))
        except ValueError as e:
            raise ModelError(f"{shown(self.path)}: {e}") from None
        check_contract(self.session, self.path, len(self.labels), self.contract)
        self.input_name = self.contract.name
        self.output_name = self.session.get_outputs()[0].name
        self.provider = self.session.get_providers()[0]
        log.debug("%s: %s, labels %s, input %s", shown(self.path), self.provider, self.labels, self.contract)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """MNIST-style crops (see InputContract.to_input) -> float32 logits [N, len(labels)]."""
        x = self.contract.to_input(crops)
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


# --device: onnxruntime execution providers. "auto" takes CUDA when this onnxruntime has it, else the CPU: the
# OpenVINO provider is used only when asked for (on this project's CPUs the CPU provider measured faster at batch 1).
DEVICES = ("auto", "cpu", "cuda", "openvino")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "openvino": "OpenVINOExecutionProvider"}
PROVIDER_PACKAGES = {"cuda": "onnxruntime-gpu", "openvino": "onnxruntime-openvino"}


class DeviceError(DigitedgeError):
    """A --device this onnxruntime cannot run on; str() is one line saying what to install."""


def providers_for(device: str | None) -> list[str]:
    """onnxruntime providers for a device name (None = cpu), best first; DeviceError when the one asked for is not
    in this onnxruntime build, ValueError for a name that is not a device."""
    device = device or "cpu"
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = ort.get_available_providers()
    if device == "auto":
        return [p for p in (PROVIDERS["cuda"], PROVIDERS["cpu"]) if p in available]
    want = PROVIDERS[device]
    if want not in available:
        raise DeviceError(f"--device {device}: this onnxruntime has no {want} (it has {', '.join(available)}); "
                          f"install {PROVIDER_PACKAGES.get(device, 'onnxruntime')} in place of onnxruntime, "
                          "or use --device cpu")
    return [want] + ([PROVIDERS["cpu"]] if want != PROVIDERS["cpu"] else [])


def check_provider(session: ort.InferenceSession, device: str | None, providers: list[str]) -> None:
    """onnxruntime falls back to the CPU when a provider it has cannot start (no GPU, missing CUDA libraries):
    an explicit --device must not be ignored silently."""
    if device in ("cuda", "openvino") and session.get_providers()[0] != providers[0]:
        raise DeviceError(f"--device {device}: onnxruntime could not start {providers[0]} here (no such device, or its "
                          "libraries are missing); use --device cpu or auto")


def check_threads(threads) -> None:
    """None (the default) or a whole number from 1 to MAX_THREADS; ValueError otherwise."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                or not 1 <= threads <= MAX_THREADS):
        raise ValueError(f"threads must be a whole number from 1 to {MAX_THREADS}, got {threads!r}")
