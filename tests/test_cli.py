"""The CLI explains itself: every option's default in --help, examples per verb, `python -m digitedge`, --device,
-q/-v, `evaluate` without a model, a .pt where an .onnx is wanted; and the input contract read from the model."""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from digitedge.cli import build_parser, main
from hostile import cli, digit_png, onnx_model

VERBS = ["train", "evaluate", "export", "classify", "live", "bench"]


def subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("verb", VERBS)
def test_every_option_has_help_with_its_default_and_every_verb_examples(verb, capsys):
    parser = subparsers(build_parser())[verb]
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        shown = formatter._expand_help(action) if action.help else ""
        assert action.help, f"{verb} {action.option_strings or action.dest}: no help"
        if action.option_strings:
            assert "default" in shown, f"{verb} {action.option_strings}: help shows no default: {shown!r}"
    assert main([verb, "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:\n  digitedge " + verb in text
    for action in parser._actions:
        for option in action.option_strings:
            assert option in text


def test_live_help_lists_the_window_keys(capsys):
    main(["live", "--help"])
    out = capsys.readouterr().out
    assert all(k in out for k in ("q or Esc quit", "space pause", "s save a snapshot"))


def test_python_m_digitedge():
    done = subprocess.run([sys.executable, "-m", "digitedge", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "classify" in done.stdout and "examples:" in done.stdout
    done = subprocess.run([sys.executable, "-m", "digitedge", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("digitedge ")


def test_device_not_in_this_onnxruntime_is_one_line_exit_2(tmp_path):
    import onnxruntime as ort

    (tmp_path / "a.png").write_bytes(digit_png("7"))
    for device, provider in (("cuda", "CUDAExecutionProvider"), ("openvino", "OpenVINOExecutionProvider")):
        if provider in ort.get_available_providers():
            continue
        r = cli("classify", tmp_path / "a.png", "--device", device)
        assert r.code == 2 and len(r.err_lines) == 1 and f"--device {device}: this onnxruntime has no {provider}" in r.err
        assert "use --device cpu" in r.err
    for device in ("cpu", "auto"):
        r = cli("classify", tmp_path / "a.png", "--device", device)
        assert r.code == 0 and " 7 " in r.out, r.err


def test_device_maps_to_execution_providers(monkeypatch):
    from digitedge.runtime import model

    monkeypatch.setattr(model.ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "OpenVINOExecutionProvider", "CPUExecutionProvider"])
    assert model.providers_for(None) == model.providers_for("cpu") == ["CPUExecutionProvider"]
    assert model.providers_for("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert model.providers_for("openvino") == ["OpenVINOExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(model.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert model.providers_for("auto") == ["CPUExecutionProvider"]
    with pytest.raises(model.DeviceError, match="install onnxruntime-gpu in place of onnxruntime"):
        model.providers_for("cuda")
    with pytest.raises(ValueError, match="device must be one of"):
        model.providers_for("tpu")


def test_a_checkpoint_where_a_model_is_wanted_says_export_it_first(tmp_path):
    import torch

    torch.save({"format": "digitedge-checkpoint/1", "model": {}}, tmp_path / "best.pt")
    (tmp_path / "renamed.onnx").write_bytes((tmp_path / "best.pt").read_bytes())  # told by content, not by name
    (tmp_path / "a.png").write_bytes(digit_png("7"))
    for model in ("best.pt", "renamed.onnx"):
        for args in (["classify", tmp_path / "a.png", "--model", tmp_path / model],
                     ["live", "--source", tmp_path / "a.png", "--no-display", "--model", tmp_path / model]):
            r = cli(*args)
            assert r.code == 2 and len(r.err_lines) == 1, r.err
            assert "a PyTorch checkpoint, not an .onnx model; export it first: digitedge export" in r.err


def test_evaluate_defaults_to_the_shipped_model(mnist_dir, tmp_path):
    r = cli("evaluate", "--out", tmp_path / "report", "--data-dir", mnist_dir, timeout=300)
    assert r.code == 0, r.err
    assert "digitedge.int8.onnx: MNIST test accuracy 0.99" in r.out and (tmp_path / "report" / "confusion_matrix.png").is_file()


def test_quiet_keeps_results_and_errors_and_verbose_adds_debug_lines(tmp_path):
    (tmp_path / "a.png").write_bytes(digit_png("7"))
    normal = cli("classify", tmp_path / "a.png", tmp_path / "missing.png")
    quiet = cli("classify", "-q", tmp_path / "a.png", tmp_path / "missing.png")
    verbose = cli("classify", "-v", tmp_path / "a.png")
    strip_ms = lambda line: line.rsplit("  ", 1)[0]  # noqa: E731 (the timing differs run to run)
    assert strip_ms(normal.out.splitlines()[0]) == strip_ms(quiet.out.strip()) and "images read" in normal.out
    assert quiet.err_lines == normal.err_lines == [f"{tmp_path / 'missing.png'}: error: no such file or folder"]
    assert "CPUExecutionProvider" in verbose.err and verbose.code == 0


def test_no_import_cycle_between_train_and_evaluate():
    code = ("import sys; import digitedge.training.evaluate; "
            "sys.exit('digitedge.training.train' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_runtime_feeds_the_model_as_its_metadata_says(tmp_path):
    """The runtime reads `digitedge.input`: a model whose metadata says pixels / 127.5 gets inputs twice as large
    (its linear logits double); a contract it cannot feed is refused in one line."""
    import onnx

    from digitedge.errors import ModelError
    from digitedge.runtime.model import OnnxModel

    def with_input(name, value):
        path = onnx_model(tmp_path / name)
        model = onnx.load(str(path))
        model.metadata_props.add(key="digitedge.input", value=value)
        onnx.save(model, str(path))
        return path

    crops = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    base = OnnxModel(onnx_model(tmp_path / "plain.onnx")).logits(crops)
    half = OnnxModel(with_input("half.onnx", '{"name": "input", "shape": ["N", 1, 28, 28], "divisor": 127.5}')).logits(crops)
    np.testing.assert_allclose(half, 2 * base, rtol=1e-4, atol=1e-4)
    legacy = '{"name": "input", "shape": ["N", 1, 28, 28], "scale": "pixel / 255, range [0, 1]"}'  # the shipped models
    np.testing.assert_allclose(OnnxModel(with_input("legacy.onnx", legacy)).logits(crops), base, rtol=1e-6)
    for value, says in (('{"shape": ["N", 1, 32, 32]}', "metadata 'input' says [N, 1, 32, 32]"),
                        ('{"shape": ["N", 1, 28, 28], "divisor": 0}', "divisor must be a number from 1 to 65535"),
                        ('{"shape": ["N", 1, 28, 28], "name": "pixels"}', "its metadata 'input' says 'pixels'"),
                        ("[1, 2]", "must be a JSON object")):
        with pytest.raises(ModelError, match=says.replace("[", r"\[")):
            OnnxModel(with_input("bad.onnx", value))


def test_gui_check_says_how_to_get_a_window_and_how_to_repair_a_broken_cv2(monkeypatch):
    from digitedge import gui

    monkeypatch.setattr(gui, "installed", lambda: {gui.HEADLESS: "5.0.0.93"})
    monkeypatch.setattr(gui, "cv2_gui", lambda: (False, "NONE"))
    code, lines = gui.report()
    assert code == 1 and "pip install --force-reinstall --no-deps opencv-python==5.0.0.93" in "\n".join(lines)
    monkeypatch.setattr(gui, "installed", lambda: {gui.HEADLESS: "5.0.0.93", gui.GUI: "5.0.0.93"})
    monkeypatch.setattr(gui, "cv2_gui", lambda: (None, "ImportError: libopencv missing"))
    code, lines = gui.report()
    text = "\n".join(lines)
    assert code == 2 and "does not import" in text and "opencv-python-headless==5.0.0.93" in text
    monkeypatch.setattr(gui, "cv2_gui", lambda: (True, "QT5"))
    monkeypatch.setenv("DISPLAY", ":0")
    code, lines = gui.report()
    assert code == 0 and "never `pip uninstall` one of them alone" in "\n".join(lines)


def test_gui_check_runs_with_the_installed_opencv():
    done = subprocess.run([sys.executable, "-m", "digitedge.gui"], capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1) and "OpenCV wheels installed: " in done.stdout and "Traceback" not in done.stderr
