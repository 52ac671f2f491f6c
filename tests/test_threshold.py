"""Precision against the confidence threshold on labelled sets (`tools/threshold.py`)."""

import cv2

from digitedge.tools import synth
from digitedge.tools import threshold as T


def test_precision_and_the_lowest_threshold_that_reaches_a_target():
    pairs = [(0.95, True)] * 90 + [(0.55, False)] * 5 + [(0.65, True)] * 5
    assert T.precision_at(pairs, 0.5) == (0.95, 95)
    assert T.precision_at(pairs, 0.6) == (1.0, 95)
    assert T.precision_at([], 0.9) == (1.0, 0)
    assert T.lowest_threshold(pairs, 0.99) == 0.56  # the first grid step above the wrong digits' 0.55
    assert T.lowest_threshold([(0.99, False)], 0.99) is None


def test_the_tool_reads_labelled_folders_and_leaves_each_source_out(mnist_dir, tmp_path, capsys):
    data = synth._dataset(mnist_dir, "test")
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        rows = ["file,label,source,kind"]
        for i in range(3):
            scene = synth.scene("single", data, 5, i + (3 if name == "b" else 0))
            cv2.imwrite(str(folder / f"{i}.png"), scene.image)
            rows.append(f"{i}.png,{scene.text},src-{name},single")
        (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "b" / "1.png").write_bytes(b"not an image")  # a miss, said in one line
    assert T.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out, err = capsys.readouterr()
    assert "all sets: threshold" in out and "  0.50  " in out
    assert "single src-a" in out and "single src-b" in out
    assert err.count("\n") == 1 and "1.png" in err
    assert T.main([str(tmp_path / "missing")]) == 2
    assert "labels.csv" in capsys.readouterr().err
