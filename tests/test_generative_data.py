"""Data sets: the built-in ones, and loaders of files the user has (written here, small)."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from sandbox.generative.data import DataError, load_data
from sandbox.config import Section
from sandbox.errors import ConfigError


def data(name: str, **kw):
    return load_data(Section(name, kw))


def one_sentence(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and len(text) < 500, text
    return text


def test_digits_sizes_labels_and_range():
    for size in (8, 16, 32):
        ds = data("digits", size=size)
        assert ds.x_train.shape[1:] == (1, size, size) and ds.num_classes == 10
        assert 0.0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1.0
        assert len(ds.x_train) + len(ds.x_test) == 1797
    ds = data("digits", size="16")  # values from the command line arrive as text
    assert ds.shape == (1, 16, 16)


def test_points_and_shapes():
    for name in ("moons", "swiss_roll", "ring"):
        ds = data(name, n=400)
        assert ds.kind == "points" and ds.x_train.shape[1:] == (2,) and ds.num_classes is None
    ds = data("shapes", n=60)
    assert ds.shape == (3, 32, 32) and ds.num_classes == 3 and set(ds.y_train.tolist()) <= {0, 1, 2}


def test_bad_data_config_is_a_sentence():
    with pytest.raises(ConfigError, match="did you mean 'size'"):
        data("digits", siz=16)
    with pytest.raises(ConfigError, match="data.size"):
        data("digits", size=12)
    with pytest.raises(ConfigError, match="did you mean 'digits'"):
        data("digit")
    with pytest.raises(ConfigError, match="data.path"):
        data("mnist")
    with pytest.raises(ConfigError, match="data.test_fraction=0.95 must be between 0 and 0.9"):
        data("moons", test_fraction=0.95)
    with pytest.raises(ConfigError, match="data.n=0 must be positive"):
        data("ring", n=0)
    with pytest.raises(ConfigError, match="too small to draw shapes"):
        data("shapes", size=6)
    for name in ("folder", "fashion_mnist", "cifar10"):
        with pytest.raises(ConfigError, match="data.path=DIR") as err:
            data(name)
        one_sentence(err.value)
    with pytest.raises(ConfigError, match=r"needs a data set: add data=NAME \(cifar10, digits, .*swiss_roll\)"):
        load_data(None)


def test_a_section_holds_a_built_config_or_a_dict():
    from sandbox.config import build
    from sandbox.generative.data import DigitsConfig

    built = load_data(Section("digits", build(DigitsConfig, {"size": 16}, "data")))
    assert built.shape == (1, 16, 16)
    assert load_data(Section("digits", None)).shape == (1, 8, 8)  # no fields: the defaults


def write_idx(path, array: np.ndarray, gz: bool) -> None:
    code = {np.uint8: 0x08}[array.dtype.type]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    raw = head + array.tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_loader_reads_mnist_files(tmp_path, gz):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gz)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, (n,), dtype=np.uint8), gz)
    ds = data("fashion_mnist", path=str(tmp_path))
    assert ds.x_train.shape == (12, 1, 28, 28) and ds.x_test.shape == (5, 1, 28, 28)
    ds = data("mnist", path=str(tmp_path), size=16)
    assert ds.shape == (1, 16, 16)


def test_idx_missing_and_corrupt_are_sentences(tmp_path):
    with pytest.raises(DataError) as err:
        data("mnist", path=str(tmp_path))
    assert "train-images-idx3-ubyte" in one_sentence(err.value) and str(tmp_path) in str(err.value)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28), np.uint8), False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes((tmp_path / "train-images-idx3-ubyte").read_bytes()[:-100])
    with pytest.raises(DataError) as err:
        data("mnist", path=str(tmp_path))
    assert "truncated" in one_sentence(err.value)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (tmp_path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(DataError) as err:
        data("mnist", path=str(tmp_path))
    assert "corrupt" in one_sentence(err.value)
    with pytest.raises(DataError) as err:
        data("mnist", path=str(tmp_path / "nowhere"))
    one_sentence(err.value)


def test_cifar_binary_loader(tmp_path):
    rng = np.random.default_rng(0)

    def batch(n):
        rec = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
        rec[:, 0] = rng.integers(0, 10, n)
        return rec.tobytes()

    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    (folder / "data_batch_1.bin").write_bytes(batch(7))
    (folder / "data_batch_2.bin").write_bytes(batch(3))
    with pytest.raises(DataError) as err:
        data("cifar10", path=str(tmp_path))
    assert "test_batch.bin" in one_sentence(err.value)
    (folder / "test_batch.bin").write_bytes(batch(4))
    ds = data("cifar10", path=str(tmp_path))
    assert ds.x_train.shape == (10, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32) and ds.num_classes == 10
    (folder / "test_batch.bin").write_bytes(batch(4)[:-5])
    with pytest.raises(DataError) as err:
        data("cifar10", path=str(tmp_path))
    assert "3073" in one_sentence(err.value)


def test_image_folder_with_and_without_labels(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (tmp_path / "lab" / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "lab" / cls / f"{i}.png")
    ds = data("folder", path=str(tmp_path / "lab"), size=16)
    assert ds.shape == (3, 16, 16) and ds.num_classes == 2 and ds.class_names == ["cats", "dogs"]
    (tmp_path / "flat").mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (9, 9), dtype=np.uint8)).save(tmp_path / "flat" / f"{i}.jpg")
    ds = data("folder", path=str(tmp_path / "flat"), size=8, channels=1)
    assert ds.shape == (1, 8, 8) and ds.num_classes is None and ds.y_train is None
    (tmp_path / "flat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError) as err:
        data("folder", path=str(tmp_path / "flat"), size=8)
    assert "broken.png" in one_sentence(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as err:
        data("folder", path=str(tmp_path / "empty"))
    one_sentence(err.value)
