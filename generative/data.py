"""Data sets of the generative models, all offline.

Made by code or shipped with a package:

- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1797 images, 10 labels), optionally
  resized to 16×16 or 32×32 (``data.size=16``);
- ``moons``, ``swiss_roll``, ``ring``: 2-D point clouds (the ring is 8 Gaussians on a circle);
- ``shapes``: coloured circles, squares and triangles drawn by code at 32×32, labelled by shape.

Read from files you already have (nothing is downloaded):

- ``folder``: an image folder (``data.path=DIR``); sub-folders, if any, are the labels;
- ``mnist`` / ``fashion_mnist``: the four idx files (``train-images-idx3-ubyte[.gz]`` ...);
- ``cifar10``: the binary batches (``data_batch_1.bin`` ... ``test_batch.bin``).

Each is registered once, lazily, in the ``datasets`` registry (``sandbox list`` shows them), as a
third party's data set is: an object with a ``Config`` dataclass, a ``kind`` (``"image"`` or
``"points"``), called with an instance of its config to make a :class:`Dataset`. A run's ``data``
section (``data=digits data.size=16``) is checked against that config like any plugin's section;
:func:`load_data` looks the data set up and makes it.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from sandbox.config import build as build_config
from sandbox.config import option
from sandbox.errors import ConfigError, SandboxError
from sandbox.registry import datasets


class DataError(SandboxError):
    """A data file that is missing or unreadable."""


@dataclass
class Dataset:
    """A data set split into train and held-out parts.

    Images are float32 N×C×H×W in [0, 1]; points are float32 N×2 (standardised). Labels are int64 or
    None.
    """

    name: str
    kind: Literal["image", "points"]
    x_train: torch.Tensor
    y_train: torch.Tensor | None
    x_test: torch.Tensor
    y_test: torch.Tensor | None
    num_classes: int | None
    class_names: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def all_x(self) -> torch.Tensor:
        return torch.cat([self.x_train, self.x_test])

    def key(self) -> str:
        """A name for caches: the data set, its shape, and a hash of its content."""
        h = hashlib.sha1()
        h.update(self.x_train.numpy().tobytes())
        if self.y_train is not None:
            h.update(self.y_train.numpy().tobytes())
        shape = "x".join(str(s) for s in self.shape)
        return f"{self.name}-{shape}-{h.hexdigest()[:12]}"


# -- the config of each data set --------------------------------------------------------------------
def check_test_fraction(frac: float) -> None:
    """Refuse a held-out share outside (0, 0.9)."""
    if not 0.0 < frac < 0.9:
        raise ConfigError(f"data.test_fraction={frac} must be between 0 and 0.9.")


def check_positive(cfg: Any, *keys: str) -> None:
    """Refuse a count or size ``data.KEY`` that is zero or negative."""
    for key in keys:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"data.{key}={getattr(cfg, key)} must be positive.")


@dataclass
class DigitsConfig:
    size: Literal[8, 16, 32] = option(8, "image side in pixels: 8 (native), 16 or 32 (bilinear resize)")
    test_fraction: float = option(0.15, "share of the images held out")

    def validate(self) -> None:
        check_test_fraction(self.test_fraction)


@dataclass
class PointsConfig:
    n: int = option(20_000, "number of points")
    noise: float = option(0.05, "noise added to each point (before standardising)", low=0.0, high=100.0)
    test_fraction: float = option(0.1, "share of the points held out")

    def validate(self) -> None:
        check_test_fraction(self.test_fraction)
        check_positive(self, "n")


@dataclass
class ShapesConfig:
    n: int = option(6000, "number of images")
    size: int = option(32, "image side in pixels")
    test_fraction: float = option(0.1, "share of the images held out")

    def validate(self) -> None:
        check_test_fraction(self.test_fraction)
        check_positive(self, "n", "size")
        if self.size < 8:
            raise ConfigError(f"data.size={self.size} is too small to draw shapes; use 8 or more (32 is the default).")


@dataclass
class FolderConfig:
    path: str = option("", "folder of images (PNG, JPEG, ...); sub-folders are the labels")
    size: int = option(32, "images are resized to size×size")
    channels: Literal[1, 3] = option(3, "1 for grey, 3 for colour")
    test_fraction: float = option(0.1, "share of the images held out")
    limit: int = option(0, "read at most this many images (0: all)")

    def validate(self) -> None:
        check_test_fraction(self.test_fraction)
        check_positive(self, "size")
        if not self.path:
            raise ConfigError("data=folder reads images you already have: give their folder with data.path=DIR.")


@dataclass
class IdxConfig:
    path: str = option("", "folder holding train-images-idx3-ubyte[.gz] and friends")
    size: Literal[28, 32, 16] = option(28, "image side (28 native; 16 or 32 resized)")
    limit: int = option(0, "keep at most this many training images (0: all)")

    def validate(self) -> None:
        if not self.path:
            raise ConfigError("data=mnist and data=fashion_mnist read idx files you already have (nothing is downloaded): "
                              "give their folder with data.path=DIR.")


@dataclass
class CifarConfig:
    path: str = option("", "folder holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin")
    limit: int = option(0, "keep at most this many training images (0: all)")

    def validate(self) -> None:
        if not self.path:
            raise ConfigError("data=cifar10 reads binary batches you already have (nothing is downloaded): give their folder with data.path=DIR.")


WHERE_FROM = {
    "mnist": "MNIST's four idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and the two t10k-* files) "
    "come from Yann LeCun's MNIST page or a mirror of it",
    "fashion_mnist": "Fashion-MNIST's four idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and the two "
    "t10k-* files) come from the zalandoresearch/fashion-mnist repository",
    "cifar10": "CIFAR-10's binary version (cifar-10-binary.tar.gz, holding data_batch_1.bin ... test_batch.bin) comes "
    "from the CIFAR page of Alex Krizhevsky",
}


class DatasetFactory:
    """What the ``datasets`` registry holds: a ``Config`` dataclass, the ``kind`` of data it makes
    (``"image"`` or ``"points"``), and a call that makes the :class:`Dataset` from a config instance.
    A third party's data set needs these three, not this class."""

    Config: ClassVar[type]
    kind: ClassVar[Literal["image", "points"]] = "image"

    def __call__(self, cfg: Any) -> Dataset:
        raise NotImplementedError


def factory(name: str) -> Any:
    """The registered data set ``name``; an unknown name is a ConfigError naming the closest ones."""
    return datasets.get(name).load()


def load_data(section: Any, seed: int = 0) -> Dataset:
    """The data set a run's ``data`` section names (split with a fixed seed, the same every run)."""
    if section is None:
        raise ConfigError(f"a generative model needs a data set: add data=NAME ({', '.join(datasets.names())}).")
    make = factory(section.name)
    cfg = section.config
    if cfg is None or isinstance(cfg, dict):
        cfg = build_config(getattr(make, "Config", None), dict(cfg or {}), "data")
    ds = make(cfg)
    if not isinstance(ds, Dataset):
        raise SandboxError(f"the data set {section.name!r} made a {type(ds).__name__}, not a sandbox.generative.data.Dataset; "
                           "its factory must return one.")
    return ds


def _split(name: str, x: torch.Tensor, y: torch.Tensor | None, frac: float, num_classes: int | None,
           class_names: list[str] | None = None, seed: int = 0, kind: str = "image") -> Dataset:
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(len(x) * frac)))
    test, train = perm[:n_test], perm[n_test:]
    return Dataset(name, kind, x[train].contiguous(), None if y is None else y[train], x[test].contiguous(),
                   None if y is None else y[test], num_classes, class_names or [])  # type: ignore[arg-type]


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images N×C×H×W resized to size×size (area when shrinking, bilinear when growing)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    mode = "area" if size < x.shape[-1] else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return torch.nn.functional.interpolate(x, size=(size, size), mode=mode, **kwargs).clamp(0, 1)


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Images rounded to 256 levels, as 8-bit files would hold them."""
    return torch.round(x * 255.0) / 255.0


# -- built-in sets ----------------------------------------------------------------------------------
class Digits(DatasetFactory):
    """scikit-learn's 8×8 digits (values 0..16) as images in [0, 1]."""

    Config = DigitsConfig
    kind = "image"

    def __call__(self, cfg: DigitsConfig) -> Dataset:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
        x = quantise(resize(x, cfg.size))
        y = torch.from_numpy(d.target.astype(np.int64))
        return _split("digits" if cfg.size == 8 else f"digits{cfg.size}", x, y, cfg.test_fraction, 10, [str(i) for i in range(10)])


digits = Digits()


def make_points(name: str, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n raw 2-D points of a toy set."""
    if name == "moons":
        from sklearn.datasets import make_moons

        return make_moons(n, noise=noise, random_state=int(rng.integers(2**31)))[0]
    if name == "swiss_roll":
        from sklearn.datasets import make_swiss_roll

        p = make_swiss_roll(n, noise=noise * 10, random_state=int(rng.integers(2**31)))[0]
        return p[:, [0, 2]]
    k = 8  # ring of Gaussians
    centres = np.stack([np.cos(2 * np.pi * np.arange(k) / k), np.sin(2 * np.pi * np.arange(k) / k)], 1) * 2.0
    which = rng.integers(k, size=n)
    return centres[which] + rng.normal(size=(n, 2)) * max(noise, 1e-3) * 2


class PointSet(DatasetFactory):
    """A standardised 2-D toy set."""

    Config = PointsConfig
    kind = "points"

    def __init__(self, name: Literal["moons", "swiss_roll", "ring"]) -> None:
        self.name = name

    def __call__(self, cfg: PointsConfig) -> Dataset:
        rng = np.random.default_rng(0)
        p = make_points(self.name, cfg.n, cfg.noise, rng)
        p = (p - p.mean(0)) / p.std(0).mean()
        return _split(self.name, torch.from_numpy(p.astype(np.float32)), None, cfg.test_fraction, None, kind="points")


moons, swiss_roll, ring = PointSet("moons"), PointSet("swiss_roll"), PointSet("ring")


SHAPE_NAMES = ["circle", "square", "triangle"]


def draw_shapes(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 3, size, size) in [0, 1] of one coloured shape on a dark background, and labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((n, 3, size, size), np.float32)
    labels = rng.integers(3, size=n)
    for i in range(n):
        r = rng.uniform(0.18, 0.32) * size
        cx, cy = rng.uniform(r + 1, size - r - 1, size=2)
        kind = labels[i]
        if kind == 0:
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        elif kind == 1:
            mask = (np.abs(xx - cx) <= r * 0.85) & (np.abs(yy - cy) <= r * 0.85)
        else:  # upward triangle: below the two slanted edges, above the base
            top, base = cy - r, cy + r * 0.8
            half = (yy - top) / (base - top) * r
            mask = (yy >= top) & (yy <= base) & (np.abs(xx - cx) <= half)
        colour = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
        colour[rng.integers(3)] = rng.uniform(0.0, 0.3)
        background = rng.uniform(0.0, 0.15, size=3).astype(np.float32)
        images[i] = np.where(mask[None], colour[:, None, None], background[:, None, None])
    return images, labels.astype(np.int64)


class Shapes(DatasetFactory):
    """Coloured circles, squares and triangles drawn by code."""

    Config = ShapesConfig
    kind = "image"

    def __call__(self, cfg: ShapesConfig) -> Dataset:
        x, y = draw_shapes(cfg.n, cfg.size)
        return _split("shapes" if cfg.size == 32 else f"shapes{cfg.size}", quantise(torch.from_numpy(x)), torch.from_numpy(y),
                      cfg.test_fraction, 3, SHAPE_NAMES)


shapes = Shapes()


# -- files the user has -----------------------------------------------------------------------------
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class ImageFolder(DatasetFactory):
    """Every image under ``cfg.path``; with sub-folders, each sub-folder is a class."""

    Config = FolderConfig
    kind = "image"

    def __call__(self, cfg: FolderConfig) -> Dataset:
        from PIL import Image, UnidentifiedImageError

        root = Path(cfg.path).expanduser()
        if not root.is_dir():
            raise DataError(f"data.path={root} is not a folder; put your images (PNG or JPEG) in a folder, one sub-folder per class if they have labels, and give its path.")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise DataError(f"no images (PNG, JPEG, BMP, GIF, WebP, TIFF) under {root}; put your images there, one sub-folder per class if they have labels.")
        if cfg.limit:
            files = files[: cfg.limit]
        classes = sorted({p.parent.relative_to(root).as_posix() for p in files})
        labelled = len(classes) > 1 or classes != ["."]
        mode = "L" if cfg.channels == 1 else "RGB"
        arrays = []
        for p in files:
            try:
                with Image.open(p) as im:
                    im = im.convert(mode).resize((cfg.size, cfg.size), Image.BILINEAR)
                    arrays.append(np.asarray(im, dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{p} is not a readable image ({exc.__class__.__name__}); remove or replace it.") from None
        x = np.stack(arrays).astype(np.float32) / 255.0
        x = x[:, None] if cfg.channels == 1 else x.transpose(0, 3, 1, 2)
        y = None
        if labelled:
            index = {c: i for i, c in enumerate(classes)}
            y = torch.tensor([index[p.parent.relative_to(root).as_posix()] for p in files])
        return _split(f"folder-{root.name}", torch.from_numpy(np.ascontiguousarray(x)), y, cfg.test_fraction,
                      len(classes) if labelled else None, classes if labelled else None)


image_folder = ImageFolder()


def _open_maybe_gz(folder: Path, stem: str, dataset: str) -> bytes:
    for name in (stem, stem + ".gz"):
        p = folder / name
        if p.is_file():
            try:
                return gzip.decompress(p.read_bytes()) if name.endswith(".gz") else p.read_bytes()
            except (OSError, EOFError) as exc:
                raise DataError(f"{p} is corrupt ({exc.__class__.__name__}); download it again from where it came and put it in {folder}.") from None
    raise DataError(f"{folder / stem}[.gz] is missing: {WHERE_FROM[dataset]}; put them in {folder} (or set data.path to their folder).")


def read_idx(data: bytes, where: str) -> np.ndarray:
    """An idx array (the MNIST format: zero, zero, type code, rank, sizes, then the values)."""
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in dtypes:
        raise DataError(f"{where} is not an idx file (bad magic number); download it again and replace it.")
    rank = data[3]
    head = 4 + 4 * rank
    if len(data) < head:
        raise DataError(f"{where} is truncated (its header is incomplete); download it again and replace it.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(dtypes[data[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(data) - head != need:
        raise DataError(f"{where} is truncated or corrupt: its header promises {need} bytes of values, it holds {len(data) - head}; download it again.")
    return np.frombuffer(data, dtype=dtype, offset=head).reshape(shape)


class IdxSet(DatasetFactory):
    """MNIST or Fashion-MNIST from the four idx files in ``cfg.path`` (gzipped or not)."""

    Config = IdxConfig
    kind = "image"

    def __init__(self, name: Literal["mnist", "fashion_mnist"]) -> None:
        self.name = name

    def __call__(self, cfg: IdxConfig) -> Dataset:
        folder = Path(cfg.path).expanduser()
        if not folder.is_dir():
            raise DataError(f"data.path={folder} is not a folder: {WHERE_FROM[self.name]}; put them in one folder and give its path.")
        parts = {}
        for split, prefix in (("train", "train"), ("test", "t10k")):
            xs = read_idx(_open_maybe_gz(folder, f"{prefix}-images-idx3-ubyte", self.name), f"{folder}/{prefix}-images-idx3-ubyte")
            ys = read_idx(_open_maybe_gz(folder, f"{prefix}-labels-idx1-ubyte", self.name), f"{folder}/{prefix}-labels-idx1-ubyte")
            if xs.ndim != 3 or ys.ndim != 1 or len(xs) != len(ys):
                raise DataError(f"the {split} idx files in {folder} do not match ({xs.shape} images, {ys.shape} labels); replace them.")
            parts[split] = (xs, ys)
        (xtr, ytr), (xte, yte) = parts["train"], parts["test"]
        if cfg.limit:
            xtr, ytr = xtr[: cfg.limit], ytr[: cfg.limit]

        def tensor(a: np.ndarray) -> torch.Tensor:
            return quantise(resize(torch.from_numpy(a.astype(np.float32) / 255.0)[:, None], cfg.size))

        classes = int(max(ytr.max(initial=0), yte.max(initial=0))) + 1
        suffix = "" if cfg.size == 28 else str(cfg.size)
        return Dataset(self.name + suffix, "image", tensor(xtr), torch.from_numpy(ytr.astype(np.int64)), tensor(xte),
                       torch.from_numpy(yte.astype(np.int64)), classes, [str(i) for i in range(classes)])


mnist, fashion_mnist = IdxSet("mnist"), IdxSet("fashion_mnist")


CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte and 3072 pixel bytes (R, G, B planes)."""
    data = path.read_bytes()
    if len(data) == 0 or len(data) % 3073:
        raise DataError(f"{path} is not a CIFAR-10 binary batch (its size, {len(data)} bytes, is not a multiple of 3073); download the binary version again.")
    rec = np.frombuffer(data, np.uint8).reshape(-1, 3073)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{path} is corrupt: it holds a label above 9; download the binary version again.")
    return rec[:, 1:].reshape(-1, 3, 32, 32), labels


class Cifar10(DatasetFactory):
    """CIFAR-10 from its binary batches in ``cfg.path``."""

    Config = CifarConfig
    kind = "image"

    def __call__(self, cfg: CifarConfig) -> Dataset:
        folder = Path(cfg.path).expanduser()
        if (folder / "cifar-10-batches-bin").is_dir():
            folder = folder / "cifar-10-batches-bin"
        if not folder.is_dir():
            raise DataError(f"data.path={folder} is not a folder: {WHERE_FROM['cifar10']}; unpack it and give the folder's path.")
        train = sorted(folder.glob("data_batch_*.bin"))
        test = folder / "test_batch.bin"
        if not train or not test.is_file():
            missing = "data_batch_1.bin ... data_batch_5.bin" if not train else "test_batch.bin"
            raise DataError(f"{missing} missing in {folder}: {WHERE_FROM['cifar10']}; unpack it there (or set data.path to its folder).")
        xs, ys = zip(*(read_cifar_batch(p) for p in train))
        xtr, ytr = np.concatenate(xs), np.concatenate(ys)
        xte, yte = read_cifar_batch(test)
        if cfg.limit:
            xtr, ytr = xtr[: cfg.limit], ytr[: cfg.limit]

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.float32) / 255.0)

        return Dataset("cifar10", "image", tensor(xtr), torch.from_numpy(ytr), tensor(xte), torch.from_numpy(yte), 10, CIFAR_CLASSES)


cifar10 = Cifar10()


def describe(ds: Dataset) -> str:
    """One line about a data set, for logs."""
    what = "points" if ds.kind == "points" else "×".join(str(s) for s in ds.shape) + " images"
    labels = f", {ds.num_classes} classes" if ds.num_classes else ""
    return f"{ds.name}: {len(ds.x_train)} train + {len(ds.x_test)} held-out {what}{labels}"
