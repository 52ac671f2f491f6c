"""The one pipeline: sources of every kind into the same loop and sinks. Video files in `classify` (--vid-stride), a
folder of images in `live`, real-time playback in the window (driven through a display of our own, the real OpenCV
window needs a screen), and a saved stream tagged with the rate it arrived at."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from digitedge.runtime.sinks import STILL_SECONDS
from digitedge.runtime.sources import STILL, VIDEO, Frame
from digitedge.runtime.window import Pacer, Window
from test_live import MjpegServer, count_frames, paper, records, run_live, summary, write_video

PLAYBACK_FPS = 20


def run_cli(*args, **kw):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "digitedge", *map(str, args)], capture_output=True, text=True,
                          timeout=120, **kw)


# ---------------------------------------------------------------- classify: videos
def test_classify_reads_every_nth_frame_of_a_video_and_saves_its_annotated_video(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, [paper("47")] * 12 + [paper("")] * 12, fps=12)
    (tmp_path / "one.png").write_bytes(cv2.imencode(".png", paper("3"))[1].tobytes())
    r = run_cli("classify", clip, tmp_path / "one.png", "--vid-stride", "2", "--format", "json", "--save", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    recs = records(r.stdout)
    video = [x for x in recs if x["path"] == str(clip)]
    assert [x["frame"] for x in video] == list(range(0, 24, 2))
    assert [x["time"] for x in video] == pytest.approx([i / 12 for i in range(0, 24, 2)], abs=1e-3)
    assert [x["text"] for x in video][3:6] == ["47"] * 3, "steadied: a digit shows from its 3rd sighting"
    assert video[-1]["text"] == "" and video[0]["raw"] == "47"
    assert recs[-1]["path"] == str(tmp_path / "one.png") and recs[-1]["text"] == "3"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["clip.mp4", "one.jpg"]
    cap = cv2.VideoCapture(str(tmp_path / "out" / "clip.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(6, abs=0.1), "the stride's rate: every 2nd of 12 fps"
    cap.release()
    assert count_frames(tmp_path / "out" / "clip.mp4") == 12
    assert "13 frames read, 13 processed, 0 dropped, 0 failed" in r.stderr, r.stderr  # 12 of the video, 1 image


def test_classify_table_prints_a_video_line_per_change_only(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, [paper("")] * 10)
    r = run_cli("classify", clip)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{clip} #0 0.000s") and "10 frames read" in lines[1]


def test_classify_bad_video_and_fifo_video_are_one_line_each(tmp_path):
    import os

    (tmp_path / "bad.mp4").write_text("not a video")
    os.mkfifo(tmp_path / "pipe.mp4")
    r = run_cli("classify", tmp_path / "bad.mp4", tmp_path / "pipe.mp4")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 2 and "not a video OpenCV can decode" in errors[0] and "not a regular file (a FIFO)" in errors[1]


# ---------------------------------------------------------------- live: a folder of images
def test_live_reads_a_folder_of_images_as_a_slideshow(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, text in (("a.png", "4"), ("b.jpg", "72")):
        cv2.imwrite(str(photos / name), paper(text))
    r = run_live("--source", photos, "--no-display", "--save", tmp_path / "show.mp4")
    assert r.returncode == 0, r.stderr
    assert [(x["path"].split("/")[-1], x["text"]) for x in records(r.stdout)] == [("a.png", "4"), ("b.jpg", "72")]
    cap = cv2.VideoCapture(str(tmp_path / "show.mp4"))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(1 / STILL_SECONDS, abs=0.01) and count_frames(tmp_path / "show.mp4") == 2
    cap.release()


# ---------------------------------------------------------------- window: real-time playback
class FakeDisplay:
    """What CvDisplay does, minus the screen: key() waits like cv2.waitKey; shows are timed."""

    def __init__(self, keys=()):
        self.shown, self.keys, self.closed = [], list(keys), False

    def open(self):
        return None

    def show(self, image):
        self.shown.append(time.monotonic())

    def key(self, ms):
        time.sleep(ms / 1000)
        return self.keys.pop(0) if self.keys else -1

    def visible(self):
        return True

    def close(self):
        self.closed = True


def test_window_plays_a_20_fps_file_in_real_time(tmp_path):
    """Acceptance 4: 40 frames of a 20 fps file take 2 s on screen (the whole loop runs: decode, classify, draw)."""
    from digitedge.runtime.classifier import DigitClassifier
    from digitedge.runtime.pipeline import Pipeline, run
    from digitedge.runtime.sources import open_source

    clip = tmp_path / "clip20.mp4"
    write_video(clip, [paper(str(i % 10), shift=i % 3) for i in range(40)], fps=PLAYBACK_FPS)
    display = FakeDisplay()
    window = Window(tmp_path, display=display)
    t0 = time.monotonic()
    code = run(open_source(str(clip)), Pipeline(DigitClassifier(threads=1)), [window], "live")
    wall = time.monotonic() - t0
    assert code == 0 and len(display.shown) == 40 and display.closed
    # Frame i is due i/20 s after the first: the spacing is the file's, whatever the machine's load (generous bounds).
    span = display.shown[-1] - display.shown[0]
    assert 39 / PLAYBACK_FPS * 0.97 <= span <= 39 / PLAYBACK_FPS * 1.6, span
    assert 40 / PLAYBACK_FPS * 0.97 <= wall, wall  # never faster than real time (it used to be 6x faster)


def test_pacer_schedule():
    now = [100.0]
    pacer = Pacer(clock=lambda: now[0])
    video = [Frame("clip", i, i / 20, kind=VIDEO, fps=20.0) for i in range(4)]
    assert [pacer.due(f) for f in video[:2]] == [100.0, 100.05]
    now[0] = 101.0  # a frame late by far more than LATE_RESYNC_S: the clock restarts, no rush to catch up
    assert pacer.due(video[2]) == 101.0 and pacer.due(video[3]) == pytest.approx(101.05)
    still = Frame("a.png", kind=STILL)
    assert pacer.due(still) == pytest.approx(101.1) and pacer.due(still) == pytest.approx(101.1 + STILL_SECONDS)


def test_window_keys_quit_pause_and_snapshot(tmp_path):
    from digitedge.runtime.pipeline import Result

    pic = np.zeros((20, 30, 3), np.uint8)
    result = Result(Frame("camera 0", 0, 0.0, pic, kind="live"), [], [], 1.0, pic)
    display = FakeDisplay(keys=[ord("s"), ord(" "), ord("s"), ord(" "), ord("q")])
    window = Window(tmp_path, display=display)
    assert window.write(result) is True  # s: a snapshot
    assert window.write(result) is True  # space ... s while paused ... space: resumed
    assert window.write(result) is False  # q
    assert sorted(p.name for p in tmp_path.iterdir()) == ["live_snapshot.png", "live_snapshot_1.png"]


# ---------------------------------------------------------------- a saved stream: the rate it arrived at
def test_saved_stream_is_tagged_with_the_measured_rate(tmp_path):
    """A stream that states no rate (MJPEG over HTTP) and sends 20 frames/s: the video says ~20 FPS (not a guessed
    25), the summary's measured rate is the same, and the video lasts as long as the stream did."""
    out = tmp_path / "stream.mp4"
    with MjpegServer([60], interval=1 / PLAYBACK_FPS) as server:
        done = run_live("--source", server.url, "--no-display", "--save", out)
    assert done.returncode == 0, done.stderr
    read, processed, dropped, _ = summary(done.stderr)
    measured = float(done.stderr.split("source ")[1].split(" FPS measured")[0])
    tagged = float(done.stderr.split(f"video saved to {out} (")[1].split(" FPS)")[0])
    cap = cv2.VideoCapture(str(out))
    fps, frames = cap.get(cv2.CAP_PROP_FPS), count_frames(out)
    cap.release()
    assert fps == pytest.approx(tagged, abs=0.1)
    assert 12 <= measured <= PLAYBACK_FPS * 1.1 and abs(tagged - measured) <= 0.15 * measured, (tagged, measured)
    assert frames == pytest.approx(read, abs=3), "one video frame per source frame: real time"


def test_json_records_have_one_schema_for_images_and_videos(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, [paper("5")] * 4)
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", paper("5"))[1].tobytes())
    from_classify = records(run_cli("classify", tmp_path / "a.png", clip, "--format", "json").stdout)
    from_live = records(run_live("--source", clip, "--no-display").stdout)
    keys = {"path", "frame", "time", "text", "raw", "digits"}
    assert all(set(x) == keys for x in from_classify + from_live)
    assert all(set(d) == {"label", "confidence", "box", "line", "top_k"} for x in from_live for d in x["digits"])
    assert [x["text"] for x in from_classify[1:]] == [x["text"] for x in from_live], "same loop, same readings"
    json.dumps(from_live)
