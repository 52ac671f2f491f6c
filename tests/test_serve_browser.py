"""The camera page in Debian's chromium (headless) driven by Playwright: a fake camera plays a clip of MNIST test
digits and the test reads what the page shows (DOM) against the clip's labels; then a chosen file, a dropped
file, the copy button, an error from the server and the token prompt.

Skips with the reason when chromium, Playwright or MNIST is missing (`.ci/run` installs chromium).
"""

from __future__ import annotations

import base64

import cv2
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install '.[serve]'")
pytest.importorskip("playwright.sync_api", reason="playwright is not installed: pip install '.[dev]'")
from conftest import paper_with_text  # noqa: E402

# Waits go through locators: the page's Content-Security-Policy forbids the eval behind wait_for_function.
from playwright.sync_api import expect  # noqa: E402

from digitedge.tools.serverproc import ServerProcess  # noqa: E402
from digitedge.tools.webcheck import Browser, PageRun, clip_scenes, find_chromium, watch_camera, write_y4m  # noqa: E402

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install chromium)")
PAGE_FPS = 4  # the page's own cap (static/app.js FPS)
TOKEN = "page-token-1234"


@pytest.fixture(scope="module")
def shots(mnist_dir):
    return clip_scenes(mnist_dir, 3, seed=0)


@pytest.fixture(scope="module")
def clip(shots, tmp_path_factory):
    path = tmp_path_factory.mktemp("camera") / "clip.y4m"
    write_y4m(path, [s.image for s in shots])
    return path


@pytest.fixture(scope="module")
def browser(clip):
    with ServerProcess() as server:
        b = Browser(CHROMIUM, clip, server.url)
        yield b
        b.close()
    assert "Traceback" not in server.log, server.log


def test_camera_page_reads_the_clip(browser, shots, tmp_path):
    labels = [s.text for s in shots]
    run = PageRun()
    watch_camera(browser.page(run), run, seconds=len(shots) * 2.0 + 3, screenshot=tmp_path / "page.png",
                 wanted=labels)
    shown = [r for r in run.readings if r]
    assert set(labels) <= set(shown), f"labels {labels}, page showed {sorted(set(shown))}"
    # Every poll that shows digits shows one of the clip's readings (no partial or stale garbage).
    assert sum(r in labels for r in shown) >= 0.9 * len(shown), sorted(set(shown))
    # A few frames a second, one request at a time, nothing from outside this server.
    assert run.max_in_flight == 1
    assert 2 * len(shots) <= run.frames <= (PAGE_FPS + 0.5) * run.seconds, (run.frames, run.seconds)
    assert run.foreign == [] and run.console_errors == []
    assert run.screenshot and (tmp_path / "page.png").stat().st_size > 10_000


def test_chosen_file_and_boxes(browser, shots, tmp_path):
    path = tmp_path / "row.jpg"
    cv2.imwrite(str(path), shots[1].image)
    page = browser.page(PageRun())
    page.set_input_files("#file", str(path))
    expect(page.locator("#text")).to_have_text(shots[1].text)
    labels = page.eval_on_selector_all("#digits li", "items => items.map(i => i.dataset.label).join('')")
    assert labels == shots[1].text
    # The overlay has the boxes drawn: some of its pixels are the box colour.
    green = page.evaluate("""() => {
        const c = document.getElementById('overlay'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 140 && d[i] < 60 && d[i + 3] > 200) n++;
        return n; }""")
    assert green > 200


def test_dropped_file_and_copy_button(browser, tmp_path):
    data = cv2.imencode(".png", paper_with_text(["38"]))[1]
    page = browser.page(PageRun())
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=browser.url)
    page.evaluate("""async (b64) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'drop.png', {type: 'image/png'}));
        document.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", base64.b64encode(data.tobytes()).decode())
    expect(page.locator("#text")).to_have_text("38")
    page.click("#copy")
    assert page.evaluate("navigator.clipboard.readText()") == "38"


def test_server_error_is_shown(browser, tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"this is not a picture")
    page = browser.page(PageRun())
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")
    assert page.inner_text("#text") == ""


def test_token_prompt(browser, tmp_path):
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), paper_with_text(["7"]))
    with ServerProcess("--token", TOKEN) as server:
        page = browser.page(PageRun(), server.url)
        page.set_input_files("#file", str(path))
        page.wait_for_selector("#token-box:not([hidden])")
        assert "token" in page.inner_text("#error")
        page.fill("#token", TOKEN)
        page.set_input_files("#file", [])
        page.set_input_files("#file", str(path))
        expect(page.locator("#text")).to_have_text("7")


def test_api_reference_page(browser):
    """/docs draws every endpoint from /openapi.json under the same strict CSP, fetching nothing from outside."""
    run = PageRun()
    page = browser.page(run, path="/docs")
    expect(page.locator("section")).to_have_count(3)
    assert [page.inner_text(f"section:nth-of-type({i}) h2 code") for i in (1, 2, 3)] == \
        ["/v1/classify", "/v1/model", "/healthz"]
    assert "multipart/form-data" in page.inner_text("section:nth-of-type(1)")
    assert run.foreign == [] and run.console_errors == []
