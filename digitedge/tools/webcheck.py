"""The camera page in a real browser: Debian's chromium, headless, with a fake camera playing a clip of MNIST
test digits; reads what the page shows (DOM) and saves a screenshot.

    python -m digitedge.tools.webcheck --data-dir ../shared/mnist --screenshot docs/serve.png

Driven by Playwright (Python) with `executable_path` set to the system chromium: Playwright's own browser
download is never used (it cannot work offline). tests/test_serve_browser.py runs the same functions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# The probe's flags for this machine (no sandbox as root, no GPU, nothing phoned home), plus the fake camera
# and an automatic "allow" on the camera prompt.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
         "--use-fake-ui-for-media-stream"]
FPS = 10
SHOT_SECONDS = 2.0
SIZE = (640, 480)


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


# ------------------------------------------------------------ the fake camera's clip
def clip_scenes(data_dir, shots: int, seed: int = 0) -> list:
    """Rows of MNIST test digits (synth, camera-style) that the runtime itself reads right: the page test checks
    the page and the server, not the model's accuracy (docs/benchmarks.md has that)."""
    from digitedge.runtime import DigitClassifier, text_of
    from digitedge.tools.synth import scenes

    clf, chosen = DigitClassifier(), []
    for scene in scenes("row", 10 * shots, seed, data_dir=data_dir):
        if len(scene.text) <= 5 and text_of(clf.classify(scene.image)) == scene.text and \
                scene.text not in {s.text for s in chosen}:
            chosen.append(scene)
        if len(chosen) == shots:
            return chosen
    raise RuntimeError(f"only {len(chosen)} of {shots} scenes read right")


def write_y4m(path: Path, images: list[np.ndarray], fps: int = FPS, seconds_each: float = SHOT_SECONDS) -> None:
    """Raw 4:2:0 YUV4MPEG2, which chromium's --use-file-for-fake-video-capture plays (and loops)."""
    h, w = images[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for image in images:
            frame = cv2.cvtColor(cv2.resize(image, (w, h)), cv2.COLOR_BGR2YUV_I420).tobytes()
            for _ in range(round(fps * seconds_each)):
                f.write(b"FRAME\n" + frame)


# ------------------------------------------------------------ the page
@dataclass
class PageRun:
    readings: list[str] = field(default_factory=list)  # the page's #text, polled every POLL_S
    frames: int = 0  # answers the page has shown
    seconds: float = 0.0
    max_in_flight: int = 0  # classify requests open at once, seen by the browser
    foreign: list[str] = field(default_factory=list)  # requests to anything but the server
    console_errors: list[str] = field(default_factory=list)
    screenshot: bool = False  # taken while the page showed one of the wanted readings


POLL_S = 0.1


class Browser:
    """One headless chromium with the fake camera playing `clip`; pages are opened on `url`."""

    def __init__(self, chromium: str, clip: Path, url: str):
        from playwright.sync_api import sync_playwright

        self.url = url
        self._pw = sync_playwright().start()
        try:
            self.browser = self._pw.chromium.launch(executable_path=chromium, headless=True,
                                                    args=[*FLAGS, f"--use-file-for-fake-video-capture={clip}"])
        except Exception:
            self._pw.stop()
            raise

    def page(self, run: PageRun, url: str | None = None, path: str = "/"):
        """A new page at `path` on `url` (default: the server given at start), watched into `run`."""
        url = url or self.url
        context = self.browser.new_context(viewport={"width": 1100, "height": 620})
        context.grant_permissions(["camera"], origin=url)
        page = context.new_page()
        open_now = set()

        def started(request):
            if not request.url.startswith(url):
                run.foreign.append(request.url)
            if request.url.endswith("/v1/classify"):
                open_now.add(request)
                run.max_in_flight = max(run.max_in_flight, len(open_now))

        page.on("request", started)
        page.on("requestfinished", lambda r: open_now.discard(r))
        page.on("requestfailed", lambda r: open_now.discard(r))
        page.on("console", lambda m: run.console_errors.append(m.text) if m.type == "error" else None)
        page.goto(url + path)
        return page

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


def watch_camera(page, run: PageRun, seconds: float, screenshot: Path | None = None, wanted=()) -> PageRun:
    """Start the camera and poll what the page shows; the screenshot is taken when it shows one of `wanted`."""
    page.click("#camera")
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        text = page.inner_text("#text")
        run.readings.append(text)
        if screenshot and not run.screenshot and text in wanted:
            page.screenshot(path=str(screenshot))
            run.screenshot = True
        time.sleep(POLL_S)
    run.seconds = time.monotonic() - start
    run.frames = int(page.evaluate("document.body.dataset.frames || 0"))
    page.click("#camera")  # stop
    return run


def main(argv=None) -> int:
    from digitedge.tools.serverproc import ServerProcess

    p = argparse.ArgumentParser(prog="python -m digitedge.tools.webcheck", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITEDGE_DATA or the cache)")
    p.add_argument("--screenshot", default="docs/serve.png")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--out", default="runs/webcheck", help="folder for the clip")
    a = p.parse_args(argv)
    chromium = find_chromium()
    if not chromium:
        print("error: no chromium on PATH (Debian: apt-get install chromium)", file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    shots = clip_scenes(a.data_dir, 3)
    write_y4m(out / "clip.y4m", [s.image for s in shots])
    labels = [s.text for s in shots]
    with ServerProcess() as server:
        browser = Browser(chromium, (out / "clip.y4m").resolve(), server.url)
        try:
            run = PageRun()
            watch_camera(browser.page(run), run, a.seconds, Path(a.screenshot), labels)
        finally:
            browser.close()
    shown = [r for r in run.readings if r]
    print(f"clip labels: {labels}")
    print(f"page: {run.frames} answers in {run.seconds:.1f} s, at most {run.max_in_flight} in flight; "
          f"readings {sorted(set(shown))}; {sum(r in labels for r in shown)}/{len(shown)} polls show a label")
    print(f"screenshot: {a.screenshot}" if run.screenshot else "no screenshot (the page never showed a label)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
