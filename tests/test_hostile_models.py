"""Models and checkpoints from elsewhere: each breach of the contract is one line naming what is off, never a
traceback nor a silently wrong answer; model and checkpoint files that are FIFOs or devices are refused unread."""

from __future__ import annotations

import os

import numpy as np
import pytest
from onnx import TensorProto

from digitedge.errors import CheckpointError, ModelError
from hostile import cli, digit_png, onnx_model

HOSTILE_MODELS = {  # name -> (how the model is bent, what the line says)
    "input_shape": (dict(in_shape=("N", 3, 32, 32)), "input 'input' is tensor(float) ['N', 3, 32, 32]"),
    "input_dtype": (dict(in_type=TensorProto.DOUBLE), "input 'input' is tensor(double)"),
    "int_input": (dict(in_type=TensorProto.INT64), "input 'input' is tensor(int64)"),
    "two_inputs": (dict(two_inputs=True), "has 2 inputs"),
    "output_4d": (dict(out_rank=4), "output 'logits' is tensor(float) ['N', 10, 1, 1]; expected float32 [N, 10]"),
    "labels_not_json": (dict(labels="0,1,2"), "metadata 'labels' must be a JSON list of whole numbers"),
    "labels_not_int": (dict(labels='["a", "b", "c"]'), "metadata 'labels' must be a JSON list of whole numbers"),
    "labels_repeat": (dict(labels='["1", "1", "2", "3", "4", "5", "6", "7", "8", "9"]'), "repeats a label"),
    "20_outputs": (dict(outputs=20), "expected float32 [N, 10], a score for each of its 10 labels"),
    "nan_output": (dict(nan=True), "gives NaN or infinite scores on a test batch"),
    "expand_bomb": (dict(expand_to=[1, 1 << 30, 28, 28]), "fails on a test batch"),  # 6.7 TB for 2 crops
    "recipe": (dict(recipe="other/9"), "trained for preprocessing 'other/9'"),
}


@pytest.mark.parametrize("kind", HOSTILE_MODELS)
def test_hostile_model_is_refused_at_load_with_one_line(kind, tmp_path):
    from digitedge.runtime import DigitClassifier

    bend, says = HOSTILE_MODELS[kind]
    path = onnx_model(tmp_path / f"{kind}.onnx", **bend)
    with pytest.raises(ModelError) as e:
        DigitClassifier(path)
    assert says in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_the_plain_hostile_model_loads(tmp_path):
    """The bent models differ from this one by one keyword each: the refusals above are the contract's doing."""
    from digitedge.runtime import DigitClassifier

    probs = DigitClassifier(onnx_model(tmp_path / "plain.onnx")).predict(np.zeros((3, 28, 28), np.uint8))
    assert probs.shape == (3, 10) and np.isfinite(probs).all()


@pytest.mark.parametrize("kind", ["nan_output", "expand_bomb", "20_outputs", "labels_not_json"])
def test_classify_with_a_hostile_model_is_one_line_exit_2(kind, tmp_path):
    (tmp_path / "a.png").write_bytes(digit_png())
    path = onnx_model(tmp_path / "m.onnx", **HOSTILE_MODELS[kind][0])
    r = cli("classify", tmp_path / "a.png", "--model", path)
    assert r.code == 2 and len(r.err_lines) == 1 and HOSTILE_MODELS[kind][1] in r.err, r.err
    assert "99999999" not in r.out


@pytest.mark.parametrize("verb", ["classify", "evaluate"])
def test_model_that_is_a_fifo_or_device_is_refused_unread(verb, tmp_path):
    os.mkfifo(tmp_path / "fifo.onnx")
    (tmp_path / "a.png").write_bytes(digit_png())
    for model, says in ((tmp_path / "fifo.onnx", "not a regular file (a FIFO)"), ("/dev/zero", "not a regular file (a character device)")):
        args = ["classify", tmp_path / "a.png", "--model", model] if verb == "classify" else ["evaluate", model]
        r = cli(*args, cwd=tmp_path)
        assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, r.err


def checkpoint_with(tmp_path, name, change) -> str:
    import torch

    from digitedge.training.checkpoint import FORMAT
    from digitedge.training.model import SimpleCNN

    state = SimpleCNN().state_dict()
    change(state)
    torch.save({"format": FORMAT, "model": state}, tmp_path / name)
    return str(tmp_path / name)


@pytest.mark.parametrize("change, says", [
    (lambda s: s.update({k: v.to(torch_int()) for k, v in s.items()}), "SimpleCNN needs floating-point weights"),
    (lambda s: s["fc2.bias"].fill_(float("nan")), "weight fc2.bias holds NaN or infinite values"),
    (lambda s: s.update({"fc2.bias": 3}), "weight fc2.bias is a int, not a tensor"),
])
def test_checkpoint_with_unusable_weights_is_one_line(change, says, tmp_path):
    from digitedge.training.checkpoint import load_checkpoint

    path = checkpoint_with(tmp_path, "bad.pt", change)
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(path)
    r = cli("export", path, "--no-check", "--out", tmp_path / "out")
    assert r.code == 2 and len(r.err_lines) == 1 and says in r.err
    assert not (tmp_path / "out").exists()


def torch_int():
    import torch

    return torch.int64


def test_checkpoint_that_is_a_fifo_is_refused_unread(tmp_path):
    from digitedge.training.checkpoint import load_checkpoint

    os.mkfifo(tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(tmp_path / "best.pt")


def test_resume_from_a_run_without_last_pt_is_one_line(tmp_path):
    (tmp_path / "exp").mkdir()
    r = cli("train", "--resume", tmp_path / "exp")
    assert r.code == 2 and len(r.err_lines) == 1 and "no such checkpoint" in r.err
