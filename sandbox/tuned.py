"""Tuned values chosen by the pair, as RL Zoo chooses them.

A plugin named with an env or a data set (and a backbone) gets the values the sandbox ships for
that pair. They live in one YAML file per plugin, ``<district>/tuned/<plugin>.yaml``, keyed by the
env or data set the way RL Zoo's ``hyperparams/<algo>.yml`` is keyed by env id::

    CartPole-v1:                 # an exact name ...
      agent: {n_envs: 8, ...}
      backbone: {name: mlp, hidden: [64, 64]}
      steps: 100000
    "ALE/*-v5":                  # ... or a shell pattern (fnmatch), tried in file order
      ...
    digits:
      model: {...}
      backbone: {name: cnn, ...} # the values for the plugin's default backbone
      backbones:                 # and, by name, for the other backbones it takes
        transformer: {backbone: {name: transformer, ...}, steps: 8000}

The tuned values are the bottom layer of a new run's config: a preset or YAML file goes on top of
them, and ``key=value`` overrides on top of that. A section the user gives with another plugin name
(``backbone=rnn`` where the tuned values name ``mlp``) replaces the tuned section; fields given for
the same plugin are merged in. Third-party plugins add their own folder with :func:`add_tuned_dir`.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import ConfigError

#: folders holding ``<plugin>.yaml`` files of tuned values (the built-in districts add theirs)
TUNED_DIRS: list[Path] = []
SECTIONS = ("agent", "model", "env", "data", "backbone")


def add_tuned_dir(path: str | Path) -> None:
    """Make the ``<plugin>.yaml`` files of ``path`` sources of tuned values (called by plugin packages)."""
    p = Path(path)
    if p not in TUNED_DIRS:
        TUNED_DIRS.append(p)


@dataclass
class Tuned:
    """What :func:`apply` did: the pair, where its values came from, and the line that says so."""

    plugin: str
    target: str | None
    source: Path | None  # the YAML file, or None when the pair has no tuned values
    key: str | None  # the entry of that file that matched (a name or a pattern)
    backbone: str | None  # the backbone the values were chosen for (None: the tuned default or none)
    backbone_tuned: bool  # False when the user named a backbone the entry has no values for
    backbone_named: bool = False  # the user chose the backbone

    @property
    def found(self) -> bool:
        return self.source is not None

    def line(self) -> str:
        """One line for the user: which values were applied and how to change them."""
        on = f" on {self.target}" if self.target else ""
        if not self.found:
            return f"no tuned values for {self.plugin}{on}: running on the plugin's defaults; key=value sets any of them."
        where = f"{self.source.parent.parent.name}/{self.source.parent.name}/{self.source.name}" if self.source else ""
        with_backbone = f" with backbone {self.backbone}" if self.backbone_named and self.backbone_tuned else ""
        missing = (f" (none for backbone {self.backbone}: it runs on its defaults)" if self.backbone and not self.backbone_tuned else "")
        return f"using tuned values for {self.plugin}{on}{with_backbone} ({where}){missing}; key=value overrides them."

    def comment(self) -> str:
        """A YAML comment line for the head of config.yaml."""
        return "# " + self.line() + "\n"


def _load(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"the tuned values in {path} cannot be read ({exc.__class__.__name__}); reinstall the plugin that ships them.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the tuned values in {path} must be a mapping of env or data set names to values; reinstall the plugin that ships them.")
    return data


def tuned_files(plugin: str) -> list[Path]:
    """The files of tuned values for ``plugin``, one per folder that has one, in folder order."""
    from sandbox.registry import load_plugins

    load_plugins()
    return [p for d in TUNED_DIRS if (p := Path(d) / f"{plugin}.yaml").is_file()]


def entry_for(table: dict[str, Any], target: str) -> tuple[str, dict[str, Any]] | None:
    """The entry for ``target``: its exact name first, then the first shell pattern that matches."""
    if isinstance(table.get(target), dict):
        return target, table[target]
    for key, value in table.items():
        if isinstance(key, str) and any(ch in key for ch in "*?[") and fnmatch.fnmatchcase(target, key) and isinstance(value, dict):
            return key, value
    return None


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` laid over ``base``. Plugin sections merge field by field when they name the same
    plugin (or ``top`` names none) and are replaced when ``top`` names another; other mappings
    merge recursively; everything else (lists included) is replaced."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        below = out.get(key)
        if key in SECTIONS and isinstance(value, dict) and isinstance(below, dict):
            if "name" in value and below.get("name") != value["name"]:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = {**below, **copy.deepcopy(value)}
        elif isinstance(value, dict) and isinstance(below, dict):
            out[key] = merge(below, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _section_name(raw: dict[str, Any], section: str) -> str | None:
    value = raw.get(section)
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"]
    return None


def apply(raw: dict[str, Any]) -> tuple[dict[str, Any], Tuned | None]:
    """The raw config with the tuned values of its pair beneath it, and what was done (None when
    the config names no plugin, so there is no pair to look up)."""
    kind = "agent" if "agent" in raw else "model" if "model" in raw else None
    if kind is None:
        return raw, None
    plugin = _section_name(raw, kind)
    target = _section_name(raw, "env" if kind == "agent" else "data")
    if plugin is None:
        return raw, None
    chosen_backbone = _section_name(raw, "backbone")
    none = Tuned(plugin, target, None, None, chosen_backbone, False)
    if target is None:
        return raw, none
    for path in tuned_files(plugin):
        found = entry_for(_load(path), target)
        if found is not None:
            break
    else:
        return raw, none
    key, entry = found
    entry = dict(entry)
    by_backbone = entry.pop("backbones", None) or {}
    if not isinstance(by_backbone, dict):
        raise ConfigError(f"'backbones' of {key} in {path} must map backbone names to values; reinstall the plugin that ships them.")
    default_backbone = _section_name(entry, "backbone")
    backbone_tuned = True
    if chosen_backbone is not None and chosen_backbone != default_backbone:
        extra = by_backbone.get(chosen_backbone)
        entry.pop("backbone", None)
        if isinstance(extra, dict):
            entry = merge(entry, extra)
        else:
            backbone_tuned = False
    for section in SECTIONS:
        if section in entry and isinstance(entry[section], str):
            entry[section] = {"name": entry[section]}
    entry.setdefault(kind, {"name": plugin})
    entry[kind].setdefault("name", plugin)
    info = Tuned(plugin, target, path, key, chosen_backbone or default_backbone, backbone_tuned, chosen_backbone is not None)
    return merge(entry, raw), info
