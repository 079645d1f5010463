"""Decoder and denoiser roles of the CNN (UNet2DModel) and transformer (DiT) families: shapes,
gradients, labels, and clear refusals."""

from __future__ import annotations

import pytest
import torch

from sandbox.backbones.base import InputSpec, build
from sandbox.config import Section, plugin_config_class
from sandbox.errors import ConfigError, UnsupportedInput

TINY = {
    "cnn": {"channels": [8, 16], "hidden": 32},
    "transformer": {"d_model": 16, "layers": 1, "heads": 2},
    "mlp": {"hidden": [32, 32]},
}


def section(name: str, **extra) -> Section:
    return Section(name, plugin_config_class("backbone", name)(**{**TINY[name], **extra}))


@pytest.mark.parametrize("family", ["cnn", "transformer", "mlp"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 16, 16)])
def test_decoder_shapes_and_gradients(family, shape):
    dec = build(section(family), InputSpec.image(*shape), role="decoder", in_dim=6)
    z = torch.randn(3, 6, requires_grad=True)
    out = dec(z)
    assert out.shape == (3, *shape)
    out.pow(2).mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert all(p.grad is not None for p in dec.parameters() if p.requires_grad)


@pytest.mark.parametrize("family", ["cnn", "transformer", "mlp"])
@pytest.mark.parametrize("num_classes", [None, 4])
def test_denoiser_shapes_gradients_and_labels(family, num_classes):
    spec = InputSpec.image(1, 8, 8)
    den = build(section(family), spec, role="denoiser", num_classes=num_classes)
    x = torch.randn(4, 1, 8, 8, requires_grad=True)
    t = torch.tensor([0, 10, 500, 999])
    labels = torch.tensor([0, 1, 3, 4]) if num_classes else None  # 4 = "no label"
    eps = den(x, t, labels)
    assert eps.shape == x.shape
    (eps - torch.randn_like(eps)).pow(2).mean().backward()
    if family == "transformer":  # DiT's output layer starts at zero (adaLN-Zero): its own gradient is what moves
        assert den.out.weight.grad.abs().sum() > 0
    else:
        assert x.grad is not None and x.grad.abs().sum() > 0
    trainable = [p for p in den.parameters() if p.requires_grad]
    assert sum(p.grad is not None for p in trainable) >= 0.9 * len(trainable)
    with torch.no_grad():  # the time input matters, and so does the label
        a = den(x, torch.full((4,), 10), labels)
        b = den(x, torch.full((4,), 900), labels)
        if family != "transformer":  # DiT's adaLN-Zero starts as the identity on the condition
            assert not torch.allclose(a, b)
        if num_classes:
            c = den(x, torch.full((4,), 10), None)  # None = no label for every example
            d = den(x, torch.full((4,), 10), torch.full((4,), num_classes))
            torch.testing.assert_close(c, d)


def test_unet_denoiser_is_diffusers_unet2dmodel():
    from diffusers import UNet2DModel

    den = build(section("cnn"), InputSpec.image(3, 16, 16), role="denoiser")
    assert isinstance(den.unet, UNet2DModel)
    assert den.unet.config.block_out_channels == (8, 16) or list(den.unet.config.block_out_channels) == [8, 16]


def test_dit_learns_time_after_a_step():
    den = build(section("transformer"), InputSpec.image(1, 8, 8), role="denoiser")
    opt = torch.optim.Adam(den.parameters(), lr=1e-2)
    x = torch.randn(8, 1, 8, 8)
    for _ in range(3):
        loss = (den(x, torch.randint(0, 1000, (8,))) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert not torch.allclose(den(x, torch.full((8,), 10)), den(x, torch.full((8,), 900)))


def test_refusals_are_sentences():
    with pytest.raises(UnsupportedInput, match="reads images"):
        build(section("cnn"), InputSpec.vector(2), role="denoiser")
    with pytest.raises(ConfigError, match="backbone=mlp"):
        build(section("transformer"), InputSpec.vector(2), role="denoiser")
    with pytest.raises(ConfigError, match="divisible"):
        build(section("cnn", channels=[8, 16, 16, 16]), InputSpec.image(1, 4, 4), role="denoiser")
    with pytest.raises(ConfigError, match="does not divide"):
        build(section("transformer", patch=3), InputSpec.image(1, 8, 8), role="denoiser")
    with pytest.raises(UnsupportedInput, match="no decoder role"):
        build("rnn", InputSpec.image(1, 8, 8), role="decoder", in_dim=4)
