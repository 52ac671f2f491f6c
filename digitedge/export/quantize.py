"""Static int8 quantization through onnxruntime.quantization (QDQ, per-channel weights)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quant_pre_process, quantize_static)

from ..runtime.model import to_input

CALIB_BATCH = 50  # equal batches: ORT's histogram calibrators (entropy, percentile) reject a short last one
METHODS = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
           "percentile": CalibrationMethod.Percentile}


class MnistCalibrationReader(CalibrationDataReader):
    """Feeds training-split crops through the runtime's own input conversion, a batch at a time."""

    def __init__(self, crops: np.ndarray, input_name: str = "input"):
        usable = max(CALIB_BATCH, len(crops) // CALIB_BATCH * CALIB_BATCH)
        self.batches = iter([crops[i:i + CALIB_BATCH] for i in range(0, min(usable, len(crops)), CALIB_BATCH)])
        self.input_name = input_name

    def get_next(self):
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: to_input(batch)}


def quantize(fp32_path: Path, int8_path: Path, calib_crops: np.ndarray, method: str = "minmax",
             input_name: str = "input") -> dict:
    """Write an int8 model from an fp32 one; return the settings (they go into the model's metadata)."""
    settings = dict(format="QDQ", weights="int8 symmetric per-channel", activations="uint8 asymmetric per-tensor",
                    calibration=method, calibration_images=int(max(CALIB_BATCH, len(calib_crops) // CALIB_BATCH * CALIB_BATCH)), preprocessed="quant_pre_process")
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=False)
        quantize_static(str(pre), str(int8_path), MnistCalibrationReader(calib_crops, input_name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=METHODS[method],
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return settings
