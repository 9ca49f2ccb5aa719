"""PatchGAN receptive fields by gradient support, U-Net shapes 64-256, DCGAN shapes, checkpoints without pickles."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from gaplens.core.errors import CheckpointError, InputError
from gaplens.gan import build_network, load_network, save_network
from gaplens.gan.patchgan import patch_layers, receptive_field
from gaplens.gan.unet import depth_for


def _support(net: nn.Module, size: int, channels: int) -> tuple[int, int]:
    """Rows and columns of the input that reach one central output pixel (nonzero gradient)."""
    net.eval()
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = net.double()(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    hit = x.grad[0].abs().sum(0) > 0
    rows, cols = hit.any(1).nonzero().flatten(), hit.any(0).nonzero().flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("name,field", [("pixel", 1), ("patch16", 16), ("patch70", 70)])
def test_patchgan_receptive_fields_by_the_gradient_support_of_one_output(name, field):
    torch.manual_seed(0)
    net = build_network("patch_discriminator", in_channels=2, layers=patch_layers(name), width=4)
    assert _support(net, 160, 2) == (field, field)
    assert receptive_field(patch_layers(name)) == field


def test_the_default_discriminator_of_pix2pix_is_the_70px_patchgan():
    from gaplens.gan import Pix2Pix

    model = Pix2Pix(3, 3, size=64, width=4, d_width=4)
    assert model.discriminator.receptive_field == 70
    assert model.discriminator(torch.zeros(2, 6, 64, 64)).shape == (2, 1, 6, 6)
    with pytest.raises(InputError, match="patch70"):
        patch_layers("patch71")
    for side in (20, 23, 24, 40):  # the map side by the arithmetic equals the network's
        if model.discriminator.output_side(side) >= 1:
            assert model.discriminator(torch.zeros(1, 6, side, side)).shape[-1] == model.discriminator.output_side(side)
        else:
            with pytest.raises(InputError, match="too small"):
                model.discriminator(torch.zeros(1, 6, side, side))


@pytest.mark.parametrize("size", [64, 128, 256])
def test_unet_shapes_reach_a_1x1_bottleneck_and_come_back(size):
    torch.manual_seed(0)
    net = build_network("unet_generator", in_channels=1, out_channels=3, depth=depth_for(size), width=4)
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape))) for b in net.down]
    out = net(torch.rand(2, 1, size, size) * 2 - 1)
    for h in hooks:
        h.remove()
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1
    assert [s[-1] for s in seen] == [size // 2 ** (i + 1) for i in range(depth_for(size))]
    assert seen[-1][-2:] == (1, 1)
    # channels: width * min(2^i, 8) per encoder level; the decoder reads skip + below (twice the channels)
    assert [s[1] for s in seen] == [4 * min(2 ** i, 8) for i in range(depth_for(size))]
    assert sum(isinstance(m, nn.Dropout) for m in net.modules()) == 3


def test_unet_skips_carry_the_input_past_the_bottleneck():
    """With the bottleneck cut (innermost features zeroed) the output still depends on the input."""
    torch.manual_seed(0)
    net = build_network("unet_generator", in_channels=1, out_channels=1, depth=6, width=4, dropout=0.0).eval()
    net.down[-1].register_forward_hook(lambda m, i, o: torch.zeros_like(o))
    x = torch.rand(1, 1, 64, 64, requires_grad=True)
    net(x).sum().backward()
    assert (x.grad.abs() > 0).float().mean() > 0.9


def test_unet_refuses_sizes_it_cannot_halve():
    net = build_network("unet_generator", depth=6, width=2)
    with pytest.raises(InputError, match="multiples of 64"):
        net(torch.zeros(1, 3, 48, 48))


@pytest.mark.parametrize("size", [8, 16, 32])
def test_dcgan_shapes(size):
    g = build_network("dcgan_generator", z_dim=16, channels=1, size=size, width=8)
    d = build_network("dcgan_discriminator", channels=1, size=size, width=8)
    images = g(torch.randn(3, 16))
    assert images.shape == (3, 1, size, size) and images.abs().max() <= 1
    assert d(images).shape == (3,)
    with pytest.raises(InputError, match="power of two"):
        build_network("dcgan_generator", size=24)


def test_init_is_normal_0_002():
    torch.manual_seed(0)
    g = build_network("dcgan_generator", z_dim=64, channels=3, size=32, width=64)
    w = torch.cat([m.weight.detach().flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(float(w.mean())) < 1e-3 and float(w.std()) == pytest.approx(0.02, rel=0.02)


def test_networks_round_trip_through_safetensors_and_json(tmp_path):
    torch.manual_seed(0)
    g = build_network("dcgan_generator", z_dim=8, channels=1, size=8, width=4)
    save_network(g, tmp_path, "generator", z_dim=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["generator.json", "generator.safetensors"]
    assert json.loads((tmp_path / "generator.json").read_text())["architecture"] == "dcgan_generator"
    loaded = load_network(tmp_path, "generator")
    z = torch.randn(2, 8)
    assert torch.equal(g.eval()(z), loaded(z))
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_network(tmp_path, "discriminator")


def test_a_foreign_network_needs_its_instance_to_load(tmp_path):
    net = nn.Linear(2, 1)
    save_network(net, tmp_path, "critic")
    with pytest.raises(CheckpointError, match="pass network="):
        load_network(tmp_path, "critic")
    other = nn.Linear(2, 1)
    assert torch.equal(load_network(tmp_path, "critic", network=other).weight, net.weight)
