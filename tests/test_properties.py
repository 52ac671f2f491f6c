"""Property tests (hypothesis) for the digit finder and the image reader: random sizes, aspect ratios, dtypes,
channels and contents never raise anything but the documented error (ImageError, a ValueError), boxes always lie
inside the image, and a valid image with bytes appended after its end marker decodes to the same pixels.

300 examples each, derandomized (the same examples on every run, so CI cannot flake on a new one), with a
per-example deadline as the timeout of each case."""

from __future__ import annotations

from datetime import timedelta

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digitedge.runtime import DigitClassifier, ImageError
from digitedge.runtime.imageio import MAX_PIXELS, decode
from digitedge.runtime.preprocess import find_digits

settings.register_profile("digitedge", max_examples=300, derandomize=True, database=None, deadline=timedelta(seconds=10),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("digitedge")

SIDES = st.one_of(st.integers(1, 64), st.integers(65, 400), st.sampled_from([1, 2, 3, 700, 2000, 4000]))


@st.composite
def images(draw, dtypes=(np.uint8, np.uint16)):
    """An image of a random size (extreme aspect ratios included), dtype, channel count and content."""
    h, w = draw(SIDES), draw(SIDES)
    if h * w > 1_500_000:  # the finder's cost grows with area: keep each example fast
        w = max(1, 1_500_000 // h)
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = (h, w) if channels is None else (h, w, channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    content = draw(st.sampled_from(["noise", "flat", "strokes", "strokes", "checker"]))
    top = 65535 if dtype == np.uint16 else 255
    if content == "noise":
        img = rng.integers(0, top + 1, shape)
    elif content == "flat":
        img = np.full(shape, rng.integers(0, top + 1))
    elif content == "checker":
        img = ((np.indices((h, w)).sum(0) // max(1, rng.integers(1, 20))) % 2 * top).reshape(h, w)
        img = np.broadcast_to(img[..., None], shape) if channels else img
    else:
        canvas = np.full((h, w), 230, np.uint8)
        for _ in range(rng.integers(1, 8)):
            p, q = rng.integers(0, [w, h]), rng.integers(0, [w, h])
            cv2.line(canvas, tuple(map(int, p)), tuple(map(int, q)), int(rng.integers(0, 80)), int(rng.integers(1, 12)))
        img = canvas.astype(np.int64) * (257 if dtype == np.uint16 else 1)
        img = np.broadcast_to(img[..., None], shape) if channels else img
    return np.ascontiguousarray(img).astype(dtype)


def inside(box, image) -> bool:
    x, y, w, h = box
    return 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= image.shape[1] and y + h <= image.shape[0]


@given(images())
def test_finder_never_raises_and_boxes_lie_inside(image):
    regions = find_digits(image)
    for r in regions:
        assert inside(r.box, image), (r.box, image.shape)
        assert r.crop.shape == (28, 28) and r.crop.dtype == np.uint8


@pytest.fixture(scope="module")
def clf():
    return DigitClassifier()


ANY_DTYPE = (np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32, np.int64, np.uint64, np.float16, np.float32,
             np.float64, np.complex64)


@st.composite
def arrays(draw):
    """Any array a Python user might hand over: any dtype and value range, odd shapes, NaN."""
    shape = draw(st.sampled_from([(0, 5), (5,), (4, 5, 2), (3, 4, 5, 6), None]))
    if shape is None:
        img = draw(images())
        shape = img.shape
    dtype = np.dtype(draw(st.sampled_from(ANY_DTYPE)))
    scale = draw(st.sampled_from([1.0, 255.0, 65535.0, -1.0, 1e30, np.nan]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(all="ignore"):
        return (rng.random(shape) * scale).astype(dtype)


@given(arrays())
def test_classify_accepts_or_refuses_with_image_error_only(clf, array):
    try:
        digits = clf.classify(array)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    for d in digits:
        assert inside(d.box, array) and 0 <= d.confidence <= 1 and d.label in range(10)


def encoded(img: np.ndarray, ext: str) -> bytes:
    return cv2.imencode(ext, img)[1].tobytes()


@st.composite
def files(draw):
    """Bytes of a valid image in one of five formats, then maybe cut, flipped, or given a trailer."""
    img = draw(images(dtypes=(np.uint8,)))
    if img.shape[0] * img.shape[1] > 200_000:
        img = img[:300, :300]
    ext = draw(st.sampled_from([".png", ".jpg", ".webp", ".bmp", ".tif"]))
    if ext == ".webp" and img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    data = bytearray(encoded(img, ext))
    how = draw(st.sampled_from(["as is", "cut", "flip", "garbage", "prefix"]))
    if how == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif how == "flip":
        for i in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[i] ^= draw(st.integers(1, 255))
    elif how == "garbage":
        data = bytearray(draw(st.binary(min_size=0, max_size=4096)))
    elif how == "prefix":
        data = data[:draw(st.integers(0, 64))] + bytearray(draw(st.binary(min_size=0, max_size=256)))
    return bytes(data)


@given(files())
def test_decoder_returns_an_image_or_image_error(data):
    try:
        img = decode(data)
    except ImageError as e:
        assert "\n" not in str(e) and str(e)
        return
    assert img.ndim in (2, 3) and img.size > 0 and img.shape[0] * img.shape[1] <= MAX_PIXELS
    assert img.dtype in (np.uint8, np.uint16)


@given(images(dtypes=(np.uint8,)), st.sampled_from([".png", ".jpg"]), st.binary(min_size=1, max_size=600))
def test_trailer_after_the_end_marker_is_accepted(image, ext, trailer):
    """What OpenCV reads, digitedge reads: a valid PNG or JPEG with any bytes after IEND / EOI gives the same pixels."""
    if image.ndim == 3 and image.shape[2] == 4 and ext == ".jpg":
        image = image[..., :3]
    data = encoded(image[:300, :300], ext)
    assert np.array_equal(decode(data + trailer), decode(data))
