"""How good are the samples? A domain FID, its floor, precision and recall; distances for 2-D sets.

The Inception network of the usual FID knows nothing of 8×8 digits and cannot be downloaded here,
so the sandbox trains its own feature extractor: a small CNN classifier on the data set's labels
(on predicting a rotation when the data set has none). It is trained once per data set and cached
as safetensors + JSON (with its held-out accuracy) under ``$SANDBOX_CACHE/fid`` (default
``~/.cache/sandbox/fid``).

- **FID**: the Fréchet distance between Gaussians fitted to the features of n samples and of n real
  images (a fixed half of the data set).
- **Floor F**: the same distance between two disjoint real halves of equal size n. A perfect model
  scores about F, not 0: FID is biased upward at small n, and F says by how much.
- **Precision / recall** (Kynkäänniemi et al. 2019): the share of samples inside the k-NN balls of
  the real features, and the share of real features inside the k-NN balls of the samples.
- 2-D sets: sliced Wasserstein distance and an RBF-kernel MMD², each with its floor.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sandbox.generative.data import Dataset


def cache_dir() -> Path:
    """Where trained feature classifiers live: ``$SANDBOX_CACHE/fid`` or ``~/.cache/sandbox/fid``."""
    root = os.environ.get("SANDBOX_CACHE") or Path.home() / ".cache" / "sandbox"
    return Path(root) / "fid"


class FeatureNet(nn.Module):
    """A small CNN classifier; its 64-wide penultimate layer is the feature space of the FID."""

    def __init__(self, channels: int, num_classes: int, width: int = 32, feature_dim: int = 64) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width * 2, 3, 2, 1), nn.BatchNorm2d(width * 2), nn.ReLU(),
            nn.Conv2d(width * 2, width * 4, 3, 2, 1), nn.BatchNorm2d(width * 4), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width * 4, feature_dim),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(feature_dim, num_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _rotation_task(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Images rotated by k·90° and their k: a label for data sets that have none."""
    k = torch.randint(0, 4, (len(x),), generator=g)
    out = x.clone()
    for r in range(1, 4):
        m = k == r
        if m.any():
            out[m] = torch.rot90(x[m], r, dims=(2, 3))
    return out, k


def _shift(x: torch.Tensor, g: torch.Generator, pixels: int) -> torch.Tensor:
    """A random translation by up to ``pixels`` (same for the batch; padding by replication)."""
    if pixels <= 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-pixels, pixels + 1, (2,), generator=g))
    padded = nn.functional.pad(x, (pixels, pixels, pixels, pixels), mode="replicate")
    h, w = x.shape[-2:]
    return padded[..., pixels + dy: pixels + dy + h, pixels + dx: pixels + dx + w]


def train_feature_net(ds: Dataset, epochs: int = 30, batch: int = 128, seed: int = 0, progress: bool = True) -> tuple[FeatureNet, float]:
    """Train the classifier on the training split; returns it (in eval mode) and its held-out accuracy."""
    torch_state = torch.get_rng_state()
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    labelled = ds.y_train is not None
    classes = ds.num_classes if labelled else 4
    net = FeatureNet(ds.shape[0], classes)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    x_all, y_all = ds.x_train, ds.y_train
    # enough updates for a small data set, at most ~6 epochs' worth of a large one
    steps = int(min(epochs * max(1, len(x_all) // batch), max(1500, 6 * len(x_all) // batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    shift = max(1, ds.shape[-1] // 16)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"FID classifier for {ds.name}", unit="step", mininterval=1.0, leave=False)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x_all), (min(batch, len(x_all)),), generator=g)
        x = x_all[idx]
        if labelled:
            y = y_all[idx]  # type: ignore[index]
        else:
            x, y = _rotation_task(x, g)
        x = _shift(x, g, shift)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    net.eval()
    with torch.no_grad():
        xt, yt = ds.x_test, ds.y_test
        if not labelled:
            xt, yt = _rotation_task(xt, torch.Generator().manual_seed(seed + 1))
        pred = torch.cat([net(xt[i: i + 512]).argmax(1) for i in range(0, len(xt), 512)])
        acc = float((pred == yt).float().mean())
    torch.set_rng_state(torch_state)
    return net, acc


#: classifiers loaded or trained in this process, by cache folder and data set (another
#: ``SANDBOX_CACHE`` is another cache: its files are read or written, not this memory's)
_MEMORY: dict[tuple[str, str], tuple[FeatureNet, dict[str, Any]]] = {}


def feature_net(ds: Dataset, progress: bool = True) -> tuple[FeatureNet, dict[str, Any]]:
    """The cached classifier of ``ds`` (trained and written to the cache on first use) and its info."""
    from safetensors.torch import load_file, save_file

    folder = cache_dir()
    key = ds.key()
    if (str(folder), key) in _MEMORY:
        return _MEMORY[str(folder), key]
    weights, info_path = folder / f"{key}.safetensors", folder / f"{key}.json"
    classes = ds.num_classes if ds.y_train is not None else 4
    net = FeatureNet(ds.shape[0], classes)
    if weights.is_file() and info_path.is_file():
        try:
            net.load_state_dict(load_file(str(weights)))
            info = json.loads(info_path.read_text())
            net.eval()
            _MEMORY[str(folder), key] = (net, info)
            return net, info
        except Exception:  # a torn or foreign cache file: train again and overwrite it
            pass
    t0 = time.time()
    net, acc = train_feature_net(ds, progress=progress)
    info = {"dataset": ds.name, "key": key, "task": "labels" if ds.y_train is not None else "rotation",
            "held_out_accuracy": acc, "train_seconds": round(time.time() - t0, 1), "feature_dim": 64}
    folder.mkdir(parents=True, exist_ok=True)
    tmp = weights.with_name(f".{weights.name}.tmp-{os.getpid()}")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    os.replace(tmp, weights)
    tmp = info_path.with_name(f".{info_path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, info_path)
    _MEMORY[str(folder), key] = (net, info)
    return net, info


@torch.no_grad()
def features(net: FeatureNet, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    """Features (N, 64) of images N×C×H×W in [0, 1]."""
    images = images.detach().float().cpu().clamp(0, 1)
    return torch.cat([net.features(images[i: i + batch]) for i in range(0, len(images), batch)]).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and ``b``."""
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.sqrt(np.sort(d, axis=1)[:, k])  # column 0 is the point itself


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``; with fewer
    than k + 1 images a side, k is as many neighbours as there are."""
    k = max(1, min(k, len(real) - 1, len(fake) - 1))
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    d = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))  # fake × real
    precision = float((d <= r_real[None, :]).any(1).mean())
    recall = float((d.T <= r_fake[None, :]).any(1).mean())
    return precision, recall


@dataclass
class Reference:
    """Two disjoint real halves A and B of n images each, and their features."""

    n: int
    feats_a: np.ndarray
    feats_b: np.ndarray
    floor: float
    info: dict[str, Any]


_REFS: dict[tuple[str, str, int, int], Reference] = {}
#: the seed of split 0 of the data set into the real halves A and B; split k uses SPLIT_SEED + k
SPLIT_SEED = 12345


def reference(ds: Dataset, n: int, progress: bool = True, split: int = 0) -> Reference:
    """The real reference of size ``n`` (at most half the data set) and the floor F for it, from
    split ``split`` of the data set into two disjoint halves (each split a different draw)."""
    x = ds.all_x
    n = int(min(n, len(x) // 2))
    key = (str(cache_dir()), ds.key(), n, int(split))
    if key not in _REFS:
        net, info = feature_net(ds, progress)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED + int(split)))
        fa, fb = features(net, x[perm[:n]]), features(net, x[perm[n: 2 * n]])
        _REFS[key] = Reference(n, fa, fb, frechet_distance(fb, fa), info)
    return _REFS[key]


def image_metrics(ds: Dataset, samples: torch.Tensor, progress: bool = True, split: int = 0) -> dict[str, float]:
    """fid, fid_floor, precision, recall (and the classifier's accuracy) of ``samples`` (n images in
    [0, 1]) against the real half A of split ``split``; the floor is that split's B against A."""
    ref = reference(ds, len(samples), progress, split)
    net, _ = feature_net(ds, progress)
    f = features(net, samples[: ref.n])
    p, r = precision_recall(ref.feats_a, f)
    return {"fid": frechet_distance(f, ref.feats_a), "fid_floor": ref.floor, "precision": p, "recall": r,
            "fid_n": ref.n, "fid_classifier_accuracy": ref.info.get("held_out_accuracy")}


# -- 2-D sets ---------------------------------------------------------------------------------------
def sliced_wasserstein(a: np.ndarray, b: np.ndarray, projections: int = 256, seed: int = 0) -> float:
    """Sliced 1-Wasserstein distance between two equal-size 2-D point sets."""
    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(projections, a.shape[1]))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    pa, pb = np.sort(a[:n] @ theta.T, axis=0), np.sort(b[:n] @ theta.T, axis=0)
    return float(np.abs(pa - pb).mean())


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidths: tuple[float, ...] = (0.05, 0.2, 1.0)) -> float:
    """Unbiased MMD² with a sum of RBF kernels of the given bandwidths (in standardised units)."""

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = ((x[:, None] - y[None]) ** 2).sum(-1)
        return sum(np.exp(-d / (2 * s * s)) for s in bandwidths)

    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1)) - 2 * kab.mean())


def point_metrics(ds: Dataset, samples: torch.Tensor, split: int = 0) -> dict[str, float]:
    """Sliced Wasserstein and MMD² of 2-D samples against held-out points, each with its floor
    (the same distance between two real sets of the same size, from split ``split``)."""
    x = ds.all_x.numpy().astype(np.float64)
    n = int(min(len(samples), len(x) // 2, 2000))
    perm = np.random.default_rng(SPLIT_SEED + int(split)).permutation(len(x))
    a, b = x[perm[:n]], x[perm[n: 2 * n]]
    s = samples.detach().cpu().double().numpy()[:n]
    return {"sliced_wasserstein": sliced_wasserstein(s, a), "sliced_wasserstein_floor": sliced_wasserstein(b, a),
            "mmd": mmd_rbf(s, a), "mmd_floor": mmd_rbf(b, a), "n": n}


#: the measures averaged over draws that also get their spread (``<name>_std``)
SPREAD = ("fid", "fid_floor", "sliced_wasserstein", "sliced_wasserstein_floor", "mmd", "mmd_floor")
#: at most this many draws: each one samples the model anew
MAX_DRAWS = 20


def average_draws(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from the results of several draws: the mean of every number, the standard
    deviation of the distances and floors (``fid_std``, ...), and ``draws``."""
    if len(results) == 1:
        return dict(results[0])
    out: dict[str, Any] = {}
    for key, value in results[0].items():
        values = [r.get(key) for r in results]
        if key not in ("n", "fid_n") and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = float(np.mean(values))
            if key in SPREAD:
                out[f"{key}_std"] = float(np.std(values, ddof=1))
        else:
            out[key] = value
    out["draws"] = len(results)
    return out

