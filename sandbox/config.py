"""Typed configs: one dataclass per plugin, YAML files, presets, and ``key=value`` overrides.

A run's configuration is a :class:`RunConfig`. Its plugin sections (``agent``, ``model``, ``env``,
``data``, ``backbone``) each hold the chosen plugin's name and an instance of that plugin's own
``Config`` dataclass. On the command line ``agent=ppo`` selects a plugin and ``agent.learning_rate=3e-4``
sets one of its fields; in YAML the same reads::

    agent:
      name: ppo
      learning_rate: 3.0e-4

Plugin configs are plain dataclasses whose fields carry a one-line help in their metadata
(use :func:`option`). Values are checked against the field types; a bad key or value is a
:class:`~sandbox.errors.ConfigError` that names the valid ones.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
import types
import typing
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from sandbox.errors import ConfigError
from sandbox.registry import did_you_mean

SECTIONS = ("agent", "model", "env", "data", "backbone")
_SECTION_REGISTRY = {"agent": "agent", "model": "generative", "env": "env", "data": "dataset", "backbone": "backbone"}
PRESET_DIRS: list[Path] = [Path(__file__).parent / "presets"]


def option(default: Any, help: str, *, low: float | None = None, high: float | None = None,  # noqa: A002 - reads well at call sites
           above: float | None = None, below: float | None = None, resumable: bool = False, **kwargs: Any) -> Any:
    """A dataclass field with a default and a one-line ``help`` (shown by ``--help``).

    ``low``/``high`` (inclusive) and ``above``/``below`` (exclusive) bound a number (or each number
    of a list); :func:`build` refuses a value outside them in one sentence. ``resumable`` marks a
    key that says where and on how many processes a run trains, not what it learns: a resumed run
    may change it (``sandbox train out=RUN agent.actors=2``)."""
    bounds = {k: v for k, v in (("low", low), ("high", high), ("above", above), ("below", below)) if v is not None}
    metadata = {"help": help, **({"bounds": bounds} if bounds else {}), **({"resumable": True} if resumable else {})}
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


def bounds_text(bounds: dict[str, float]) -> str:
    """'in [0, 1]', '> 0', '≥ 1', 'in (0, 1]' ... for a field's bounds."""
    lo = ("[", bounds["low"]) if "low" in bounds else ("(", bounds["above"]) if "above" in bounds else None
    hi = ("]", bounds["high"]) if "high" in bounds else (")", bounds["below"]) if "below" in bounds else None
    if lo and hi:
        return f"in {lo[0]}{lo[1]:g}, {hi[1]:g}{hi[0]}"
    if lo:
        positive = " (positive)" if lo in (("[", 1), ("(", 0)) else ""
        return f"{'≥' if lo[0] == '[' else '>'} {lo[1]:g}{positive}"
    assert hi is not None
    return f"{'≤' if hi[0] == ']' else '<'} {hi[1]:g}"


def check_bounds(value: Any, bounds: dict[str, float], where: str) -> None:
    """A ConfigError when the number ``value`` (or a number in the list ``value``) lies outside ``bounds``."""
    for v in value if isinstance(value, (list, tuple)) else [value]:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        if (("low" in bounds and v < bounds["low"]) or ("high" in bounds and v > bounds["high"])
                or ("above" in bounds and v <= bounds["above"]) or ("below" in bounds and v >= bounds["below"])):
            raise ConfigError(f"{where}={shown(value)} is out of range; it must be {bounds_text(bounds)}.")


@dataclass
class WandbConfig:
    """Weights & Biases settings."""

    mode: Literal["auto", "offline", "online", "disabled"] = option(
        "auto", "auto: online when logged in to W&B, else offline; offline, online or disabled"
    )
    project: str = option("sandbox", "W&B project the run belongs to")
    group: str | None = option(None, "runs of one group are drawn as mean and band by 'compare'")
    tags: list[str] = option([], "W&B tags, e.g. wandb.tags=[ppo,cartpole]")
    entity: str | None = option(None, "W&B entity (user or team); default: your own")


@dataclass
class Section:
    """A plugin section of a run: the plugin's name and its typed config."""

    name: str
    config: Any = None  # the plugin's Config instance, or a dict where the plugin takes free keys

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **to_dict(self.config)}


@dataclass
class RunConfig:
    """Everything needed to rebuild a run."""

    agent: Section | None = None
    model: Section | None = None
    env: Section | None = None
    data: Section | None = None
    backbone: Section | None = None
    steps: int = option(10_000, "training budget in environment steps (agents) or updates (models)")
    max_minutes: float | None = option(None, "the whole run ends within this many minutes, its closing evaluation, video and last checkpoint included")
    seed: int = option(0, "seed of Python, NumPy, torch and the envs")
    device: str = option("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    out: str | None = option(None, "the run directory; default runs/<plugin>-<env|data>-<seed>-<time>")
    checkpoint_minutes: float = option(2.0, "write the latest checkpoint at least this often")
    wandb: WandbConfig = field(default_factory=WandbConfig, metadata={"help": "W&B settings"})

    @property
    def plugin(self) -> Section:
        """The agent or generative-model section, whichever this run trains."""
        section = self.agent or self.model
        if section is None:
            raise ConfigError("a run needs agent=NAME or model=NAME; run 'sandbox list' to see them.")
        return section

    @property
    def kind(self) -> str:
        return "agent" if self.agent is not None else "generative"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Section):
                out[f.name] = value.to_dict()
            elif value is not None or f.name not in SECTIONS:
                out[f.name] = to_dict(value)
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)


TOP_KEYS = [f.name for f in dataclasses.fields(RunConfig)]


# -- values and types -------------------------------------------------------------------------------
_SHOWN = reprlib.Repr()
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxtuple, _SHOWN.maxdict, _SHOWN.maxlevel = 60, 60, 8, 8, 6, 3


def shown(value: Any) -> str:
    """``repr(value)`` cut short, for an error sentence: a huge or deeply nested value stays a few words."""
    return _SHOWN.repr(value)


#: limits on YAML (config files, the run's config.yaml and key=value values): what a config needs,
#: far below what would make parsing or building take more than milliseconds
MAX_YAML_BYTES = 1 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 100_000


def parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load(text)``, refused in one sentence (a ConfigError) when the text is over
    MAX_YAML_BYTES, nests deeper than MAX_YAML_DEPTH, or would hold more than MAX_YAML_NODES values
    once its aliases are expanded (the "billion laughs"). Malformed YAML is yaml.YAMLError."""
    import yaml

    if len(text) > MAX_YAML_BYTES:
        raise ConfigError(f"{where} is {len(text):,} characters of YAML, more than the {MAX_YAML_BYTES:,} a config may have.")
    loader = yaml.SafeLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise ConfigError(f"{where} nests deeper than {MAX_YAML_DEPTH} levels; a config is a few levels of keys and lists.") from None
        if node is None:
            return None
        _check_yaml_size(node, where)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_yaml_size(root: Any, where: str) -> None:
    """Count the values under ``root`` as they would be once aliases are expanded, and its depth,
    without expanding anything (each node is measured once)."""
    import yaml

    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if depth[key] > MAX_YAML_DEPTH:
                raise ConfigError(f"{where} nests deeper than {MAX_YAML_DEPTH} levels; a config is a few levels of keys and lists.")
            if size[key] > MAX_YAML_NODES:
                raise ConfigError(f"{where} would hold more than {MAX_YAML_NODES:,} values once its YAML aliases (*name) are expanded; "
                                  "write the values out, or use fewer aliases.")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise ConfigError(f"{where} holds a YAML alias that refers to itself; a config cannot contain itself.")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def to_dict(obj: Any) -> Any:
    """A dataclass (or nested one) as plain YAML-able data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _parse_text(text: str, where: str = "a value") -> Any:
    import yaml

    try:
        return parse_yaml(text, where)
    except yaml.YAMLError:
        return text


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """``value`` converted to the type ``tp``, or a ConfigError that names ``where`` and the type."""
    origin = get_origin(tp)
    bad = ConfigError(f"{where}={shown(value)} is not valid: expected {_type_name(tp)}.")
    if tp is Any:
        return _parse_text(value, where) if isinstance(value, str) else value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~", ""))):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise bad
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        if isinstance(value, str):
            for c in choices:
                if str(c) == value:
                    return c
        raise ConfigError(f"{where}={shown(value)} is not valid; {did_you_mean(str(value)[:100], [str(c) for c in choices])}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            text = value.replace("_", "").strip()
            try:
                return int(text)  # exact, however many digits
            except ValueError:
                pass
            try:
                number = float(text)
            except ValueError:
                raise bad from None
            if number.is_integer():
                return int(number)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        number: float | None = None
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.replace("_", ""))
            except ValueError:
                raise bad from None
        if number is None:
            raise bad
        if not math.isfinite(number):
            raise ConfigError(f"{where}={shown(value)} is not a finite number; give a real value (null where the key allows none).")
        return number
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad
    if origin in (list, tuple):
        if isinstance(value, str):
            parsed = _parse_text(value, where)
            value = parsed if isinstance(parsed, list) else [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        args = get_args(tp)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return tuple(coerce(v, args[0], where) for v in value)
            if len(args) != len(value):
                raise bad
            return tuple(coerce(v, a, where) for v, a in zip(value, args))
        return [coerce(v, args[0] if args else Any, where) for v in value]
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = _parse_text(value, where)
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad
        return build(tp, value, where)
    if isinstance(value, tp):
        return value
    raise bad


def fields_of(cls: Any) -> dict[str, tuple[Any, dataclasses.Field]]:
    """The fields of a config dataclass with their resolved types."""
    hints = typing.get_type_hints(cls)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls) if f.init}


def build(cls: Any, data: dict[str, Any], where: str) -> Any:
    """An instance of the config dataclass ``cls`` from ``data``, every value checked."""
    if cls is None or cls is dict:  # free keys (a Gymnasium env's keyword arguments): values as YAML reads them
        return {k: _parse_text(v, f"{where}.{k}") if isinstance(v, str) else v for k, v in data.items()}
    known = fields_of(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"unknown key {where}.{str(key)[:100]}; {did_you_mean(str(key)[:100], list(known)) if known else 'it takes no keys.'}"
            )
        kwargs[key] = coerce(value, known[key][0], f"{where}.{key}")
        if "bounds" in known[key][1].metadata:
            check_bounds(kwargs[key], known[key][1].metadata["bounds"], f"{where}.{key}")
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    check = getattr(obj, "validate", None)
    if callable(check):
        check()
    return obj


def describe(cls: Any) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) for every field of a config dataclass, for --help."""
    rows = []
    if cls is None or cls is dict:
        return rows
    for name, (tp, f) in fields_of(cls).items():
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = to_dict(f.default_factory())
        else:
            default = "(required)"
        rows.append((name, _type_name(tp), repr(default) if isinstance(default, str) else str(default), f.metadata.get("help", "")))
    return rows


# -- YAML, presets, overrides ----------------------------------------------------------------------
def read_regular(path: str | Path, limit: int | None = None, error: type[Exception] = ConfigError) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; a folder, a FIFO or a
    device is an ``error`` that says so and is never waited on (opened non-blocking, checked again).
    A missing file is FileNotFoundError, for the caller to word."""
    import os
    import stat

    path = Path(path)

    def refuse(mode: int) -> Exception:
        kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        return error(f"{path} is {kind}, not a regular file; put the real file back (or remove it).")

    if not stat.S_ISREG(mode := os.stat(path).st_mode):
        raise refuse(mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise refuse(st.st_mode)
        if limit is not None and st.st_size > limit:
            raise error(f"{path} is {st.st_size:,} bytes, more than the {limit:,} such a file may have; give a smaller one.")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``; a missing or malformed file is a ConfigError."""
    import yaml

    p = Path(path)
    try:
        text = read_regular(p, MAX_YAML_BYTES, ConfigError).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no config file at {p}; give an existing .yaml file or a preset name ('sandbox list').") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"{p} is not a readable YAML config file ({exc.__class__.__name__}).") from None
    try:
        data = parse_yaml(text, str(p))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(exc, "problem", None) or "malformed YAML")
        problem = problem if len(problem) <= 80 else problem[:77] + "..."  # the error stays one short line
        raise ConfigError(f"{p} is not valid YAML{at}: {problem}; fix the file and try again.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a mapping of keys to values (key: value lines), not a {type(data).__name__}.")
    return data


def presets() -> dict[str, Path]:
    """Every preset shipped with the installed plugins, by name."""
    from sandbox.registry import load_plugins

    load_plugins()
    found: dict[str, Path] = {}
    for d in PRESET_DIRS:
        for p in sorted(Path(d).glob("*.yaml")):
            found.setdefault(p.stem, p)
    return found


def add_preset_dir(path: str | Path) -> None:
    """Make the ``*.yaml`` files of ``path`` available as presets (called by plugin packages)."""
    p = Path(path)
    if p not in PRESET_DIRS:
        PRESET_DIRS.append(p)


def _normalise(raw: dict[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in TOP_KEYS:
            raise ConfigError(f"unknown key {key!r} in {where}; {did_you_mean(str(key), TOP_KEYS)}")
        if key in SECTIONS:
            if isinstance(value, str):
                value = {"name": value}
            elif value is None:
                continue
            elif not isinstance(value, dict) or ("name" not in value and key != "backbone"):
                raise ConfigError(f"{key} in {where} must be a plugin name or a mapping with a 'name' key.")
            value = dict(value)
        out[key] = value
    return out


def apply_override(raw: dict[str, Any], text: str, open_sections: bool = False) -> None:
    """Apply one ``key=value`` (dots reach into sections) to the raw config mapping. With
    ``open_sections`` a field may set a section no name has chosen (a resumed run's own plugin's)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{shown(text)} is not a key=value override; write e.g. steps=1000 or agent.learning_rate=3e-4.")
    if len(value) > MAX_YAML_BYTES:
        raise ConfigError(f"the value of {shown(key)}= is {len(value):,} characters, more than the {MAX_YAML_BYTES:,} a config may have.")
    path = key.split(".")
    top = path[0]
    if top not in TOP_KEYS:
        raise ConfigError(f"unknown key {top!r}; {did_you_mean(top, TOP_KEYS)}")
    if top in SECTIONS:
        section = raw.get(top)
        if len(path) == 1 or path[1:] == ["name"]:
            if section is not None and "name" not in section:
                section["name"] = value  # fields given before the name
            elif section is None or section.get("name") != value:
                raw[top] = {"name": value}  # a new plugin: fields set for the old one do not carry over
            return
        if section is None:
            if top != "backbone" and not open_sections:
                raise ConfigError(f"{key}={value} sets a field of the {top}, but no {top} is chosen; add {top}=NAME first.")
            section = raw[top] = {}  # the plugin's default backbone (named when the config is checked), or a resumed run's plugin
        target = section
    elif top == "wandb":
        if len(path) == 1:
            raise ConfigError("wandb takes fields: wandb.mode=, wandb.project=, wandb.group=, wandb.tags=.")
        target = raw.setdefault("wandb", {})
    else:
        if len(path) > 1:
            raise ConfigError(f"{top} has no fields; write {top}={value}.")
        raw[top] = value
        return
    for part in path[1:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{key}: {part} is not a group of fields.")
        target = nxt
    target[path[-1]] = value


def raw_config(source: str | Path | dict | None, overrides: list[str] | tuple[str, ...] = (), open_sections: bool = False) -> dict[str, Any]:
    """The unchecked config mapping from a preset name, YAML path or dict, with overrides applied
    (``open_sections``: see :func:`apply_override`)."""
    if source is None:
        raw: dict[str, Any] = {}
    elif isinstance(source, dict):
        raw = _normalise(source, "the config")
    else:
        text = str(source)
        if text.endswith((".yaml", ".yml")) or Path(text).is_file():
            raw = _normalise(load_yaml(text), text)
        else:
            found = presets()
            if text not in found:
                raise ConfigError(f"unknown preset {text!r}; {did_you_mean(text, list(found))} (or give a .yaml file)")
            raw = _normalise(load_yaml(found[text]), f"preset {text}")
    for item in overrides:
        apply_override(raw, item, open_sections)
    from sandbox import registry

    for section in SECTIONS:  # another name of a plugin (PettingZoo's connect_four_v3) is written as the plugin's own
        data = raw.get(section)
        if isinstance(data, dict) and "name" in data:
            data["name"] = registry.REGISTRIES[_SECTION_REGISTRY[section]].canonical(data["name"])
    return raw


def resumable_keys(config: RunConfig) -> list[str]:
    """The dotted keys of a run's plugin sections that a resumed run may change: those declared
    with ``option(..., resumable=True)`` (the processes and threads it trains on)."""
    keys: list[str] = []
    for name in SECTIONS:
        section = getattr(config, name)
        if section is not None and dataclasses.is_dataclass(section.config):
            keys += [f"{name}.{f.name}" for f in dataclasses.fields(section.config) if f.metadata.get("resumable")]
    return keys


def plugin_config_class(section: str, name: str) -> Any:
    """The Config dataclass of the plugin ``name`` in ``section`` (None or dict: free keys)."""
    from sandbox import registry

    reg = registry.REGISTRIES[_SECTION_REGISTRY[section]]
    obj = reg.get(name).load()
    return getattr(obj, "Config", None)


def resolve(source: str | Path | dict | RunConfig | None, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """A checked :class:`RunConfig` from a preset, a YAML file, a mapping or a RunConfig."""
    if isinstance(source, RunConfig):
        source = source.to_dict()
    raw = raw_config(source, overrides)
    return from_raw(raw)


def from_raw(raw: dict[str, Any]) -> RunConfig:
    """Check every key and value of a raw mapping and build the RunConfig."""
    kwargs: dict[str, Any] = {}
    top_fields = fields_of(RunConfig)
    pending_backbone = None
    for key, value in raw.items():
        if key == "backbone" and "name" not in value:
            pending_backbone = dict(value)  # fields for the plugin's default backbone
            continue
        if key in SECTIONS:
            data = dict(value)
            if "name" not in data:  # fields given for a section that was never chosen (or a run without one, resumed)
                raise ConfigError(f"{', '.join(f'{key}.{k}' for k in data) or key} sets a field of the {key}, but the config chooses "
                                  f"no {key}; add {key}=NAME, or drop the field.")
            name = data.pop("name")
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{key} must name a plugin, got {name!r}.")
            cls = plugin_config_class(key, name)
            kwargs[key] = Section(name, build(cls, data, key))
        elif key == "wandb":
            if not isinstance(value, dict):
                raise ConfigError("wandb must be a mapping (wandb.mode=, wandb.project=, ...).")
            kwargs[key] = build(WandbConfig, value, "wandb")
        else:
            kwargs[key] = coerce(value, top_fields[key][0], key)
    cfg = RunConfig(**kwargs)
    check_run_config(cfg)
    if pending_backbone is not None:
        from sandbox.registry import plugin_class

        name = plugin_class(cfg).default_backbone_for(cfg)
        if name is None:
            raise ConfigError(f"{cfg.plugin.name} uses no backbone, so backbone.* keys do not apply; drop them.")
        cfg.backbone = Section(name, build(plugin_config_class("backbone", name), pending_backbone, "backbone"))
    return cfg


def check_run_config(cfg: RunConfig) -> None:
    """Cross-field checks: one of agent/model, with an env or data set; budgets that make sense."""
    if cfg.agent is not None and cfg.model is not None:
        raise ConfigError("a run trains an agent or a generative model, not both; drop agent= or model=.")
    if cfg.agent is None and cfg.model is None:
        raise ConfigError("nothing to train: add agent=NAME or model=NAME (see 'sandbox list').")
    if cfg.agent is not None and cfg.data is not None:
        raise ConfigError("agents learn from an env, not a data set; replace data= with env=.")
    if cfg.model is not None and cfg.env is not None:
        raise ConfigError("generative models learn from a data set, not an env; replace env= with data=.")
    if not 0 <= cfg.seed < 2**32:
        raise ConfigError(f"seed={cfg.seed} is out of range; seeds are whole numbers from 0 to {2**32 - 1}.")
    if cfg.steps <= 0:
        raise ConfigError(f"steps={cfg.steps} must be a positive number of steps.")
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise ConfigError(f"max_minutes={cfg.max_minutes} must be positive (or null for no time limit).")
    if cfg.checkpoint_minutes <= 0:
        raise ConfigError(f"checkpoint_minutes={cfg.checkpoint_minutes} must be positive.")
    dev = cfg.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or (dev.startswith("cuda:") and dev[5:].isascii() and dev[5:].isdigit())):
        raise ConfigError(f"device={dev!r} is not valid; use auto, cpu, cuda, cuda:N or mps.")
