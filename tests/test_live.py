"""`digitedge live`: the source opener, the smoothing, and the CLI end to end on a video file, an HTTP MJPEG
stream served here, a stream that dies, a missing camera and bad arguments.

Most tests draw their own frames (cv2.putText on paper), so they need no data; the MNIST clip test runs when
DIGITEDGE_DATA points at the MNIST files (conftest's `mnist_dir`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from digitedge.runtime.classifier import Digit, text_of
from digitedge.runtime.pipeline import Result
from digitedge.runtime.sources import LIVE, Frame, SourceError, open_source, parse_source
from digitedge.runtime.tracking import Stabilizer, iou, match

SIZE = (320, 240)  # (w, h): small frames keep the CLI runs fast
FPS = 15
CLI_TIMEOUT = 60
SUMMARY = re.compile(r"(\d+) frames read, (\d+) processed, (\d+) dropped, \d+ failed, \d+ digit\(s\); ([\d.]+) FPS processed")


# ---------------------------------------------------------------- helpers
def paper(text: str, size=SIZE, shift: int = 0) -> np.ndarray:
    """Dark digits written with a Hershey font on light paper; `shift` moves them like a shaking hand."""
    img = np.full((size[1], size[0], 3), 232, np.uint8)
    if text:
        cv2.putText(img, text, (60 + shift, 160 + shift // 2), cv2.FONT_HERSHEY_SIMPLEX, 3.5, (30, 30, 30), 9, cv2.LINE_AA)
    return img


def write_video(path, frames, fps=FPS) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()


def clip_frames(n: int) -> list[np.ndarray]:
    texts = ("47", "", "305")
    return [paper(texts[(i * len(texts)) // n], shift=(i % 5) - 2) for i in range(n)]


def count_frames(path) -> int:
    cap, n = cv2.VideoCapture(str(path)), 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def live_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "digitedge.cli", "live", *map(str, args)]


def run_live(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(live_cmd(*args), capture_output=True, text=True, timeout=CLI_TIMEOUT, env=env, cwd=cwd)


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def summary(stderr: str) -> tuple[int, int, int, float]:
    m = SUMMARY.search(stderr)
    assert m, f"no summary line in stderr:\n{stderr}"
    return int(m[1]), int(m[2]), int(m[3]), float(m[4])


def check_schema(rec: dict) -> None:
    assert set(rec) >= {"frame", "time", "text", "digits"}
    assert isinstance(rec["frame"], int) and isinstance(rec["time"], float) and isinstance(rec["text"], str)
    for d in rec["digits"]:
        assert 0 <= d["label"] <= 9 and 0.0 <= d["confidence"] <= 1.0
        assert len(d["box"]) == 4 and all(isinstance(v, int) for v in d["box"])


def digit(label, x, y=50, w=30, h=50, conf=0.9) -> Digit:
    return Digit(label=label, confidence=conf, box=(x, y, w, h))


# ---------------------------------------------------------------- MJPEG server
class MjpegServer:
    """multipart/x-mixed-replace JPEG stream on 127.0.0.1. `plan[k]` = frames sent on the k-th connection,
    after which that connection is closed; connections beyond the plan get 404 (the camera has gone)."""

    def __init__(self, plan, interval=1 / 30):
        self.plan, self.interval, self.connections, self.sent = list(plan), interval, 0, 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.serve(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True  # a handler still writing to a dead client must not block shutdown
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/video.mjpg"

    def serve(self, h: BaseHTTPRequestHandler) -> None:
        k, self.connections = self.connections, self.connections + 1
        if k >= len(self.plan):
            h.send_error(404)
            return
        h.send_response(200)
        h.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        h.end_headers()
        try:
            for i in range(self.plan[k]):
                jpg = cv2.imencode(".jpg", paper(str(i % 10), shift=i % 3))[1].tobytes()
                h.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg) + jpg + b"\r\n")
                h.wfile.flush()
                self.sent += 1
                time.sleep(self.interval)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the reader went away

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------- smoothing
def test_iou_and_match():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    pairs = match([(0, 0, 10, 10), (100, 0, 10, 10)], [(102, 1, 10, 10), (1, 0, 10, 10), (50, 50, 5, 5)])
    assert sorted(pairs) == [(0, 1), (1, 0)]


def test_one_frame_flip_does_not_change_the_text():
    stab = Stabilizer()
    texts = [text_of(stab.update([digit(7, 100 + i % 2)])) for i in range(5)]
    assert texts[-1] == "7"
    assert text_of(stab.update([digit(1, 101)])) == "7"  # the finder misread it once
    assert text_of(stab.update([digit(7, 100)])) == "7"


def test_new_label_held_for_three_frames_takes_over():
    stab = Stabilizer()
    for _ in range(6):
        stab.update([digit(7, 100)])
    texts = [text_of(stab.update([digit(1, 100)])) for _ in range(3)]
    assert texts == ["7", "7", "1"]


def test_new_digits_appear_and_blank_clears_within_three_frames():
    stab = Stabilizer()
    first = [text_of(stab.update([digit(4, 50), digit(2, 100)])) for _ in range(3)]
    assert first[-1] == "42"
    assert [text_of(stab.update([])) for _ in range(3)][-1] == ""  # blank paper
    sheet = [digit(9, 200, y=300), digit(1, 240, y=302), digit(5, 30, y=40)]  # a new sheet, two lines
    assert [text_of(stab.update(sheet)) for _ in range(3)][-1] == "5\n91"


def test_a_speck_never_shows_and_a_dropout_is_bridged():
    stab = Stabilizer()
    for i in range(8):
        found = [digit(3, 100)] if i != 5 else []  # the finder misses the 3 once
        speck = [digit(8, 300)] if i == 2 else []  # and sees a one-frame speck
        assert text_of(stab.update(found + speck)) == ("3" if i >= 2 else "")


def test_record_schema():
    """One schema for every verb and source: the steady digits as Digit.to_dict gives them, the raw text beside."""
    rec = Result(Frame("camera 0", 4, 0.2667, paper(""), kind=LIVE), [digit(3, 10)], [digit(3, 10), digit(8, 90)], 1.0).record()
    assert rec == {"path": "camera 0", "frame": 4, "time": 0.267, "text": "3", "raw": "38",
                   "digits": [{"label": 3, "confidence": 0.9, "box": [10, 50, 30, 50], "line": 0, "top_k": []}]}
    json.dumps(rec)


# ---------------------------------------------------------------- sources
def test_parse_source_forms(tmp_path):
    assert parse_source("0").kind == "camera" and parse_source("0").target == 0 and parse_source(2).is_live
    s = parse_source("rtsp://admin:secret@10.0.0.5/stream1")
    assert s.kind == "stream" and s.is_live and "secret" not in s.name
    assert parse_source("http://cam.local/video.mjpg").kind == "stream"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    f = parse_source(str(clip))
    assert f.kind == "video" and not f.is_live


@pytest.mark.parametrize("bad, says", [("nonsense", "camera index"), ("missing.mp4", "no such file"),
                                       ("ftp://host/x.mp4", "unsupported URL scheme"), ("-1", "camera index")])
def test_bad_sources_say_what_is_accepted(bad, says):
    with pytest.raises(SourceError, match=says) as e:
        parse_source(bad)
    assert "\n" not in str(e.value)


def test_a_folder_of_images_is_a_source_and_an_empty_one_is_not(tmp_path):
    assert parse_source(str(tmp_path)).kind == "images"
    with pytest.raises(SourceError, match="is a folder with no images in it"):
        open_source(str(tmp_path))


def test_file_source_yields_every_frame_in_order(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, clip_frames(12))
    with open_source(str(path)) as src:
        frames = list(src)
        assert not src.is_live and src.size == SIZE and src.fps == pytest.approx(FPS)
    assert [f.index for f in frames] == list(range(12))
    assert frames[3].time == pytest.approx(3 / FPS)
    assert src.frames_read == 12 and src.dropped == 0


def test_not_a_video_file(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(SourceError, match="not a video"):
        open_source(str(path))


# ---------------------------------------------------------------- CLI end to end
def test_cli_on_a_clip_prints_every_frame_and_saves_the_video(tmp_path):
    clip, out = tmp_path / "clip.mp4", tmp_path / "out" / "annotated.mp4"
    write_video(clip, clip_frames(30))
    done = run_live("--source", clip, "--no-display", "--save", out)
    assert done.returncode == 0, done.stderr
    recs = records(done.stdout)
    assert len(recs) == 30
    for i, rec in enumerate(recs):
        check_schema(rec)
        assert rec["frame"] == i and rec["time"] == pytest.approx(i / FPS, abs=1e-3)
    read, processed, dropped, fps = summary(done.stderr)
    assert (read, processed, dropped) == (30, 30, 0) and fps > 0
    assert f"video saved to {out}" in done.stderr
    assert count_frames(out) == 30
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == SIZE
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS, abs=0.5)
    cap.release()
    assert not list(out.parent.glob(".*partial*"))  # the temp name was renamed


def test_cli_without_a_display_falls_back_to_json(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, clip_frames(6))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = run_live("--source", clip, env=env)  # a window is wanted, but there is no screen
    assert done.returncode == 0, done.stderr
    assert "no window" in done.stderr and len(records(done.stdout)) == 6


def test_cli_table_format_prints_changes_only(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, [paper("")] * 8)
    done = run_live("--source", clip, "--no-display", "--format", "table")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{clip} #0 0.000s  320x240  (no digits)")  # blank once, no repeats


def test_cli_reads_an_mjpeg_stream_and_stops_cleanly_when_it_dies(tmp_path):
    out = tmp_path / "stream.mp4"
    with MjpegServer([20]) as server:  # 20 frames, then the connection closes and the camera is gone
        done = run_live("--source", server.url, "--no-display", "--save", out)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "stream ended" in done.stderr
    recs = records(done.stdout)
    read, processed, dropped, _ = summary(done.stderr)
    assert processed == len(recs) >= 1 and read == processed + dropped
    assert 10 <= read <= server.sent == 20
    frames = [r["frame"] for r in recs]
    assert frames == sorted(set(frames)) and frames[-1] < read  # source order, no repeats
    for rec in recs:
        check_schema(rec)
    assert processed <= count_frames(out) <= read  # dropped frames are filled in to keep real time


def test_cli_reopens_a_stream_that_drops_once(tmp_path):
    with MjpegServer([12, 12]) as server:  # drops after 12 frames, comes back for 12 more, then is gone
        done = run_live("--source", server.url, "--no-display")
    assert done.returncode == 0, done.stderr
    assert "reopened" in done.stderr and "1 reconnect" in done.stderr
    read, processed, _, _ = summary(done.stderr)
    assert read > 12 and server.connections >= 3


def test_cli_missing_camera_is_one_line_exit_2():
    done = run_live("--source", "99", "--no-display")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert done.stderr.startswith("digitedge live: error: camera 99 cannot be opened")
    assert done.stdout == ""


@pytest.mark.parametrize("args, says", [(("--source", "nonsense"), "is not a source; pass a camera index"),
                                        (("--source", "gone.mp4"), "no such file"),
                                        (("--source", "http://127.0.0.1:9/video.mjpg"), "does not answer")])
def test_cli_bad_source_is_one_line_exit_2(args, says):
    done = run_live(*args, "--no-display")
    assert done.returncode == 2 and says in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr


def test_cli_save_needs_a_video_name(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_video(clip, clip_frames(3))
    done = run_live("--source", clip, "--no-display", "--save", tmp_path / "out.txt")
    assert done.returncode == 2 and "ending in .mp4" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_interrupt_closes_the_video_and_prints_the_summary(tmp_path, sig):
    stream_plan = [100_000]  # a camera that never ends: only the signal stops `live`
    out = tmp_path / "stopped.mp4"
    with MjpegServer(stream_plan) as server:
        # A shell running this suite in the background ignores SIGINT, and children inherit that: restore it.
        proc = subprocess.Popen(live_cmd("--source", server.url, "--no-display", "--save", out),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            for _ in range(5):
                assert proc.stdout.readline(), "live printed nothing"
            proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT)
        finally:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and f"video saved to {out}" in stderr and "Traceback" not in stderr
    _, processed, _, _ = summary(stderr)
    assert count_frames(out) >= processed >= 4  # the signal may land between printing a frame and counting it


def test_cli_on_an_mnist_clip(tmp_path, mnist_dir):  # conftest's fixture skips with a reason without MNIST
    from digitedge.tools.liveeval import score
    from digitedge.tools.synth import write_clip

    clip, out = tmp_path / "clip.mp4", tmp_path / "annotated.mp4"
    expected = write_clip(clip, mnist_dir, seed=0, fps=FPS, shots=3)
    done = run_live("--source", clip, "--no-display", "--save", out)
    assert done.returncode == 0, done.stderr
    recs = records(done.stdout)
    assert len(recs) == len(expected) == count_frames(clip) == count_frames(out)
    res = score(expected, [r["text"] for r in recs], shot_len=FPS)
    # The finder is still being tuned (see docs/live.md); this only guards against a broken pipeline.
    assert res["exact"] >= 0.5, res["misses"]


def test_live_runtime_does_not_import_torch():
    code = "import sys, digitedge.runtime.live, digitedge.runtime.sources; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=CLI_TIMEOUT).returncode == 0
