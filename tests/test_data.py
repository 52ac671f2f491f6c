"""The IDX reader and the MNIST folder checks, on files generated here."""

import gzip
import urllib.error

import numpy as np
import pytest

from digitedge.errors import DataError
from digitedge.training import data


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip_raw_and_gzip(tmp_path, name):
    arr = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    data.write_idx(tmp_path / name, arr)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")
    np.testing.assert_array_equal(data.read_idx(tmp_path / name), arr)


def test_labels_file_is_one_dimensional(tmp_path):
    data.write_idx(tmp_path / "l.gz", np.arange(10, dtype=np.uint8))
    assert data.read_idx(tmp_path / "l.gz").tolist() == list(range(10))


def test_truncated_file_is_reported_with_name_and_sizes(tmp_path):
    path = tmp_path / "t-images-idx3-ubyte"
    data.write_idx(path, np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"t-images-idx3-ubyte: truncated.*\(4, 28, 28\)"):
        data.read_idx(path)


def test_truncated_gzip_is_reported_not_a_traceback(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + bytes(10))[:-8])
    with pytest.raises(DataError, match="x.gz: cannot read.*corrupt or truncated"):
        data.read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, world")
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(path)


def fake_mnist(folder, n=20):
    rng = np.random.default_rng(1)
    for key, (name, _) in data.FILES.items():
        arr = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if "images" in key else rng.integers(0, 10, n).astype(np.uint8)
        data.write_idx(folder / name, arr)


def test_checksum_mismatch_is_reported(tmp_path):
    fake_mnist(tmp_path)  # valid IDX, but not the real MNIST bytes
    with pytest.raises(DataError, match="checksum mismatch"):
        data.load_mnist("test", tmp_path, download=False)


def test_raw_files_load_without_checksums(tmp_path):
    """Uncompressed copies (as some mirrors ship) are accepted; their headers are checked instead."""
    rng = np.random.default_rng(2)
    for key, (name, _) in data.FILES.items():
        arr = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8) if "images" in key else np.arange(7, dtype=np.uint8)
        data.write_idx(tmp_path / name[:-3], arr)
    split = data.load_mnist("train", tmp_path, download=False)
    assert split.images.shape == (7, 28, 28) and split.labels.dtype == np.int64


def test_missing_files_without_network_name_the_files_and_the_folder(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    target = tmp_path / "nowhere"
    with pytest.raises(DataError) as e:
        data.load_mnist("train", target)
    msg = str(e.value)
    assert "\n" not in msg and str(target) in msg and "train-images-idx3-ubyte.gz" in msg and "DIGITEDGE_DATA" in msg
    assert not list(target.glob(".part-*")), "no half-downloaded files are left behind"


def test_data_dir_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITEDGE_DATA", str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert data.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("DIGITEDGE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.resolve_data_dir(None) == tmp_path / "cache" / "digitedge" / "mnist"


def test_real_mnist_loads(mnist_dir):
    test = data.load_mnist("test", mnist_dir)
    assert test.images.shape == (10_000, 28, 28) and test.images.dtype == np.uint8
    assert np.bincount(test.labels).tolist()[:2] == [980, 1135]  # the paper's Table 2 support
