"""Parity gates: each exported model is compared with its source on the same MNIST images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FP32_MAX_DLOGIT = 1e-4  # fp32 ONNX vs PyTorch: float rounding only
FP32_MIN_AGREEMENT = 1.0
INT8_MIN_AGREEMENT = 0.995  # int8 vs fp32 top-1
INT8_MAX_ACC_DROP = 0.0010  # 0.10 percentage points
INT8_MAX_SIZE_RATIO = 0.30


@dataclass
class Check:
    name: str
    value: str
    limit: str
    ok: bool


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def fp32_checks(torch_logits: np.ndarray, onnx_logits: np.ndarray) -> list[Check]:
    n = len(torch_logits)
    dmax = float(np.abs(torch_logits - onnx_logits).max())
    agree = agreement(torch_logits, onnx_logits)
    return [Check(f"fp32 ONNX vs PyTorch: max |Δlogit| ({n} images)", f"{dmax:.2e}", f"≤ {FP32_MAX_DLOGIT:.0e}", dmax <= FP32_MAX_DLOGIT),
            Check("fp32 ONNX vs PyTorch: top-1 agreement", f"{agree:.2%}", f"≥ {FP32_MIN_AGREEMENT:.0%}", agree >= FP32_MIN_AGREEMENT)]


def int8_checks(fp32_logits: np.ndarray, int8_logits: np.ndarray, labels: np.ndarray) -> list[Check]:
    n = len(labels)
    agree = agreement(fp32_logits, int8_logits)
    acc32, acc8 = accuracy(fp32_logits, labels), accuracy(int8_logits, labels)
    drop = acc32 - acc8
    return [Check(f"int8 vs fp32: top-1 agreement ({n} images)", f"{agree:.2%}", f"≥ {INT8_MIN_AGREEMENT:.1%}", agree >= INT8_MIN_AGREEMENT),
            Check("int8 vs fp32: accuracy drop", f"{drop * 100:+.2f} pp ({acc32:.2%} → {acc8:.2%})", f"≤ {INT8_MAX_ACC_DROP * 100:.2f} pp",
                  drop <= INT8_MAX_ACC_DROP + 1e-12)]


def size_check(fp32_bytes: int, int8_bytes: int) -> Check:
    ratio = int8_bytes / fp32_bytes
    return Check("size int8 / fp32", f"{int8_bytes / 1e6:.2f} MB / {fp32_bytes / 1e6:.2f} MB = {ratio:.2f}×",
                 f"≤ {INT8_MAX_SIZE_RATIO:.2f}×", ratio <= INT8_MAX_SIZE_RATIO)


def format_table(checks: list[Check]) -> str:
    w = max(len(c.name) for c in checks)
    v = max(len(c.value) for c in checks)
    lines = [f"{'check':<{w}}  {'value':<{v}}  {'limit':<10}  result", "-" * (w + v + 22)]
    lines += [f"{c.name:<{w}}  {c.value:<{v}}  {c.limit:<10}  {'pass' if c.ok else 'FAIL'}" for c in checks]
    return "\n".join(lines)
