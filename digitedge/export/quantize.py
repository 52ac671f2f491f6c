"""Static int8 quantization through onnxruntime.quantization (QDQ, per-channel weights)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)

from ..contract import DEFAULT_INPUT, to_input

CALIB_BATCH = 50  # equal batches: ORT's histogram calibrators (entropy, percentile) reject a short last one
STEM_FOLLOWERS = {"Relu", "MaxPool"}
DEFAULT_DOMAINS = {"", "ai.onnx"}
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}


class MnistCalibrationReader(CalibrationDataReader):
    """Feeds training-split crops through the runtime's own input conversion, a batch at a time."""

    def __init__(self, crops: np.ndarray, input_name: str = DEFAULT_INPUT.name):
        usable = max(CALIB_BATCH, len(crops) // CALIB_BATCH * CALIB_BATCH)
        self.batches = iter([crops[i:i + CALIB_BATCH] for i in range(0, min(usable, len(crops)), CALIB_BATCH)])
        self.input_name = input_name

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: to_input(batch)}


def stem_nodes(model_path: Path) -> list[str]:
    """The first Conv and the element-wise/pooling nodes right after it (Relu, MaxPool).

    Kept in fp32 by measurement (docs/benchmarks.md): a 1-channel int8 conv costs ~28 us against ~8 us in
    fp32 on this CPU, the rest of the network gains from int8, and accuracy is unchanged."""
    graph = onnx.load(str(model_path)).graph
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    first = next((n for n in graph.node if n.op_type == "Conv"), None)
    if first is None:
        return []
    stem, node = [first.name], first
    while True:
        nxt = consumers.get(node.output[0], [])
        if len(nxt) != 1 or nxt[0].op_type not in STEM_FOLLOWERS:
            return stem
        node = nxt[0]
        stem.append(node.name)


def quantize(fp32_path: Path, int8_path: Path, calib_crops: np.ndarray, method: str = "minmax",
             input_name: str = DEFAULT_INPUT.name) -> dict:
    """Write an int8 model from an fp32 one; return the settings (they go into the model's metadata)."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        fp32_stem = stem_nodes(pre)
        quantize_static(str(pre), str(int8_path), MnistCalibrationReader(calib_crops, input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=METHODS[method], nodes_to_exclude=fp32_stem,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    strip_unused_opsets(int8_path)
    used = max(CALIB_BATCH, len(calib_crops) // CALIB_BATCH * CALIB_BATCH)
    return dict(format="QDQ", weights="int8 symmetric per-channel", activations="uint8 asymmetric per-tensor",
                calibration=method, calibration_images=int(used), preprocessed="quant_pre_process",
                fp32_nodes=fp32_stem)


def used_domains(graph) -> set[str]:
    """Operator domains of every node in a graph and in the graphs held by its nodes' attributes (If, Loop...)."""
    found = set()
    for node in graph.node:
        found.add(node.domain)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                found |= used_domains(sub)
    return found


def strip_unused_opsets(path: Path) -> list[str]:
    """Drop the opset imports no node uses. quant_pre_process declares nine (ai.onnx.ml, com.microsoft.nchwc,
    org.pytorch.aten...) for a graph made of default-domain operators only: noise to every tool that reads the file.
    Returns the domains dropped."""
    model = onnx.load(str(path))
    used = used_domains(model.graph) | {n.domain for f in model.functions for n in f.node} | {f.domain for f in model.functions}
    keep = [o for o in model.opset_import if o.domain in DEFAULT_DOMAINS or o.domain in used]
    dropped = [o.domain for o in model.opset_import if o not in keep]
    if dropped:
        del model.opset_import[:]
        model.opset_import.extend(keep)
        onnx.save(model, str(path))
    return dropped
