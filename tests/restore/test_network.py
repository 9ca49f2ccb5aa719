"""The skip encoder-decoder: shapes, range, its parts, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gaplens.core.errors import InputError
from gaplens.restore import SkipNet
from gaplens.restore.network import min_side


@pytest.mark.parametrize("size", [(32, 32), (33, 47), (40, 64)])
def test_output_has_the_input_size_and_lies_in_0_1(size):
    net = SkipNet(8, 3, down=(8, 16, 16), up=(8, 16, 16), skip=(4, 0, 4))
    out = net(torch.rand(1, 8, *size) * 10)
    assert out.shape == (1, 3, *size)
    assert out.min() >= 0 and out.max() <= 1


def test_the_layers_are_those_of_the_paper():
    net = SkipNet(32, 3, down=(8, 16), up=(12, 24), skip=(4, 0), upsample="nearest")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.padding_mode == "reflect" for c in convs if c.kernel_size != (1, 1))
    # per scale: 2 encoder convs (first with stride 2), 2 decoder convs (k x k then 1x1), + a 1x1 skip where wide
    assert len(convs) == 2 * 4 + 1 + 1
    assert [c.stride for c in convs if c.stride != (1, 1)] == [(2, 2), (2, 2)]
    assert any(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in net.modules())
    assert net.head.out_channels == 3 and net.head.in_channels == 12
    # the deepest decoder sees its encoder output (16 channels) and no skip; the finest sees 4 + 24
    assert net.body.deeper.merge_bn.num_features == 16
    assert net.body.merge_bn.num_features == 4 + 24


def test_too_small_an_image_and_bad_channel_lists_are_clear_errors():
    net = SkipNet(4, 3, down=(4, 4, 4), up=(4, 4, 4), skip=(2, 2, 2))
    assert min_side(3) == 16
    net(torch.rand(1, 4, 16, 16))
    with pytest.raises(InputError, match="at least 16 pixels"):
        net(torch.rand(1, 4, 15, 40))
    with pytest.raises(InputError, match="one length"):
        SkipNet(4, 3, down=(4, 4), up=(4,), skip=(2, 2))
    with pytest.raises(InputError, match="upsample"):
        SkipNet(4, 3, down=(4,), up=(4,), skip=(2,), upsample="bicubic")
