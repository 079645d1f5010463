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

The ``data`` section of a run is free-form (``data=digits data.size=16``); :func:`load_data` checks
it against the data set's own config dataclass and refuses a bad key or value in one sentence.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from sandbox.config import build as build_config
from sandbox.config import option
from sandbox.errors import ConfigError, SandboxError

POINT_SETS = ("moons", "swiss_roll", "ring")


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
@dataclass
class DigitsConfig:
    size: Literal[8, 16, 32] = option(8, "image side in pixels: 8 (native), 16 or 32 (bilinear resize)")
    test_fraction: float = option(0.15, "share of the images held out")


@dataclass
class PointsConfig:
    n: int = option(20_000, "number of points")
    noise: float = option(0.05, "noise added to each point (before standardising)")
    test_fraction: float = option(0.1, "share of the points held out")


@dataclass
class ShapesConfig:
    n: int = option(6000, "number of images")
    size: int = option(32, "image side in pixels")
    test_fraction: float = option(0.1, "share of the images held out")


@dataclass
class FolderConfig:
    path: str = option("", "folder of images (PNG, JPEG, ...); sub-folders are the labels")
    size: int = option(32, "images are resized to size×size")
    channels: Literal[1, 3] = option(3, "1 for grey, 3 for colour")
    test_fraction: float = option(0.1, "share of the images held out")
    limit: int = option(0, "read at most this many images (0: all)")


@dataclass
class IdxConfig:
    path: str = option("", "folder holding train-images-idx3-ubyte[.gz] and friends")
    size: Literal[28, 32, 16] = option(28, "image side (28 native; 16 or 32 resized)")
    limit: int = option(0, "keep at most this many training images (0: all)")


@dataclass
class CifarConfig:
    path: str = option("", "folder holding data_batch_1.bin ... data_batch_5.bin and test_batch.bin")
    limit: int = option(0, "keep at most this many training images (0: all)")


CONFIGS: dict[str, Any] = {
    "digits": DigitsConfig, "moons": PointsConfig, "swiss_roll": PointsConfig, "ring": PointsConfig,
    "shapes": ShapesConfig, "folder": FolderConfig, "mnist": IdxConfig, "fashion_mnist": IdxConfig,
    "cifar10": CifarConfig,
}

WHERE_FROM = {
    "mnist": "MNIST's four idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and the two t10k-* files) "
    "come from Yann LeCun's MNIST page or a mirror of it",
    "fashion_mnist": "Fashion-MNIST's four idx files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz and the two "
    "t10k-* files) come from the zalandoresearch/fashion-mnist repository",
    "cifar10": "CIFAR-10's binary version (cifar-10-binary.tar.gz, holding data_batch_1.bin ... test_batch.bin) comes "
    "from the CIFAR page of Alex Krizhevsky",
}


def data_config(section: Any) -> tuple[str, Any]:
    """The data set's name and its checked config from the run's free-form ``data`` section."""
    if section is None:
        raise ConfigError(f"a generative model needs a data set: add data=NAME ({', '.join(CONFIGS)}).")
    name = section.name
    if name not in CONFIGS:
        from sandbox.registry import did_you_mean

        raise ConfigError(f"unknown data set {name!r}; {did_you_mean(name, list(CONFIGS))}")
    raw = dict(section.config or {})
    cfg = build_config(CONFIGS[name], raw, "data")
    frac = getattr(cfg, "test_fraction", 0.1)
    if not 0.0 < frac < 0.9:
        raise ConfigError(f"data.test_fraction={frac} must be between 0 and 0.9.")
    for key in ("n", "size"):
        if hasattr(cfg, key) and getattr(cfg, key) <= 0:
            raise ConfigError(f"data.{key}={getattr(cfg, key)} must be positive.")
    if name in ("shapes",) and cfg.size < 8:
        raise ConfigError(f"data.size={cfg.size} is too small to draw shapes; use 8 or more (32 is the default).")
    if name in ("folder", "mnist", "fashion_mnist", "cifar10") and not cfg.path:
        raise ConfigError(f"data={name} reads files you already have: give their folder with data.path=DIR.")
    return name, cfg


def load_data(section: Any, seed: int = 0) -> Dataset:
    """The data set a run's ``data`` section names (split with a fixed seed, the same every run)."""
    name, cfg = data_config(section)
    if name == "digits":
        return digits(cfg)
    if name in POINT_SETS:
        return points(name, cfg)
    if name == "shapes":
        return shapes(cfg)
    if name == "folder":
        return image_folder(cfg)
    if name in ("mnist", "fashion_mnist"):
        return idx_dataset(name, cfg)
    return cifar10(cfg)


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
def digits(cfg: DigitsConfig) -> Dataset:
    """scikit-learn's 8×8 digits (values 0..16) as images in [0, 1]."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = quantise(resize(x, cfg.size))
    y = torch.from_numpy(d.target.astype(np.int64))
    return _split("digits" if cfg.size == 8 else f"digits{cfg.size}", x, y, cfg.test_fraction, 10, [str(i) for i in range(10)])


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


def points(name: str, cfg: PointsConfig) -> Dataset:
    """A standardised 2-D toy set."""
    rng = np.random.default_rng(0)
    p = make_points(name, cfg.n, cfg.noise, rng)
    p = (p - p.mean(0)) / p.std(0).mean()
    return _split(name, torch.from_numpy(p.astype(np.float32)), None, cfg.test_fraction, None, kind="points")


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


def shapes(cfg: ShapesConfig) -> Dataset:
    """Coloured circles, squares and triangles drawn by code."""
    x, y = draw_shapes(cfg.n, cfg.size)
    return _split("shapes" if cfg.size == 32 else f"shapes{cfg.size}", quantise(torch.from_numpy(x)), torch.from_numpy(y),
                  cfg.test_fraction, 3, SHAPE_NAMES)


# -- files the user has -----------------------------------------------------------------------------
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def image_folder(cfg: FolderConfig) -> Dataset:
    """Every image under ``cfg.path``; with sub-folders, each sub-folder is a class."""
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


def idx_dataset(name: str, cfg: IdxConfig) -> Dataset:
    """MNIST or Fashion-MNIST from the four idx files in ``cfg.path`` (gzipped or not)."""
    folder = Path(cfg.path).expanduser()
    if not folder.is_dir():
        raise DataError(f"data.path={folder} is not a folder: {WHERE_FROM[name]}; put them in one folder and give its path.")
    parts = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        xs = read_idx(_open_maybe_gz(folder, f"{prefix}-images-idx3-ubyte", name), f"{folder}/{prefix}-images-idx3-ubyte")
        ys = read_idx(_open_maybe_gz(folder, f"{prefix}-labels-idx1-ubyte", name), f"{folder}/{prefix}-labels-idx1-ubyte")
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
    return Dataset(name + suffix, "image", tensor(xtr), torch.from_numpy(ytr.astype(np.int64)), tensor(xte),
                   torch.from_numpy(yte.astype(np.int64)), classes, [str(i) for i in range(classes)])


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


def cifar10(cfg: CifarConfig) -> Dataset:
    """CIFAR-10 from its binary batches in ``cfg.path``."""
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


def describe(ds: Dataset) -> str:
    """One line about a data set, for logs."""
    what = "points" if ds.kind == "points" else "×".join(str(s) for s in ds.shape) + " images"
    labels = f", {ds.num_classes} classes" if ds.num_classes else ""
    return f"{ds.name}: {len(ds.x_train)} train + {len(ds.x_test)} held-out {what}{labels}"
