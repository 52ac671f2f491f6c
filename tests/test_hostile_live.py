"""`digitedge live` on hostile sources and --save targets: names that are not UTF-8 (which crash OpenCV when handed
to it), FIFOs and devices, huge camera indices, --save onto the source, through a planted link, into a file's place
or a full disk. Each run is bounded by the runner's timeout and address-space limit."""

from __future__ import annotations

import os

import cv2
import pytest

from hostile import assert_only_added_under, cli, tree
from test_live import clip_frames, count_frames, records, write_video

N_FRAMES = 12


@pytest.fixture()
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, clip_frames(N_FRAMES))
    return path


def test_source_and_save_names_that_are_not_utf8(tmp_path, clip):
    odd_dir = tmp_path / os.fsdecode(b"d\xe9j\xe0")  # Latin-1 bytes: not UTF-8
    odd_dir.mkdir()
    source = odd_dir / os.fsdecode(b"clip\xff.mp4")
    os.link(clip, source)
    save = odd_dir / os.fsdecode(b"out\xff.mp4")
    r = cli("live", "--source", source, "--no-display", "--save", save)
    assert r.code == 0, r.err
    assert len(records(r.out)) == N_FRAMES
    assert "\\xff" in r.err_lines[-1] and "video saved to" in r.err_lines[-1]
    assert count_frames(f"/proc/self/fd/{os.open(save, os.O_RDONLY)}") == N_FRAMES


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_source_that_is_not_a_regular_file_is_refused_at_once(kind, tmp_path):
    source = {"fifo": tmp_path / "pipe.mp4", "device": "/dev/zero", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(source)
    r = cli("live", "--source", source, "--no-display", timeout=30)
    says = {"fifo": "not a regular file (a FIFO)", "device": "not a regular file (a character device)", "folder": "is a folder"}
    assert r.code == 2 and len(r.err_lines) == 1 and says[kind] in r.err, r.err


def test_save_equal_to_source_is_refused_and_the_video_kept(tmp_path, clip):
    before = tree(tmp_path)
    for save in (clip, tmp_path / "." / "clip.mp4"):
        r = cli("live", "--source", clip, "--no-display", "--save", save)
        assert r.code == 2 and len(r.err_lines) == 1 and "is the --source video" in r.err
    assert tree(tmp_path) == before


def test_save_never_replaces_a_file_nor_follows_a_planted_link(tmp_path, clip):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    (out / "annotated.mp4").symlink_to(victim)
    (out / "annotated_1.mp4").write_text("an earlier video")
    (out / ".annotated.partial.mp4").symlink_to(victim)  # the old predictable temp name
    before = tree(tmp_path)
    r = cli("live", "--source", clip, "--no-display", "--save", out / "annotated.mp4")
    assert r.code == 0, r.err
    assert "video saved to" in r.err and "annotated_2.mp4" in r.err
    assert victim.read_text() == "mine" and (out / "annotated_1.mp4").read_text() == "an earlier video"
    assert count_frames(out / "annotated_2.mp4") == N_FRAMES
    assert_only_added_under(before, tree(tmp_path), "out/annotated_2.mp4")


@pytest.mark.parametrize("where, says", [("file", "exists and is not a folder"), ("ext", "name a video file ending in .mp4")])
def test_bad_save_targets_are_one_line_exit_2(where, says, tmp_path, clip):
    (tmp_path / "afile").write_text("x")
    save = {"file": tmp_path / "afile" / "out.mp4", "ext": tmp_path / "out.txt"}[where]
    before = tree(tmp_path)
    r = cli("live", "--source", clip, "--no-display", "--save", save)
    assert r.code == 2 and len(r.err_lines) == 1 and (says in r.err or "cannot create the folder" in r.err), r.err
    assert tree(tmp_path) == before


def test_full_disk_while_saving_is_exit_1_and_leaves_nothing(tmp_path, clip):
    before = tree(tmp_path)
    r = cli("live", "--source", clip, "--no-display", "--save", tmp_path / "out" / "a.mp4", fsize=20_000)
    assert r.code == 1, r.err
    assert "could not be written completely" in r.err_lines[-1] or "not written" in r.err_lines[-1], r.err
    assert len(records(r.out)) == N_FRAMES, "the frames were still read and printed"
    assert os.listdir(tmp_path / "out") == [], "no partial video, no temp file"
    assert_only_added_under(before, tree(tmp_path), "out")


def test_camera_index_and_url_forms_are_checked_before_opening(tmp_path):
    for source, says in (("99999999999999999999", "use 0 to 99"), ("100", "use 0 to 99"),
                         (os.fsdecode(b"rtsp://cam/\xff"), "a URL must be printable UTF-8 text")):
        r = cli("live", "--source", source, "--no-display", timeout=30)
        assert r.code == 2 and len(r.err_lines) == 1 and says in r.err, r.err


def test_snapshot_names_are_free_names(tmp_path):
    """The window's snapshot goes through the same writer: never over an earlier snapshot or a planted link."""
    import numpy as np

    from digitedge.runtime.outputs import save_image

    (tmp_path / "live_snapshot.png").symlink_to(tmp_path / "victim")
    first = save_image(tmp_path / "live_snapshot.png", np.zeros((8, 8, 3), np.uint8))
    second = save_image(tmp_path / "live_snapshot.png", np.zeros((8, 8, 3), np.uint8))
    assert (first.name, second.name) == ("live_snapshot_1.png", "live_snapshot_2.png")
    assert not (tmp_path / "victim").exists() and cv2.imread(str(first)) is not None
