"""Generated training and stress data: glyph styles, stress scenes, the harvest's labelling of finder regions."""

import numpy as np
import pytest

from digitedge.tools import glyphs, harvest, stress


@pytest.mark.parametrize("label", range(10))
def test_every_glyph_style_draws_a_digit(label):
    rng = np.random.default_rng(label)
    for style in glyphs.styles(label):
        mask = glyphs.glyph_mask(label, rng, height=80, style=style)
        assert mask.dtype == np.float32 and mask.max() > 0.9 and 60 <= mask.shape[0] <= 110
        crop = glyphs.glyph_crop(label, rng, style=style)
        assert crop.shape == (28, 28) and crop.max() > 200
        ys, xs = np.nonzero(crop > 30)
        assert ys.max() - ys.min() + 1 <= 21 and xs.max() - xs.min() + 1 <= 21  # MNIST's 20 px box


def test_glyphs_are_deterministic_and_varied():
    a = glyphs.glyph_crop(7, np.random.default_rng(3), style="crossed")
    b = glyphs.glyph_crop(7, np.random.default_rng(3), style="crossed")
    c = glyphs.glyph_crop(7, np.random.default_rng(4), style="crossed")
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError):
        glyphs.glyph_mask(12, np.random.default_rng(0))


def test_a_crossed_seven_has_its_bar_through_the_stem():
    mask = glyphs.glyph_mask(7, np.random.default_rng(0), height=100, style="crossed", stroke=0.06)
    row = mask[int(mask.shape[0] * 0.5)]
    assert (row > 0.5).sum() >= 0.3 * mask.shape[1], "the cross bar spans a good part of the width"


@pytest.mark.parametrize("kind", stress.STRESS_KINDS)
def test_stress_scenes_are_deterministic_with_boxes_inside(kind, mnist_dir):
    a = list(stress.stress_scenes(kind, 3, 11, data_dir=mnist_dir))
    b = list(stress.stress_scenes(kind, 2, 11, data_dir=mnist_dir))
    for x, y in zip(a, b):
        assert np.array_equal(x.image, y.image) and x.text == y.text
    for scene in a:
        h, w = scene.image.shape[:2]
        digits = scene.text.replace("\n", "")
        assert digits.isdigit() and len(digits) == len(scene.boxes) and scene.kind == kind
        for x0, y0, bw, bh in scene.boxes:
            assert 0 <= x0 and 0 <= y0 and x0 + bw <= w and y0 + bh <= h and bw > 0 and bh > 0


def test_harvest_labels_regions_by_what_they_hold():
    truth = [((10, 10, 20, 40), 3), ((40, 12, 22, 38), 5)]
    assert harvest.label_region((9, 9, 22, 42), truth) == 3  # one digit, whole
    assert harvest.label_region((8, 8, 56, 44), truth) == harvest.REJECT  # two digits merged
    assert harvest.label_region((100, 100, 20, 20), truth) == harvest.REJECT  # nothing: a stray piece
    assert harvest.label_region((100, 100, 4, 30), truth) is None  # a stray stick: a perfect 1, left out
    assert harvest.label_region((10, 10, 20, 12), truth) is None  # the top of the 3 alone: left out
    assert harvest.label_region((10, 10, 20, 27), truth) is None  # most of it: neither, left out


def test_harvest_runs_the_runtime_finder(mnist_dir):
    result = harvest.harvest(8, seed=1, data_dir=mnist_dir, split="test", mix={"row": 1.0, "grid": 1.0})
    assert len(result.crops) == len(result.labels) > 8
    assert result.crops.shape[1:] == (28, 28) and result.crops.dtype == np.uint8
    assert set(np.unique(result.labels)) <= set(range(10)) | {harvest.REJECT}
    assert (result.labels >= 0).mean() > 0.5, "most of what the finder cuts out of rows is a digit"


def test_real_evaluation_scores_by_set_kind_and_source(tmp_path):
    """`evaluate --real` on a folder of generated photos with labels.csv, and a sub-folder scored apart."""
    import csv

    import cv2

    from conftest import paper_with_text
    from digitedge.tools.realeval import edit_distance, evaluate_real, matched

    assert matched("1234", "1x34") == [True, False, True, True] and edit_distance("12\n34", "1234") == 0
    assert matched("12", "") == [] and edit_distance("12", "9") == 2
    rows = [("a.png", "7", "alice", "single"), ("b.png", "12\n34", "bob", "multi"), ("c.png", "5", "bob", "single")]
    cv2.imwrite(str(tmp_path / "a.png"), paper_with_text(["7"], height=200))
    cv2.imwrite(str(tmp_path / "b.png"), paper_with_text(["12", "34"], height=100))
    cv2.imwrite(str(tmp_path / "c.png"), np.full((200, 200), 230, np.uint8))  # blank: the 5 is missed
    (tmp_path / "more").mkdir()
    cv2.imwrite(str(tmp_path / "more" / "d.png"), paper_with_text(["4"], height=200))
    for folder, items in ((tmp_path, rows), (tmp_path / "more", [("d.png", "4", "carol", "canvas")])):
        with open(folder / "labels.csv", "w", newline="") as f:
            csv.writer(f).writerows([("file", "label", "source", "kind"), *items])
    lines = []
    result = evaluate_real(tmp_path, out=tmp_path / "report", log=lines.append)
    top = result["sets"]["."]
    assert top["kinds"]["single"]["images"] == 2 and top["kinds"]["single"]["exact"] == 0.5
    assert top["kinds"]["multi"]["exact"] == 1.0 and top["kinds"]["multi"]["digits"] == 1.0
    assert top["sources"]["single bob"]["kept"] == 0.0 and top["sources"]["single alice"]["precision"] == 1.0
    assert result["sets"]["more"]["kinds"]["canvas"]["exact"] == 1.0
    assert [f["file"] for f in top["failures"]] == ["c.png"]
    assert (tmp_path / "report" / "real.json").is_file() and any("Results saved" in line for line in lines)
