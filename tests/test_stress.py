"""The ways real handwriting broke the first release's reader (issue 10), each as generated stress scenes
written with MNIST *test* digits: the reader must read them now.

    DIGITEDGE_DATA=../shared/mnist python -m pytest tests/test_stress.py
    git worktree add /tmp/first 62379a0 && DIGITEDGE_DATA=../shared/mnist python -m pytest tests/test_stress.py \\
        --first-release /tmp/first      # the first release's finder and model: these fail (underline aside)

The full figures, on more scenes: `digitedge evaluate --synth 200`.
"""

import pytest

from digitedge.runtime import text_of
from digitedge.tools.realeval import Tally
from digitedge.tools.stress import stress_scenes

SEED = 7  # not evaluate --synth's seed: these scenes are not the ones its figures come from
SCENES = 16
# kind -> (figure, least value): the failure it stands for, on the figure that failure shows in. "digits"
# = 1 - edits / length (a digit lost, added or misread), "exact" = the whole reading right, lines included (a
# line cut in two, a separator read as a digit). Set between the first release and this one on these scenes
# (first release / now, at the commit that set them): a goal the first release meets is no test of its failure.
GOALS = {
    "canvas": ("exact", 0.85),  # 1. long straight strokes of drawn digits wiped as rules (0.81 / 0.88)
    "grid": ("digits", 0.80),  # 2. graph-paper pieces at a tight crop's edge read as digits (0.63 / 0.88)
    "border": ("digits", 0.85),  # 3. a digit touching the image border dropped or cut (0.75 / 0.94)
    "desk": ("digits", 0.85),  # 4. a sheet on a desk, a scan's dark margin: merged into one region (0.64 / 0.93)
    "pencil": ("digits", 0.85),  # 5. faint thin pencil on unevenly lit grey paper: nothing found (0.67 / 0.93)
    "separators": ("exact", 0.55),  # 6. separators read as digits, a digit split in two (0.44 / 0.63)
    "slope": ("exact", 0.75),  # 7. a steep line cut in two, vignetting adding digits (0.69 / 0.81)
    "styles": ("digits", 0.95),  # 9. flagged 1s, crossed 7s, closed 4s, looped 2s misread (0.88 / 1.00)
    "boxes": ("digits", 0.55),  # 8. digits touching their printed boxes merged with them (0.32 / 0.65)
    "cheque": ("digits", 0.93),  # 8. small digits on a patterned, tinted field, slivers of its frame (0.923 / 0.936)
    # (seen on the real register scans) a number or a lone digit with a stroke drawn under it, touching its
    # feet or clear of them, beside the column's rules. Not a kind the first release failed: it wiped every
    # long straight stroke (the canvas kind's failure), underlines with them, and reads these about as well
    # (0.74 / 0.72 exact, 0.87 / 0.83 of digits over 170 scenes of seeds 4, 5 and 2026; 0.94 / 1.0 here). A
    # guard against regressions, not a measure of progress.
    "underline": ("exact", 0.85),
}
# Known gaps, strict: each fails the day its gap closes, and the kind moves to GOALS.
# - boxes (8): past the first release (GOALS), but far from the goal for scans (0.85 of digits).
# - register (seen on the real register scans, where 0.67 of digits are read): a row number cut from a scanned
#   register, with the binding's dark strip, the column's faded rules and a full stop or a stroke under it;
#   rule pieces read as 1s and the rules tying the page into one region (the goal for scans).
KNOWN_GAPS = {"boxes": ("digits", 0.85), "register": ("digits", 0.85)}


def read_kind(kind, reader, mnist_dir) -> dict:
    tally = Tally()
    for scene in stress_scenes(kind, SCENES, SEED, data_dir=mnist_dir):
        digits = reader.classify(scene.image)
        tally.add(scene.text, digits, text_of(digits))
    return tally.figures()


@pytest.mark.parametrize("kind", GOALS)
def test_stress_kind_is_read(kind, reader, mnist_dir):
    figure, goal = GOALS[kind]
    figures = read_kind(kind, reader, mnist_dir)
    assert figures[figure] >= goal, f"{kind}: {figures}"


@pytest.mark.parametrize("kind", KNOWN_GAPS)
@pytest.mark.xfail(strict=True, reason="a known gap of this release (see KNOWN_GAPS)")
def test_known_gap_still_open(kind, reader, mnist_dir):
    """Strict: when the gap closes, this fails, and the kind moves to GOALS."""
    figure, goal = KNOWN_GAPS[kind]
    assert read_kind(kind, reader, mnist_dir)[figure] >= goal
