"""The paper's networks, each with one tracked dropout layer.

Every model returns logits and exposes

* ``model.dropout``: the tracked :class:`~ipdrop.dropout.IPDropout` layer (the first and only
  dropout layer; a recording :class:`~ipdrop.dropout.NoDropout` when ``dropout=None``);
* ``model.representation_dim``: number of units of that layer's representation
  (C * H * W for convolutional features);
* ``model.representation_shape``: its per-sample shape, e.g. ``(84,)`` or ``(96, 16, 16)``.

Dropout kinds: ``"gaussian"`` (multiplicative N(1, variance)), ``"information"``
(Achille & Soatto; the layer owns the main linear/conv layer it drops out of),
``"bernoulli"`` (binary inverted dropout) or ``None``.

Use :func:`build_model` to build a model for ``"mnist"`` (1x28x28) or ``"cifar10"`` (3x32x32).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._base import check_int, check_positive
from .dropout import (
    BernoulliDropout,
    GaussianDropout,
    InformationDropout,
    IPDropout,
    NoDropout,
)

__all__ = ["LeNet", "FCNet", "ResNet18", "FullCNN", "build_model", "stage_widths", "MODELS", "DATASETS"]

DROPOUTS = ("gaussian", "information", "bernoulli", None)
DATASETS = {
    "mnist": {"in_channels": 1, "image_size": 28, "num_classes": 10},
    "cifar10": {"in_channels": 3, "image_size": 32, "num_classes": 10},
}
_ACT = {"softplus": nn.Softplus, "relu": nn.ReLU, "identity": nn.Identity}


def _scaled(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


#: channels of the stages that ``width`` scales, at width 1.0 (ResNet18: its four stages; fullCNN: its two blocks)
_STAGES = {"resnet18": (64, 128, 256, 512), "fullcnn": (96, 192)}


def stage_widths(model: str, width: float = 1.0) -> tuple[int, ...]:
    """The channels of the stages of ``model`` ("resnet18" or "fullcnn") at filter fraction ``width``:
    ``stage_widths("resnet18", 0.125) == (8, 16, 32, 64)``."""
    if model not in _STAGES:
        raise ValueError(f"stage_widths(): model must be one of {sorted(_STAGES)}; got {model!r}")
    w = check_positive(width, "width")
    return tuple(_scaled(n, w) for n in _STAGES[model])


def _act(name: str) -> nn.Module:
    if name not in _ACT:
        raise ValueError(f"activation must be one of {tuple(_ACT)}; got {name!r}")
    return _ACT[name]()


def _noise_layer(dropout, variance, p) -> IPDropout:
    """Dropout layer applied to an already activated representation (not information)."""
    if dropout == "gaussian":
        if variance is not None and p is not None:
            raise ValueError("give either variance or p for Gaussian dropout, not both")
        if variance is None and p is not None:
            return GaussianDropout.from_rate(p)
        return GaussianDropout(0.2 if variance is None else variance)
    if dropout == "bernoulli":
        if variance is not None:
            raise ValueError("variance is for Gaussian dropout; Bernoulli dropout takes p")
        return BernoulliDropout(0.5 if p is None else p)
    if dropout is None:
        return NoDropout()
    raise ValueError(f"dropout must be one of {DROPOUTS}; got {dropout!r}")


class _DropoutStage(nn.Module):
    """x -> z: either ``main`` (layer + activation) followed by a noise layer, or one
    :class:`InformationDropout` that owns its main layer."""

    def __init__(self, main: nn.Module | None, drop: IPDropout) -> None:
        super().__init__()
        self.main = main if main is not None else nn.Identity()
        self.drop = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.main(x))


def _linear_stage(in_f, out_f, dropout, *, variance, p, max_alpha, activation) -> _DropoutStage:
    if dropout == "information":
        if variance is not None or p is not None:
            raise ValueError("information dropout learns its noise; do not pass variance or p")
        if activation not in ("softplus", "relu"):
            raise ValueError(f"information dropout needs activation 'softplus' or 'relu'; got {activation!r}")
        return _DropoutStage(
            None, InformationDropout(in_f, out_f, max_alpha=max_alpha, activation=activation, kind="linear")
        )
    drop = _noise_layer(dropout, variance, p)
    return _DropoutStage(nn.Sequential(nn.Linear(in_f, out_f), _act(activation)), drop)


class _IPModel(nn.Module):
    """Shared properties: ``dropout`` and ``representation_dim``."""

    stage: _DropoutStage
    representation_shape: tuple[int, ...]

    @property
    def dropout(self) -> IPDropout:
        """The tracked dropout layer."""
        return self.stage.drop

    @property
    def representation_dim(self) -> int:
        return int(math.prod(self.representation_shape))


class LeNet(_IPModel):
    """LeNet-5 with softplus activations and dropout on the 84-unit penultimate layer.

    conv(6, 5x5, pad 2) - maxpool 2 - conv(16, 5x5) - maxpool 2 - fc 120 - fc 84 - [dropout] - fc 10.

    Parameters
    ----------
    dropout : {"gaussian", "information", "bernoulli", None}
    variance : float, optional
        Gaussian dropout Var(D) (default 0.2); alternatively give ``p`` (variance = p/(1-p)).
    p : float, optional
        Drop rate for Bernoulli dropout (default 0.5) or for Gaussian dropout via p/(1-p).
    max_alpha : float
        Information dropout: alpha <= 0.001 + max_alpha.
    width : float
        Multiplies every channel/unit count (6, 16, 120, 84); 1.0 is the paper's net.
    in_channels, image_size, num_classes : int
        Input geometry (MNIST: 1, 28; CIFAR-10: 3, 32) and number of classes.
    activation : {"softplus", "relu"}
    """

    def __init__(
        self,
        dropout="gaussian",
        variance=None,
        p=None,
        max_alpha=0.7,
        width=1.0,
        *,
        in_channels=1,
        image_size=28,
        num_classes=10,
        activation="softplus",
    ) -> None:
        super().__init__()
        w = check_positive(width, "width")
        c1, c2, h1, h2 = (_scaled(n, w) for n in (6, 16, 120, 84))
        self.conv1 = nn.Conv2d(in_channels, c1, 5, padding=2)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        s = ((image_size // 2) - 4) // 2
        if s < 1:
            raise ValueError(f"image_size {image_size} is too small for LeNet (needs >= 12)")
        self.act = _act(activation)
        self.fc1 = nn.Linear(c2 * s * s, h1)
        self.stage = _linear_stage(h1, h2, dropout, variance=variance, p=p, max_alpha=max_alpha, activation=activation)
        self.fc_out = nn.Linear(h2, num_classes)
        self.representation_shape = (h2,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.act(self.conv1(x)), 2)
        x = F.max_pool2d(self.act(self.conv2(x)), 2)
        x = self.act(self.fc1(x.flatten(1)))
        return self.fc_out(self.stage(x))


class FCNet(_IPModel):
    """Fully connected in-512-128-32-classes network, softplus, dropout on the 32-unit layer.

    Parameters as for :class:`LeNet`; ``in_features`` is the flattened input size
    (784 for MNIST, 3072 for CIFAR-10). Inputs of any shape ``(B, ...)`` are flattened.
    """

    def __init__(
        self,
        dropout="gaussian",
        variance=None,
        p=None,
        max_alpha=0.7,
        width=1.0,
        *,
        in_features=784,
        num_classes=10,
        activation="softplus",
    ) -> None:
        super().__init__()
        w = check_positive(width, "width")
        h1, h2, h3 = (_scaled(n, w) for n in (512, 128, 32))
        self.act = _act(activation)
        self.fc1 = nn.Linear(in_features, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.stage = _linear_stage(h2, h3, dropout, variance=variance, p=p, max_alpha=max_alpha, activation=activation)
        self.fc_out = nn.Linear(h3, num_classes)
        self.representation_shape = (h3,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.fc1(x.flatten(1)))
        x = self.act(self.fc2(x))
        return self.fc_out(self.stage(x))


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(_IPModel):
    """CIFAR-style ResNet-18 (3x3 stem, no max-pool, BasicBlocks [2, 2, 2, 2]) with an added
    bottleneck layer and dropout on it before the classifier (paper, Sec. 5).

    features (global average pool, 512*width) -> Linear(bottleneck) -> activation -> dropout
    -> Linear(num_classes).

    Parameters
    ----------
    num_classes : int
    bottleneck : int
        Units of the added bottleneck layer (paper: 128).
    dropout : {"gaussian", "information", "bernoulli", None}
    variance, p, max_alpha : see :class:`LeNet`.
    width : float
        Multiplies the stage widths 64, 128, 256, 512.
    in_channels : int
    bottleneck_activation : {"softplus", "relu", "identity"}
        Activation of the bottleneck before the noise. Default ``"softplus"``: positive and
        never exactly zero, so every unit carries Gaussian noise (the public reference code
        used no activation; ReLU zeros make Z_i|X a point mass).
    """

    def __init__(
        self,
        num_classes=10,
        bottleneck=128,
        dropout="gaussian",
        variance=None,
        p=None,
        max_alpha=0.7,
        width=1.0,
        *,
        in_channels=3,
        bottleneck_activation="softplus",
    ) -> None:
        super().__init__()
        widths = list(stage_widths("resnet18", width))
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, cout in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlock(cin, cout, stride), _BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        if dropout == "information" and bottleneck_activation == "identity":
            raise ValueError("information dropout needs bottleneck_activation 'softplus' or 'relu'")
        bottleneck = check_int(bottleneck, "bottleneck")
        self.stage = _linear_stage(
            cin, bottleneck, dropout, variance=variance, p=p, max_alpha=max_alpha, activation=bottleneck_activation
        )
        self.linear = nn.Linear(bottleneck, num_classes)
        self.representation_shape = (bottleneck,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(self.stage(out))


class FullCNN(_IPModel):
    """All-convolutional network of Achille & Soatto (2018) for CIFAR-10, one dropout layer.

    conv96 - conv96 - conv96/2 [dropout] - conv192 - conv192 - conv192/2 - conv192 - conv192 1x1
    - conv(num_classes) 1x1 - global average pool. All 3x3 convs use padding 1; every conv
    except the last is followed by batch norm and the activation. The last 1x1 conv is linear,
    so the pooled output is the logits. The single dropout layer acts on the feature map of
    the third (stride-2) convolution; for information dropout that convolution (with its
    batch norm) lives inside the :class:`InformationDropout` layer, with a 3x3 stride-2 conv
    computing alpha from the same input.

    Parameters
    ----------
    width : float
        Filter fraction: 1.0 = 96/192 filters (paper "full"), 0.25 = 24/48 ("small").
    max_alpha : float
        Paper: 0.95.
    activation : {"softplus", "relu"}
    dropout : {"information", "gaussian", "bernoulli", None}
    variance, p : Gaussian / Bernoulli parameters (see :class:`LeNet`).
    in_channels, image_size, num_classes : int
    """

    def __init__(
        self,
        width=1.0,
        max_alpha=0.95,
        activation="softplus",
        dropout="information",
        variance=None,
        p=None,
        *,
        in_channels=3,
        image_size=32,
        num_classes=10,
    ) -> None:
        super().__init__()
        n1, n2 = stage_widths("fullcnn", width)

        def conv(cin, cout, k=3, stride=1):
            return nn.Sequential(
                nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.BatchNorm2d(cout), _act(activation)
            )

        self.block1 = nn.Sequential(conv(in_channels, n1), conv(n1, n1))
        if dropout == "information":
            if variance is not None or p is not None:
                raise ValueError("information dropout learns its noise; do not pass variance or p")
            if activation not in ("softplus", "relu"):
                raise ValueError(f"information dropout needs activation 'softplus' or 'relu'; got {activation!r}")
            drop = InformationDropout(
                n1,
                n1,
                max_alpha=max_alpha,
                activation=activation,
                kind="conv",
                kernel_size=3,
                stride=2,
                batch_norm=True,
            )
            self.stage = _DropoutStage(None, drop)
        else:
            self.stage = _DropoutStage(conv(n1, n1, 3, 2), _noise_layer(dropout, variance, p))
        self.block2 = nn.Sequential(conv(n1, n2), conv(n2, n2), conv(n2, n2, 3, 2), conv(n2, n2), conv(n2, n2, 1))
        self.classifier = nn.Conv2d(n2, num_classes, 1)
        h = (image_size + 1) // 2  # 3x3, stride 2, padding 1
        self.representation_shape = (n1, h, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block2(self.stage(self.block1(x)))
        return self.classifier(out).mean(dim=(2, 3))


MODELS = ("lenet", "fc", "resnet18", "fullcnn")


def build_model(name: str, dataset: str = "mnist", **kw: Any) -> nn.Module:
    """Build one of the paper's networks for a dataset.

    Parameters
    ----------
    name : {"lenet", "fc", "resnet18", "fullcnn"}
    dataset : {"mnist", "cifar10"}
        Sets the input geometry (1x28x28 or 3x32x32) and 10 classes.
    **kw
        Passed to the model class (e.g. ``dropout``, ``variance``, ``p``, ``max_alpha``, ``width``).

    Returns
    -------
    torch.nn.Module with ``.dropout``, ``.representation_dim`` and ``.representation_shape``.
    """
    key = str(name).lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid choices: {', '.join(MODELS)}")
    ds = str(dataset).lower().replace("-", "")
    if ds not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; valid choices: {', '.join(DATASETS)}")
    geo = DATASETS[ds]
    if key == "lenet":
        return LeNet(in_channels=geo["in_channels"], image_size=geo["image_size"], num_classes=geo["num_classes"], **kw)
    if key == "fc":
        return FCNet(in_features=geo["in_channels"] * geo["image_size"] ** 2, num_classes=geo["num_classes"], **kw)
    if key == "resnet18":
        return ResNet18(in_channels=geo["in_channels"], num_classes=geo["num_classes"], **kw)
    return FullCNN(in_channels=geo["in_channels"], image_size=geo["image_size"], num_classes=geo["num_classes"], **kw)
