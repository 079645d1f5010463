"""One registry per kind of plugin: agent, generative model, data set, backbone, env.

Plugins are found through the Python entry-point group ``sandbox.plugins``. Each entry point names
a module (or a ``module:function`` to call); importing it registers its plugins, either eagerly with
a decorator::

    from sandbox.registry import agents

    @agents.register("myorg/my-agent")
    class MyAgent(sandbox.Agent): ...

or lazily, by the import path of the object, so that listing plugins imports no model code::

    agents.register_lazy("myorg/my-agent", "my_pkg.agent:MyAgent", "One line that says what it is.")

Each plugin is registered once, one way or the other (the built-in ones all lazily).

Built-in plugins (the modules of the ``sandbox`` package: its core, ``sandbox.agents``,
``sandbox.generative`` and ``sandbox.envs``) have plain names; a third party's names carry a
namespace, ``myorg/name``. Each registry is an attribute of this module (``sandbox.registry.agents``,
``sandbox.registry.datasets``, ...); the names ``sandbox.agents``, ``sandbox.envs``,
``sandbox.generative`` and ``sandbox.backbones`` are the packages that hold the built-in plugins.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from sandbox.errors import ConfigError, SandboxError

if TYPE_CHECKING:
    from sandbox.config import RunConfig
    from sandbox.plugin import Plugin

ENTRY_POINT_GROUP = "sandbox.plugins"
BUILTIN_PACKAGES = frozenset({"sandbox"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def _top_package(module: str) -> str:
    return module.split(".", 1)[0]


def closest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """The names in ``choices`` that look most like ``name`` (for 'did you mean' sentences)."""
    lower = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.5)
    if not hits:
        hits = [c for c in lower if name.lower() in c or c in name.lower()][:n]
    return [lower[h] for h in hits]


def did_you_mean(name: str, choices: list[str], more: Sequence[str] = ()) -> str:
    """A sentence fragment naming the closest valid choices (among ``choices`` and ``more``, names
    that are valid but too many to list), or all of ``choices`` when few."""
    near = closest(name, [*choices, *more])
    if near:
        return "did you mean " + " or ".join(repr(c) for c in near) + "?"
    if len(choices) <= 12:
        return "valid names: " + ", ".join(sorted(choices)) + "."
    return f"run 'sandbox list' to see the {len(choices)} valid names."


@dataclass
class Entry:
    """One registered plugin: its name, what it is, where it came from, and how to get it."""

    kind: str
    name: str
    description: str
    origin: str
    target: str | None = None  # "module:attr" for a lazy entry
    _obj: Any = None

    def load(self) -> Any:
        """The registered object (a class, usually), importing its module on first use."""
        if self._obj is None:
            assert self.target is not None
            module, _, attr = self.target.partition(":")
            try:
                mod = importlib.import_module(module)
            except ImportError as exc:
                raise SandboxError(
                    f"the {self.kind} '{self.name}' could not be imported from {module} ({exc}); "
                    "reinstall the package that provides it."
                ) from exc
            obj = mod
            for part in attr.split("."):
                obj = getattr(obj, part)
            try:
                obj.plugin_name = self.name
            except (AttributeError, TypeError):  # an object that takes no attributes
                pass
            self._obj = obj
        return self._obj

    @property
    def builtin(self) -> bool:
        return "/" not in self.name


class Registry:
    """The plugins of one kind, by name."""

    def __init__(self, kind: str, plural: str) -> None:
        self.kind = kind
        self.plural = plural
        self._entries: dict[str, Entry] = {}
        self._fallbacks: list[Callable[[str], Entry | None]] = []
        self._fallback_names: list[Callable[[], list[str]]] = []
        self._provided: dict[tuple[str, str], Entry] = {}
        self._aliases: dict[str, str] = {}

    # -- registering ---------------------------------------------------------------------------
    def _add(self, entry: Entry, module: str) -> None:
        if not _NAME.match(entry.name):
            raise SandboxError(
                f"{entry.origin} tried to register the {self.kind} name {entry.name!r}: names are "
                "letters, digits, '.', '_' and '-', with at most one '/' after a namespace."
            )
        if _top_package(module) not in BUILTIN_PACKAGES and "/" not in entry.name:
            raise SandboxError(
                f"{entry.origin} tried to register the {self.kind} {entry.name!r} without a "
                f"namespace; third-party plugins are named 'namespace/name', e.g. 'myorg/{entry.name}'."
            )
        old = self._entries.get(entry.name)
        if old is not None and old.origin != entry.origin:
            raise SandboxError(
                f"the {self.kind} name {entry.name!r} is registered twice: by {old.origin} and by "
                f"{entry.origin}; rename one of them."
            )
        self._entries[entry.name] = entry

    def register(self, name: str, *, description: str | None = None) -> Callable[[Any], Any]:
        """Decorator: register a class (or factory function) under ``name``."""

        def deco(obj: Any) -> Any:
            doc = description or (obj.__doc__ or "").strip().splitlines()[0:1]
            text = doc if isinstance(doc, str) else (doc[0] if doc else "")
            origin = f"{obj.__module__}.{obj.__qualname__}"
            self._add(Entry(self.kind, name, text, origin, _obj=obj), obj.__module__)
            obj.plugin_name = name
            return obj

        return deco

    def register_lazy(self, name: str, target: str, description: str) -> None:
        """Register ``target`` ('module:attr') under ``name`` without importing it."""
        module = target.partition(":")[0]
        self._add(Entry(self.kind, name, description, target.replace(":", "."), target=target), module)

    def alias(self, name: str, canonical: str) -> None:
        """Let ``name`` stand for the registered ``canonical`` (``connect_four_v3``, PettingZoo's id,
        for ``connect_four``): lookups find the entry, and a run's config is written with
        ``canonical`` (:meth:`canonical`), so that tuned values, presets and plugins know it."""
        self._aliases[name] = canonical

    def canonical(self, name: Any) -> Any:
        """The registered name ``name`` stands for: itself, or what :meth:`alias` made it stand for."""
        load_plugins()
        return self._aliases.get(name, name) if isinstance(name, str) else name

    def add_fallback(self, resolver: Callable[[str], Entry | None], names: Callable[[], list[str]] | None = None) -> None:
        """Resolve names that are not registered (e.g. any Gymnasium id) through ``resolver``;
        ``names()`` lists what it resolves, for the suggestions of a misspelt name."""
        self._fallbacks.append(resolver)
        if names is not None:
            self._fallback_names.append(names)

    def provide(self, name: str, attribute: str, target: str) -> None:
        """Let another plugin package provide ``attribute`` of the entry ``name`` ('module:attr',
        imported on first use). The agents district hands the board games their opponent for human
        play this way, so that the envs district never imports the agents district."""
        module = target.partition(":")[0]
        if _top_package(module) not in BUILTIN_PACKAGES and "/" not in name:
            raise SandboxError(f"{module} tried to provide {attribute} of the built-in {self.kind} {name!r}; a third party "
                               "provides attributes only for its own 'namespace/name' plugins.")
        self._provided[(name, attribute)] = Entry(self.kind, name, attribute, target.replace(":", "."), target=target)

    def provided(self, name: str, attribute: str) -> Any | None:
        """What :meth:`provide` registered for ``name``'s ``attribute`` (None when nothing did)."""
        load_plugins()
        entry = self._provided.get((name, attribute))
        return None if entry is None else entry.load()

    # -- looking up ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry]:
        load_plugins()
        for name in sorted(self._entries):
            yield self._entries[name]

    def find(self, name: str) -> Entry | None:
        """The entry for ``name``, or None."""
        load_plugins()
        entry = self._entries.get(self._aliases.get(name, name))
        if entry is None:
            for resolve in self._fallbacks:
                entry = resolve(name)
                if entry is not None:
                    break
        return entry

    def get(self, name: str) -> Entry:
        """The entry for ``name``; an unknown name is a ConfigError naming the closest ones."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} name must be a non-empty string, not {name!r}.")
        entry = self.find(name)
        if entry is None:
            more = [*self._aliases, *(n for names in self._fallback_names for n in names())]
            raise ConfigError(f"unknown {self.kind} {name!r}; {did_you_mean(name, self.names(), more)}")
        return entry

    def __contains__(self, name: str) -> bool:
        return self.find(name) is not None


agents = Registry("agent", "agents")
generative = Registry("generative model", "generative")
datasets = Registry("data set", "datasets")
backbones = Registry("backbone", "backbones")
envs = Registry("env", "envs")
REGISTRIES = {"agent": agents, "generative": generative, "dataset": datasets, "backbone": backbones, "env": envs}


def plugin_class(config: RunConfig) -> type[Plugin]:
    """The agent or generative-model class a run's config names."""
    reg = agents if config.agent is not None else generative
    return reg.get(config.plugin.name).load()

_loaded = False


def load_plugins() -> None:
    """Import every module named by the ``sandbox.plugins`` entry points, once.

    ``SANDBOX_PLUGINS`` (comma-separated module names) adds modules that are not installed as a
    distribution, which is handy while writing a plugin.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    from importlib.metadata import entry_points

    targets: list[tuple[str, str]] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep.dist, "name", None) or "an unknown distribution"
        targets.append((ep.value, f"entry point {ep.name!r} of {dist}"))
    for module in filter(None, (m.strip() for m in os.environ.get("SANDBOX_PLUGINS", "").split(","))):
        targets.append((module, "SANDBOX_PLUGINS"))
    for value, where in targets:
        module, _, func = value.partition(":")
        try:
            mod = importlib.import_module(module)
            if func:
                getattr(mod, func.strip())()
        except SandboxError:
            raise
        except Exception as exc:  # a broken third-party plugin must not take the core down
            import warnings

            warnings.warn(f"could not load the plugins of {where} ({value}): {exc}", stacklevel=2)


def list_plugins(kind: str | None = None) -> dict[str, list[dict[str, str]]] | list[dict[str, str]]:
    """What is registered: for one kind ('agent', 'generative', 'dataset', 'backbone', 'env') a list of
    ``{"name", "description", "origin"}``; with no kind, a dict keyed by the plural of each kind."""
    if kind is not None:
        if kind not in REGISTRIES:
            raise ConfigError(f"unknown plugin kind {kind!r}; {did_you_mean(kind, list(REGISTRIES))}")
        reg = REGISTRIES[kind]
        return [{"name": e.name, "description": e.description, "origin": e.origin} for e in reg.entries()]
    return {reg.plural: list_plugins(k) for k, reg in REGISTRIES.items()}  # type: ignore[misc]
