"""The one codec: what a plugin saves (its modules, optimisers, buffers and JSON state) and the RNG
state, to safetensors plus JSON and back. Nothing here pickles or unpickles.

A plugin declares what it saves, the way stable-baselines3's ``_get_torch_save_params`` does, by
returning a :class:`Saved` from ``plugin.saved()``; this module writes it and reads it back. A
checkpoint is two files side by side::

    step-000000001000.safetensors   every tensor, by name:
        modules/<module>/<state-dict key>         weights and buffers of each module
        optimizers/<optimiser>/<param>/<key>      each optimiser's per-parameter tensors (Adam's moments, step)
        buffers/<name>                            arrays saved as they are (replay buffers, snapshots)
        rng/torch                                 torch's CPU generator
    step-000000001000.json          everything else:
        {"format": 2, "step", "elapsed_seconds", "score", "best_score", "time",
         "rng": {"numpy": [...], "python": [...]},
         "optimizers": {<optimiser>: {"param_groups": [...], "scalars": {"<param>/<key>": number}}},
         "state": {...the plugin's JSON...}}

Loading puts the tensors back into the very modules and optimisers ``saved()`` names (strictly: a
missing or unexpected key is an error) and hands the buffers and the JSON state to
``plugin.restore(buffers, state)``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sandbox.errors import RunDirError

if TYPE_CHECKING:
    import numpy as np
    import torch

#: the layout above; a checkpoint without it was written by an older sandbox
FORMAT = 2


@dataclass
class Saved:
    """What a plugin's checkpoint holds: live modules and optimisers (their state is read on save and
    written back on load), buffers (tensors or arrays, saved as they are) and JSON-able ``state``."""

    modules: dict[str, torch.nn.Module] = field(default_factory=dict)
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)
    buffers: dict[str, torch.Tensor | np.ndarray] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class Checkpointable(Protocol):
    def saved(self) -> Saved: ...

    def restore(self, buffers: dict[str, torch.Tensor], state: dict[str, Any]) -> None: ...


# -- modules, optimisers, buffers -------------------------------------------------------------------
def encode(saved: Saved) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors (by the names above, on the CPU, contiguous copies) and the JSON of ``saved``."""
    import numpy as np
    import torch

    tensors: dict[str, torch.Tensor] = {}
    for name, module in saved.modules.items():
        for key, value in module.state_dict().items():
            tensors[f"modules/{name}/{key}"] = value
    optimizers: dict[str, Any] = {}
    for name, opt in saved.optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, Any] = {}
        for param, per_param in sd["state"].items():
            for key, value in per_param.items():
                if torch.is_tensor(value):
                    tensors[f"optimizers/{name}/{param}/{key}"] = value
                else:
                    scalars[f"{param}/{key}"] = value
        optimizers[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    for name, value in saved.buffers.items():
        tensors[f"buffers/{name}"] = torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    return tensors, {"optimizers": optimizers, "state": saved.state}


def decode(plugin: Checkpointable, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> None:
    """Load what :func:`encode` wrote into ``plugin``: its modules and optimisers, then
    ``plugin.restore(buffers, state)``."""
    saved = plugin.saved()
    groups: dict[str, dict[str, dict[str, torch.Tensor]]] = {"modules": {}, "optimizers": {}, "buffers": {}}
    for key, value in tensors.items():
        kind, _, rest = key.partition("/")
        if kind in ("modules", "optimizers"):
            owner, _, inner = rest.partition("/")
            groups[kind].setdefault(owner, {})[inner] = value
        elif kind == "buffers":
            groups["buffers"][rest] = value  # type: ignore[assignment]
    for name, module in saved.modules.items():
        module.load_state_dict(groups["modules"].get(name, {}))
    for name, opt in saved.optimizers.items():
        state = doc.get("optimizers", {}).get(name)
        if state is None and groups["optimizers"].get(name):  # its tensors are there, what they belong to is not
            raise ValueError(f"the optimiser {name!r} has tensors but no entry under 'optimizers' in the checkpoint's JSON")
        if state is not None:
            load_optimizer(opt, groups["optimizers"].get(name, {}), state)
    plugin.restore(groups["buffers"], doc.get("state", {}))  # type: ignore[arg-type]


def misfit(exc: BaseException) -> str:
    """The line of a failed load that says what does not fit (torch's load_state_dict opens with a
    line that names only the module: the next one names the tensor and both shapes), cut short."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    import re

    first = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0]
    shapes = re.match(r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
                      r"the shape in current model is torch\.Size\((\[.*?\])\)", first)
    if shapes:
        name, theirs, ours = shapes.groups()
        return f"{name} is {theirs} in the checkpoint but {ours} in the network the config makes"
    return first.rstrip(".")[:200]


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Put an optimiser's per-parameter tensors (``<param>/<key>``) and scalars back."""
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        param, _, name = key.partition("/")
        per_param.setdefault(int(param), {})[name] = value.clone()
    for key, value in state.get("scalars", {}).items():
        param, _, name = key.partition("/")
        per_param.setdefault(int(param), {})[name] = value
    opt.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})


# -- random number generators ---------------------------------------------------------------------
def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Python's, NumPy's and torch's global generators as tensors and JSON."""
    import numpy as np
    import torch

    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return {"rng/torch": torch.get_rng_state()}, state


def set_rng_state(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    import numpy as np
    import torch

    if "rng/torch" in tensors:
        torch.set_rng_state(tensors["rng/torch"].to(torch.uint8))
    if "numpy" in state:
        a = state["numpy"]
        np.random.set_state((a[0], np.array(a[1], dtype=np.uint32), a[2], a[3], a[4]))
    if "python" in state:
        p = state["python"]
        random.setstate((p[0], tuple(p[1]), p[2]))


# -- the pair of files ----------------------------------------------------------------------------
def write(stem: Path, tensors: dict[str, torch.Tensor], doc: dict[str, Any]) -> None:
    """``stem``.safetensors and ``stem``.json, each written atomically (tensors first)."""
    from safetensors.torch import save

    from sandbox.files import atomic_write

    atomic_write(stem.with_suffix(".safetensors"), save(tensors))
    atomic_write(stem.with_suffix(".json"), json.dumps({"format": FORMAT, **doc}))


def read(stem: Path, which: str = "latest") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The tensors and JSON of a checkpoint pair; a missing, corrupt or older one is a RunDirError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    tensors_path, state_path = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    from sandbox.config import read_regular

    try:
        _check_regular(tensors_path)
        tensors = load_file(str(tensors_path))
    except FileNotFoundError:
        raise RunDirError(f"the {which} checkpoint {tensors_path} is missing; restore it or train the run again.") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise RunDirError(f"the {which} checkpoint {tensors_path} is corrupt ({str(exc).splitlines()[0][:120]}); restore it or train again.") from None
    try:
        doc = json.loads(read_regular(state_path, error=RunDirError))
    except FileNotFoundError:
        raise RunDirError(f"the {which} checkpoint state {state_path} is missing; restore it or train the run again.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RunDirError(f"the {which} checkpoint state {state_path} is corrupt ({exc}); restore it or train again.") from None
    if not isinstance(doc, dict):
        raise RunDirError(f"the {which} checkpoint state {state_path} is not a JSON object; restore it or train again.")
    if doc.get("format") != FORMAT:
        raise RunDirError(f"the {which} checkpoint {state_path} has checkpoint format {doc.get('format', 1)!r} and this sandbox "
                          f"reads format {FORMAT}; train the run again with this version.")
    if (problem := doc_problem(doc, tensors)) is not None:
        raise RunDirError(f"the {which} checkpoint state {state_path} is damaged ({problem}); restore it or train again.")
    return tensors, doc


def _check_regular(path: Path) -> None:
    """A RunDirError when ``path`` is a folder, a FIFO or a device (never opened: a FIFO would block)."""
    import os
    import stat

    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise RunDirError(f"{path} is {'a folder' if stat.S_ISDIR(mode) else 'a FIFO' if stat.S_ISFIFO(mode) else 'not a regular file'}, "
                          "not a checkpoint file; restore it or train again.")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def doc_problem(doc: dict[str, Any], tensors: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a checkpoint's JSON (and its RNG tensor), or None: the keys
    :func:`write` puts there, of the types it writes them with."""
    step = doc.get("step", 0)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        return "'step' must be a whole number ≥ 0"
    if not _number(doc.get("elapsed_seconds", 0.0)):
        return "'elapsed_seconds' must be a number"
    for key in ("score", "best_score"):
        if doc.get(key) is not None and not _number(doc[key]):
            return f"'{key}' must be a number or null"
    if not isinstance(doc.get("optimizers", {}), dict) or not all(
            isinstance(o, dict) and isinstance(o.get("param_groups"), list) and all(isinstance(g, dict) for g in o["param_groups"])
            and isinstance(o.get("scalars", {}), dict) for o in doc.get("optimizers", {}).values()):
        return "'optimizers' must map each optimiser to its param_groups and scalars"
    if not isinstance(doc.get("state", {}), dict):
        return "'state' must be a JSON object"
    rng = doc.get("rng", {})
    if not isinstance(rng, dict):
        return "'rng' must be a JSON object"
    a = rng.get("numpy")
    if a is not None and not (isinstance(a, list) and len(a) == 5 and isinstance(a[0], str) and isinstance(a[1], list)
                              and len(a[1]) == 624 and all(isinstance(x, int) for x in a[1]) and all(_number(x) for x in a[2:])):
        return "'rng.numpy' is not NumPy's generator state"
    p = rng.get("python")
    if p is not None and not (isinstance(p, list) and len(p) == 3 and isinstance(p[0], int) and isinstance(p[1], list)
                              and len(p[1]) == 625 and all(isinstance(x, int) for x in p[1])):
        return "'rng.python' is not Python's generator state"
    t = tensors.get("rng/torch")
    if t is not None:
        import torch

        if t.dtype != torch.uint8 or tuple(t.shape) != tuple(torch.get_rng_state().shape):
            return "the tensor 'rng/torch' is not torch's generator state"
    return None
