"""Data sets are a registry kind like the others: `sandbox list` shows them, a run's data section is
checked against the data set's own config, and the default backbone follows the data set's kind.
A third party's data set (built into a real package) is in tests/test_core_third_party.py."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from sandbox.config import resolve
from sandbox.errors import ConfigError, SandboxError
from sandbox.registry import datasets, list_plugins

BUILTIN = {"digits", "moons", "swiss_roll", "ring", "shapes", "folder", "mnist", "fashion_mnist", "cifar10"}


def test_sandbox_list_shows_every_builtin_data_set_with_a_description():
    out = run_cli("list", "--json")
    assert out.returncode == 0, out.stderr
    listed = {e["name"]: e["description"] for e in json.loads(out.stdout)["datasets"]}
    assert BUILTIN <= set(listed) and all(listed[name] for name in BUILTIN)
    text = run_cli("list").stdout
    assert text.index("Generative models:") < text.index("Data sets:") < text.index("Backbones:")
    assert {e["name"] for e in list_plugins("dataset")} >= BUILTIN


def test_every_builtin_is_a_factory_with_a_config_and_a_kind():
    for name in BUILTIN:
        make = datasets.get(name).load()
        assert callable(make) and hasattr(make, "Config") and make.kind in ("image", "points")
    assert {n for n in BUILTIN if datasets.get(n).load().kind == "points"} == {"moons", "swiss_roll", "ring"}


def test_the_data_section_is_checked_against_the_data_sets_config():
    cfg = resolve(None, ["model=ddpm", "data=digits", "data.size=16"])
    assert type(cfg.data.config).__name__ == "DigitsConfig" and cfg.data.config.size == 16
    with pytest.raises(ConfigError, match="unknown key data.siz; did you mean 'size'"):
        resolve(None, ["model=ddpm", "data=digits", "data.siz=16"])
    with pytest.raises(ConfigError, match="unknown data set 'digit'; did you mean 'digits'"):
        resolve(None, ["model=ddpm", "data=digit"])
    with pytest.raises(ConfigError, match="data.path=DIR"):
        resolve(None, ["model=ddpm", "data=cifar10"])


def test_point_sets_default_to_the_mlp_backbone():
    from sandbox.registry import plugin_class

    points = resolve(None, ["model=ddpm", "data=ring"])
    assert plugin_class(points).default_backbone_for(points) == "mlp"
    assert plugin_class(points).complete_config(points).backbone.name == "mlp"
    assert resolve(None, ["model=ddpm", "data=ring", "backbone.hidden=[16]"]).backbone.name == "mlp"
    images = resolve(None, ["model=ddpm", "data=digits"])
    assert plugin_class(images).default_backbone_for(images) == "cnn"


def test_data_set_fields_show_in_train_help():
    out = run_cli("train", "model=vae", "data=digits", "--help")
    assert out.returncode == 0, out.stderr
    assert "data=digits:" in out.stdout and "data.size" in out.stdout and "data.test_fraction" in out.stdout


def test_a_third_party_data_set_needs_a_namespace():
    with pytest.raises(SandboxError, match="without a namespace.*'myorg/blobs'"):
        datasets.register_lazy("blobs", "myorg_plugins.data:blobs", "Three Gaussian blobs in 2-D.")
    assert "blobs" not in datasets
