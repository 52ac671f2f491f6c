"""The edge runtime and `digitedge classify`: imports, inputs of every kind, bad files, output formats."""

import json
import struct
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from conftest import paper_with_text
from digitedge.runtime import DigitClassifier, ImageError, read_image, text_of
from digitedge.runtime import preprocess as P
from digitedge.runtime.imageio import decode
from digitedge.runtime.model import PREPROCESS_RECIPE


@pytest.fixture(scope="module")
def clf():
    return DigitClassifier()  # the shipped int8 model


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "digitedge.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_runtime_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None; import digitedge.runtime, digitedge.cli; " \
           "from digitedge.runtime import DigitClassifier; DigitClassifier(); " \
           "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_shipped_model_reads_its_metadata(clf):
    assert clf.labels == list(range(10))
    assert clf.model.meta["preprocess"] == PREPROCESS_RECIPE
    assert float(clf.model.meta["test_accuracy"]) >= 0.995


def test_predict_on_mnist_crops(clf, mnist_dir):
    from digitedge.training.data import load_mnist

    test = load_mnist("test", mnist_dir)
    probs = clf.predict(test.images[:1000])
    assert probs.shape == (1000, 10) and np.allclose(probs.sum(1), 1, atol=1e-4)
    assert (probs.argmax(1) == test.labels[:1000]).mean() >= 0.99


def test_mnist_crop_recipe():
    """Fit into 20x20 keeping aspect, centre of mass at the centre of 28x28."""
    stroke = np.zeros((200, 60), np.uint8)
    cv2.line(stroke, (30, 10), (30, 190), 255, 14)
    crop = P.mnist_crop(stroke)
    ys, xs = np.nonzero(crop > 30)
    assert crop.shape == (28, 28) and 18 <= ys.max() - ys.min() + 1 <= 21
    cy = (crop.sum(1) * np.arange(28)).sum() / crop.sum()
    cx = (crop.sum(0) * np.arange(28)).sum() / crop.sum()
    assert abs(cy - 13.5) <= 1 and abs(cx - 13.5) <= 1


@pytest.mark.parametrize("kind", ["gray", "bgr", "bgra", "uint16"])
def test_every_pixel_format_reads_the_same(clf, kind):
    img = paper_with_text(["7"], height=200)
    variants = {"gray": cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), "bgr": img,
                "bgra": cv2.cvtColor(img, cv2.COLOR_BGR2BGRA), "uint16": img.astype(np.uint16) * 257}
    assert text_of(clf.classify(variants[kind])) == "7"


def test_16_bit_and_transparent_png_files_are_read(clf, tmp_path):
    img = paper_with_text(["4"], height=200)
    cv2.imwrite(str(tmp_path / "deep.png"), img.astype(np.uint16) * 257)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = np.where(img[..., 0] > 128, 0, 255)  # paper transparent, ink opaque
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    deep, alpha = read_image(tmp_path / "deep.png"), read_image(tmp_path / "alpha.png")
    assert deep.dtype == np.uint16 and alpha.shape[2] == 4
    assert text_of(clf.classify(deep)) == "4" and text_of(clf.classify(alpha)) == "4"


def test_transparent_png_background_is_paper(clf):
    bgra = np.zeros((300, 300, 4), np.uint8)  # fully transparent ...
    cv2.putText(bgra, "4", (80, 240), cv2.FONT_HERSHEY_SIMPLEX, 7, (20, 20, 20, 255), 24, cv2.LINE_AA)  # ... dark ink
    assert text_of(clf.classify(bgra)) == "4"


def test_light_ink_on_dark_board(clf):
    board = np.full((480, 640, 3), (40, 60, 30), np.uint8)
    cv2.putText(board, "3", (250, 350), cv2.FONT_HERSHEY_SIMPLEX, 8, (230, 230, 230), 26, cv2.LINE_AA)
    assert P.light_on_dark(P.to_gray(board))
    assert text_of(clf.classify(board)) == "3"


def test_blank_paper_with_shadow_gives_no_digits(clf):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    paper = 220 - 60 * (xx > 400 + 0.3 * yy) + rng.normal(0, 3, (480, 640))  # a hard shadow edge + noise
    paper = cv2.GaussianBlur(np.clip(paper, 0, 255).astype(np.uint8), (0, 0), 8)
    assert clf.classify(paper) == []


def test_reading_order_of_multi_line_image(clf, mnist_dir):
    """Two lines of MNIST test digits on paper, the second written slightly higher on the right (a tilt)."""
    from digitedge.training.data import load_mnist

    test = load_mnist("test", mnist_dir)
    picks = {d: test.images[np.flatnonzero(test.labels == d)[0]] for d in range(10)}
    canvas = np.full((520, 900), 235, np.uint8)
    for row, text in enumerate(["1234", "5678"]):
        for col, ch in enumerate(text):
            digit = cv2.resize(255 - picks[int(ch)], (140, 140), interpolation=cv2.INTER_CUBIC)
            y, x = 40 + row * 220 - col * 12, 60 + col * 190
            canvas[y:y + 140, x:x + 140] = np.minimum(canvas[y:y + 140, x:x + 140], digit)
    digits = clf.classify(canvas)
    assert text_of(digits) == "1234\n5678"
    assert [d.line for d in digits] == [0] * 4 + [1] * 4


def test_lines_are_formed_from_the_digits_read(monkeypatch):
    """A comma after the first digit, below the line, is a piece the finder orders with the digits (it bends the
    first digit's course away from the rest), and the model rejects it: the reading's lines are formed from the
    digits read, so the number stays one line."""
    from digitedge.runtime import classifier

    pieces = [((60, 35, 22, 80), 1), ((95, 105, 30, 45), None), ((142, 50, 32, 72), 1), ((200, 35, 58, 82), 7),
              ((270, 45, 62, 75), 2)]  # boxes of a stress scene's "1,172": the comma is the second piece

    def found(image):
        regions = [P.Region(box, np.full((28, 28), 0 if label is None else 100 + label, np.uint8), 0, None, 1.0)
                   for box, label in pieces]
        return P.reading_order(regions)

    def predict(crops):  # a stand-in model: a crop's fill is its digit, an empty crop is no digit
        out = np.full((len(crops), 10), 0.1)
        for i, c in enumerate(crops):
            if c.max():
                out[i] = 0.01
                out[i, int(c.max()) - 100] = 0.91
        return out

    assert len({r.line for r in found(None)}) == 2, "the finder's own order puts the first digit apart"
    monkeypatch.setattr(classifier, "find_digits", found)
    reader = DigitClassifier()
    monkeypatch.setattr(reader, "predict", predict)
    digits = reader.classify(np.full((200, 400), 230, np.uint8))
    assert text_of(digits) == "1172" and {d.line for d in digits} == {0}


def test_decoder_rejects_bad_inputs():
    ok, jpg = cv2.imencode(".jpg", paper_with_text(["5"]))
    ok, png = cv2.imencode(".png", paper_with_text(["5"]))
    cases = {b"": "empty file", b"hello, I am text": "not an image", jpg.tobytes()[:2000]: "truncated JPEG",
             png.tobytes()[:3000]: "truncated PNG", bomb_png(100_000, 100_000): "too large"}
    for data, message in cases.items():
        with pytest.raises(ImageError, match=message):
            decode(data)


def bomb_png(width, height) -> bytes:
    """A tiny PNG whose header declares a huge image: a decompression bomb."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


def exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with an EXIF orientation tag (what phones write instead of rotating pixels)."""
    ok, jpg = cv2.imencode(".jpg", image)
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01" + \
        struct.pack(">H", orientation) + b"\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"Exif\x00\x00" + tiff
    data = jpg.tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_exif_orientation_is_applied(tmp_path):
    img = np.full((100, 300, 3), 255, np.uint8)  # landscape in pixels ...
    path = tmp_path / "rotated.jpg"
    path.write_bytes(exif_jpeg(img, 6))  # ... shown rotated 90 degrees
    assert read_image(path).shape[:2] == (300, 100)


@pytest.fixture()
def mixed_folder(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "a_one.png"), paper_with_text(["7"], height=200))
    cv2.imwrite(str(tmp_path / "sub" / "b_two.jpg"), paper_with_text(["4"], height=200))
    cv2.imwrite(str(tmp_path / "sub" / "deeper" / "c_blank.png"), np.full((200, 300), 230, np.uint8))
    (tmp_path / "sub" / "d_empty.png").write_bytes(b"")
    (tmp_path / "sub" / "e_text.jpg").write_text("not really a jpeg")
    ok, jpg = cv2.imencode(".jpg", paper_with_text(["1"]))
    (tmp_path / "f_truncated.jpg").write_bytes(jpg.tobytes()[:1500])
    (tmp_path / "g_bomb.png").write_bytes(bomb_png(60_000, 60_000))
    (tmp_path / "notes.txt").write_text("ignored: not an image extension")
    return tmp_path


def test_classify_folder_json_schema_errors_and_exit_code(mixed_folder, tmp_path_factory):
    save = tmp_path_factory.mktemp("annotated")
    r = run_cli("classify", mixed_folder, "--format", "json", "--save", save)
    assert r.returncode == 1, "some inputs failed"
    assert "Traceback" not in r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    by_name = {row["path"].split("/")[-1]: row for row in rows}
    assert set(by_name) == {"a_one.png", "b_two.jpg", "c_blank.png", "d_empty.png", "e_text.jpg", "f_truncated.jpg",
                            "g_bomb.png"}, "recursive, images only, sorted, nothing skipped silently"
    assert by_name["a_one.png"]["text"] == "7" and by_name["b_two.jpg"]["text"] == "4"
    assert by_name["c_blank.png"] == {"path": by_name["c_blank.png"]["path"], "frame": 0, "time": 0.0, "text": "",
                                      "raw": "", "digits": []}
    digit = by_name["a_one.png"]["digits"][0]
    assert digit["label"] == 7 and 0.5 <= digit["confidence"] <= 1 and len(digit["box"]) == 4
    for name, why in (("d_empty.png", "empty"), ("e_text.jpg", "not an image"), ("f_truncated.jpg", "truncated"),
                      ("g_bomb.png", "too large")):
        assert set(by_name[name]) == {"path", "error"} and why in by_name[name]["error"]
        assert any(name in line and why in line for line in r.stderr.splitlines()), name
    saved = sorted(p.name for p in save.iterdir())
    assert saved == ["a_one.jpg", "b_two.jpg", "c_blank.jpg"]
    assert cv2.imread(str(save / "a_one.jpg")).shape[:2] == (480, 640)


def test_classify_table_output_glob_and_missing_path(mixed_folder):
    r = run_cli("classify", str(mixed_folder / "**" / "*_one.png"), mixed_folder / "nope.png")
    assert r.returncode == 1
    assert "a_one.png" in r.stdout and " 7 " in r.stdout
    assert "nope.png: error: no such file or folder" in r.stderr


def test_classify_all_good_exits_0_and_save_never_overwrites(tmp_path):
    img = tmp_path / "seven.png"
    cv2.imwrite(str(img), paper_with_text(["7"], height=200))
    for _ in range(2):
        assert run_cli("classify", img, "--save", tmp_path / "out").returncode == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["seven.jpg", "seven_1.jpg"]


def test_classify_bad_model_is_one_line(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("nope")
    r = run_cli("classify", tmp_path, "--model", bad)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "not a loadable ONNX model" in r.stderr


SAMPLE_GAPS = {  # sample -> what this release reads instead (strict: the day it reads right, this fails)
    "notebook_page.jpg": "2 of 32 digits wrong: its third line reads 92119877 for 92179817",
    "form_boxes.jpg": "2 of 6 digits read just under --conf (a 7 at 0.46, a flagged 1 at 0.49)",
}


def shipped_sample_rows():
    import csv

    from digitedge.runtime.model import shipped_samples

    samples = shipped_samples()
    return [(samples / row["file"], row["text"]) for row in csv.DictReader(open(samples / "labels.csv", newline=""))]


@pytest.mark.parametrize("path,text", [
    pytest.param(*r, id=r[0].name, marks=[pytest.mark.xfail(strict=True, reason=SAMPLE_GAPS[r[0].name])]
                 if r[0].name in SAMPLE_GAPS else []) for r in shipped_sample_rows()])
def test_shipped_samples_are_read(clf, path, text):
    """The README's quick start: every shipped sample reads exactly (SAMPLE_GAPS: strict xfails)."""
    assert text_of(clf.classify(read_image(path))) == text


def test_synthetic_camera_frames(clf, mnist_dir):
    """A quick slice of the acceptance measurement (the full one is `digitedge evaluate --synth`)."""
    from digitedge.tools.synth import scenes

    singles = list(scenes("single", 40, 7, data_dir=mnist_dir))
    assert sum(text_of(clf.classify(s.image)) == s.text for s in singles) >= 37
    blanks = list(scenes("blank", 20, 7, data_dir=mnist_dir))
    assert sum(clf.classify(s.image) == [] for s in blanks) >= 19
