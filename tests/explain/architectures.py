"""Small stand-ins for the architecture patterns users bring (torchvision and timm are not test deps).

Each class reproduces what makes its real counterpart hard for attribution code, at a size that
runs in milliseconds on 32 x 32 images:

- :class:`TinyViT`: patch-embedding conv, class token, position embedding, one pre-norm
  attention block (LayerNorm, ``nn.MultiheadAttention``, GELU MLP), head on the class token;
  its modules are named like torchvision's ``vit_b_16`` (``conv_proj``, ``encoder.layers.0.ln_1``).
- :class:`TinySwin`: patch embedding permuted to channels-last ``(N, H, W, C)``, LayerNorm over
  ``C``, linear layers on channels-last maps, a patch-merging downsample, permute back, pool.
- :class:`TinyConvNeXt`: depthwise 7x7 conv, LayerNorm channels-last (permute), GELU MLP,
  layer scale, stochastic-depth-free residual written with in-place ops.
- :class:`TinyMobileNetV3`: ReLU stem, inverted residual with Hardswish, squeeze-excitation
  gated by Hardsigmoid.
- :class:`TinyDenseNet`: dense block (each layer's output concatenated to its input).
- :class:`TinyInception`: parallel 1x1 / 3x3 / 5x5 / pooled branches concatenated.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class _MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class _EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, 2 * dim)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class _Encoder(nn.Module):
    def __init__(self, dim: int, heads: int, tokens: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.layers = nn.Sequential(_EncoderBlock(dim, heads))
        self.ln = nn.LayerNorm(dim)

    def forward(self, x):
        return self.ln(self.layers(x + self.pos_embedding))


class TinyViT(nn.Module):
    """ViT-style: (N, 3, 32, 32) -> 8 x 8 patches of 4 px -> 1 + 16 tokens -> logits from the class token."""

    def __init__(self, num_classes: int = 4, dim: int = 24, patch: int = 8, image: int = 32) -> None:
        super().__init__()
        self.patch = patch
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.class_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.encoder = _Encoder(dim, 4, 1 + (image // patch) ** 2)
        self.heads = nn.Sequential(nn.Linear(dim, num_classes))

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


class _SwinBlock(nn.Module):
    """Channels-last block: LayerNorm over C, a linear "token mixer" and a GELU MLP, residuals."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.mix = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _MLP(dim, 2 * dim)

    def forward(self, x):  # (N, H, W, C)
        y = self.mix(self.norm1(x))
        y = 0.5 * (y + y.roll(1, dims=1))  # mixes neighbouring rows, like a shifted window
        x = x + y
        return x + self.mlp(self.norm2(x))


class _PatchMerging(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x):  # (N, H, W, C) -> (N, H/2, W/2, 2C)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class TinySwin(nn.Module):
    """Swin-style, named like torchvision's ``swin_t``: ``features`` ends channels-last (N, 4, 4, 32)."""

    def __init__(self, num_classes: int = 4, dim: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, dim, 4, stride=4), _Permute(0, 2, 3, 1), nn.LayerNorm(dim)),
            _SwinBlock(dim), _PatchMerging(dim), _SwinBlock(2 * dim))
        self.norm = nn.LayerNorm(2 * dim)
        self.permute = _Permute(0, 3, 1, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * dim, num_classes)

    def forward(self, x):
        x = self.avgpool(self.permute(self.norm(self.features(x))))
        return self.head(torch.flatten(x, 1))


class _Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class _LayerNorm2d(nn.LayerNorm):
    """LayerNorm over channels of an (N, C, H, W) map, by permuting to channels-last and back."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _CNBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), 0.5))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        y = y.contiguous()
        y.mul_(self.layer_scale)  # in place, as the layer scale in some ports
        y += x
        return y


class TinyConvNeXt(nn.Module):
    """ConvNeXt-style: patchify stem with LayerNorm2d, one block, downsample, global pool, LayerNorm, head."""

    def __init__(self, num_classes: int = 4, dim: int = 12) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, dim, 4, stride=4), _LayerNorm2d(dim)), _CNBlock(dim),
            nn.Sequential(_LayerNorm2d(dim), nn.Conv2d(dim, 2 * dim, 2, stride=2)), _CNBlock(2 * dim))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Flatten(1), nn.LayerNorm(2 * dim), nn.Linear(2 * dim, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


class _SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.activation = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class TinyMobileNetV3(nn.Module):
    """MobileNetV3-style: ReLU stem, inverted residual (expand, depthwise, SE, project) with Hardswish."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
                          nn.ReLU(inplace=True)),
            nn.Sequential(nn.Conv2d(8, 24, 1, bias=False), nn.BatchNorm2d(24), nn.Hardswish(),
                          nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24, bias=False), nn.BatchNorm2d(24),
                          nn.Hardswish(), _SqueezeExcitation(24, 8), nn.Conv2d(24, 16, 1, bias=False),
                          nn.BatchNorm2d(16)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(16, 32), nn.Hardswish(), nn.Linear(32, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class _DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(F.relu(self.norm(torch.cat(features, 1))))


class TinyDenseNet(nn.Module):
    """DenseNet-style: each layer reads the concatenation of every earlier output (a list argument)."""

    def __init__(self, num_classes: int = 4, growth: int = 6) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(2))
        self.layers = nn.ModuleList([_DenseLayer(8 + i * growth, growth) for i in range(3)])
        self.norm = nn.BatchNorm2d(8 + 3 * growth)
        self.classifier = nn.Linear(8 + 3 * growth, num_classes)

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.layers:
            features.append(layer(features))
        out = F.relu(self.norm(torch.cat(features, 1)), inplace=True)
        return self.classifier(F.adaptive_avg_pool2d(out, 1).flatten(1))


class _BasicConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, **kwargs) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, bias=False, **kwargs), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class _InceptionBlock(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch1x1 = _BasicConv(cin, 6, 1)
        self.branch3x3 = nn.Sequential(_BasicConv(cin, 4, 1), _BasicConv(4, 6, 3, padding=1))
        self.branch5x5 = nn.Sequential(_BasicConv(cin, 4, 1), _BasicConv(4, 6, 5, padding=2))
        self.branch_pool = _BasicConv(cin, 4, 1)

    def forward(self, x):
        pooled = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), self.branch3x3(x), self.branch5x5(x), self.branch_pool(pooled)], 1)


class TinyInception(nn.Module):
    """Inception-style: parallel branches of different receptive fields, concatenated."""

    def __init__(self, num_classes: int = 4) -> None:
        super().__init__()
        self.stem = nn.Sequential(_BasicConv(3, 8, 3, stride=2, padding=1), nn.MaxPool2d(3, stride=2, padding=1))
        self.mixed = _InceptionBlock(8)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(22, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.mixed(self.stem(x))), 1))


ARCHITECTURES = {"vit": TinyViT, "swin": TinySwin, "convnext": TinyConvNeXt, "mobilenet_v3": TinyMobileNetV3,
                 "densenet": TinyDenseNet, "inception": TinyInception}
#: Architectures with activations other than ReLU: guided backprop and friends refuse them.
NON_RELU = {"vit": "GELU", "swin": "GELU", "convnext": "GELU", "mobilenet_v3": "Hardswish"}
#: Grad-CAM's default layer, as a user would pick it (pytorch-grad-cam's recommendations).
DEFAULT_CAM_LAYERS = {"vit": "encoder.layers.0.ln_1", "swin": "permute", "convnext": "features",
                      "mobilenet_v3": "features", "densenet": "norm", "inception": "mixed"}


def build(name: str, seed: int = 0) -> nn.Module:
    """Architecture ``name`` with seeded weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = ARCHITECTURES[name]()
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        model.train()
        with torch.no_grad():
            model(torch.rand(8, 3, 32, 32))
    return model.eval()
