"""`digitedge serve` over real HTTP on 127.0.0.1: every endpoint, every kind of bad input, the token, the full
queue, the timeouts, a crashed worker, and SIGTERM with requests in flight.

Servers run as `digitedge serve --port 0` child processes (digitedge.tools.serverproc), as users run them.
Images: rows of MNIST test digits rendered by digitedge.tools.synth (when DIGITEDGE_DATA is set), or drawn here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install '.[serve]'")
httpx = pytest.importorskip("httpx")

from conftest import paper_with_text  # noqa: E402

from digitedge.files import digest  # noqa: E402
from digitedge.runtime.classify import classify  # noqa: E402
from digitedge.runtime.frame import Frame  # noqa: E402
from digitedge.runtime.model import shipped_model_path  # noqa: E402
from digitedge.runtime.pipeline import Result  # noqa: E402
from digitedge.serve.config import RUNTIME_MAX_PIXELS, ConfigError, ServeConfig  # noqa: E402
from digitedge.tools.serverproc import ServerProcess  # noqa: E402
from digitedge.tools.webcheck import clip_scenes  # noqa: E402

TOKEN = "s3cret-token-for-tests"


# ---------------------------------------------------------------- helpers
def jpeg(image, quality=90) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def png(image) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


def post(url, data: bytes, ctype="image/jpeg", **kw) -> httpx.Response:
    return httpx.post(url + "/v1/classify", content=data, headers={"Content-Type": ctype, **kw.pop("headers", {})},
                      timeout=30, **kw)


def assert_error(r: httpx.Response, status: int, words: str = "") -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert words.lower() in body["error"].lower(), body["error"]
    return body


def dense_page(digits: int = 1000, size=(2000, 1500)) -> np.ndarray:
    """Many small digits: the digit finder's time grows with their number."""
    rng = np.random.default_rng(0)
    img = np.full((size[1], size[0], 3), 230, np.uint8)
    for i in range(digits):
        x, y = int(rng.integers(0, size[0] - 40)), int(rng.integers(40, size[1]))
        cv2.putText(img, str(i % 10), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1, (30, 30, 30), 3)
    return img


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost nothing: a decompression bomb's header."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


class RawRequest:
    """A POST written by hand on a socket, so a test can hold the body back (a slow client). With `expect=True`
    it asks for `100 Continue`, which the server sends once the app starts reading the body: from then on the
    request is provably in the server's hands."""

    def __init__(self, url: str, body: bytes, send_now: int, expect: bool = False):
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=30)
        self.body, self.sent = body, 0 if expect else send_now
        head = (f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(body)}\r\n{'Expect: 100-continue' + chr(13) + chr(10) if expect else ''}\r\n")
        self.sock.sendall(head.encode() + body[:self.sent])

    def wait_continue(self) -> None:
        data = b""
        while not data.endswith(b"\r\n\r\n"):
            data += self.sock.recv(1)
            assert data, "connection closed before 100 Continue"
        assert data.startswith(b"HTTP/1.1 100"), data

    def finish(self) -> None:
        self.sock.sendall(self.body[self.sent:])

    def finish_part(self, n: int) -> None:
        self.sock.sendall(self.body[self.sent:self.sent + n])
        self.sent += n

    def response(self) -> tuple[int, dict]:
        data = b""
        while b"\r\n\r\n" not in data:
            data += self.sock.recv(65536) or b"!"
            assert not data.endswith(b"!"), "connection closed before a response"
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += self.sock.recv(65536)
        self.sock.close()
        return int(head.split()[1]), json.loads(body)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server():
    with ServerProcess("--timeout", "20") as s:
        yield s


@pytest.fixture(scope="module")
def rows(mnist_dir):
    """Two camera-style rows of MNIST test digits that the runtime reads right."""
    return clip_scenes(mnist_dir, 2, seed=1)


@pytest.fixture(scope="module")
def frame() -> bytes:
    return jpeg(paper_with_text(["47"]))


# ---------------------------------------------------------------- the endpoints
def test_classify_matches_the_cli_record(server, rows, tmp_path):
    """Raw JPEG, raw PNG as octet-stream and a multipart upload give the record `classify --format json` writes
    (the path being the uploaded file's name, or "" for a raw body), plus the size and timings."""
    for i, scene in enumerate(rows):
        path = tmp_path / f"row{i}.jpg"
        path.write_bytes(jpeg(scene.image))
        out = tmp_path / f"cli{i}.jsonl"
        with open(out, "w") as f, open(tmp_path / "err.txt", "w") as err:
            assert classify([str(path)], fmt="json", out=f, err=err) == 0
        cli = json.loads(out.read_text())
        raw = post(server.url, path.read_bytes()).json()
        form = httpx.post(server.url + "/v1/classify", files={"file": (path.name, path.read_bytes(), "image/jpeg")},
                          timeout=30).json()
        octet = post(server.url, png(cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)),
                     "application/octet-stream").json()
        assert raw["text"] == scene.text
        assert (raw["path"], form["path"], octet["path"]) == ("", path.name, "")
        for answer in (raw, form, octet):
            assert set(answer) == set(cli) | {"width", "height", "timing"}
            assert {k: answer[k] for k in cli if k != "path"} == {k: v for k, v in cli.items() if k != "path"}
            assert (answer["width"], answer["height"]) == (640, 480)
            assert set(answer["timing"]) == {"queue_ms", "decode_ms", "classify_ms"}
            assert all(v >= 0 for v in answer["timing"].values())


def test_blank_paper_reads_nothing(server):
    r = post(server.url, jpeg(paper_with_text([])))
    assert r.status_code == 200 and r.json()["text"] == "" and r.json()["digits"] == []


def test_model_endpoint(server):
    info = httpx.get(server.url + "/v1/model").json()
    assert info["file"] == "digitedge.int8.onnx"
    assert info["sha256"] == digest(shipped_model_path())
    assert info["labels"] == list(range(10)) and info["threshold"] == 0.5
    assert info["metadata"]["preprocess"] == "mnist-20box-com/1"
    assert (info["workers"], info["threads"]) == (1, 1)


def test_healthz_openapi_docs_and_page(server):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok", "queue": 0, "queue_limit": 32}
    assert httpx.head(server.url + "/healthz").status_code == 200 and httpx.head(server.url + "/").status_code == 200
    spec = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/classify", "/v1/model", "/healthz"} <= set(spec["paths"])
    documented = spec["components"]["schemas"]["ReadingOut"]["properties"]
    assert set(documented) == set(Result(Frame("a.jpg"), [], [], 0.0).record()) | {"width", "height", "timing"}
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"image/jpeg", "multipart/form-data", "application/octet-stream"} <= set(body)
    docs = httpx.get(server.url + "/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "docs.js", "style.css", "docs.css"):
        asset = httpx.get(f"{server.url}/static/{name}")
        assert asset.status_code == 200
        assert "://" not in asset.text, f"{name} names another origin"  # nothing may load from the internet


# ---------------------------------------------------------------- bad input: a 4xx JSON error each
BAD = {
    "empty body": (b"", "image/jpeg", 400, "empty"),
    "not an image": (b"hello, world " * 100, "image/png", 400, "not an image"),
    "text/plain": (b"12345", "text/plain", 415, "content-type"),
    "json": (b'{"image": 1}', "application/json", 415, "content-type"),
    "no content type": (b"\xff\xd8\xff", "", 415, "(none)"),
    "form-urlencoded (curl -d)": (b"a=1", "application/x-www-form-urlencoded", 415, "image/jpeg"),
    "pixel bomb": (png_header_only(30000, 30000), "image/png", 413, "900.0 mp"),
    "over --max-pixels": (png_header_only(8000, 7000), "image/png", 413, "limit 50 mp"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input(server, name):
    data, ctype, status, words = BAD[name]
    assert_error(post(server.url, data, ctype), status, words)


def test_truncated_images(server, frame):
    assert_error(post(server.url, frame[: len(frame) // 2]), 400, "truncated")
    whole = png(paper_with_text(["5"]))
    assert_error(post(server.url, whole[: len(whole) // 2], "image/png"), 400, "truncated")


def test_too_large_bodies(server):
    big = b"\xff\xd8" + b"\0" * 11_000_000
    assert_error(post(server.url, big), 413, "10 mb")
    # Chunked (no Content-Length): counted as it arrives and cut off at the limit.
    chunks = (b"\0" * 1_000_000 for _ in range(12))
    r = httpx.post(server.url + "/v1/classify", content=chunks, headers={"Content-Type": "image/jpeg"}, timeout=30)
    assert_error(r, 413, "larger than 10 mb")


def test_multipart_problems(server, frame):
    url = server.url + "/v1/classify"
    assert_error(httpx.post(url, data={"note": "no file"}, files={}, timeout=30,
                            headers={"Content-Type": "multipart/form-data; boundary=xyz"}), 400)
    assert_error(httpx.post(url, data={"note": "x"}, files={"file": ("a.jpg", b"", "image/jpeg")}, timeout=30), 400,
                 "empty")
    assert_error(httpx.post(url, files={"other": ("a.txt", b"not an image", "text/plain")}, timeout=30), 400,
                 "not an image")
    form = httpx.post(url, files={"other": ("a.jpg", frame, "image/jpeg")}, timeout=30)  # any single file part
    assert form.status_code == 200 and form.json()["text"] == "47"
    two = httpx.post(url, files=[("file", ("a.jpg", frame, "image/jpeg")), ("file", ("b.jpg", frame, "image/jpeg"))],
                     timeout=30)
    assert_error(two, 400, "files")
    broken = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\r\n" + frame[:100]
    assert_error(post(server.url, broken, "multipart/form-data; boundary=xyz"), 400)


def test_wrong_paths_and_methods(server):
    assert_error(httpx.get(server.url + "/v1/classify"), 405)
    assert_error(httpx.get(server.url + "/v2/nothing"), 404, "/v2/nothing")
    assert_error(httpx.delete(server.url + "/healthz"), 405)


def test_odd_images_are_read(server):
    """Valid but unusual images (tiny, a strip, 16-bit, alpha, grey, BMP) get a reading, never a 500."""
    paper = paper_with_text(["3"])
    grey = cv2.cvtColor(paper, cv2.COLOR_BGR2GRAY)
    cases = {
        "1x1": png(np.zeros((1, 1, 3), np.uint8)),
        "3x200 strip": png(np.full((3, 200), 200, np.uint8)),
        "16-bit grey": png(grey.astype(np.uint16) * 257),
        "alpha": png(cv2.cvtColor(paper, cv2.COLOR_BGR2BGRA)),
        "grey jpeg": jpeg(grey),
        "bmp": cv2.imencode(".bmp", paper)[1].tobytes(),
    }
    for name, data in cases.items():
        r = post(server.url, data, "application/octet-stream")
        assert r.status_code == 200, (name, r.status_code, r.text)
    assert post(server.url, cases["16-bit grey"], "image/png").json()["text"] == "3"


def test_concurrent_clients_all_answered(server, rows):
    frames = [jpeg(s.image) for s in rows]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(server.url, frames[i % 2]), range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert [a.json()["text"] for a in answers] == [rows[i % 2].text for i in range(24)]


def test_log_has_no_traceback(server):
    """After every bad input above (and these, and clients that hang up mid-body), the server logged no traceback
    and answered no 500."""
    for data, ctype, _, _ in BAD.values():
        post(server.url, data, ctype)
    for _ in range(3):  # clients that leave halfway through their upload
        RawRequest(server.url, b"\xff\xd8" + b"\0" * 5000, send_now=1000).sock.close()
    time.sleep(0.5)
    assert "Traceback" not in server.log and " 500" not in server.log, server.log


# ---------------------------------------------------------------- token
def test_token(frame):
    with ServerProcess("--token", TOKEN) as s:
        for headers in ({}, {"Authorization": "Bearer wrong-token-here"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            r = post(s.url, frame, headers=headers)
            assert_error(r, 401, "token")
            assert r.headers["www-authenticate"] == "Bearer"
        assert_error(httpx.get(s.url + "/v1/model"), 401)
        ok = post(s.url, frame, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.json()["text"] == "47"
        assert httpx.get(s.url + "/v1/model", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert httpx.get(s.url + "/healthz").status_code == 200 and httpx.get(s.url + "/").status_code == 200
        spec = httpx.get(s.url + "/openapi.json").json()
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "bearer token required" in s.log and TOKEN not in s.log


def test_token_from_environment(frame):
    with ServerProcess(env={"DIGITEDGE_TOKEN": TOKEN}) as s:
        assert post(s.url, frame).status_code == 401
        assert post(s.url, frame, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


# ---------------------------------------------------------------- queue, timeouts, a stuck or crashed worker
def test_queue_full_is_503_then_recovers(frame):
    with ServerProcess("--queue", "1", "--timeout", "5") as s:
        slow = RawRequest(s.url, frame, send_now=0, expect=True)
        slow.wait_continue()  # admitted, its body not sent yet: it holds the one slot
        r = post(s.url, frame)
        assert_error(r, 503, "busy")
        assert r.headers["retry-after"] == "1" and r.headers["connection"] == "close"
        slow.finish()
        status, body = slow.response()
        assert status == 200 and body["text"] == "47"
        assert post(s.url, frame).status_code == 200  # the slot is free again


def test_slow_body_times_out_with_408(frame):
    with ServerProcess("--timeout", "1") as s:
        slow = RawRequest(s.url, frame, send_now=100)
        t0 = time.monotonic()
        status, body = slow.response()
        assert status == 408 and "within --timeout 1 s" in body["error"]
        assert 0.9 < time.monotonic() - t0 < 5
        assert post(s.url, frame).status_code == 200


def test_stuck_image_times_out_and_worker_is_replaced(frame):
    """An image that keeps the digit finder busy past --timeout: its request and the one queued behind it get
    503s at their deadlines, the worker is recycled, and the server answers again."""
    with ServerProcess("--timeout", "1") as s:
        # 3,000 digits on 9.7 MP: several seconds (1,000 on 3 MP now take about one, too close to --timeout 1)
        heavy = RawRequest(s.url, png(dense_page(3000, (3600, 2700))), send_now=0, expect=True)
        heavy.wait_continue()
        heavy.finish()
        time.sleep(0.5)  # its body read and handed to the inference thread: the next request queues behind it
        second = post(s.url, frame)
        status, body = heavy.response()
        assert status == 503 and "--timeout 1 s" in body["error"]
        assert_error(second, 503, "--timeout 1 s")
        deadline = time.monotonic() + 30
        while True:  # refused while the replacement loads its model
            try:
                r = post(s.url, frame)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, s.log
            time.sleep(0.2)
        assert r.json()["text"] == "47"
        assert "restarting this worker" in s.log and "Traceback" not in s.log
        assert s.stop() == 0


def test_crashed_worker_is_restarted(frame):
    with ServerProcess("--workers", "2") as s:
        _, *workers = s.pids()
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while len(s.pids()) < 3 or workers[0] in s.pids():
            assert time.monotonic() < deadline, s.log
            time.sleep(0.2)
        time.sleep(2)  # the new worker loads its model; the other one serves meanwhile
        assert all(post(s.url, frame).status_code == 200 for _ in range(6))
        assert "exited (signal SIGKILL); starting another" in s.log
        assert s.stop() == 0


# ---------------------------------------------------------------- SIGTERM
def test_sigterm_finishes_requests_in_flight(rows):
    """SIGTERM with twelve requests in flight on two workers (each one acknowledged with 100 Continue, some with
    half a body sent): every body arrives after the signal, every request gets its full answer, then the server
    exits 0 and the port is closed."""
    frames = [jpeg(s.image) for s in rows]
    with ServerProcess("--workers", "2", "--timeout", "20") as s:
        started = [RawRequest(s.url, frames[i % 2], send_now=0, expect=True) for i in range(8)]
        for r in started:
            r.wait_continue()  # each request is now held by a worker, its body not yet sent
        half = [RawRequest(s.url, frames[i % 2], send_now=500, expect=True) for i in range(4)]
        for r in half:
            r.wait_continue()
            r.finish_part(500)
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        for r in started + half:  # all twelve bodies arrive after SIGTERM, then twelve images to read
            r.finish()
        answers = [r.response() for r in started + half]
        assert [a[0] for a in answers] == [200] * 12
        assert [a[1]["text"] for a in answers] == [rows[i % 2].text for i in [*range(8), *range(4)]]
        assert s.wait(30) == 0
        assert "SIGTERM: finishing the requests in flight" in s.log and "stopped" in s.log
        with pytest.raises(httpx.TransportError):
            httpx.get(s.url + "/healthz", timeout=2)


# ---------------------------------------------------------------- options and start-up errors
def serve_cli(*args, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "digitedge.cli", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, words", [
    (["--workers", "0"], "--workers must be a whole number in 1..64, got 0"),
    (["--port", "70000"], "--port must be a whole number in 0..65535"),
    (["--timeout", "0"], "--timeout must be a number in 0.1..3600 s"),
    (["--timeout", "nan"], "--timeout"),
    (["--queue", "-1"], "--queue must be a whole number in 1..10000"),
    (["--max-body-mb", "500"], "--max-body-mb must be a number in 0.001..200 MB"),
    (["--max-pixels", "100"], "--max-pixels must be a number in 0.01..67.1089 MP"),
    (["--threads", "0"], "--threads"),
    (["--token", "short"], "--token must be 8..1024 visible ASCII"),
    (["--token", "has a space"], "--token must be"),
    (["--host", "no.such.host.invalid"], "cannot resolve"),
    (["--model", "/nonexistent/model.onnx", "--port", "0"], "no such model"),
])
def test_bad_options_exit_2_with_one_line(args, words):
    r = serve_cli(*args)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_port_in_use():
    with ServerProcess() as s:
        port = s.url.rsplit(":", 1)[1]
        r = serve_cli("--port", port)
        assert r.returncode == 2 and "already in use" in r.stderr, r.stderr


def test_all_interfaces_warns():
    with ServerProcess("--host", "0.0.0.0") as s:
        assert "warning: listening on 0.0.0.0" in s.log and "--token" in s.log


def test_config_limits_agree_with_the_runtime():
    from digitedge.runtime.imageio import MAX_PIXELS

    assert RUNTIME_MAX_PIXELS == MAX_PIXELS
    assert ServeConfig.from_json(ServeConfig(port=0, token="x" * 8).to_json()).token == "x" * 8
    with pytest.raises(ConfigError, match="--workers"):
        ServeConfig(workers=True).check()  # a bool is not a count


def test_server_never_imports_torch():
    code = ("import sys; import digitedge.serve.supervisor, digitedge.serve.worker, digitedge.tools.serverproc; "
            "assert 'torch' not in sys.modules, 'torch'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_load_tool_smoke(mnist_dir, capsys):
    """The load test runs end to end (a short run: its figures are for docs/benchmarks.md, not asserted here);
    every answer under concurrent load is the runtime's own reading of that frame."""
    from digitedge.tools.loadtest import main

    code = main(["--data-dir", str(mnist_dir), "--seconds", "1", "--warmup", "0.5", "--clients", "4",
                 "--workers", "1", "--frames", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "errors and wrong readings, all runs               0" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("1 "))
    assert int(row.split()[1]) > 4  # requests answered
