"""digitedge.tools.synth: synthetic camera photos of digits.

Most tests use stroke "digits" drawn here (and a tiny fake MNIST folder built from them), so they run
anywhere; the MNIST ones run when DIGITEDGE_DATA points at the real files.
"""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from digitedge.tools import synth
from digitedge.training.data import FILES, write_idx

PAPER_KINDS = ("single", "row", "page", "form")


def stroke_digit(k: int) -> np.ndarray:
    """A 28x28 white-on-black anti-aliased stroke shape, MNIST-like in size and placement."""
    img = np.zeros((28, 28), np.uint8)
    shape = k % 4
    if shape == 0:
        cv2.ellipse(img, (14, 14), (6, 9), 0, 0, 360, 255, 2, cv2.LINE_AA)
    elif shape == 1:
        cv2.line(img, (15, 4), (13, 23), 255, 3, cv2.LINE_AA)
    elif shape == 2:
        cv2.polylines(img, [np.array([[7, 5], [21, 5], [11, 23]])], False, 255, 2, cv2.LINE_AA)
    else:
        cv2.polylines(img, [np.array([[18, 23], [18, 4], [7, 16], [22, 16]])], False, 255, 2, cv2.LINE_AA)
    return img


def digits(n: int, start: int = 0):
    return [stroke_digit(start + i) for i in range(n)], [(start + i) % 10 for i in range(n)]


def render(kind: str, seed: int, strength: float = 1.0) -> synth.Scene:
    rng = np.random.default_rng(seed)
    d, v = digits(3 + seed % 4, seed)
    if kind == "single":
        return synth.render_single(d[0], v[0], rng, camera_strength=strength)
    if kind == "page":
        lines = [list(zip(*digits(2 + (seed + i) % 6, i))) for i in range(3 + seed % 3)]
        return synth.render_page(lines, rng, camera_strength=strength)
    if kind == "blank":
        return synth.render_blank(rng, camera_strength=strength)
    return {"row": synth.render_row, "form": synth.render_form, "chalk": synth.render_chalk}[kind](d, v, rng, camera_strength=strength)


def gray(image):
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def around(image, box):
    """Pixels inside the box, and the box grown by a third of its height (mostly paper) for a local median."""
    x, y, w, h = box
    pad = max(4, h // 3)
    g = gray(image)
    return g[y:y + h, x:x + w], g[max(0, y - pad):y + h + pad, max(0, x - pad):x + w + pad]


def check_layout(scene: synth.Scene) -> None:
    h, w = scene.image.shape[:2]
    assert scene.image.dtype == np.uint8 and scene.image.ndim == 3
    assert len(scene.boxes) == len(scene.text.replace("\n", ""))
    assert scene.text.replace("\n", "").isdigit() or scene.text == ""
    for x, y, bw, bh in scene.boxes:
        assert 0 <= x and 0 <= y and bw > 0 and bh > 0 and x + bw <= w and y + bh <= h
    # Reading order: within a line left to right, and digits never touch (their x-ranges are disjoint).
    i = 0
    for line in scene.text.split("\n"):
        row = scene.boxes[i:i + len(line)]
        for (x0, _, w0, _), (x1, _, _, _) in zip(row, row[1:]):
            assert x0 + w0 <= x1, f"{scene.kind}: boxes overlap or are out of order: {row}"
        i += len(line)


@pytest.mark.parametrize("kind", synth.KINDS)
def test_same_seed_same_scene(kind):
    a, b, c = render(kind, 1), render(kind, 1), render(kind, 2)
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes and a.text == b.text and a.kind == kind
    assert not np.array_equal(a.image, c.image)


@pytest.mark.parametrize("kind", PAPER_KINDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_boxes_hold_dark_ink(kind, seed):
    scene = render(kind, seed)
    check_layout(scene)
    assert scene.boxes
    for box in scene.boxes:
        inner, local = around(scene.image, box)
        paper = np.median(local)
        assert inner.mean() < paper and np.percentile(inner, 5) < paper - 25, (kind, seed, box)


@pytest.mark.parametrize("kind", ("row", "page", "form"))
def test_boxes_are_tight(kind):
    """Without camera blur each box edge row/column still touches ink, so the box is the ink's, not a guess."""
    scene = render(kind, 3, strength=0.0)
    for box in scene.boxes:
        inner, local = around(scene.image, box)
        ink = inner < np.median(local) - 20
        assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any(), box


def test_chalk_is_light_on_dark():
    for seed in range(3):
        scene = render("chalk", seed)
        check_layout(scene)
        assert np.median(gray(scene.image)) < 110
        for box in scene.boxes:
            inner, local = around(scene.image, box)
            assert np.percentile(inner, 95) > np.median(local) + 40


def test_blank_has_nothing():
    scene = render("blank", 0)
    assert scene.text == "" and scene.boxes == [] and scene.kind == "blank"
    assert gray(scene.image).std() < 30  # lighting and texture, but no strokes


def test_camera_keeps_shape_and_is_deterministic():
    image = render("row", 0, strength=0.0).image
    a = synth.camera(image, np.random.default_rng(5))
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, synth.camera(image, np.random.default_rng(5)))
    assert np.array_equal(synth.camera(image, np.random.default_rng(5), strength=0.0), image)


def test_bad_input_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        synth.render_single(np.zeros((28, 28), np.uint8), 1, rng)
    with pytest.raises(ValueError):
        synth.render_row([stroke_digit(0)], [1, 2], rng)
    with pytest.raises(ValueError):
        synth.render_single(stroke_digit(0), 12, rng)


@pytest.fixture(scope="module")
def fake_mnist(tmp_path_factory):
    """A folder with the four MNIST files (raw IDX, which skips the .gz checksums) holding stroke digits."""
    folder = tmp_path_factory.mktemp("mnist")
    images = np.stack([stroke_digit(i) for i in range(40)])
    labels = np.arange(40, dtype=np.uint8) % 10
    for key, (name, _) in FILES.items():
        write_idx(folder / name[:-3], images if key.endswith("images") else labels)
    return folder


@pytest.fixture(params=["fake", "mnist"])
def data_dir(request, fake_mnist):
    """The fake folder, and the real MNIST one (conftest's `mnist_dir`: skipped with a reason without it)."""
    return fake_mnist if request.param == "fake" else request.getfixturevalue("mnist_dir")


@pytest.mark.parametrize("kind", synth.KINDS)
def test_scenes_are_reproducible(kind, data_dir):
    a, b = list(synth.scenes(kind, 2, 7, data_dir)), list(synth.scenes(kind, 1, 7, data_dir))
    assert len(a) == 2 and np.array_equal(a[0].image, b[0].image) and a[0].text == b[0].text
    for scene in a:
        assert scene.kind == kind
        check_layout(scene)


def test_mnist_scenes_have_ink_in_boxes(mnist_dir):
    for kind in PAPER_KINDS:
        for scene in synth.scenes(kind, 2, 0, mnist_dir):
            for box in scene.boxes:
                inner, local = around(scene.image, box)
                assert np.percentile(inner, 5) < np.median(local) - 25, (kind, box)


def test_write_samples(tmp_path, data_dir):
    rows = synth.write_samples(tmp_path, data_dir, seed=0)
    assert len(rows) == len(synth.SAMPLES)
    with open(tmp_path / "labels.csv", newline="") as f:
        assert [tuple(r) for r in csv.reader(f)] == [("file", "text"), *rows]
    for name, text in rows:
        image = cv2.imread(str(tmp_path / name))
        assert image is not None and (tmp_path / name).stat().st_size < synth.SAMPLE_MAX_BYTES
    texts = dict(rows)
    assert texts["digit_3.jpg"] == "3" and texts["blank_paper.jpg"] == "" and "\n" in texts["notebook_page.jpg"]
    assert synth.SAMPLES_COMMAND in (tmp_path / "README.md").read_text()


def test_write_clip(tmp_path, data_dir):
    path = tmp_path / "clip.mp4"
    texts = synth.write_clip(path, data_dir, seed=1, fps=5, size=(320, 240), shots=3)
    assert len(texts) == 15 and "" in texts and any(texts)
    cap = cv2.VideoCapture(str(path))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == len(texts)


def test_cli_missing_data_is_one_line(tmp_path, capsys):
    rc = synth.main(["samples", "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
