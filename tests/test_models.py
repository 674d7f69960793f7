"""Shapes, tracked layers, parameter counts and validation of ipdrop.models.

Parameter counts are computed by hand from the paper's architectures (ground truth that
fails if a layer size is wrong). Forward passes use width factors < 1 and batch 2 to stay
fast on CPU.
"""

import math

import pytest
import torch

from ipdrop.dropout import (
    BernoulliDropout,
    GaussianDropout,
    InformationDropout,
    IPDropout,
    NoDropout,
    information_kl,
    mc_dropout,
)
from ipdrop.models import FCNet, FullCNN, LeNet, ResNet18, build_model

INPUTS = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
KINDS = {"gaussian": GaussianDropout, "information": InformationDropout, "bernoulli": BernoulliDropout, None: NoDropout}


def _x(dataset, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, *INPUTS[dataset], generator=g)


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("name, width", [("lenet", 1.0), ("fc", 0.5), ("resnet18", 0.125), ("fullcnn", 0.25)])
@pytest.mark.parametrize("dropout", ["gaussian", "information", "bernoulli", None])
def test_output_shape_and_tracked_layer(name, width, dataset, dropout):
    model = build_model(name, dataset, dropout=dropout, width=width)
    out = model(_x(dataset))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    layer = model.dropout
    assert isinstance(layer, IPDropout) and type(layer) is KINDS[dropout]
    assert layer.last_noiseless.shape == (2, *model.representation_shape)
    assert layer.last_output.shape == layer.last_noiseless.shape
    assert model.representation_dim == math.prod(model.representation_shape)
    # exactly one ipdrop dropout layer, and it is the tracked one
    layers = [m for m in model.modules() if isinstance(m, IPDropout)]
    assert layers == [layer]


def test_paper_representation_sizes():
    assert LeNet().representation_shape == (84,)
    assert FCNet().representation_shape == (32,)
    assert ResNet18(width=0.125).representation_shape == (128,)
    assert FullCNN().representation_shape == (96, 16, 16)  # after the stride-2 third conv
    assert FullCNN(width=0.25).representation_shape == (24, 16, 16)
    assert build_model("fullcnn", "mnist", width=0.25).representation_shape == (24, 14, 14)


def test_parameter_counts_match_paper_architectures():
    # LeNet on MNIST: conv 1->6 5x5, conv 6->16 5x5, fc 400-120-84-10
    lenet = 1 * 6 * 25 + 6 + 6 * 16 * 25 + 16 + 400 * 120 + 120 + 120 * 84 + 84 + 84 * 10 + 10
    assert _n_params(build_model("lenet", "mnist")) == lenet == 61706
    # FC 784-512-128-32-10
    fc = 784 * 512 + 512 + 512 * 128 + 128 + 128 * 32 + 32 + 32 * 10 + 10
    assert _n_params(build_model("fc", "mnist")) == fc
    # information dropout adds the alpha layer (same size as the 128->32 layer)
    assert _n_params(build_model("fc", "mnist", dropout="information")) == fc + 128 * 32 + 32
    # CIFAR ResNet-18 (11,173,962 with a 512->10 head) + 512->128 bottleneck, 128->10 head
    assert (
        _n_params(build_model("resnet18", "cifar10")) == 11_173_962 - (512 * 10 + 10) + 512 * 128 + 128 + 128 * 10 + 10
    )


def test_fullcnn_layout():
    m = FullCNN(width=0.25)
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    main = [c for c in convs if c is not m.dropout.alpha_layer]
    # 3 x 24 then 4 x 48 filters (3x3 except the 1x1 one), then the 1x1 classifier
    assert [c.out_channels for c in main] == [24, 24, 24, 48, 48, 48, 48, 48, 10]
    assert [c.kernel_size[0] for c in main] == [3, 3, 3, 3, 3, 3, 3, 1, 1]
    assert m.dropout.max_alpha == 0.95 and m.dropout.kind == "conv"
    assert m.dropout.alpha_layer.kernel_size == (3, 3) and m.dropout.alpha_layer.stride == (2, 2)


def test_eval_deterministic_mc_random():
    model = build_model("lenet", "mnist", dropout="gaussian", variance=0.5).eval()
    x = _x("mnist", b=4)
    a = model(x)
    assert torch.equal(a, model(x))
    with mc_dropout(model):
        assert not torch.equal(model(x), a)
    assert torch.equal(model(x), a)
    info = build_model("fullcnn", "cifar10", width=0.25).eval()
    xc = _x("cifar10")
    assert torch.equal(info(xc), info(xc))


def test_information_kl_from_model_backpropagates():
    model = build_model("lenet", "mnist", dropout="information")
    out = model(_x("mnist", b=3))
    kl = information_kl(model)
    assert kl.shape == (3,) and (kl >= 0).all()  # softplus KL is a KL divergence: >= 0
    (out.sum() + kl.mean()).backward()
    assert model.dropout.alpha_layer.weight.grad is not None
    a = model.dropout.last_alpha
    assert a.min() >= 0.001 and a.max() <= 0.001 + 0.7


def test_deepcopy_and_pickle_after_forward():
    import copy
    import io

    model = build_model("lenet", "mnist", dropout="information")
    model(_x("mnist"))  # leaves a non-leaf last_kl on the layer
    clone = copy.deepcopy(model)
    assert clone.dropout.last_kl is None and clone.dropout.last_noiseless is None
    assert model.dropout.last_kl is not None  # the original keeps its records
    buf = io.BytesIO()
    torch.save(model, buf)
    x = _x("mnist", b=3)
    torch.testing.assert_close(clone.eval()(x), model.eval()(x))


def test_dropout_parameters_are_passed():
    assert build_model("fc", "mnist", variance=0.4).dropout.variance == pytest.approx(0.4)
    assert build_model("fc", "mnist", p=0.5).dropout.variance == pytest.approx(1.0)
    assert build_model("fc", "mnist", dropout="bernoulli", p=0.3).dropout.p == pytest.approx(0.3)
    assert build_model("lenet", "mnist", dropout="information", max_alpha=0.5).dropout.max_alpha == 0.5
    assert build_model("resnet18", "cifar10", width=0.125, bottleneck=64).representation_dim == 64


@pytest.mark.parametrize(
    "args, kw, msg",
    [
        (("vgg", "mnist"), {}, "lenet, fc, resnet18, fullcnn"),
        (("lenet", "imagenet"), {}, "mnist, cifar10"),
        (("lenet", "mnist"), {"dropout": "alpha"}, "dropout must be one of"),
        (("fc", "mnist"), {"variance": 0.0}, "variance"),
        (("fc", "mnist"), {"variance": 0.2, "p": 0.2}, "not both"),
        (("fc", "mnist"), {"dropout": "bernoulli", "p": 1.0}, "p"),
        (("fc", "mnist"), {"dropout": "information", "variance": 0.2}, "information"),
        (("lenet", "mnist"), {"width": 0}, "width"),
        (("resnet18", "cifar10"), {"bottleneck": 0, "width": 0.125}, "bottleneck"),
        (("lenet", "mnist"), {"activation": "tanh"}, "activation"),
    ],
)
def test_bad_inputs_raise(args, kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_model(*args, **kw)
