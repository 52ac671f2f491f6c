"""Export: graph contract, checker, metadata, parity gates (passing and failing), bad checkpoints."""

import json
import pickle
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch

from digitedge.errors import CheckpointError
from digitedge.export import parity
from digitedge.export.exporter import onnx_logits
from digitedge.runtime.model import OnnxModel, read_metadata
from digitedge.training.checkpoint import load_checkpoint, load_model
from digitedge.training.data import load_mnist


def test_export_writes_checked_fp32_and_int8_models(exported):
    for name in ("best.onnx", "best.int8.onnx"):
        model = onnx.load(str(exported / name))
        onnx.checker.check_model(model, full_check=True)
        inp, out = model.graph.input[0], model.graph.output[0]
        assert inp.name == "input" and out.name == "logits"
        dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
        assert isinstance(dims[0], str) and dims[1:] == [1, 28, 28], "dynamic batch, 1x28x28"
    assert not list(exported.glob(".digitedge-*")), "no temp files left"
    assert (exported / "best.int8.onnx").stat().st_size <= 0.3 * (exported / "best.onnx").stat().st_size


def test_metadata_round_trip(exported, trained_run):
    import hashlib

    meta = read_metadata(exported / "best.onnx")
    assert json.loads(meta["labels"]) == [str(i) for i in range(10)]
    assert meta["preprocess"] == "mnist-20box-com/1"
    assert json.loads(meta["input"])["shape"] == ["N", 1, 28, 28]
    assert meta["checkpoint_sha256"] == hashlib.sha256((trained_run / "best.pt").read_bytes()).hexdigest()
    assert 0.85 < float(meta["test_accuracy"]) <= 1
    meta8 = read_metadata(exported / "best.int8.onnx")
    q = json.loads(meta8["quantization"])
    assert q["format"] == "QDQ" and q["calibration_images"] == 500 and "per-channel" in q["weights"]


def test_dynamic_batch_and_runtime_agree_with_pytorch(exported, trained_run, mnist_dir):
    images = load_mnist("test", mnist_dir).images[:257]
    model, _ = load_model(trained_run / "best.pt")
    with torch.no_grad():
        ref = model(torch.from_numpy(images.copy()).float().div(255).unsqueeze(1)).numpy()
    got = OnnxModel(exported / "best.onnx").logits(images)
    assert np.abs(ref - got).max() < 1e-4
    assert OnnxModel(exported / "best.onnx").logits(images[:1]).shape == (1, 10)


def test_parity_gates_pass_for_good_models_and_fail_for_broken_ones(exported, mnist_dir, tmp_path):
    test = load_mnist("test", mnist_dir)
    images, labels = test.images[:2000], test.labels[:2000]
    fp32 = onnx_logits(exported / "best.onnx", images)
    int8 = onnx_logits(exported / "best.int8.onnx", images)
    assert all(c.ok for c in parity.int8_checks(fp32, int8, labels)[:1])

    # Break the fp32 graph: perturb the last layer's bias, as a bad conversion would.
    model = onnx.load(str(exported / "best.onnx"))
    bias = next(t for t in model.graph.initializer if tuple(t.dims) == (10,))
    arr = onnx.numpy_helper.to_array(bias).copy()
    arr[3] += 0.5
    bias.CopyFrom(onnx.numpy_helper.from_array(arr, bias.name))
    onnx.save(model, str(tmp_path / "broken.onnx"))
    broken = onnx_logits(tmp_path / "broken.onnx", images)
    checks = parity.fp32_checks(fp32, broken)
    assert not checks[0].ok, "max |Δlogit| gate catches a 0.5 shift"
    # An int8 model that flips 1 % of answers fails agreement.
    flipped = int8.copy()
    flipped[:20] = np.roll(flipped[:20], 1, axis=1)
    assert not parity.int8_checks(fp32, flipped, labels)[0].ok
    assert "FAIL" in parity.format_table(checks)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "digitedge.cli", *args], capture_output=True, text=True, timeout=300)


def bad_checkpoints(tmp_path):
    (tmp_path / "text.pt").write_text("this is not a checkpoint")
    torch.save({"format": "digitedge-checkpoint/1", "model": {"w": torch.zeros(3)}}, tmp_path / "keys.pt")
    state = {k: torch.zeros(1) for k in load_checkpoint.__globals__["SimpleCNN"]().state_dict()}
    torch.save({"format": "digitedge-checkpoint/1", "model": state}, tmp_path / "shapes.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "pickle.pt").write_bytes(pickle.dumps(Evil()))
    return {"text.pt": "not a readable checkpoint", "keys.pt": "do not fit SimpleCNN", "shapes.pt": "has shape",
            "foreign.pt": "not a digitedge checkpoint", "pickle.pt": "not a readable checkpoint",
            "missing.pt": "no such checkpoint"}


def test_bad_checkpoints_raise_one_clear_error(tmp_path):
    for name, message in bad_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError, match=message) as e:
            load_checkpoint(tmp_path / name)
        assert str(tmp_path / name) in str(e.value) and "\n" not in str(e.value)


def test_export_cli_bad_checkpoint_is_one_line_exit_2(tmp_path):
    bad_checkpoints(tmp_path)
    for name in ("text.pt", "pickle.pt", "shapes.pt"):
        r = run_cli("export", str(tmp_path / name), "--no-check")
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and "pwned" not in r.stdout
        assert r.stderr.count("\n") == 1 and name in r.stderr


def test_int8_model_declares_only_the_opsets_it_uses_and_every_runtime_loads_it(exported):
    """quant_pre_process leaves nine opset imports (ai.onnx.ml, com.microsoft.nchwc, ...); the exporter keeps the
    ones a node uses. The checker, onnxruntime and OpenVINO still load it; the parity gates ran on it (the fixture's
    export passed them)."""
    import onnxruntime as ort

    path = exported / "best.int8.onnx"
    model = onnx.load(str(path))
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 18)]
    assert {n.domain for n in model.graph.node} == {""}
    onnx.checker.check_model(model, full_check=True)
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    try:
        import openvino as ov
    except ImportError:
        pytest.skip("openvino not installed (pip install 'digitedge[bench]')")
    compiled = ov.Core().compile_model(str(path), "CPU")
    x = np.zeros((1, 1, 28, 28), np.float32)
    assert compiled(x)[0].shape == (1, 10)


def test_export_writes_the_input_contract_the_runtime_reads(exported):
    from digitedge.contract import DEFAULT_INPUT, InputContract

    for name in ("best.onnx", "best.int8.onnx"):
        meta = read_metadata(exported / name)
        assert InputContract.from_metadata(meta["input"]) == DEFAULT_INPUT
        assert OnnxModel(exported / name).contract == DEFAULT_INPUT


def test_strip_unused_opsets_keeps_a_domain_a_node_uses(tmp_path):
    from onnx import TensorProto, helper

    from digitedge.export.quantize import strip_unused_opsets

    node = helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1),
                                                     helper.make_opsetid("ai.onnx.ml", 5)])
    onnx.save(model, str(tmp_path / "m.onnx"))
    assert strip_unused_opsets(tmp_path / "m.onnx") == ["ai.onnx.ml"]
    assert [o.domain for o in onnx.load(str(tmp_path / "m.onnx")).opset_import] == ["", "com.microsoft"]
