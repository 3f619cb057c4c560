"""The network and values of the checkpoint tests, fixtures and child processes.

Imported by tests/test_checkpoint*.py, by tests/fixtures/make_checkpoints.py
and by the other MXNet version's Python in the cross-version test, so every
file is written and checked with the same numbers.
"""
import numpy
from mxnet.gluon import nn


def compat_net(deferred=False):
    """The net of docs/compatibility.md §9: Dense, BatchNorm (with aux states), Dense."""
    net = nn.HybridSequential()
    if deferred:  # shapes unknown until a forward pass or a load
        net.add(nn.Dense(4), nn.BatchNorm(), nn.Dense(2))
    else:
        net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4),
                nn.Dense(2, in_units=4))
    return net


def twins_net():
    """Two layers whose parameters have the same attributes and shapes."""
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=3), nn.Dense(3, in_units=3))
    return net


SHAPES = {"0.weight": (4, 3), "0.bias": (4,), "1.gamma": (4,), "1.beta": (4,),
          "1.running_mean": (4,), "1.running_var": (4,), "2.weight": (2, 4),
          "2.bias": (2,)}


def expected(seed=0):
    """path -> float32 values; exact binary fractions, different per path."""
    out = {}
    for i, (path, shape) in enumerate(SHAPES.items()):
        size = int(numpy.prod(shape))
        values = (numpy.arange(size) - size // 3) * 0.125 + i + seed * 100
        out[path] = values.reshape(shape).astype(numpy.float32)
    return out


def fill(net, seed=0):
    """initialize() if needed and set every parameter to expected(seed)."""
    params = net._collect_params_with_prefix()
    if any(p._data is None for p in params.values()):
        net.initialize()
    for path, values in expected(seed).items():
        data = params[path].data()
        data[:] = values
    return net


def values(net):
    """path -> numpy copy of the first copy of each parameter."""
    return {path: p.list_data()[0].asnumpy().copy()
            for path, p in net._collect_params_with_prefix().items()}


def same(a, b):
    """Bit-identical dicts of arrays (dtype, shape and bytes)."""
    return (list(a) == list(b)
            and all(a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
                    and a[k].tobytes() == b[k].tobytes() for k in a))


def resnet18(mode="np"):
    """The model zoo's resnet18_v1 with fixed values in every parameter.

    Built by ``_zoo.build`` (zeros, one forward pass: every shape known),
    then each parameter, in Gluon's order, is filled from its own
    ``numpy.random.RandomState(i)``: small binary fractions, and positive
    scales and variances for BatchNorm, so the outputs are neither zero
    nor huge.  The same on every version and mode.
    """
    import mxnet as mx

    from mxparams import _zoo
    net = _zoo.build("resnet18_v1", mode)
    make = mx.np.array if mode == "np" else mx.nd.array
    for i, (path, param) in enumerate(net._collect_params_with_prefix().items()):
        rng = numpy.random.RandomState(i)
        shape = param.data().shape
        draw = rng.randint(-64, 65, size=shape) / 1024
        if path.endswith(("running_var", "gamma")):
            draw = 1 + numpy.abs(draw)
        # Through an MXNet array: after the forward pass oneDNN keeps some
        # convolution weights in its own layout, which a copy from a numpy
        # array refuses ("can't generate TBlob for oneDNN data").
        param.data()[:] = make(draw.astype(numpy.float32))
    return net


def resnet_input():
    """Two images of 3x224x224, multiples of 1/256 in [0, 1)."""
    rng = numpy.random.RandomState(1)
    return (rng.randint(0, 256, size=(2, 3, 224, 224)) / 256).astype(numpy.float32)


def resnet_output(net, x):
    """The network's output on numpy input ``x`` (inference), as numpy."""
    import mxnet as mx

    from mxparams import _compat
    array = mx.np.array(x) if _compat.current_mode() == "np" else mx.nd.array(x)
    return net(array).asnumpy()


class Tiny(nn.HybridBlock):
    """The custom HybridBlock of tests/fixtures/exports/ and the model tests:
    Conv2D(2 -> 4, 3x3), BatchNorm, ReLU, a mean over the image, Dense(3).
    Its computation is added by tiny_net(), in the form the installed
    Gluon calls."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2D(4, 3, in_channels=2)
        self.bn = nn.BatchNorm(in_channels=4)
        self.head = nn.Dense(3, in_units=4)


def _tiny_forward(self, x):  # MXNet 2.x
    from mxnet import npx
    return self.head(npx.relu(self.bn(self.conv(x))).mean(axis=(2, 3)))


def _tiny_hybrid_forward(self, F, x):  # MXNet 1.x, numpy or nd mode
    from mxparams import _compat
    relu = F.npx.relu if _compat.current_mode() == "np" else F.relu
    return self.head(relu(self.bn(self.conv(x))).mean(axis=(2, 3)))


TINY_INPUT = (1, 2, 5, 5)


def tiny_net():
    """A Tiny with exact binary fractions in every parameter (after one
    forward pass: 2.x knows a convolution's weight shape only then)."""
    from mxparams import _compat
    if _compat.GLOBAL_NAMES:  # 1.x HybridBlocks implement hybrid_forward
        Tiny.hybrid_forward = _tiny_hybrid_forward
    else:
        Tiny.forward = _tiny_forward
    net = Tiny()
    net.initialize()
    net(_compat.ones(TINY_INPUT))
    for i, param in enumerate(net._collect_params_with_prefix().values()):
        shape = param.data().shape
        size = int(numpy.prod(shape))
        values = ((numpy.arange(size) % 7) - 3) * 0.0625 + i * 0.5
        param.set_data(_compat.mode_array(values.reshape(shape).astype(numpy.float32)))
    return net


def export_tiny(prefix, net=None):
    """Hybridize ``net`` (a tiny_net() by default), run it once and export it
    as ``prefix``-symbol.json and ``prefix``-0000.params; its output."""
    from mxparams import _compat
    net = net or tiny_net()
    net.hybridize()
    out = net(_compat.ones(TINY_INPUT))
    net.export(str(prefix))
    return out.asnumpy()


def zoo_export(prefix):
    """mobilenet0.25 (the smallest zoo network that runs in numpy mode on
    every version) exported as ``prefix``; 1.x's global names start at 0."""
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision
    with mx.name.NameManager():
        net = vision.get_model("mobilenet0.25", pretrained=False)
    net.initialize(mx.init.Zero())
    net.hybridize()
    net(mx.np.ones((1, 3, 224, 224)))
    net.export(str(prefix))
