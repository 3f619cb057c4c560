"""Real networks from mxnet.gluon.model_zoo.vision (pretrained=False).

Trainable counts are checked against torchvision's published parameter
counts (``sum(p.numel() for p in model.parameters())``, which excludes
BatchNorm running statistics, as Gluon's grad_req='null' does) wherever
Gluon builds the same architecture.  Where it does not, the test computes
the difference from the architecture and says what it is.
"""
import pytest
from mxnet.gluon import nn

import mxparams as mp
from mxparams import _compat, _zoo

# torchvision's published figures (docs "Classification" table / model cards).
PUBLISHED = {
    "alexnet": 61_100_840,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "resnet18_v1": 11_689_512,
    "resnet50_v1": 25_557_032,
    "squeezenet1.0": 1_248_424,
    "densenet121": 7_978_856,
    "inceptionv3": 27_161_264,
}


def build(name):
    """Numpy mode, or nd mode where 1.x can only run the network there."""
    net, used = _zoo.build_any_mode(name)
    assert used == "np" or _compat.ND_MODE_SUPPORTED
    return net


def gluon_elements(net):
    """Elements of every Parameter of Gluon's collect_params(), each once."""
    unique = {id(p): p for p in net.collect_params().values()}
    return sum(p.data().size for p in unique.values())


def batchnorm_statistics(net):
    return sum(p.data().size for path, p in mp.collect(net).items()
               if path.endswith(("running_mean", "running_var")))


# One run per MXNet version: build_any_mode picks the array mode itself.
@pytest.mark.parametrize("mode", ["np"], indirect=True)
@pytest.mark.parametrize("name", ["alexnet", "vgg16", "vgg16_bn",
                                  "resnet18_v1", "squeezenet1.0",
                                  "densenet121"])
def test_same_architecture_same_count(name, mode):
    net = build(name)
    s = mp.summary(net)
    assert s.trainable == PUBLISHED[name]
    # Every non-trainable element is a BatchNorm running statistic.
    assert s.non_trainable == batchnorm_statistics(net)
    # The total, counted by Gluon itself (each Parameter once, however
    # many paths reach it).  Summary defines non_trainable as total minus
    # trainable, so total == trainable + non_trainable would hold whatever
    # the count.
    assert s.total == gluon_elements(net)
    assert mp.tree(net).total == s.total


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_resnet50_v1_bottleneck_convolutions_carry_biases(mode):
    """Gluon's BottleneckV1 uses Conv2D's default use_bias=True for both
    1x1 convolutions; torchvision's ResNet has no convolution biases."""
    net = build("resnet50_v1")
    s = mp.summary(net)
    conv_biases = [r for r in s.rows
                   if r.layer == "Conv2D" and r.path.endswith(".bias")]
    # 16 bottlenecks x 2 biased 1x1 convolutions (channels/4 and channels).
    assert len(conv_biases) == 2 * (3 + 4 + 6 + 3)
    extra = sum(r.elements for r in conv_biases)
    assert extra == 3 * (64 + 256) + 4 * (128 + 512) + 6 * (256 + 1024) \
        + 3 * (512 + 2048) == 18_880
    assert s.trainable - extra == PUBLISHED["resnet50_v1"]


@pytest.mark.parametrize("mode", ["np"], indirect=True)
def test_inceptionv3_has_no_auxiliary_head(mode):
    """torchvision's figure includes the auxiliary classifier (AuxLogits),
    which Gluon's Inception v3 does not build."""
    net = build("inceptionv3")
    aux = ((768 * 128 + 2 * 128)             # 1x1 conv, BatchNorm gamma/beta
           + (128 * 768 * 5 * 5 + 2 * 768)   # 5x5 conv, BatchNorm gamma/beta
           + (768 * 1000 + 1000))            # fully connected layer
    assert mp.summary(net).trainable + aux == PUBLISHED["inceptionv3"]


def test_resnet18_in_every_mode(mode, golden):
    """Numpy mode on both versions and nd mode on 1.x print the same."""
    net = _zoo.build("resnet18_v1", mode)
    s = mp.summary(net)
    assert (s.total, s.trainable, s.non_trainable) == (
        11_699_112, 11_689_512, 9_600)
    golden("zoo_resnet18_depth2.txt", str(mp.summary(net, depth=2)))
    golden("zoo_resnet18_tree_depth3.txt", str(mp.tree(net, depth=3)))
    for row in s.rows:
        is_stat = row.path.endswith(("running_mean", "running_var"))
        assert row.trainable is not is_stat


def test_resnet18_before_the_first_forward_pass(mode, golden):
    net = _zoo.build("resnet18_v1", mode, forward=False)
    s = mp.summary(net)
    golden("zoo_resnet18_deferred.txt", str(s))
    assert s.total is None and s.pending == 81
    # Shapes Gluon 1.x knows from in_channels are shown on 2.x too.
    shapes = {r.path: r.shape for r in s.rows}
    assert shapes["features.4.0.body.0.weight"] == (64, 64, 3, 3)
    assert shapes["features.0.weight"] == (64, None, 7, 7)
    assert isinstance(net.features[0], nn.Conv2D)
