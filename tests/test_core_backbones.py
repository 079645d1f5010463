"""Every backbone family: forward and backward on each input kind it reads, a gradient on every
parameter; every kind it cannot read refused with a sentence."""

from __future__ import annotations

import pytest
import torch

from sandbox.backbones.base import InputSpec, build
from sandbox.config import Section, build as build_config, plugin_config_class
from sandbox.errors import ConfigError, UnsupportedInput

SPECS = {
    "vector": InputSpec.vector(4),
    "image": InputSpec.image(3, 16, 16),
    "small-image": InputSpec.image(2, 3, 3),
    "frame-stack": InputSpec.image(4, 84, 84, frame_stack=True),
    "sequence": InputSpec.sequence(6, 5),
}
SUPPORTED = {
    "mlp": ["vector", "image", "small-image", "frame-stack", "sequence"],
    "cnn": ["image", "small-image", "frame-stack"],
    "rnn": ["image", "small-image", "frame-stack", "sequence"],
    "transformer": ["vector", "image", "small-image", "frame-stack", "sequence"],
}


def section(name: str, **fields) -> Section:
    return Section(name, build_config(plugin_config_class("backbone", name), fields, "backbone"))


def small(name: str) -> Section:
    sizes = {"mlp": {"hidden": [16, 8]}, "cnn": {"channels": [4, 8], "hidden": 8}, "rnn": {"hidden": 8, "frame_embed": 8},
             "transformer": {"d_model": 8, "heads": 2, "layers": 1}}
    return section(name, **sizes[name])


def check_gradients(net: torch.nn.Module, x: torch.Tensor, expected_dim: int | None = None) -> None:
    out = net(x)
    assert out.shape[0] == x.shape[0]
    if expected_dim is not None:
        assert out.shape == (x.shape[0], expected_dim)
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no gradient on {missing}"
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize("family,kind", [(f, k) for f, kinds in SUPPORTED.items() for k in kinds])
def test_forward_backward_on_every_supported_input(family, kind):
    torch.manual_seed(0)
    spec = SPECS[kind]
    net = build(small(family), spec)
    check_gradients(net, torch.rand(3, *spec.shape), net.out_dim)


@pytest.mark.parametrize("family,kind", [(f, k) for f in SUPPORTED for k in SPECS if k not in SUPPORTED[f]])
def test_unsupported_input_is_refused_with_a_sentence(family, kind):
    with pytest.raises(UnsupportedInput) as err:
        build(small(family), SPECS[kind])
    text = str(err.value)
    assert f"the {family} backbone reads" in text and SPECS[kind].describe() in text
    assert "\n" not in text


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("mode", ["rows", "frames"])
def test_rnn_cells_and_image_modes(cell, mode):
    spec = InputSpec.image(4, 12, 12, frame_stack=True)
    net = build(section("rnn", cell=cell, image_mode=mode, hidden=8, frame_embed=8, layers=2), spec)
    check_gradients(net, torch.rand(2, *spec.shape), 8)


def test_cnn_residual_tower_keeps_board_size_and_nature_arch_on_frames():
    board = build(section("cnn", channels=[8], residual_blocks=2, batch_norm=True, hidden=16), InputSpec.image(3, 6, 7))
    check_gradients(board, torch.rand(4, 3, 6, 7), 16)
    nature = build(section("cnn", arch="nature", hidden=32), InputSpec.image(4, 84, 84, frame_stack=True))
    assert isinstance(nature.convs[0], torch.nn.Conv2d) and nature.convs[0].kernel_size == (8, 8)
    with pytest.raises(ConfigError, match="arch=small"):
        build(section("cnn", arch="nature"), InputSpec.image(1, 8, 8))


@pytest.mark.parametrize("arch", ["nature", "small"])
def test_cnn_input_scale_is_folded_into_the_first_convolution(arch):
    """conv(x, w·s) = conv(x·s, w): the scaled network computes the same function, and its weights
    get the same gradients, as the plain network on inputs scaled beforehand."""
    torch.manual_seed(0)
    spec = InputSpec.image(4, 84, 84, frame_stack=True) if arch == "nature" else InputSpec.image(2, 10, 10)
    plain = build(section("cnn", arch=arch, channels=[4, 8], batch_norm=arch == "small", hidden=16), spec)
    folded = build(section("cnn", arch=arch, channels=[4, 8], batch_norm=arch == "small", hidden=16), spec)
    folded.load_state_dict(plain.state_dict())
    folded.input_scale = 1 / 255
    frames = torch.randint(0, 256, (3, *spec.shape), dtype=torch.uint8)
    expected, got = plain(frames.float() / 255), folded(frames)
    assert got.abs().sum() > 0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    expected.square().sum().backward()
    got.square().sum().backward()
    for (name, p), q in zip(plain.named_parameters(), folded.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")


def test_transformer_cls_pool_and_bad_heads():
    net = build(section("transformer", d_model=8, heads=2, layers=1, pool="cls"), InputSpec.image(1, 8, 8))
    check_gradients(net, torch.rand(2, 1, 8, 8), 8)
    with pytest.raises(ConfigError, match="must divide"):
        section("transformer", d_model=10, heads=4)


def test_mlp_decoder_and_denoiser_roles():
    img = InputSpec.image(1, 8, 8)
    dec = build(small("mlp"), img, role="decoder", in_dim=5)
    z = torch.randn(3, 5)
    out = dec(z)
    assert out.shape == (3, 1, 8, 8)
    den = build(small("mlp"), InputSpec.vector(2), role="denoiser", num_classes=3)
    x = torch.randn(4, 2)
    eps = den(x, torch.tensor([0, 10, 500, 999]), torch.tensor([0, 1, 2, 3]))
    assert eps.shape == x.shape
    eps.pow(2).mean().backward()
    assert all(p.grad is not None for p in den.parameters())


def test_rnn_has_no_decoder_role():
    with pytest.raises(UnsupportedInput, match="no decoder role"):
        build(small("rnn"), InputSpec.image(1, 8, 8), role="decoder", in_dim=4)
