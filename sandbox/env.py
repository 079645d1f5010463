"""``make_env``: any env the sandbox registers, or any Gymnasium id (Atari ids through ale-py).

:func:`gymnasium_fallback` resolves a name no plugin registers as a plain Gymnasium env; the envs
district hands it to the env registry (``sandbox/envs/__init__.py``), so the registry never imports
this module back.
"""

from __future__ import annotations

from typing import Any

from sandbox.errors import ConfigError, MachineError
from sandbox.registry import Entry, envs


class GymnasiumEnv:
    """A Gymnasium id that no plugin registers: made with ``gymnasium.make(id, **kwargs)``."""

    Config = dict  # any keyword gymnasium.make takes

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id

    def __call__(self, **kwargs: Any) -> Any:
        import gymnasium

        self.check_kwargs(kwargs)
        try:
            return gymnasium.make(self.env_id, **kwargs)
        except gymnasium.error.DependencyNotInstalled as exc:  # Box2D, MuJoCo, ...: Gymnasium's own sentence says what to install
            raise MachineError(f"env={self.env_id} needs a package that is not installed: {str(exc).splitlines()[0].rstrip('.')}.") from None
        except (TypeError, ValueError) as exc:  # a keyword (or value) the env's constructor does not take
            given = ", ".join(f"env.{k}" for k in kwargs if k != "render_mode") or "these settings"
            reason = str(exc).split(" was raised from")[0].splitlines()[0][:160]
            raise ConfigError(f"env={self.env_id} does not take {given} ({reason}); drop or correct them.") from None


    def check_kwargs(self, kwargs: dict[str, Any]) -> None:
        """Refuse, before the env is made, what its constructor would take silently and fail on
        later: a render_mode the env does not offer, a value of another kind than the keyword's
        default (``env.g=abc`` for Pendulum's ``g=10.0``, a list for a number)."""
        import inspect

        import gymnasium
        from gymnasium.envs.registration import load_env_creator

        from sandbox.config import shown

        try:
            spec = gymnasium.spec(self.env_id)
            creator = load_env_creator(spec.entry_point) if isinstance(spec.entry_point, str) else spec.entry_point
            params = inspect.signature(creator).parameters
        except Exception:  # noqa: BLE001 - an env Gymnasium cannot describe: its constructor decides
            return
        modes = list((getattr(creator, "metadata", None) or {}).get("render_modes") or [])
        mode = kwargs.get("render_mode")
        if mode is not None and modes and mode not in modes:
            raise ConfigError(f"env.render_mode={shown(mode)} is not a render mode of env={self.env_id}; use one of {', '.join(modes)}.")
        for key, value in kwargs.items():
            param = params.get(key)
            if key == "render_mode" or param is None or param.default is inspect.Parameter.empty or param.default is None:
                continue
            default = param.default
            if isinstance(default, bool):
                fits = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                fits = isinstance(value, (int, float)) and not isinstance(value, bool)
            elif isinstance(default, str):
                fits = isinstance(value, str)
            else:
                continue
            if not fits:
                raise ConfigError(f"env.{key}={shown(value)} does not fit env={self.env_id}, whose {key} is a {type(default).__name__} "
                                  f"(default {default!r}); give one.")


def gymnasium_fallback(name: str) -> Entry | None:
    """The entry of a Gymnasium id (``CartPole-v1``; ``ALE/...`` ids register ale-py first), or None."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - a dependency of the package
        return None
    if name not in gymnasium.registry:  # ale-py's ids (ALE/Boxing-v5, BoxingNoFrameskip-v4, ...) exist once it registers them
        try:
            import ale_py

            ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on every emulator made
            gymnasium.register_envs(ale_py)
        except ImportError:
            return None
    if name not in gymnasium.registry:
        return None
    return Entry("env", name, f"Gymnasium env {name}", "gymnasium", _obj=GymnasiumEnv(name))



def gymnasium_ids() -> list[str]:
    """Every id Gymnasium knows (for the suggestions of a misspelt env name)."""
    import gymnasium

    return list(gymnasium.registry)


def make_env(name: str, render_mode: str | None = None, **kwargs: Any) -> Any:
    """The env ``name`` built with ``kwargs`` (checked against its config): a registered sandbox env
    or a Gymnasium id. ``render_mode`` (None, ``human`` or ``rgb_array``) works for every env."""
    from sandbox.config import build

    factory = envs.get(name).load()
    config_cls = getattr(factory, "Config", None)
    if config_cls is not None:  # a typed config is checked; free keys are read as YAML values
        built = build(config_cls, kwargs, "env")
        kwargs = {k: v for k, v in (built if isinstance(built, dict) else vars(built)).items() if k != "render_mode"}
    return factory(**kwargs) if render_mode is None else factory(render_mode=render_mode, **kwargs)
