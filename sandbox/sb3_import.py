"""A stable-baselines3 (or RL Zoo) zip as a policy, without unpickling anything.

SB3's ``model.save`` writes a zip whose ``data`` is JSON in which every object is also a
cloudpickle (``":serialized:"``): loading it with SB3 runs whatever that pickle says. Here only
the readable parts are used: the spaces' ``_shape`` and ``n`` fields, the class names in
``":type:"``, and ``policy.pth`` read by ``torch.load(weights_only=True)``. The network of SB3's
standard ``MlpPolicy`` (actor-critic for PPO/A2C, Q-network for DQN) on a vector observation and
discrete actions is rebuilt from the tensor shapes; anything else is refused in one sentence.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from sandbox.errors import SandboxError

#: activation functions SB3's policies take, by the name a pickled policy_kwargs spells (the pickle is only searched, never run)
ACTIVATIONS = ("Tanh", "ReLU", "ELU", "LeakyReLU", "GELU", "SiLU")


class SB3ZipPolicy:
    """SB3's MlpPolicy rebuilt from a zip's weights: ``act(observation) -> action``, greedy unless asked otherwise."""

    def __init__(self, path: Path, layers: list[Any], head: Any, kind: str, obs_shape: tuple[int, ...], n_actions: int) -> None:
        self.path, self.layers, self.head, self.kind = path, layers, head, kind
        self.obs_shape, self.n_actions = obs_shape, n_actions

    def logits(self, obs: Any) -> Any:
        """Action logits (actor-critic) or Q-values (DQN) of a batch of observations."""
        import torch

        x = torch.as_tensor(obs, dtype=torch.float32).reshape(len(obs), -1)
        with torch.no_grad():
            for layer in self.layers:
                x = layer(x)
            return self.head(x)

    def act(self, observation: Any, action_mask: Any = None, deterministic: bool = True) -> Any:
        """The action for one observation (or an array of actions for a batch)."""
        import numpy as np
        import torch

        obs = np.asarray(observation, dtype=np.float32)
        single = obs.shape == self.obs_shape
        out = self.logits(obs[None] if single else obs)
        if deterministic or self.kind == "dqn":
            actions = out.argmax(1)
        else:
            actions = torch.distributions.Categorical(logits=out).sample()
        actions = actions.numpy()
        return int(actions[0]) if single else actions


def _space(data: dict[str, Any], key: str) -> dict[str, Any]:
    space = data.get(key)
    if not isinstance(space, dict):
        raise SandboxError(f"the zip's data has no readable {key}; it is not a stable-baselines3 model zip.")
    return space


def _activation(data: dict[str, Any], default: str) -> str:
    """The policy's activation: SB3's default for the algorithm, or the name found in the pickled
    policy_kwargs (its bytes searched as text, never unpickled)."""
    kwargs = data.get("policy_kwargs") or {}
    blob = kwargs.get(":serialized:") if isinstance(kwargs, dict) else None
    if not blob:
        return default
    try:
        raw = base64.b64decode(blob)
    except ValueError:
        return default
    if b"activation_fn" not in raw:
        return default
    found = [name for name in ACTIVATIONS if re.search(rb"\b" + name.encode() + rb"\b", raw)]
    if len(found) != 1:
        raise SandboxError(f"cannot tell the activation function of this zip's policy_kwargs without unpickling it (found {found or 'none'}).")
    return found[0]


def load_zip(path: str | Path) -> SB3ZipPolicy:
    """The policy of a stable-baselines3 zip (PPO, A2C or DQN, MlpPolicy, vector observations,
    discrete actions), read without unpickling; anything else is a SandboxError in one sentence."""
    import torch
    from torch import nn

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "data" not in names or "policy.pth" not in names:
                raise SandboxError(f"{path} is a zip without 'data' and 'policy.pth'; give a zip written by stable-baselines3's model.save.")
            data = json.loads(z.read("data"))
            try:
                weights = torch.load(io.BytesIO(z.read("policy.pth")), map_location="cpu", weights_only=True)
            except Exception as exc:
                raise SandboxError(f"{path}'s policy.pth holds more than tensors ({str(exc).splitlines()[0][:120]}); it is refused, not unpickled.") from None
    except (zipfile.BadZipFile, OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, SandboxError):
            raise
        raise SandboxError(f"{path} is not a readable stable-baselines3 zip ({exc}).") from None
    obs, act = _space(data, "observation_space"), _space(data, "action_space")
    obs_shape = tuple(obs.get("_shape") or ())
    if "Discrete" not in str(act.get(":type:", "")) or "n" not in act:
        raise SandboxError(f"{path} acts in {act.get(':type:', 'an unknown space')}; only discrete actions are rebuilt without unpickling.")
    if len(obs_shape) != 1:
        raise SandboxError(f"{path} reads observations of shape {obs_shape}; only MlpPolicy on vector observations is rebuilt (CnnPolicy is not yet).")
    n_actions = int(act["n"])
    if any(k.startswith("q_net.") for k in weights):
        kind, prefix, head_key, default = "dqn", "q_net.q_net.", None, "ReLU"
    elif "action_net.weight" in weights:
        kind, prefix, head_key, default = "actor-critic", "mlp_extractor.policy_net.", "action_net", "Tanh"
    else:
        raise SandboxError(f"{path}'s policy is neither SB3's actor-critic MlpPolicy nor DQN's; it cannot be rebuilt from its weights.")
    activation = getattr(nn, _activation(data, default))
    indices = sorted({int(k[len(prefix):].split(".")[0]) for k in weights if k.startswith(prefix) and k.endswith(".weight")})
    linears = []
    for i in indices:
        w, b = weights[f"{prefix}{i}.weight"], weights[f"{prefix}{i}.bias"]
        layer = nn.Linear(w.shape[1], w.shape[0])
        layer.load_state_dict({"weight": w, "bias": b})
        linears.append(layer)
    if kind == "dqn":  # the Q-network's last Linear is the head
        *hidden, head = linears
    else:
        hidden = linears
        w, b = weights[f"{head_key}.weight"], weights[f"{head_key}.bias"]
        head = nn.Linear(w.shape[1], w.shape[0])
        head.load_state_dict({"weight": w, "bias": b})
    layers: list[Any] = []
    for layer in hidden:
        layers += [layer, activation()]
    first = (hidden or [head])[0]
    if first.in_features != int(torch.tensor(obs_shape).prod()) or head.out_features != n_actions:
        raise SandboxError(f"{path}'s weights do not fit its spaces ({first.in_features} inputs, {head.out_features} outputs).")
    return SB3ZipPolicy(path, layers, head, kind, obs_shape, n_actions)

