"""Networks from the chapter, built the same way on MXNet 1.x and 2.x;
MXNet's own log lines, for the tests that compare stderr; small helpers
the tests and benchmarks share (not part of mxparams)."""
import re
import warnings
import weakref

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn

from mxparams import _compat
from mxparams.notebooks._envs import PINS

#: Every supported MXNet version: those mxparams makes environments of
#: (``notebooks check --mxnet``), as noxfile.py does for the tests.
MXNET_VERSIONS = tuple(PINS)


def arrays():
    """The array module of the current mode: mx.np or mx.nd."""
    return mx.np if _compat.current_mode() == "np" else mx.nd


def uniform(*shape):
    if _compat.current_mode() == "np":
        return mx.np.random.uniform(size=shape)
    return mx.nd.random.uniform(shape=shape)


def children(block):
    """(name, child) pairs of ``block`` in registration order.

    2.x keeps ``_children`` values as weak references, 1.x the blocks
    themselves (docs/compatibility.md §3).
    """
    return [(name, child() if type(child) is weakref.ref else child)
            for name, child in block._children.items()]


def add_param(block, name, **kwargs):
    """A Parameter owned by ``block`` as attribute ``name``, as a user's
    custom block makes one.

    1.x only initializes (and names) parameters created through the
    block's ParameterDict, ``block.params.get``; 2.x has no ParameterDict
    and takes a plain ``gluon.Parameter`` (docs/compatibility.md §3).
    """
    if _compat.GLOBAL_NAMES:
        param = block.params.get(name, **kwargs)
    else:
        param = gluon.Parameter(name, **kwargs)
    setattr(block, name, param)
    return param


def quiet_storage_log():
    """Let MXNet 2 print its storage-manager log lines now, into /dev/null.

    2.x writes "Using Pooled (Naive) StorageManager for CPU" to fd 2 at the
    first allocation on each device type and no setting silences it
    (docs/compatibility.md §1); allocating once on ``cpu`` and
    ``cpu_pinned`` with fd 2 redirected (the command line's redirection)
    uses the lines up, so a test or benchmark that compares stderr sees
    only its own.  1.x prints nothing.
    """
    from mxparams.cli import _mxnet_logs_to_devnull
    restore = _mxnet_logs_to_devnull()
    try:
        with mx.util.np_array(False), mx.util.np_shape(False):
            for device in (mx.cpu(), mx.cpu_pinned()):
                mx.nd.zeros((1,), ctx=device).wait_to_read()
    finally:
        restore()


def chapter_mlp():
    """Dense(256, relu) then Dense(10); not initialized, shapes deferred."""
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    return net


def block1():
    net = nn.Sequential()
    net.add(nn.Dense(32, activation="relu"))
    net.add(nn.Dense(16, activation="relu"))
    return net


def block2():
    net = nn.Sequential()
    for _ in range(4):
        net.add(block1())
    return net


def rgnet():
    net = nn.Sequential()
    net.add(block2())
    net.add(nn.Dense(10))
    return net


def tied_net():
    """The chapter's tied layers: the same Dense block at paths 1 and 2."""
    shared = nn.Dense(8, activation="relu")
    net = nn.Sequential()
    net.add(nn.Dense(8, activation="relu"), shared, shared, nn.Dense(10))
    return net


class Holder(gluon.Block):
    """A custom block whose children are attributes (as in user code)."""

    def __init__(self, **children):
        super().__init__()
        for name, child in children.items():
            setattr(self, name, child)

    def forward(self, x):
        for _, child in children(self):
            x = child(x)
        return x


def initialize(net):
    """net.initialize() without Gluon 2's warning for a block added twice.

    Gluon 2 reaches such a block once per path and warns "already
    initialized" for each of its parameters (docs/compatibility.md §5); 1.x lists it once.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Parameter .* is already initialized")
        net.initialize()


def forward(net, *shape):
    """initialize() and one forward pass on a uniform input."""
    initialize(net)
    out = net(uniform(*shape))
    out.wait_to_read()
    return out


# MXNet writes C++ log lines to OS file descriptor 2 (docs/compatibility.md §1),
# depending on its version and on the user's MXNET_* settings.  A test that
# compares stderr names the lines MXNet may print in its situation and
# removes only those; any other text on stderr still fails it.
_CLOCK = r"^\[\d\d:\d\d:\d\d\] \.\./src/"
# With MXNET_ENGINE_TYPE set, e.g. NaiveEngine: 1.x at the first
# operation (in its exit handler if there was none), 2.x at `import mxnet`.
MXNET_ENGINE_LINE = _CLOCK + r"engine/engine\.cc:\d+: MXNet start using engine: \w+\n"
# 2.x at the first allocation on each device type.
MXNET_STORAGE_MANAGER_LINE = (
    _CLOCK + r"storage/storage\.cc:\d+: Using [\w ()]*StorageManager for \w+\n")


def without_mxnet_log(stderr: str, *lines: str) -> str:
    """stderr without the given MXNet log lines (patterns above)."""
    for pattern in lines:
        stderr = re.sub(pattern, "", stderr, flags=re.MULTILINE)
    return stderr
