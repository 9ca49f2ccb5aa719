"""Zoo architectures: registered, shapes right, the patterns attribution code must survive."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.zoo import build, names


def test_registered_names():
    assert {"vgg", "resnet"} <= set(names())
    with pytest.raises(InputError, match="closest"):
        build("resnett", num_classes=3)


@pytest.mark.parametrize("arch", ["vgg", "resnet"])
@pytest.mark.parametrize("size", [32, 64, 80])
def test_output_shape(arch, size):
    net = build(arch, num_classes=7).eval()
    assert net(torch.rand(2, 3, size, size)).shape == (2, 7)
    assert net.gaplens_arch == {"name": arch, "kwargs": {}}


def test_vgg_has_inplace_relu_and_maxpool():
    net = build("vgg", num_classes=3)
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    assert any(isinstance(m, nn.MaxPool2d) for m in net.modules())


def test_resnet_calls_one_relu_twice_per_block():
    net = build("resnet", num_classes=3).eval()
    block = net.layer2[0]
    calls = []
    handle = block.relu.register_forward_hook(lambda m, a, o: calls.append(1))
    try:
        net(torch.rand(1, 3, 32, 32))
    finally:
        handle.remove()
    assert len(calls) == 2
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())


def test_resnet_block_matches_manual_residual():
    torch.manual_seed(0)
    net = build("resnet", num_classes=3).eval()
    block = net.layer2[0]
    x = torch.randn(2, 16, 8, 8)
    expected = torch.relu(block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x))))) + block.downsample(x))
    torch.testing.assert_close(block(x), expected)


def test_bad_kwargs():
    with pytest.raises(InputError, match="equally long"):
        build("resnet", num_classes=3, widths=(8, 16), blocks=(1,))
    with pytest.raises(InputError, match="num_classes"):
        build("vgg", num_classes=0)
