"""The digit finder stage by stage (`runtime/preprocess.py`, `runtime/split.py`), each on a generated image."""

import cv2
import numpy as np
import pytest

from digitedge.runtime import preprocess as P
from digitedge.runtime import split as S


def paper(h=240, w=320, level=220):
    return np.full((h, w), level, np.uint8)


def stroke_digit(img, x, y, h, value=30, thick=None, kind="1"):
    """Draw a plain stroke digit: '1' a stick, '0' an ellipse, '7' a bar and a diagonal."""
    t = thick or max(2, h // 8)
    if kind == "1":
        cv2.line(img, (x, y), (x, y + h), value, t)
    elif kind == "0":
        cv2.ellipse(img, (x, y + h // 2), (h // 3, h // 2), 0, 0, 360, value, t)
    elif kind == "7":
        cv2.line(img, (x - h // 3, y), (x + h // 3, y), value, t)
        cv2.line(img, (x + h // 3, y), (x - h // 6, y + h), value, t)
    return img


def round_zeros(tolerance: int = 3):
    """A stand-in model: a round crop (as wide as tall, within `tolerance` px) is a confident 0, anything else
    unsure."""
    def predict(crops):
        out = np.full((len(crops), 10), 0.1)
        for i, c in enumerate(crops):
            ys, xs = np.nonzero(c > 50)
            if abs(np.ptp(xs) - np.ptp(ys)) <= tolerance:
                out[i] = 0.01
                out[i, 0] = 0.91
        return out

    return predict


def test_ground_follows_a_vignette_and_keeps_a_step():
    """A light gradient is ground, not ink (a closing would read the dark side as ink); so is a wide dark desk."""
    yy, xx = np.mgrid[0:240, 0:320]
    vignette = (230 - 90 * (((xx - 160) / 160.0) ** 2 + ((yy - 120) / 120.0) ** 2) / 2).astype(np.uint8)
    assert P.ink_map(vignette, 161).max() <= P.MIN_CONTRAST
    desk = paper()
    desk[:, :120] = 60  # a dark desk strip, wider than half the window
    ink = P.ink_map(desk, 161)
    assert (ink[:, :110] < P.MIN_CONTRAST).mean() > 0.95 and (ink[:, 130:] < P.MIN_CONTRAST).all()


def test_sheet_extent_finds_a_sheet_on_a_desk_and_none_in_a_light_gradient():
    """A sheet beside a dark desk strip is the bright columns; a page lit from one side spreads one ground
    over a wide range of greys, and its brighter half is no sheet: the frame is the paper."""
    desk = stroke_digit(paper(240, 320, 210), 220, 60, 100, value=60)
    desk[:, :100] = 40
    gray = desk
    h, w = P.sheet_extent(gray, P.ink_map(gray, 121))
    assert h == 240 and abs(w - 220) <= 8, (h, w)
    xx = np.mgrid[0:240, 0:320][1]
    lit = (230 - 110 * xx / 319.0).astype(np.uint8)  # 230 at the left to 120 at the right: no step
    stroke_digit(lit, 160, 60, 100, value=40)
    assert P.sheet_extent(lit, P.ink_map(lit, 121)) == lit.shape


def test_ground_keeps_a_bold_stroke_whole():
    img = stroke_digit(paper(), 160, 30, 180, thick=40)
    ink = P.ink_map(img, 161)
    assert (ink[60:190, 150:170] > 100).all(), "the middle of a marker stroke is ink, not ground"


def test_polarity_of_a_small_sheet_on_a_dark_desk_and_of_a_board_in_a_light_room():
    """A small sheet on a dark, streaked desk is the light tail against a desk-wide median, but its ink is dark;
    chalk on a board in a light room, and bold white strokes on black, are light ink."""
    rng = np.random.default_rng(0)
    streaks = 25 * np.sin(np.arange(640) / 3.0)[None, :]  # wood grain: light and dark streaks across it
    desk = np.clip(20 + rng.normal(0, 6, (480, 640)) + streaks, 0, 255).astype(np.uint8)
    desk[130:350, 210:430] = 215  # the sheet: under half the frame each way, dense writing on it
    for x in range(225, 405, 30):
        stroke_digit(desk, x, 160, 40, value=40, thick=3)
        stroke_digit(desk, x + 5, 240, 40, value=40, thick=3, kind="0")
    assert not P.light_on_dark(desk)
    room = np.full((480, 640), 215, np.uint8)
    room[60:420, 80:560] = 45  # a board filling most of the frame, the wall around it
    for x in range(140, 520, 60):
        stroke_digit(room, x, 150, 90, value=220, thick=5, kind="7")
    assert P.light_on_dark(room)
    canvas = np.zeros((280, 280), np.uint8)
    stroke_digit(canvas, 140, 30, 220, value=255, thick=35, kind="0")  # a bold brush 0 (a quarter of the canvas)
    assert P.light_on_dark(canvas)


def test_polarity_of_a_bold_brush_drawing_on_a_flat_canvas():
    """White brush strokes a fifth as wide as the canvas fill the local window as often as the black ground
    does: both tails of the local test reach the full contrast, and the global judgement (a sparse bright
    tail over a dark majority) stands. The same drawing in black on white stays dark ink."""
    canvas = np.full((420, 300), 10, np.uint8)
    cv2.line(canvas, (90, 80), (200, 50), 240, 55)
    cv2.line(canvas, (200, 50), (150, 380), 240, 55)  # a bold 7
    assert P.light_on_dark(canvas)
    assert not P.light_on_dark(cv2.bitwise_not(canvas))
    regions = P.find_digits(canvas)
    assert len(regions) == 1 and regions[0].box[3] > 300


def test_polarity_of_one_thin_stroke_on_a_flat_canvas():
    """A thin white 1 on a black canvas is far under the 0.5 % tails the polarity is judged on: both tails are
    the ground. The image's extremes tell then, and the 1 is found; in black on white it stays dark ink, and a
    flat canvas with nothing on it is paper."""
    canvas = np.full((590, 420), 17, np.uint8)
    cv2.line(canvas, (200, 150), (190, 300), 250, 3)
    assert P.light_on_dark(canvas)
    assert not P.light_on_dark(cv2.bitwise_not(canvas))
    assert not P.light_on_dark(np.full((590, 420), 17, np.uint8))
    (box,) = [r.box for r in P.find_digits(canvas)]
    assert 140 <= box[3] <= 165


def test_polarity_of_a_thin_pen_sheet_on_a_desk_with_wide_light_grain():
    """The ink's contrast is measured unreduced: reduced to find the sheet and the desk, a thin pen's strokes
    average into the paper (a fifth of their contrast) while the desk's wide light grain keeps all of its own."""
    rng = np.random.default_rng(0)
    grain = 75 * (np.sin(np.arange(960)[:, None] / 40.0) > 0.6)  # bands 75 lighter than the wood, 50 px wide
    desk = np.clip(45 + grain + rng.normal(0, 4, (960, 1280)), 0, 255).astype(np.uint8)
    desk[150:850, 300:720] = 205  # the sheet: a third of the frame wide
    for row in range(4):
        for col in range(7):
            cv2.ellipse(desk, (344 + col * 52, 220 + row * 140), (12, 28), 0, 0, 360, 70, 2)  # 2 px pen zeros
    assert not P.light_on_dark(desk)


def test_polarity_of_sheets_on_desks_measured_inside_each_ground(mnist_dir):
    """Generated sheets on desks (stress kind `desk`, seed 26) read as light ink when the contrasts were measured on
    the reduced image up to the grounds' edges (commit 3cb4771): now inside each ground, on unreduced pixels."""
    from digitedge.tools.stress import stress_scenes

    scenes = list(stress_scenes("desk", 12, 26, data_dir=mnist_dir))
    assert not any(P.light_on_dark(P.to_gray(scenes[i].image)) for i in (7, 10, 11))


def test_continued_padding_runs_a_gradient_on():
    ramp = np.tile(np.arange(100, 140, dtype=np.uint8), (20, 1))
    padded = P.continued(ramp, 5)
    assert padded.shape == (30, 50)
    assert padded[10, 0] < ramp[0, 0] and padded[10, -1] > ramp[0, -1], "the slope goes on past both edges"
    # point reflection through the edge (the mean of its two outer columns, 100.5 and 138.5), exactly
    assert padded[10, :5].tolist() == [96, 97, 98, 99, 100] and padded[10, -5:].tolist() == [139, 140, 141, 142, 143]
    # thinner than the pad: the farthest row repeated; one row: itself
    assert P.continued(ramp[:2], 5)[:, 5].tolist() == [100] * 12
    assert P.continued(np.full((1, 3), 7, np.uint8), 2).tolist() == [[7] * 7] * 5


def test_ink_mask_hysteresis_keeps_a_faint_tail_but_not_noise():
    rng = np.random.default_rng(0)
    img = np.clip(paper() + rng.normal(0, 2, (240, 320)), 0, 255).astype(np.uint8)
    cv2.line(img, (100, 50), (100, 120), 160, 4)  # a strong stroke (60 below the paper) ...
    cv2.line(img, (100, 120), (100, 190), 208, 4)  # ... going on faintly (12 below: under the threshold)
    mask = P.ink_mask(P.ink_map(img, 161))
    assert mask[60:110, 98:102].all() and mask[130:180, 99:101].mean() > 0.9
    labels, comps = P.components(mask)
    assert len([c for c in comps if c[3] >= 3]) == 1, "paper noise stays out"


def test_ink_mask_is_hysteresis_with_few_pieces_and_with_many():
    """The mask is the weak ink's components that hold strong ink, whether they are a handful (looked up by
    byte) or thousands of noise specks."""
    rng = np.random.default_rng(2)
    for spread in (3, 12):  # few weak specks; past 256 of them
        ink = np.clip(rng.normal(2, spread, (120, 160)), 0, 255).astype(np.uint8)
        cv2.line(ink, (20, 20), (20, 90), 80, 3)
        med, sigma = P.noise_level(ink)
        high = np.ceil(max(P.MIN_CONTRAST, med + P.NOISE_SIGMAS * sigma))
        low = max(high * P.HYSTERESIS, med + P.WEAK_SIGMAS * sigma)
        n, labels = cv2.connectedComponents((ink >= low).astype(np.uint8), connectivity=8)
        strong = set(np.unique(labels[ink >= high])) - {0}
        assert np.array_equal(P.ink_mask(ink), np.isin(labels, list(strong)).astype(np.uint8))
        assert (n > 256) == (spread == 12)


def test_components_label_inside_the_ink_box_as_over_the_whole_mask():
    """components() labels only the box around the ink: labels and statistics are those of the whole mask,
    wherever the box starts (odd or even corner: Grana's 2x2 blocks), and an empty mask has no component."""
    rng = np.random.default_rng(1)
    for trial in range(200):
        mask = (rng.random((120, 160)) < (0.003, 0.02, 0.3)[trial % 3]).astype(np.uint8)
        mask[:rng.integers(0, 60)] = 0
        mask[:, :rng.integers(0, 80)] = 0
        n, whole, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        labels, comps = P.components(mask)
        assert np.array_equal(labels, whole)
        assert comps == [[*stats[i, :4].tolist(), i, int(stats[i, 4])] for i in range(1, n)]
    labels, comps = P.components(np.zeros((30, 40), np.uint8))
    assert comps == [] and not labels.any()


def test_lines_are_found_measured_and_told_from_strokes():
    img = paper()
    for y in (40, 100, 160, 220):
        cv2.line(img, (0, y), (319, y + 4), 170, 1)  # rules across the frame, slightly tilted
    for i, x in enumerate((60, 120, 180)):
        stroke_digit(img, x, 55, 40, kind="07"[i % 2])
    mask = P.ink_mask(P.ink_map(img, 161))
    lines = P.find_lines(mask, P.LINE_MIN_PX)
    horizontal = [ln for ln in lines if not ln.vertical]
    assert sum(ln.length > 300 for ln in horizontal) >= 2 and all(ln.thickness <= 3 for ln in horizontal)
    assert P.writing_height(mask, lines, P.ink_map(img, 161)) == pytest.approx(40, abs=10)
    assert len(P.rules(mask, None, P.ink_map(img, 161))) >= 3


def test_one_hough_finds_lines_both_ways():
    """A margin (upright, slightly tilted) and rules across it: each found once, with its direction and
    thickness, from one Hough transform; a short stroke is not among them."""
    img = paper()
    cv2.line(img, (60, 0), (66, 239), 150, 2)  # the margin
    for y in (50, 120, 190):
        cv2.line(img, (0, y), (319, y + 3), 170, 1)
    stroke_digit(img, 200, 60, 30)  # a 1, shorter than the lines looked for
    mask = P.ink_mask(P.ink_map(img, 161))
    lines = P.find_lines(mask, 60)
    upright = [ln for ln in lines if ln.vertical]
    across = sorted((ln for ln in lines if not ln.vertical), key=lambda ln: ln.ends[1])
    assert len(upright) == 1 and upright[0].length > 200 and abs(upright[0].ends[0] - 60) <= 2
    assert len(across) == 3 and [ln.ends[1] for ln in across] == [pytest.approx(y, abs=2) for y in (50, 120, 190)]
    assert all(ln.length > 250 and ln.thickness <= 2 for ln in across)


def test_a_lone_stroke_is_no_rule():
    """A 1 drawn with a hairline across a tight crop, a 7's bar, a 2's base: writing, not rules."""
    one = stroke_digit(paper(200, 80), 40, 5, 190, thick=1)
    mask = P.ink_mask(P.ink_map(one, 41))
    assert P.find_lines(mask, P.LINE_MIN_PX) and P.rules(mask, None, P.ink_map(one, 41)) == []
    seven = stroke_digit(paper(), 160, 40, 160, thick=3, kind="7")
    mask = P.ink_mask(P.ink_map(seven, 161))
    assert P.rules(mask, None, P.ink_map(seven, 161)) == []


def test_a_column_of_digits_is_no_rule():
    """Hough bridges gaps to follow a faint line (LINE_GAP_PX); lined-up 1s with gaps of over half a digit height
    between them are no rule, while a rule broken only where pens crossed it (ink there too) still is one."""
    img = paper(320, 120)
    for y in range(10, 290, 35):
        stroke_digit(img, 60, y, 20, thick=2)  # a column of 1s, ~23 px tall with their ends, 12 px apart
    ink = P.ink_map(img, 161)
    mask = P.ink_mask(ink)
    assert len(P.find_lines(mask, P.LINE_MIN_PX)) >= 1, "Hough sees a line through them"
    column = P.Line((60, 10, 60, 290), 280.0, 2.0, True)
    assert 10 < P.longest_break(mask, column) <= P.LINE_GAP_PX + 2  # over half the height: no rule
    assert P.rules(mask, 20, ink) == []
    ruled = paper(120, 320)
    cv2.line(ruled, (0, 60), (319, 60), 170, 1)
    for x in range(20, 300, 40):
        cv2.line(ruled, (x, 45), (x + 4, 75), 40, 3)  # pens crossing it
    ink = P.ink_map(ruled, 161)
    mask = P.ink_mask(ink)
    rules = P.rules(mask, 30, ink)
    assert len(rules) == 1 and P.longest_break(mask, rules[0]) <= 1


def test_a_grid_is_wiped_and_a_stroke_crossing_it_kept():
    img = paper(160, 120)
    for v in range(10, 160, 30):
        cv2.line(img, (0, v), (119, v), 180, 2)
        cv2.line(img, (v, 0), (v, 159), 180, 2)
    cv2.line(img, (62, 20), (58, 140), 40, 5)  # a pen 1 crossing four grid lines
    ink = P.ink_map(img, 81)
    mask = P.ink_mask(ink)
    lines = P.rules(mask, None, ink)
    assert len(P.grid_family(P.find_lines(mask, P.LINE_MIN_PX), mask.shape)) >= 6 and len(lines) >= 6
    wiped = P.wipe_lines(mask, lines, ink)
    labels, comps = P.components(wiped)
    tall = [c for c in comps if c[3] >= 100]
    assert len(tall) == 1 and tall[0][2] <= 12, "the 1 is one piece again, the grid is gone"


def test_printed_box_is_wiped_around_its_digit():
    img = paper()
    cv2.rectangle(img, (100, 60), (180, 170), 60, 2)
    stroke_digit(img, 140, 80, 70, kind="0")
    mask = P.wipe_frames(P.ink_mask(P.ink_map(img, 161)))
    labels, comps = P.components(mask)
    assert len(P.box_holes(P.ink_mask(P.ink_map(img, 161)))[0]) == 1
    assert [c[2:4] for c in comps if c[3] > 20] and all(c[3] < 90 for c in comps), "only the 0 is left"


def comb(img, x, y, cells, w, h, value=60, thick=2):
    """A printed comb field: `cells` boxes of w x h sharing their sides."""
    cv2.rectangle(img, (x, y), (x + cells * w, y + h), value, thick)
    for i in range(1, cells):
        cv2.line(img, (x + i * w, y), (x + i * w, y + h), value, thick)
    return img


def test_frame_whose_digits_touch_it_is_wiped_and_the_digits_stay():
    """Digits that touch their comb (a 1 standing on the bottom line, a 7 hanging from the top one) leave no
    clean cell: the frame is found by its straight sides, and only the digits are left."""
    img = comb(paper(), 60, 60, 3, 60, 80)
    stroke_digit(img, 90, 70, 72, kind="1")  # from 10 px below the top to the bottom line
    stroke_digit(img, 150, 60, 60, kind="7")  # its bar on the top line
    stroke_digit(img, 210, 75, 50, kind="0")  # clear of the lines
    mask = P.ink_mask(P.ink_map(img, 161))
    cells, framed = P.box_holes(mask)
    assert [cv2.boundingRect(f)[2] >= 180 for f in framed].count(True) == 1, "the comb with two digits touching it"
    labels, comps = P.components(P.wipe_frames(mask.copy()))
    tall = sorted(c[:4] for c in comps if c[3] >= 30)
    assert len(tall) == 3 and all(c[2] < 55 and c[3] < 90 for c in tall), f"the three digits alone: {tall}"
    assert tall[0][2] <= 12 and tall[0][3] >= 72, "the 1 (its round cap crosses the bottom line) is whole"


def test_frame_is_told_by_all_its_sides_when_its_other_cells_are_clean():
    """Two clean cells and a 0 touching the last cell's far side: wiping the clean cells takes the side the
    last cell shares with them, and one side left is no frame; told by all its sides, it goes."""
    img = comb(paper(), 60, 60, 3, 60, 80)
    stroke_digit(img, 90, 75, 50, kind="0")
    stroke_digit(img, 150, 75, 50, kind="0")
    stroke_digit(img, 222, 75, 50, kind="0")  # its right side on the comb's
    labels, comps = P.components(P.wipe_frames(P.ink_mask(P.ink_map(img, 161))))
    tall = sorted(c[:4] for c in comps if c[3] >= 30)
    assert len(tall) == 3 and all(c[2] < 45 and c[3] < 60 for c in tall), f"the three digits alone: {tall}"


def test_small_box_is_told_by_its_outline_when_its_digit_leaves_no_cell():
    """A 4 touching its small box on three sides leaves holes too small for a digit: the box is known by its
    rectangular outline. A grid with clean cells is not taken for one box (its cells go on their own)."""
    img = paper()
    for x0 in (60, 140):
        cv2.rectangle(img, (x0, 80), (x0 + 30, 124), 60, 2)
        cv2.line(img, (x0 + 20, 82), (x0 + 20, 116), 30, 3)  # a 4: its stem from the top line down,
        cv2.line(img, (x0 + 20, 82), (x0 + 2, 104), 30, 3)  # its slant to the left side
        cv2.line(img, (x0 + 2, 104), (x0 + 28, 104), 30, 3)  # and its bar across the cell
    mask = P.ink_mask(P.ink_map(img, 161))
    assert len(P.box_holes(mask.copy())[1]) == 2
    labels, comps = P.components(P.wipe_frames(mask))
    fours = sorted(c[:4] for c in comps if c[3] >= 20)
    assert len(fours) == 2 and all(c[2] <= 24 and c[3] <= 38 for c in fours), f"the two 4s alone: {fours}"

    grid = paper()
    for i in range(4):
        cv2.line(grid, (40, 40 + 50 * i), (190, 40 + 50 * i), 60, 2)
        cv2.line(grid, (40 + 50 * i, 40), (40 + 50 * i, 190), 60, 2)
    stroke_digit(grid, 115, 42, 46, kind="1")  # touching its cell's top and bottom lines
    assert not [f for f in P.box_holes(P.ink_mask(P.ink_map(grid, 161)))[1] if cv2.boundingRect(f)[2] > 140]


def test_bold_ring_and_slanted_square_are_no_frames():
    """A 0 drawn as a bold, boxy ring has long straight rows and columns too, but nothing inside it is left
    once they go (only crumbs); a bold round one has flat rows and columns that do not meet; printed frames lie
    square to the image."""
    ring = np.zeros((60, 70), np.uint8)
    cv2.rectangle(ring, (5, 5), (64, 54), 1, 8)
    assert P.frame_runs(ring) is None
    oval = np.zeros((66, 50), np.uint8)
    cv2.ellipse(oval, (25, 33), (20, 28), 0, 0, 360, 1, 5)  # a bold round 0: its flattest runs stop short
    assert P.frame_runs(oval) is None
    assert P.frame_runs(np.zeros((40, 40), np.uint8)) is None
    tilted = np.zeros((120, 120), np.uint8)
    corners = cv2.boxPoints(((60, 60), (70, 70), 30)).round().astype(np.int32)
    cv2.polylines(tilted, [corners], True, 1, 2)
    cv2.line(tilted, (60, 35), (60, 85), 1, 3)
    assert P.frame_runs(tilted) is None
    square = np.zeros((120, 120), np.uint8)
    cv2.rectangle(square, (25, 25), (95, 95), 1, 2)
    cv2.line(square, (60, 45), (60, 95), 1, 3)  # a 1 standing on the bottom side
    erased = P.frame_runs(square)
    assert erased is not None and erased[25, 25:96].all() and not erased[45:85, 59:62].any()


def test_ink_thickness_is_the_thickness_of_the_line_under_the_writing():
    """A 3 px rule with strokes crossing a third of it: the low percentile of the vertical runs is the rule's."""
    mask = np.zeros((80, 200), np.uint8)
    mask[40:43, 10:190] = 1
    for x in range(20, 80, 6):
        mask[20:60, x:x + 2] = 1  # crossing strokes
    assert P.ink_thickness(mask, (10, 41, 189, 41), 30) == 3
    assert P.ink_thickness(mask, (10, 10, 189, 10), 30) == float("inf"), "not on ink: no line"
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 40):
        v = rng.integers(0, 20, n)
        assert P.low_percentile(v, 25) == np.percentile(v, 25)


def test_join_broken_and_split_touching():
    assert P.join_broken([[0, 0, 10, 10, 1], [2, 11, 8, 4, 2], [50, 0, 10, 10, 3]]) == \
        [[[0, 0, 10, 15], [1, 2]], [[50, 0, 10, 10], [3]]]
    # a tall stray stroke beside a column of digits: each digit may join the stroke once the tower is no taller
    # than 1.5x the stroke, but the column does not chain on through the merged box
    column = [[10, 12 + 14 * i, 10, 10, i] for i in range(12)]
    groups = P.join_broken(column + [[8, 0, 4, 60, 99]])
    assert max(box[3] for box, _ in groups) <= P.JOIN_MAX_GROWTH * 60 and len(groups) > 2
    piece = np.zeros((40, 100), np.uint8)
    piece[:, 5:15] = piece[:, 40:50] = piece[:, 80:90] = 200
    piece[18:22, :] = 200  # a thin bridge: three sticks in a row
    out = []
    P.split_touching((0, 0, 100, 40), piece, out)
    assert len(out) == 2 and all(b[2] <= 1.8 * b[3] for b, _ in out)


def test_a_number_inside_an_outline_is_not_joined_to_it():
    """A ledger column cut from a scan: the page's edge, the column's rule and the stubs of the row rules join
    into one sparse outline around the number; the number stays apart from it (it is no piece of it)."""
    img = paper(240, 140)
    cv2.line(img, (20, 0), (20, 239), 80, 2)  # the page's edge
    cv2.line(img, (130, 0), (130, 239), 80, 2)  # the column's rule
    cv2.line(img, (20, 4), (130, 4), 80, 2)  # the top rule, joining them
    stroke_digit(img, 60, 100, 40, kind="7")
    stroke_digit(img, 95, 100, 40, kind="0")
    mask = P.ink_mask(P.ink_map(img, 71))
    labels, comps = P.components(mask)
    groups = P.join_broken(comps)
    outline = [g for g in groups if g[0][3] > 200]
    assert len(outline) == 1 and len(outline[0][1]) == 1, "the outline joins nothing"
    assert sum(1 for box, _ in groups if 30 <= box[3] <= 50) == 2, "the 7 and the 0 are pieces of their own"
    # without the ink area (boxes alone) the outline swallows both, as before
    assert len(P.join_broken([c[:5] for c in comps])) == 1
    # a dense piece keeps the part of its digit that lies inside its box (a 2's base broken off)
    assert len(P.join_broken([[0, 0, 30, 40, 1, 500], [5, 32, 22, 8, 2, 60]])) == 1


def test_select_pieces_drops_lines_specks_fragments_and_broken_margins():
    def s(w, h):  # a hollow piece, like a stroke's outline (a solid blob is dropped as one)
        piece = np.full((h, w), 100, np.uint8)
        piece[2:-2, 2:-2] = 0 if w > 4 else 100
        return piece

    shape = (400, 600)
    candidates = [((100, 100, 30, 50), s(30, 50)), ((150, 100, 30, 48), s(30, 48)),  # digits
                  ((200, 100, 32, 52), s(32, 52)),
                  ((300, 20, 3, 300), s(3, 300)),  # a margin line, many digits tall
                  ((240, 140, 5, 5), s(5, 5)),  # a speck
                  ((0, 100, 12, 20), s(12, 20)),  # a cut-off neighbour at the border
                  ((50, 10, 3, 40), s(3, 40)), ((50, 52, 3, 40), s(3, 40)), ((50, 94, 3, 40), s(3, 40))]  # a broken line
    kept = [b for b, _ in P.select_pieces(candidates, shape)]
    assert kept == [(100, 100, 30, 50), (150, 100, 30, 48), (200, 100, 32, 52)]


def test_a_faded_rule_running_off_the_crop_is_no_column_of_ones():
    """A column's printed rule that faded in places leaves 1-like pieces far apart in one column; one runs
    off the crop's top, so they are a rule. The same pieces inside the frame (1s written one per line, a
    line's spacing apart) stay."""
    def s(w, h):  # hollow, like a stroke's outline (a solid blob is dropped as one)
        piece = np.full((h, w), 100, np.uint8)
        piece[2:-2, 2:-2] = 0 if w > 8 else 100
        return piece

    digits = [((40, 90, 30, 50), s(30, 50)), ((80, 90, 30, 50), s(30, 50))]
    rule = [((130, 0, 4, 60), s(4, 60)), ((131, 150, 4, 60), s(4, 60))]  # 90 px apart: far more than a break
    kept = [b for b, _ in P.select_pieces(digits + rule, (240, 160))]
    assert kept == [b for b, _ in digits]
    ones = [((130, 10, 4, 50), s(4, 50)), ((131, 150, 4, 50), s(4, 50))]
    kept = [b for b, _ in P.select_pieces(digits + ones, (240, 160))]
    assert kept == [b for b, _ in digits + ones]


def test_a_faded_rule_is_told_by_its_course_running_on_past_its_visible_part():
    """The visible part of a printed rule that fades above and below it (too faint for the ink mask) is a
    rule; a stroke with paper past its ends is a 1, and so is a 1 with another 1 of the next line below it;
    beside a crop's edge the paper is looked at on the rule's inner side."""
    rng = np.random.default_rng(0)
    gray = (paper(240, 160).astype(np.int16) + rng.normal(0, 1.5, (240, 160))).clip(0, 255).astype(np.uint8)
    for x, top, bottom in ((40, 100, 150), (156, 170, 215)):
        cv2.line(gray, (x, 0), (x, 239), 214, 2)  # the rule, 6 grey levels under the paper: no ink ...
        cv2.line(gray, (x, top), (x, bottom), 60, 2)  # ... but where it did not fade
    stroke_digit(gray, 100, 20, 50, value=60, thick=2)  # a 1 ...
    stroke_digit(gray, 100, 100, 50, value=60, thick=2)  # ... and one on the next line
    ink = P.ink_map(gray, 121)
    mask = P.ink_mask(ink)
    assert not mask[:60, 40].any() and mask[110:140, 40].all()  # the faded stretch is no ink, the rest is
    labels, comps = P.components(mask)
    sigma = P.noise_level(ink)[1]
    verdict = {(x, y): P.faded_rule(ink, (x, y, w, h), labels[y:y + h, x:x + w] == i, sigma)
               for x, y, w, h, i, _ in comps if h > 20}
    assert sorted(verdict) == [(39, 86), (99, 19), (99, 99), (155, 169)]
    assert verdict[39, 86] and verdict[155, 169] and not verdict[99, 19] and not verdict[99, 99]


def test_a_faded_rule_beside_a_number_is_not_read(monkeypatch):
    """End to end: a register's number with the visible part of a faded column rule beside it reads as the
    number; without the test of its course the rule's part is read as a 1."""
    gray = paper(200, 140)
    cv2.line(gray, (120, 0), (120, 199), 214, 3)
    cv2.line(gray, (120, 80), (120, 125), 70, 3)  # as tall as the digits, as bold as their strokes
    stroke_digit(gray, 40, 86, 40, value=40, thick=4, kind="0")
    stroke_digit(gray, 75, 80, 40, value=40, thick=4, kind="7")
    assert [r.box[0] for r in P.find_digits(gray)] == [25, 60]
    monkeypatch.setattr(P, "RUNS_ON", float("inf"))
    assert [r.box[0] for r in P.find_digits(gray)] == [25, 60, 118]


def test_a_bold_oval_0_is_no_frame():
    """A bold oval 0 whose inner columns and rows run from side to side looks like a box's four sides; what
    is left between them once they go is nothing (its outer edge's slivers lie outside them), so it stays
    a 0. (It was erased as a frame, and a '07' read as '7'.)"""
    gray = paper(200, 140)
    stroke_digit(gray, 40, 86, 40, value=40, thick=4, kind="0")
    mask = P.ink_mask(P.ink_map(gray, 99))
    cells, framed = P.box_holes(mask)
    assert len(framed) == 1  # its hole is no clean cell: it goes to the frame test
    x, y, w, h = cv2.boundingRect(framed[0])
    assert P.frame_runs(mask[y:y + h, x:x + w]) is None
    stroke_digit(gray, 75, 80, 40, value=40, thick=4, kind="7")
    assert len(P.find_digits(gray)) == 2


def test_writing_height_of_a_digit_crossing_a_rule_erases_only_the_rules():
    """A thin-pen 7 across a row's rule: every piece touches a line, so the writing is measured with the
    lines erased, and only the rule is (the 7's diagonal, a line to Hough at an odd angle, is the writing:
    erasing it too left nothing to measure, the rule was no rule, and the 7 was read with it)."""
    gray = paper(200, 120)
    cv2.line(gray, (0, 100), (119, 100), 120, 1)
    stroke_digit(gray, 60, 70, 60, value=40, thick=2, kind="7")
    ink = P.ink_map(gray, P.odd(min(gray.shape) * P.BG_KERNEL_FRAC))
    mask = P.ink_mask(ink)
    lines = P.find_lines(mask, P.LINE_MIN_PX)
    assert any(ln.tilt > P.GRID_MAX_TILT for ln in lines) and P.free_height(mask, lines, ink, erase=False) is None
    assert 0.4 * 60 <= P.writing_height(mask, lines, ink) <= 60
    (x, y, w, h), = [r.box for r in P.find_digits(gray)]
    assert w < 50 and 55 <= h <= 70  # the 7 alone (40 px wide), not the rule across the crop


def test_a_crumb_beside_a_thin_pen_digit_sets_no_writing_height():
    """A thin-pen 8 filling the frame has long, nearly straight strokes that Hough takes for lines, and the
    only piece touching none of them is a crumb of the paper. Measured on the crumb, the writing would be
    a few px tall and the 8's strokes rules several of its heights long: cut in two. The crumb holds far
    less ink than the 8 holds off those lines, so it is no measure of the writing, and the 8 stays whole."""
    img = paper(300, 320, 200)
    pts = np.array([[150, 30], [120, 40], [115, 60], [200, 200], [205, 240], [170, 265], [130, 255], [125, 225],
                    [210, 80], [200, 40], [170, 28]], np.int32)
    cv2.polylines(img, [pts], True, 60, 3, cv2.LINE_AA)
    cv2.circle(img, (285, 250), 5, 150, -1)
    ink = P.ink_map(img, 151)
    mask = P.ink_mask(ink)
    assert P.find_lines(mask, P.LINE_MIN_PX), "the 8's strokes look like lines to Hough"
    assert P.writing_height(mask, P.find_lines(mask, P.LINE_MIN_PX), ink) is None
    regions = P.find_digits(img)
    assert len(regions) == 1 and regions[0].box[3] > 230
    # Lines along the image's axes are a page's rules or grid, whose crumbs may be all that stands apart
    # from them: there, the rule does not apply.
    rules = [P.Line((0, 50 * i, 300, 50 * i + 2), 300.0, 1.0, False) for i in range(3)]
    strokes = [P.Line((100, 40, 200, 200), 189.0, 3.0, True), P.Line((110, 60, 200, 20), 98.0, 3.0, False)]
    assert P.pen_strokes(strokes) and not P.pen_strokes(rules) and not P.pen_strokes(rules + strokes[:1])


def test_thin_pieces_that_are_no_ones():
    """A 1 is about as tall as the digits beside it: a thin upright piece at half their height is a sliver
    of a rule or a page edge, or a comma, and one running from the frame's top to its bottom, clearly taller
    than them, is a rule across the frame."""
    def s(w, h):  # hollow, like a stroke's outline (a solid blob is dropped as one)
        piece = np.full((h, w), 100, np.uint8)
        piece[2:-2, 2:-2] = 0 if w > 8 else 100
        return piece

    shape = (200, 300)
    digits = [((100, 80, 30, 50), s(30, 50)), ((140, 80, 30, 50), s(30, 50))]
    one = ((180, 82, 6, 48), s(6, 48))
    sliver = ((250, 90, 4, 30), s(4, 30))  # 0.6 of the digits' height: above MIN_HEIGHT_REL, below SHORT_ONE
    kept = [b for b, _ in P.select_pieces(digits + [one, sliver], shape)]
    assert kept == [b for b, _ in digits] + [one[0]]
    assert P.MIN_HEIGHT_REL < 30 / 50 < P.SHORT_ONE
    digits = [((100, 20, 30, 50), s(30, 50)), ((140, 20, 30, 50), s(30, 50))]
    rule = ((20, 0, 4, 85), s(4, 85))  # top to bottom of an 85 px crop, 1.7 digits tall
    tall_one = ((220, 1, 6, 83), s(6, 83))  # as tall, but inside the frame
    kept = [b for b, _ in P.select_pieces(digits + [rule, tall_one], (85, 300))]
    assert kept == [b for b, _ in digits] + [tall_one[0]]
    assert P.CROSSING_VS_MEDIAN < 83 / 50 < 85 / 50 < P.LINE_VS_MEDIAN


def underlined(img, digits, x, y, h, gap, drop):
    """Stroke digits side by side from (x, y), `h` tall, with a pen stroke under them `drop` px below their
    feet (< 0: crossing them)."""
    xs = [x + i * gap for i in range(len(digits))]
    for cx, kind in zip(xs, digits):
        stroke_digit(img, cx, y, h, kind=kind, thick=4)
    cv2.line(img, (x - h // 2, y + h + drop), (xs[-1] + h // 2, y + h + drop + 3), 30, 4)
    return img


def test_an_underline_is_taken_from_under_its_digits():
    """A number underlined with one stroke is one piece; without the stroke it is its digits. A bar through
    the digits (a 4's, a 7's) or the foot of a single digit stays."""
    for drop in (2, 0, -3):  # under the feet, touching them, crossing them
        img = underlined(paper(160, 320), "707", 100, 40, 60, 55, drop)
        mask = P.ink_mask(P.ink_map(img, 121))
        _, comps = P.components(mask)
        assert len([c for c in comps if c[3] > 30]) == 1, "the stroke ties the number into one piece"
        regions = P.find_digits(img)  # far too wide for one digit: the finder lifts the stroke at once
        assert len(regions) == 3 and all(50 <= r.box[3] <= 70 for r in regions), (drop, [r.box for r in regions])
    # a 2 with a long base, alone: its foot is no underline
    two = paper(160, 200)
    cv2.ellipse(two, (100, 60), (25, 22), 0, 180, 360, 30, 4)
    cv2.line(two, (125, 60), (75, 110), 30, 4)
    cv2.line(two, (75, 110), (140, 110), 30, 4)
    assert P.underlined((P.ink_mask(P.ink_map(two, 121)) * 255)[30:116, 70:146]) is None
    # two sticks standing on a bar that runs through them, not under them (a 4's bar)
    bar = np.zeros((60, 60), np.uint8)
    bar[:, 10:14] = bar[:, 40:44] = 200
    bar[40:44, 5:55] = 200
    assert P.underlined(bar) is None
    # a U: its sides splay out past the ends of its foot
    u = np.zeros((60, 60), np.uint8)
    cv2.ellipse(u, (30, 20), (26, 34), 0, 0, 180, 200, 5)
    assert P.underlined(u) is None
    # two sticks on a stroke: two parts, the stroke gone
    sticks = np.zeros((60, 60), np.uint8)
    sticks[:48, 15:19] = sticks[:48, 40:44] = 200
    sticks[50:54, 5:58] = 200
    parts = P.underlined(sticks)
    assert [(x, y, p.shape) for x, y, p in parts] == [(15, 0, (48, 4)), (40, 0, (48, 4))]


def test_split_region_lifts_an_underline_the_model_reads_apart():
    """Two 0s on one stroke, not wide enough for the finder to cut: the model reads neither the whole nor its
    column halves (each keeps a piece of the stroke), and reads both 0s once the stroke is gone."""
    piece = np.zeros((52, 60), np.uint8)
    cv2.circle(piece, (14, 28), 12, 200, 4)
    cv2.circle(piece, (46, 28), 12, 200, 4)
    cv2.line(piece, (0, 45), (59, 46), 200, 4)  # touching their feet

    predict = round_zeros()

    for touching in (False, True):  # apart on the stroke, or touching each other too (one piece without it)
        if touching:
            cv2.line(piece, (26, 28), (34, 28), 200, 4)
        assert predict(P.mnist_crop(piece)[None])[0].max() < 0.5
        found = S.split_region(piece, predict, 0.5)
        assert found is not None and len(found) == 2 and all(p.argmax() == 0 for *_, p in found)
        assert all(q.shape[0] < 35 for _, _, q, _ in found), "the stroke is no part of either 0"

    # one 0 on a stroke that runs on past it (it tied itself to the number's first digit alone): the 0 alone
    one = np.zeros((52, 70), np.uint8)
    cv2.circle(one, (16, 28), 12, 200, 4)
    cv2.line(one, (0, 45), (69, 47), 200, 4)
    assert predict(P.mnist_crop(one)[None])[0].max() < 0.5
    found = S.split_region(one, predict, 0.5)
    assert found is not None and len(found) == 1 and found[0][3].argmax() == 0 and found[0][2].shape[0] < 35


def test_a_hairline_beside_the_writing_is_no_one():
    """A thin upright piece drawn far finer than the writing around it is a printed rule's sliver; a 1 drawn
    with the same pen as its neighbours stays, and so does a lone hairline 1 (nothing to compare it with)."""
    def ring(w, h, t):
        piece = np.zeros((h, w), np.uint8)
        cv2.ellipse(piece, (w // 2, h // 2), (w // 2 - t, h // 2 - t), 0, 0, 360, 150, t)
        return piece

    def bar(w, h):
        return np.full((h, w), 150, np.uint8)

    digits = [((10, 10, 30, 48), ring(30, 48, 4)), ((50, 10, 30, 48), ring(30, 48, 4))]
    one, hairline = ((90, 10, 5, 48), bar(5, 48)), ((120, 12, 1, 44), bar(1, 44))
    assert [b for b, _ in P.drop_hairlines(digits + [one, hairline])] == [b for b, _ in digits] + [one[0]]
    assert len(P.drop_hairlines([hairline])) == 1


def test_faint_crumbs_beside_the_writing_are_no_digits():
    """Paper grain and a shadow's soft edge leave crumbs far fainter than the writing; they are dropped, a
    digit written lighter than the others (half their contrast) stays, and so does a lone faint piece."""
    def ring(value):
        piece = np.zeros((48, 30), np.uint8)
        cv2.ellipse(piece, (15, 24), (11, 20), 0, 0, 360, value, 4)
        return piece

    digits = [((10 + 40 * i, 10, 30, 48), ring(150)) for i in range(3)]
    light = ((130, 10, 30, 48), ring(75))
    crumb = ((170, 20, 30, 48), ring(30))
    assert [b for b, _ in P.drop_faint(digits + [light, crumb])] == [b for b, _ in digits] + [light[0]]
    assert len(P.drop_faint([crumb])) == 1

    # the same on a photo: three dark digits, and blotches of grain a sixth as dark, as tall as the digits
    img = paper(240, 400, 200)
    for i, kind in enumerate("070"):
        stroke_digit(img, 80 + 90 * i, 60, 90, value=40, thick=9, kind=kind)
    rng = np.random.default_rng(3)
    for x0 in (40, 330):
        pts = np.cumsum(rng.integers(-6, 7, (40, 2)), 0) + (x0, 190)
        cv2.polylines(img, [pts.astype(np.int32)], False, 172, 5)
    assert len(P.find_digits(img)) == 3


def test_rejoin_reads_a_digit_broken_in_two_as_one():
    """A 0 whose ring broke at the top and the bottom is two arcs side by side; read together they make the 0
    the model reads better than either arc. Two whole 0s side by side stay two (together they read as no digit)."""
    ring = np.zeros((40, 30), np.uint8)
    cv2.ellipse(ring, (15, 20), (12, 17), 0, 0, 360, 160, 4)
    ring[:6, 12:18] = ring[-6:, 12:18] = 0  # broken on both sides

    def region(x, strength):
        return P.Region((x, 10, strength.shape[1], strength.shape[0]), P.mnist_crop(strength), 0, strength, 1.0)

    predict = round_zeros(tolerance=6)

    arcs = [region(100, ring[:, :13]), region(112, ring[:, 12:])]
    regions, probs = S.rejoin(arcs, predict(np.stack([r.crop for r in arcs])), predict, 0.5)
    assert len(regions) == 1 and regions[0].box == (100, 10, 30, 40) and probs[0].argmax() == 0
    whole = [region(100, ring), region(132, ring)]
    regions, _ = S.rejoin(whole, predict(np.stack([r.crop for r in whole])), predict, 0.5)
    assert len(regions) == 2
    # a wide 0 (a third wider than tall) broken the same way is tried together too
    wide = np.zeros((40, 52), np.uint8)
    cv2.ellipse(wide, (26, 20), (23, 17), 0, 0, 360, 160, 4)
    wide[:6, 23:29] = wide[-6:, 23:29] = 0
    arcs = [region(100, wide[:, :24]), region(123, wide[:, 23:])]
    regions, probs = S.rejoin(arcs, predict(np.stack([r.crop for r in arcs])), predict, 0.5)
    assert len(regions) == 1 and regions[0].box == (100, 10, 52, 40) and probs[0].argmax() == 0
    assert 1.0 < 52 / 40 < S.REJOIN_ASPECT


def test_digits_stacked_on_a_shadow_edge_come_apart():
    """A shadow's edge down a column of digits ties them into one piece, three digits tall: at their own
    stroke contrast they stand apart. A tall digit of even ink stays whole."""
    column = np.zeros((130, 40), np.uint8)
    for i in range(3):
        cv2.ellipse(column, (20, 20 + 45 * i), (12, 17), 0, 0, 360, 160, 4)
    cv2.line(column, (33, 0), (33, 129), 40, 3)  # the shadow's edge: weak ink, touching each 0
    parts = P.unstack([((0, 0, 40, 130), column)], 40)
    assert len(parts) == 3 and all(30 <= b[3] <= 42 for b, _ in parts), [b for b, _ in parts]
    tall_one = np.full((120, 8), 160, np.uint8)
    assert len(P.unstack([((0, 0, 8, 120), tall_one)], 40)) == 1
    assert len(P.unstack([((0, 0, 40, 130), column)], 100)) == 1, "no taller than the digits: left alone"


def test_digit_scale_ignores_specks_and_a_page_outline():
    shape = (400, 600)
    pieces = [((100, 100, 20, 30), np.ones((30, 20))), ((130, 100, 20, 32), np.ones((32, 20)))]
    pieces += [((300 + 5 * i, 300, 3, 3), np.ones((3, 3))) for i in range(10)]  # specks
    pieces.append(((5, 5, 580, 380), np.ones((380, 580))))  # a page outline spanning the frame
    assert P.digit_scale(pieces, shape) in (30, 32)


def test_mnist_crop_recipe_and_stroke_width():
    big = np.zeros((300, 100), np.uint8)
    cv2.line(big, (50, 10), (50, 290), 255, 50)  # a fat 1
    thin = np.zeros((300, 100), np.uint8)
    cv2.line(thin, (50, 10), (50, 290), 255, 2)  # a hairline 1
    a, b = P.mnist_crop(big), P.mnist_crop(thin)
    assert a.shape == b.shape == (28, 28)
    assert abs(int((a > 100).sum()) - int((b > 100).sum())) <= 25, "both brought to MNIST's stroke width"
    assert P.mnist_crop(np.zeros((10, 10), np.uint8)) is None


def test_steep_lines_are_read_upright():
    regions = [P.Region(box=(40 * i, 200 - 25 * i, 20, 30), crop=np.zeros((28, 28), np.uint8), line=0,
                        strength=np.pad(np.full((30, 4), 200, np.uint8), ((0, 0), (8, 8)))) for i in range(4)]
    P.turn_steep_lines(P.reading_order(regions))
    ys, xs = np.nonzero(regions[0].crop > 100)
    assert np.ptp(xs) > 4, "a stick on a 32 degree line is read turned by the line's slope"


def test_reading_order_follows_tilted_lines():
    boxes = [(20 + 60 * i, 100 + 12 * i, 30, 40) for i in range(6)] + [(20 + 60 * i, 200 + 12 * i, 30, 40) for i in range(6)]
    regions = [P.Region(box=b, crop=None, line=0) for b in reversed(boxes)]
    ordered = P.reading_order(regions)
    assert [r.box for r in ordered] == boxes and [r.line for r in ordered] == [0] * 6 + [1] * 6


def test_find_digits_on_a_tight_crop_and_a_page():
    one = stroke_digit(paper(120, 50), 25, 2, 116, thick=3)  # a 1 touching both borders
    assert len(P.find_digits(one)) == 1
    page = paper(600, 800)
    for y in range(60, 600, 60):
        cv2.line(page, (0, y), (799, y), 175, 1)
    for i in range(8):
        stroke_digit(page, 100 + 80 * i, 75, 40, kind="10"[i % 2])
    regions = P.find_digits(page)
    assert len(regions) == 8 and {r.line for r in regions} == {0}


def test_cut_candidates_and_split_region():
    piece = np.zeros((40, 70), np.uint8)
    cv2.circle(piece, (18, 20), 15, 200, 4)
    cv2.circle(piece, (50, 20), 15, 200, 4)  # two touching 0s
    cuts = S.cut_candidates(piece)
    assert any(28 <= c <= 40 for c in cuts)
    parts = S.halves(piece, 35)
    assert len(parts) == 2 and all(p.shape[0] >= 30 for _, _, p in parts)

    predict = round_zeros()

    found = S.split_region(piece, predict, 0.5)
    assert found is not None and len(found) == 2 and all(p.argmax() == 0 for *_, p in found)
    assert S.split_region(piece[:, :36], predict, 0.5) is None, "one 0 is not cut"


def test_split_region_parts_digits_only_faint_ink_ties():
    """Two 0s written one a little lower than the other, overlapping in x, tied by a faint stroke from one to
    the other (a smudge, a ligature): no column cut parts them and no stroke lies under them, but at half their
    strokes' contrast they stand apart, and the model reads each. A stand-in model reads one ring as a 0."""
    piece = np.zeros((48, 50), np.uint8)
    cv2.circle(piece, (12, 12), 10, 200, 3)
    cv2.circle(piece, (34, 34), 10, 200, 3)
    tie = np.zeros_like(piece)
    cv2.line(tie, (20, 18), (27, 28), 40, 2)  # faint, from one ring to the other
    piece = np.maximum(piece, tie)

    def rings(crops):
        out = np.full((len(crops), 10), 0.1)
        for i, c in enumerate(crops):
            n, _ = cv2.connectedComponents((c > 50).astype(np.uint8))
            holes, _ = cv2.connectedComponents((c <= 50).astype(np.uint8))
            if n == 2 and holes == 3:  # one piece of ink around one hole: a 0
                out[i] = 0.01
                out[i, 0] = 0.91
        return out

    assert rings(P.mnist_crop(piece)[None])[0].max() < 0.5
    for cut in S.cut_candidates(piece):  # no column cut parts them
        halves = S.halves(piece, cut)
        assert len(halves) < 2 or rings(np.stack([P.mnist_crop(q) for *_, q in halves])).max(1).min() < 0.5
    found = S.split_region(piece, rings, 0.5)
    assert found is not None and len(found) == 2 and all(p.argmax() == 0 for *_, p in found)
    assert [(x >= 20, y >= 20) for x, y, *_ in found] == [(False, False), (True, True)], "each ring whole, in order"
    solid = np.maximum(piece, tie * 5)  # tied by a stroke as strong as theirs: one piece, not parted
    assert S.split_region(solid, rings, 0.5) is None


def test_split_touching_parts_wide_digits_only_faint_ink_ties():
    """Four flat 0s written up and down along a line, each overlapping the next in x and tied to it by a faint
    stroke: far too wide for one digit, and no column cut parts them, but at half their strokes' contrast each
    stands apart, whole."""
    piece = np.zeros((28, 80), np.uint8)
    centres = [(11, 7), (29, 20), (47, 7), (65, 20)]
    for c in centres:
        cv2.ellipse(piece, c, (9, 5), 0, 0, 360, 200, 2)
    tie = np.zeros_like(piece)
    for a, b in zip(centres, centres[1:]):
        cv2.line(tie, a, b, 40, 2)
    out = []
    P.split_touching((0, 0, 80, 28), np.maximum(piece, tie), out)
    boxes = [tuple(int(v) for v in b) for b, _ in out]
    assert boxes == [(1, 1, 21, 13), (19, 14, 21, 13), (37, 1, 21, 13), (55, 14, 21, 13)]
    assert all(s.max() == 200 for _, s in out)
