"""Pages written when the site is built (mkdocs-gen-files runs this file), from the code itself:

- ``plugins/<kind>.md``: one section per registered plugin (its description, module docstring, paper,
  config fields from ``sandbox.config.describe``, the tuned values it ships, the command that trains
  it, a picture from ``benchmarks/results`` where one exists);
- ``benchmarks.md``: every ``benchmarks/results/*.json`` as tables and plots, with the script that
  remeasures it and the machine it ran on;
- ``notebooks/*.py``: the jupytext notebooks of ``notebooks/``, for mkdocs-jupyter to render.

Nothing here is copied by hand: a new plugin, field, tuned pair or benchmark result shows up at the
next build.
"""

from __future__ import annotations

import html
import importlib
import inspect
import io
import json
import re
from pathlib import Path
from typing import Any

import mkdocs_gen_files
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: the paper (or reference) of each built-in plugin; a third party's plugin has none here
PAPERS = {
    ("agent", "ppo"): "Schulman et al., *Proximal Policy Optimization Algorithms*, 2017 ([arXiv:1707.06347](https://arxiv.org/abs/1707.06347))",
    ("agent", "dqn"): "Mnih et al., *Human-level control through deep reinforcement learning*, Nature 2015 ([doi:10.1038/nature14236](https://doi.org/10.1038/nature14236))",
    ("agent", "a2c"): "Mnih et al., *Asynchronous Methods for Deep Reinforcement Learning*, 2016 ([arXiv:1602.01783](https://arxiv.org/abs/1602.01783))",
    ("agent", "reinforce"): "Williams, *Simple statistical gradient-following algorithms for connectionist reinforcement learning*, Machine Learning 1992",
    ("agent", "alphazero"): "Silver et al., *A general reinforcement learning algorithm that masters chess, shogi, and Go through self-play*, Science 2018 ([arXiv:1712.01815](https://arxiv.org/abs/1712.01815)); Gumbel search: Danihelka et al., *Policy improvement by planning with Gumbel*, ICLR 2022",
    ("generative", "ddpm"): "Ho, Jain and Abbeel, *Denoising Diffusion Probabilistic Models*, 2020 ([arXiv:2006.11239](https://arxiv.org/abs/2006.11239)); DDIM: Song et al. 2020; DPM-Solver++: Lu et al. 2022",
    ("generative", "flow"): "Lipman et al., *Flow Matching for Generative Modeling*, 2022 ([arXiv:2210.02747](https://arxiv.org/abs/2210.02747)); Liu et al., *Rectified Flow*, 2022",
    ("generative", "gan"): "Goodfellow et al., *Generative Adversarial Networks*, 2014 ([arXiv:1406.2661](https://arxiv.org/abs/1406.2661)); R1: Mescheder et al. 2018",
    ("generative", "vae"): "Kingma and Welling, *Auto-Encoding Variational Bayes*, 2013 ([arXiv:1312.6114](https://arxiv.org/abs/1312.6114))",
    ("backbone", "mlp"): "Rumelhart, Hinton and Williams, *Learning representations by back-propagating errors*, Nature 1986",
    ("backbone", "cnn"): "LeCun et al. 1998; the Nature DQN torso of Mnih et al. 2015; residual blocks of He et al. 2016; the UNet denoiser of Ronneberger et al. 2015 (diffusers' `UNet2DModel`)",
    ("backbone", "rnn"): "Cho et al. 2014 (GRU); Hochreiter and Schmidhuber 1997 (LSTM)",
    ("backbone", "transformer"): "Vaswani et al., *Attention Is All You Need*, 2017; ViT patches (Dosovitskiy et al. 2020); DiT denoiser (Peebles and Xie 2022)",
    ("env", "Catch-v0"): "Mnih et al., *Recurrent Models of Visual Attention*, 2014 (the Catch game)",
    ("dataset", "digits"): "Alpaydin and Kaynak, UCI Optical Recognition of Handwritten Digits (scikit-learn's `load_digits`)",
    ("dataset", "mnist"): "LeCun et al., MNIST, 1998",
    ("dataset", "fashion_mnist"): "Xiao, Rasul and Vollgraf, *Fashion-MNIST*, 2017",
    ("dataset", "cifar10"): "Krizhevsky, *Learning Multiple Layers of Features from Tiny Images*, 2009",
}
for _game in ("Asteroids", "BeamRider", "Breakout", "Enduro", "Freeway", "MsPacman", "Pong", "Qbert", "Seaquest", "SpaceInvaders"):
    PAPERS[("env", f"ALE/{_game}-v5")] = "Bellemare et al., *The Arcade Learning Environment*, 2013; Machado et al., *Revisiting the ALE*, 2018 (sticky actions, v5)"

#: the pages, in order: (registry kind, file, title, config section, tuned folder)
KINDS = [
    ("agent", "agents", "Agents", "agent", "agents/tuned"),
    ("generative", "generative", "Generative models", "model", "generative/tuned"),
    ("backbone", "backbones", "Backbones", "backbone", None),
    ("env", "envs", "Envs and games", "env", None),
    ("dataset", "datasets", "Data sets", "data", None),
]


def anchor(name: str) -> str:
    """The heading id of a plugin's section (the same rule the tests use)."""
    return "plugin-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class Code(str):
    """A table cell shown as code (a name, a value to type)."""


def cell(text: Any) -> str:
    """A value made safe for a Markdown table cell."""
    safe = html.escape(str(text)).replace("|", "&#124;").replace("\n", " ")
    return f"<code>{safe}</code>" if isinstance(text, Code) else safe


#: about how many characters of table fit the page's column (the site's CSS keeps cells compact)
TABLE_CHARS = 116


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def width(header: list[str], rows: list[list[Any]]) -> int:
    """About how many characters wide a table is drawn (a long cell wraps at about 28)."""
    return sum(min(max([len(str(h))] + [len(str(r[i])) for r in rows]), 28) + 5 for i, h in enumerate(header))


def wide_table(header: list[str], rows: list[list[Any]]) -> str:
    """A table that fits the column: as it is where it fits; with its few rows turned into columns
    where that fits; else cut into tables of a few columns each, every one led by the columns that
    name a row (the first, and the one that tells its rows apart, a seed), rather than one table
    whose right-hand columns hide behind a scrollbar."""
    if width(header, rows) <= TABLE_CHARS:
        return table(header, rows)
    turned_header = [header[0]] + [str(r[0]) for r in rows]
    turned = [[h] + [r[i] for r in rows] for i, h in enumerate(header) if i]
    if len(rows) <= 6 and len(set(turned_header[1:])) == len(rows) and width(turned_header, turned) <= TABLE_CHARS:
        return table(turned_header, turned)
    keys = [0]
    if len({str(r[0]) for r in rows}) < len(rows):
        keys += next(([j] for j in range(1, len(header)) if len({(str(r[0]), str(r[j])) for r in rows}) == len(rows)), [])
    parts: list[list[int]] = []
    chunk: list[int] = []
    for i in range(1, len(header)):
        if i in keys:
            continue
        trial = keys + chunk + [i]
        if chunk and width([header[j] for j in trial], [[r[j] for j in trial] for r in rows]) > TABLE_CHARS:
            parts.append(chunk)
            chunk = []
        chunk.append(i)
    parts.append(chunk)
    return "\n".join(table([header[j] for j in keys + part], [[r[j] for j in keys + part] for r in rows]) for part in parts)


def typed(cls: Any, name: str, shown: str) -> str:
    """A field's default as one types it after ``key=`` (YAML: ``null``, ``true``, ``linear``), not as
    Python prints it (``None``, ``True``, ``'linear'``); ``shown`` where YAML cannot write it."""
    from dataclasses import MISSING

    from sandbox.config import fields_of, to_dict

    f = fields_of(cls)[name][1]
    if f.default is not MISSING:
        value = f.default
    elif f.default_factory is not MISSING:
        value = to_dict(f.default_factory())
    else:
        return shown
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    except yaml.YAMLError:
        return shown
    return text.removesuffix("...").strip() if "\n" not in text.removesuffix("...").strip() else shown


def first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc or "").split("\n\n")[0].strip()


def tuned_files() -> dict[str, dict[str, Any]]:
    """Every tuned YAML file, by plugin name, with its path relative to the repository."""
    out: dict[str, dict[str, Any]] = {}
    for folder in ("agents/tuned", "generative/tuned"):
        for path in sorted((ROOT / folder).glob("*.yaml")):
            out[path.stem] = {"path": f"{folder}/{path.name}", "pairs": yaml.safe_load(path.read_text()) or {}}
    return out


def flat(prefix: str, value: Any) -> list[str]:
    """A nested mapping as the key=value lines that would set it."""
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in flat(f"{prefix}.{k}" if prefix else str(k), v)]
    shown = "[" + ",".join(str(v) for v in value) + "]" if isinstance(value, list) else value
    return [f"{prefix}={shown}"]


def pictures() -> list[Path]:
    return sorted(RESULTS.glob("*.png"))


def picture_for(kind: str, name: str) -> list[Path]:
    """Benchmark pictures whose file name names the plugin (``generative_ddpm_2d_moons.png`` for
    ddpm, ``agents_pong_curve.png`` for ALE/Pong-v5)."""
    key = name.lower().split("/")[-1].split("-")[0]
    return [p for p in pictures() if f"_{key}_" in f"_{p.stem.lower()}_"]


def copy_picture(path: Path) -> str:
    """The picture written into the site (read from benchmarks/results at build time)."""
    target = f"assets/results/{path.name}"
    with mkdocs_gen_files.open(target, "wb") as f:
        f.write(path.read_bytes())
    return target


def presets_using(section: str, name: str) -> list[str]:
    from sandbox.config import presets

    found = []
    for preset, path in presets().items():
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError:
            continue
        value = raw.get(section)
        chosen = value.get("name") if isinstance(value, dict) else value
        if chosen == name:
            found.append(preset)
    return sorted(found)


def train_commands(kind: str, section: str, name: str, tuned: dict[str, Any]) -> list[str]:
    commands = [f"sandbox train {p}" for p in presets_using(section, name)[:4]]
    if kind in ("agent", "generative"):
        pairs = tuned.get(name, {}).get("pairs", {})
        other = "env" if kind == "agent" else "data"
        first = next(iter(pairs), None)
        if first is not None and "*" not in str(first):
            commands.append(f"sandbox train {section}={name} {other}={first}")
        commands.append(f"sandbox train {section}={name} --help        # its fields, types, defaults")
    elif kind == "backbone":
        commands.append(f"sandbox train agent=ppo env=CartPole-v1 backbone={name}")
    elif kind == "env":
        users = sorted({plugin for plugin, t in tuned.items() if name in t["pairs"]})
        agent = next((u for u in users if u in {"ppo", "alphazero", "dqn"}), users[0] if users else "ppo")
        commands.append(f"sandbox train agent={agent} env={name}")
    elif kind == "dataset":
        commands.append(f"sandbox train model=ddpm data={name}" + (" data.path=DIR" if name in {"mnist", "fashion_mnist", "cifar10", "folder"} else ""))
    return commands


def plugin_section(kind: str, section: str, entry: dict[str, str], tuned: dict[str, Any]) -> str:
    from sandbox.config import describe, plugin_config_class
    from sandbox.registry import REGISTRIES

    name = entry["name"]
    obj = REGISTRIES[kind].get(name).load()
    module = importlib.import_module(getattr(obj, "__module__", "") or "sandbox")
    out = [f"## `{name}` {{ #{anchor(name)} }}\n", f"{entry['description']}\n"]
    about = first_paragraph(module.__doc__)
    if about:
        out.append("\n".join("> " + line for line in about.splitlines()) + "\n\n")
    out.append(f"- defined in: `{entry['origin']}`\n")
    paper = PAPERS.get((kind, name))
    if paper:
        out.append(f"- paper: {paper}\n")
    if not (kind, name) in PAPERS and not entry["origin"].startswith("sandbox."):
        out.append("- a third party's plugin (loaded through the `sandbox.plugins` entry points)\n")
    out.append("\n")

    config_cls = plugin_config_class(section, name)
    out.append(f"### Config fields (`{section}.FIELD=VALUE`)\n\n")
    if config_cls is None or config_cls is dict:
        out.append("Takes any keyword its constructor takes (a Gymnasium id's `gymnasium.make` keywords).\n\n")
    else:
        rows = describe(config_cls)
        if rows:
            out.append(table(["name", "type", "default", "help"], [[Code(f"{section}.{r[0]}"), r[1], Code(typed(config_cls, r[0], r[2])), r[3]] for r in rows]))
        else:
            out.append("(no fields)\n")
        out.append("\n")

    # tuned values: a plugin's own file, or for an env / data set the pairs that name it
    if kind in ("agent", "generative") and name in tuned:
        info = tuned[name]
        out.append(f"### Tuned values (`{info['path']}`)\n\n")
        out.append(f"A run of `{section}={name}` with one of these starts from its values; `key=value` goes on top.\n\n")
        for pair, values in info["pairs"].items():
            lines = flat("", values)
            out.append(f'??? note "{pair}"\n    ```\n' + "".join(f"    {line}\n" for line in lines) + "    ```\n\n")
    elif kind in ("env", "dataset"):
        users = [(plugin, info["path"]) for plugin, info in tuned.items() if name in info["pairs"]]
        if users:
            out.append("### Tuned values for it\n\n" + ", ".join(f"`{p}` (`{path}`)" for p, path in users) + "\n\n")

    out.append("### Train it\n\n```\n" + "\n".join(train_commands(kind, section, name, tuned)) + "\n```\n\n")
    for pic in picture_for(kind, name):
        target = copy_picture(pic)
        out.append(f"![{pic.stem}](../{target}){{ width=480 }}\n\n*`benchmarks/results/{pic.name}`*\n\n")
    return "".join(out)


def plugin_pages() -> None:
    from sandbox.registry import list_plugins

    tuned = tuned_files()
    for kind, file, title, section, _ in KINDS:
        entries = list_plugins(kind)
        intro = {
            "agent": "Agents train on an env and yield a policy: `act(observation, action_mask=None, deterministic=True)`.",
            "generative": "Generative models train on a data set and yield `sample(n, seed=...)`: images in [0, 1], N×C×H×W.",
            "backbone": "Every backbone is built from an input spec (a vector D, an image C×H×W, a sequence T×D) and its own config, and exposes `out_dim`.",
            "env": "Single-agent envs are Gymnasium envs (any Gymnasium id works too); board games are PettingZoo AEC envs with PettingZoo classic's observations and actions.",
            "dataset": "Data sets for the generative models; nothing is downloaded (larger sets read files you already have, `data.path=DIR`).",
        }[kind]
        body = [f"# {title}\n\n{intro}\n\n", "*This page is generated from the code when the site is built (`docs/gen_pages.py`).*\n\n"]
        body.append(table(["name", "what it is"], [[e["name"], e["description"]] for e in entries]))
        body.append("\n")
        for e in entries:
            body.append(plugin_section(kind, section, e, tuned))
        with mkdocs_gen_files.open(f"plugins/{file}.md", "w") as f:
            f.write("".join(body))


# -- benchmarks ------------------------------------------------------------------------------------
def script_for(stem: str) -> tuple[str | None, bool]:
    """The benchmark script that writes ``results/<stem>.json``, and whether it names the file: the
    script of the same district whose name shares the most words with it (``generative_ddpm_digits.py``
    for ``generative_ddpm_unet_digits``), a script that names the file first among equals."""
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))

    def common(name: str) -> int:
        n = 0
        for x, y in zip(name.split("_"), stem.split("_")):
            if x != y:
                break
            n += 1
        return n

    def shared(name: str) -> int:
        return len(set(name.split("_")) & set(stem.split("_"))) if common(name) else 0

    ranked = sorted(scripts, key=lambda p: (-shared(p.stem), not f"{stem}.json" in p.read_text(errors="replace"), len(p.stem)))
    if not ranked or shared(ranked[0].stem) < 2:
        return None, False
    best = ranked[0]
    return best.name, f"{stem}.json" in best.read_text(errors="replace") or f"{stem}" == best.stem


MACHINE_KEYS = ("machine", "cpus", "cpu_threads", "torch_threads", "device", "gpu", "load_avg_at_end", "load_avg_before", "load_avg_after", "load_before", "load_after")


def machine_of(doc: dict[str, Any]) -> str:
    parts = []
    for key in MACHINE_KEYS:
        if key == "machine" and isinstance(doc.get(key), dict):
            parts += [f"{k}: `{v}`" for k, v in doc[key].items()]
        elif key in doc:
            parts.append(f"{key}: `{json.dumps(doc[key])}`")
    if not parts:
        return "not recorded in the JSON (the benchmarks ran on the development VM: two shared CPU cores, no GPU, unless said otherwise)"
    return "; ".join(parts)


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if is_scalar(v):
        return str(v)
    text = json.dumps(v)
    return text if len(text) <= 80 else text[:77] + "..."


def numeric_rows(value: Any) -> list[list[float]] | None:
    """A list of [x, y, ...] numbers (a curve), or None."""
    if isinstance(value, list) and len(value) >= 2 and all(isinstance(r, list) and len(r) >= 2 and all(isinstance(x, (int, float)) for x in r) for r in value):
        return value
    return None


def write_svg(fig: Any, name: str) -> str:
    """The figure as ``assets/bench/<name>.svg`` in the site (closed after); returns that path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    target = f"assets/bench/{name}.svg"
    with mkdocs_gen_files.open(target, "w") as f:
        f.write(buf.getvalue())
    return target


def plot(name: str, xs: list[float], series: dict[str, list[float]], xlabel: str) -> str:
    """An SVG line plot written into the site; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    # one panel per series: the columns of a result rarely share a scale (a return beside seconds)
    fig, axes = plt.subplots(1, len(series), figsize=(min(3.6 * len(series), 11), 2.8), squeeze=False)
    for ax, (label, ys) in zip(axes[0], series.items()):
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.3)
    return write_svg(fig, name)


def plot_lines(name: str, title: str, lines: dict[str, list[list[float]]]) -> str:
    """One SVG panel with a line per row (``[[x, y], ...]`` each); returns its path in the site."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 3.2))
    groups: dict[str, int] = {}  # one colour per row name (the agent), one dash per row within it (the seed)
    for label, points in lines.items():
        group = label.split(" ")[0]
        nth = sum(1 for other in lines if other.split(" ")[0] == group and other < label)
        colour = f"C{groups.setdefault(group, len(groups)) % 10}"
        ax.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1, alpha=0.85,
                color=colour, linestyle=("-", "--", ":", "-.")[nth % 4])
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2 if len(lines) > 6 else 1, loc="best")
    return write_svg(fig, name)


def render_value(stem: str, key: str, value: Any) -> str:
    """One top-level entry of a result file that is not a scalar: a table, and a plot for curves."""
    out = [f"**{cell(key)}**\n\n"]
    rows = numeric_rows(value)
    if rows is not None:
        xs = [r[0] for r in rows]
        target = plot(f"{stem}-{key}", xs, {f"column {i}": [r[i] for r in rows] for i in range(1, min(len(r) for r in rows))}, "column 0")
        out.append(f"![{stem} {key}]({target})\n\n")
        return "".join(out)
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        cols: list[str] = []
        for r in value:
            cols += [k for k in r if k not in cols]
        # a column whose every value is a curve ([[x, y], ...]) is drawn, a line per row, not printed
        curves = [c for c in cols[1:] if all(numeric_rows(r.get(c)) is not None for r in value)]
        cols = [c for c in cols if c not in curves]
        out.append(wide_table(cols, [[fmt(r.get(c, "")) for c in cols] for r in value]))
        for c in curves:
            names = [" ".join(str(r.get(k, "")) for k in cols[:2]) for r in value]
            target = plot_lines(f"{stem}-{key}-{c}", c, {n: numeric_rows(r[c]) for n, r in zip(names, value)})
            out.append(f"\n![{stem} {key} {c}]({target})\n")
        x = cols[0]
        ys = [c for c in cols[1:] if all(isinstance(r.get(c), (int, float)) and not isinstance(r.get(c), bool) for r in value)]
        if "curve" in key and len(value) >= 2 and ys and all(isinstance(r.get(x), (int, float)) for r in value):
            target = plot(f"{stem}-{key}", [r[x] for r in value], {c: [r[c] for r in value] for c in ys[:3]}, x)
            out.append(f"\n![{stem} {key}]({target})\n")
        for r in value:  # pictures a row names
            for v in r.values():
                if isinstance(v, str) and v.endswith(".png") and (ROOT / v).is_file():
                    out.append(f"\n![{Path(v).stem}]({copy_picture(ROOT / v)}){{ width=360 }}\n")
        return "".join(out) + "\n"
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        cols = []
        for v in value.values():
            cols += [k for k in v if k not in cols]
        out.append(wide_table([""] + cols, [[k] + [fmt(v.get(c, "")) for c in cols] for k, v in value.items()]))
        return "".join(out) + "\n"
    if isinstance(value, dict) and value and all(isinstance(v, list) and v and all(isinstance(x, dict) for x in v) for v in value.values()):
        cols = []
        for v in value.values():
            for r in v:
                cols += [k for k in r if k not in cols]
        rows2 = [[k] + [fmt(r.get(c, "")) for c in cols] for k, v in value.items() for r in v]
        out.append(wide_table([""] + cols, rows2))
        return "".join(out) + "\n"
    if isinstance(value, dict):
        out.append(table(["key", "value"], [[k, fmt(v)] for k, v in value.items()]))
        return "".join(out) + "\n"
    out.append(f"`{cell(fmt(value))}`\n\n")
    return "".join(out)


def benchmark_page() -> None:
    body = [
        "# Benchmarks\n\n",
        "Every figure below is read from `benchmarks/results/*.json` when the site is built "
        "(`docs/gen_pages.py`); rerun the script named under each to measure it again, then rebuild.\n\n",
    ]
    files = sorted(RESULTS.glob("*.json"))
    claimed: set[Path] = set()
    for path in files:
        stem = path.stem
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            body.append(f"## {stem}\n\n`{path.name}` is not valid JSON ({cell(exc)}).\n\n")
            continue
        script, named = script_for(stem)
        body.append(f"## {stem}\n\n")
        if script is None:
            body.append("- measured by: (no script in `benchmarks/` is named like this file)\n")
        else:
            body.append(f"- measured by: `python benchmarks/{script}`" + ("" if named else " (the script named like it; see its docstring for the options that write this file)") + "\n")
        if isinstance(doc, dict) and isinstance(doc.get("command"), str):
            body.append(f"- the command it times: `{doc['command']}`\n")
        body.append(f"- machine: {machine_of(doc) if isinstance(doc, dict) else 'not recorded'}\n")
        body.append(f"- file: `benchmarks/results/{path.name}`\n\n")
        if not isinstance(doc, dict):
            body.append(render_value(stem, "values", doc))
            continue
        scalars = [[k, fmt(v)] for k, v in doc.items() if is_scalar(v) and k not in MACHINE_KEYS and k != "command"]
        if scalars:
            body.append(table(["figure", "value"], scalars) + "\n")
        for key, value in doc.items():
            if not is_scalar(value) and key not in MACHINE_KEYS:
                body.append(render_value(stem, key, value))
        prefix = "_".join(stem.split("_")[:2])
        for pic in pictures():
            if pic.stem.startswith(prefix) and pic not in claimed:
                claimed.add(pic)
                body.append(f"![{pic.stem}]({copy_picture(pic)}){{ width=480 }}\n\n*`benchmarks/results/{pic.name}`*\n\n")
    leftover = [p for p in pictures() if p not in claimed]
    if leftover:
        body.append("## Other pictures\n\n")
        for pic in leftover:
            body.append(f"![{pic.stem}]({copy_picture(pic)}){{ width=480 }}\n\n*`benchmarks/results/{pic.name}`*\n\n")
    with mkdocs_gen_files.open("benchmarks.md", "w") as f:
        f.write("".join(body))


def notebooks() -> None:
    """The jupytext notebooks, handed to mkdocs-jupyter as pages.

    Where the build runs them (``SANDBOX_DOCS_EXECUTE=true``), they write their runs into
    ``runs/docs-notebooks``, emptied first, unless ``SANDBOX_NOTEBOOK_OUT`` names a folder: in the
    notebooks' own ``runs/notebooks`` a second build resumed the first build's runs, and the pages
    showed "has already spent its budget" in red and the old curves."""
    import os
    import shutil

    if str(os.environ.get("SANDBOX_DOCS_EXECUTE", "")).lower() in {"true", "1", "yes", "on"} and not os.environ.get("SANDBOX_NOTEBOOK_OUT"):
        out = ROOT / "runs" / "docs-notebooks"
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        # the kernels mkdocs-jupyter starts inherit it; relative where they start in the repository,
        # so that the pages print runs/docs-notebooks/..., not a machine's path
        os.environ["SANDBOX_NOTEBOOK_OUT"] = os.path.relpath(out) if Path.cwd() == ROOT else str(out)
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        with mkdocs_gen_files.open(f"notebooks/{path.name}", "w") as f:
            f.write(path.read_text())
        mkdocs_gen_files.set_edit_path(f"notebooks/{path.name}", f"../notebooks/{path.name}")


plugin_pages()
benchmark_page()
notebooks()
