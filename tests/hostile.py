"""Helpers for the hostile-input tests: generated hostile files and models, and a CLI runner that bounds each run
(timeout, address-space limit), then checks what a user must be able to rely on: the exit code, one line per bad
input on stderr, no traceback, no crash, no input changed and nothing written outside the folder asked for."""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from conftest import paper_with_text

TIMEOUT = 60  # s per CLI run: a hang fails the test instead of blocking the suite
ADDRESS_SPACE = 6 << 30  # bytes: a bomb that got through fails the run instead of exhausting the machine


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def limits(fsize: int | None = None, address_space: int | None = ADDRESS_SPACE):
    def apply():
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if fsize is not None:  # a full disk: writes past this size fail with EFBIG
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    return apply


def cli(*args, cwd=None, fsize=None, stdout=subprocess.PIPE, timeout=TIMEOUT, address_space=ADDRESS_SPACE) -> Result:
    """`digitedge ARGS` in a fresh process, bounded; asserts it neither crashed nor printed a traceback.
    `address_space=None` for Ray, whose object store maps more address space than any bomb would."""
    argv = [sys.executable, "-m", "digitedge.cli", *(os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in args)]
    env = dict(os.environ)
    if env.get("DIGITEDGE_DATA"):  # runs may start in another folder
        env["DIGITEDGE_DATA"] = os.path.abspath(env["DIGITEDGE_DATA"])
    done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd, timeout=timeout,
                          preexec_fn=limits(fsize, address_space),
                          env=env)
    out = done.stdout.decode("utf-8", "replace") if done.stdout is not None else ""
    result = Result(done.returncode, out, done.stderr.decode("utf-8", "replace"))
    assert done.returncode >= 0, f"killed by signal {-done.returncode}: {result.err[-500:]}"
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err[-2000:]
    return result


def tree(root: Path) -> dict[str, str]:
    """Every file below root (links not followed) -> sha256 (or the link target / file kind)."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = "link -> " + os.readlink(path)
            elif os.path.isfile(path):
                out[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif not os.path.isdir(path):
                out[rel] = "special"
    return out


def assert_only_added_under(before: dict, after: dict, *targets: str) -> None:
    """No file of `before` changed or vanished, and every new file lies under one of `targets` (relative)."""
    changed = [k for k in before if after.get(k) != before[k]]
    assert not changed, f"inputs changed or removed: {changed}"
    new = [k for k in after if k not in before and not any(k == t or k.startswith(t.rstrip("/") + "/") for t in targets)]
    assert not new, f"written outside {targets}: {new}"


# ---------------------------------------------------------------- images
def digit_png(text: str = "7") -> bytes:
    return cv2.imencode(".png", paper_with_text([text], height=120, size=(240, 180)))[1].tobytes()


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width x height: the decoder would allocate for that."""
    data = bytearray(cv2.imencode(".jpg", np.full((16, 16), 200, np.uint8))[1].tobytes())
    i = 2
    while not (0xC0 <= data[i + 1] <= 0xCF and data[i + 1] not in (0xC4, 0xC8, 0xCC)):
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """A small lossy WebP whose VP8 frame header claims width x height (at most 16383 each)."""
    data = bytearray(cv2.imencode(".webp", np.full((16, 16, 3), 200, np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes())
    k = data.find(b"\x9d\x01\x2a")
    data[k + 3:k + 7] = struct.pack("<HH", width, height)
    return bytes(data)


def png_declaring(width: int, height: int) -> bytes:
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- models
def onnx_model(path: Path, *, in_shape=("N", 1, 28, 28), in_type=None, outputs=10, out_rank=2, labels=None,
               recipe="mnist-20box-com/1", nan=False, expand_to=None, two_inputs=False) -> Path:
    """A tiny linear 'digit model' with digitedge metadata, bent in one way per keyword (a hostile model)."""
    import onnx
    from onnx import TensorProto, helper

    in_type = in_type or TensorProto.FLOAT
    nodes, inits = [], []
    x = "input"
    if in_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [x], ["xf"], to=TensorProto.FLOAT))
        x = "xf"
    if expand_to:
        inits.append(helper.make_tensor("big", TensorProto.INT64, [len(expand_to)], list(expand_to)))
        nodes.append(helper.make_node("Expand", [x, "big"], ["xe"]))
        nodes.append(helper.make_node("ReduceSum", ["xe"], ["xs"], keepdims=0))
    feat = int(np.prod([d for d in in_shape[1:] if isinstance(d, int)]))
    inits += [helper.make_tensor("shape", TensorProto.INT64, [2], [0, feat]),
              helper.make_tensor("w", TensorProto.FLOAT, [feat, outputs], np.random.default_rng(0).normal(0, 0.1, feat * outputs)),
              helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])]
    nodes += [helper.make_node("Reshape", [x, "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["mm"])]
    out = "mm"
    if nan:
        nodes.append(helper.make_node("Div", ["zero", "zero"], ["nan"]))
        nodes.append(helper.make_node("Add", ["mm", "nan"], ["mmn"]))
        out = "mmn"
    if expand_to:
        nodes.append(helper.make_node("Add", [out, "xs"], ["mme"]))
        out = "mme"
    out_shape = ["N", outputs]
    if out_rank == 4:
        inits.append(helper.make_tensor("s4", TensorProto.INT64, [4], [0, outputs, 1, 1]))
        nodes.append(helper.make_node("Reshape", [out, "s4"], ["o4"]))
        out, out_shape = "o4", ["N", outputs, 1, 1]
    nodes.append(helper.make_node("Identity", [out], ["logits"]))
    inputs = [helper.make_tensor_value_info("input", in_type, list(in_shape))]
    if two_inputs:
        inputs.append(helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 1]))
    graph = helper.make_graph(nodes, "hostile", inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = {"labels": labels if labels is not None else str([str(i) for i in range(10)]).replace("'", '"'),
            "preprocess": recipe}
    for k, v in meta.items():
        model.metadata_props.add(key="digitedge." + k, value=v)
    onnx.save(model, str(path))
    return path
