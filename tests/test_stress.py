"""The ways real handwriting broke the first release's reader (issue 10), each as generated stress scenes
written with MNIST *test* digits: the reader must read them now.

    DIGITEDGE_DATA=../shared/mnist python -m pytest tests/test_stress.py
    git worktree add /tmp/first 62379a0 && DIGITEDGE_DATA=../shared/mnist python -m pytest tests/test_stress.py \\
        --first-release /tmp/first      # the first release's finder and model: these fail

The full figures, on more scenes: `digitedge evaluate --synth 200`.
"""

import pytest

from digitedge.runtime import text_of
from digitedge.tools.realeval import Tally
from digitedge.tools.stress import stress_scenes

SEED = 7  # not evaluate --synth's seed: these scenes are not the ones its figures come from
SCENES = 16
# kind -> least share of digits read right (1 - edits / length): the failure it stands for
GOALS = {
    "canvas": 0.90,  # 1. long straight strokes of drawn digits (a 2's base, a 7's bar) wiped as rules
    "grid": 0.85,  # 2. graph-paper pieces at a tight crop's edge read as digits
    "border": 0.90,  # 3. a digit touching the image border dropped or cut
    "desk": 0.80,  # 4. a sheet on a desk, a scan's dark margin: everything merged into one region
    "pencil": 0.90,  # 5. faint thin pencil on unevenly lit grey paper: nothing found
    "separators": 0.85,  # 6. separators read as digits, digits with a broken stroke split in two
    "slope": 0.85,  # 7. a line on a steep slope cut in two, vignetting adding and splitting digits
    "cheque": 0.80,  # 8. small digits on a patterned, tinted field
    "styles": 0.90,  # 9. flagged 1s, crossed 7s, closed 4s, looped 2s misread by an MNIST-only model
}


@pytest.mark.parametrize("kind", GOALS)
def test_stress_kind_is_read(kind, reader, mnist_dir):
    tally = Tally()
    for scene in stress_scenes(kind, SCENES, SEED, data_dir=mnist_dir):
        digits = reader.classify(scene.image)
        tally.add(scene.text, digits, text_of(digits))
    figures = tally.figures()
    assert figures["digits"] >= GOALS[kind], f"{kind}: {figures}"
