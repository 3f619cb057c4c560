"""Parameters as Gluon keeps them: shapes, dtypes, state, initialization,
training settings, tying and the Trainer's copy; the same code on both
lines, reading Gluon's privates (``_shape``, ``_data``, ``_deferred_init``,
``_differentiable``, ``_trainer``) and calling the line's shims where the
lines differ.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable

import mxnet as mx
import numpy
from mxnet import gluon

from . import _line
from ._modes import as_array_of, copy_into, mode_array

# --- shapes and dtypes -----------------------------------------------------

def raw_shape(param: gluon.Parameter) -> tuple | None:
    """The shape with every unknown dimension as None.

    1.x nd mode marks unknown dims with 0, numpy mode with -1 (compatibility
    §4).  Gluon parameters are never zero-sized, so both mean "unknown".
    """
    # _shape, not the shape property: the property asks MXNet for the
    # array mode on every call, and only swaps 0 for -1.
    shape = param._shape
    if shape is None:
        return None
    if 0 in shape or -1 in shape:
        return tuple(d if d > 0 else None for d in shape)
    return tuple(shape)


def display_shape(block: gluon.Block | None, attr: str,
                  param: gluon.Parameter) -> tuple | None:
    """The shape as both versions know it before the first forward pass.

    Like ``raw_shape``, completed where it is unknown: from the data once
    the Parameter holds some (a ``SymbolBlock`` loaded from an export leaves
    ``Parameter.shape`` None on 1.x and 2.x, compatibility §4), and with the
    convolution input dimension that 1.x knows from ``in_channels`` at
    construction (``_v2.CONV_SHAPE_NEEDS_IN_CHANNELS``).
    """
    shape = raw_shape(param)
    if shape is not None and None not in shape:
        return shape
    data = param._data
    if data:
        return tuple(data[0].shape)
    conv = _line.CONV_CLASS  # not None where CONV_SHAPE_NEEDS_IN_CHANNELS
    if (_line.CONV_SHAPE_NEEDS_IN_CHANNELS and conv is not None and shape is not None
            and attr == "weight" and isinstance(block, conv) and block._in_channels):
        filled = list(shape)
        if block._op_name == "convolution":
            axis = block._layout.find("C")
            size = block._in_channels // block._groups
        else:  # deconvolution keeps input channels on the first axis
            axis = block._layout.find("N")
            size = block._in_channels
        if filled[axis] is None:
            filled[axis] = size
        shape = tuple(filled)
    return shape


_DTYPES: dict = {}


def dtype_info(param: gluon.Parameter) -> tuple[str, int]:
    """(name, itemsize): ('float32', 4) in every mode (1.x nd mode keeps
    a numpy type object where numpy mode keeps a string, compatibility §10)."""
    dtype = param.dtype
    info = _DTYPES.get(dtype)
    if info is None:
        d = numpy.dtype(dtype)
        info = _DTYPES[dtype] = (d.name, d.itemsize)
    return info


def dtype_name(param: gluon.Parameter) -> str:
    return dtype_info(param)[0]


# --- state -----------------------------------------------------------------

def is_pending(param: gluon.Parameter) -> bool:
    """initialize() was called but the shape is unknown (deferred init)."""
    return bool(param._deferred_init)


def is_initialized(param: gluon.Parameter) -> bool:
    return param._data is not None


def data_copies(param: gluon.Parameter) -> list:
    """The device copies of an initialized ``param``'s data, whole.

    Gluon's ``list_data()`` refuses a parameter stored row-sparse (1.x's
    ``contrib.nn.SparseEmbedding``: "use row_sparse_data() instead").  Its
    Trainer keeps the weight in its kvstore and the parameter holds only
    the rows the last forward pass pulled, so every row is pulled first,
    with Gluon's own ``row_sparse_data`` (as ``save_parameters`` does);
    without a Trainer the arrays are the weight.
    """
    if param._stype != "default" and param._trainer is not None:
        for device in devices(param):
            rows = mx.nd.arange(0, param.shape[0], dtype="int64").copyto(device)
            param.row_sparse_data(rows)
    return list(param._data)


def devices(param: gluon.Parameter) -> tuple:
    """The devices holding copies of ``param`` (() if not initialized)."""
    if param._data is None and not param._deferred_init:
        return ()
    return tuple(_line.list_devices(param))


# --- training settings -------------------------------------------------------

def takes_gradient(param: gluon.Parameter) -> bool:
    """Whether ``param`` can have a gradient at all.

    Gluon turns every ``grad_req`` of a parameter declared
    ``differentiable=False`` (BatchNorm's running statistics) into 'null',
    and a ``Constant`` keeps 'null' and warns when asked for another
    (the same on 1.x and 2.x); no optimizer ever updates either.
    """
    return bool(param._differentiable) and not isinstance(param, gluon.Constant)


def has_trainer(param: gluon.Parameter) -> bool:
    """Whether a ``gluon.Trainer`` was made for ``param`` (on 2.x, which
    holds it weakly, one that is still alive)."""
    return _line.trainer_of(param) is not None


def cast(param: gluon.Parameter, dtype: str) -> None:
    """Gluon's own ``Parameter.cast`` (data and gradients), then what the
    line needs besides (``after_cast``)."""
    param.cast(dtype)
    _line.after_cast(param)


# --- creating constants ------------------------------------------------------

def make_constant(block: gluon.Block, name: str, value: numpy.ndarray) -> gluon.Parameter:
    """A grad_req='null' Parameter holding ``value`` (of its dtype), owned by ``block``.

    1.x creates constants through the block's ParameterDict
    (``params.get_constant(name, value)``; ``Constant(value)`` raises);
    2.x has no ParameterDict and takes ``gluon.Constant(value)``
    (``Constant(name, value)`` raises) (compatibility §8).
    """
    # Both versions turn a numpy value into an MXNet array of the default
    # dtype (float32 in nd mode and on 2.x, numpy's own in 1.x np mode); an
    # MXNet array keeps its dtype, so it is made here, in the array kind of
    # the current mode.
    value = mode_array(value)
    param = _line.new_constant(block, name, value)
    setattr(block, name, param)
    return param


# --- initialization --------------------------------------------------------

def initial_value(param: gluon.Parameter, default_init):
    """The value Gluon's ``param.initialize`` would give ``param`` now.

    Computed by Gluon itself, on a scratch Parameter of the same name,
    shape, dtype and own initializer, so nothing of ``param`` changes and
    the random draws are the ones Gluon would make; None while the shape
    is unknown (initialization then waits for the first forward pass).
    """
    shape = raw_shape(param)
    if shape is None or None in shape:
        return None
    scratch = gluon.Parameter(param.name, grad_req="null", shape=shape,
                              dtype=param.dtype, init=param.init)
    init_param(scratch, default_init, [mx.cpu()], True)
    return scratch.data()


def init_param(param: gluon.Parameter, default_init, devices_,
               force_reinit: bool) -> None:
    """Gluon's ``Parameter.initialize`` with ``default_init`` as the default.

    The device argument is ``ctx=`` on 1.x and ``device=`` on 2.x
    (compatibility §5); passed by position, it is the same call on both.
    ``devices_`` None means "the CPU", as in Gluon.
    """
    param.initialize(None, devices_, default_init, force_reinit)


@contextlib.contextmanager
def rollback(params: Iterable[gluon.Parameter] = (),
             blocks: Iterable[gluon.Block] = ()):
    """Put Parameters and blocks back as they were if the ``with`` body fails.

    Gluon's initialize, load of an uninitialized parameter and tying
    replace attributes (a Parameter's list of arrays, a block's parameter
    entries) and never write into the arrays they drop, so a copy of those
    attributes is the whole state.  In-place writes into arrays are not
    covered: callers check everything before writing.
    """
    saved_params = [(p, dict(p.__dict__)) for p in params]
    saved_blocks = [(b, dict(b.__dict__), dict(b._reg_params),
                     _line.named_params(b))
                    for b in blocks]
    try:
        yield
    except BaseException:
        for param, state in saved_params:
            param.__dict__.clear()
            param.__dict__.update(state)
        for block, state, reg, named in saved_blocks:
            block.__dict__.clear()
            block.__dict__.update(state)
            block._reg_params.clear()
            block._reg_params.update(reg)
            _line.restore_named_params(block, named)
        raise


# --- tying -----------------------------------------------------------------

def share(replacements: Iterable[tuple[gluon.Block, str, gluon.Parameter]]) -> None:
    """Make each (owner block, attribute) use the given Parameter, the way
    the installed line ties blocks (compatibility §7)."""
    _line.share(replacements)


def is_hybridized(block: gluon.Block) -> bool:
    """Whether ``hybridize()`` is on for this block (a cached graph may exist)."""
    return bool(getattr(block, "_active", False))


def drop_cached_graph(block: gluon.Block) -> None:
    """Forget a hybridized block's cached graph; it is traced again next call.

    A cached graph keeps the Parameters it was traced with, so after a tie
    the old ones would still be used (compatibility §7).
    """
    clear = getattr(block, "_clear_cached_op", None)
    if clear is not None:
        clear()


# --- loading and the Trainer's copy -------------------------------------------

def load_init(param: gluon.Parameter, array) -> None:
    """Gluon's own load step: set every copy, or initialize with the file's shape.

    ``Parameter._load_init`` names its second argument ``ctx`` on 1.x and
    ``device`` on 2.x (compatibility §1); None means "the parameter's own
    devices" (or the pending ones of deferred initialization, or the CPU)
    on both.
    """
    param._load_init(array, None)


def kvstore_keeps(param: gluon.Parameter) -> str | None:
    """Whether a Trainer keeps its own copy of ``param`` in a kvstore:
    None, 'local' or 'distributed'.

    A Trainer that updates on its kvstore (Gluon's default on several
    devices, and on a parameter server) keeps the weights there and pulls
    them into the parameter after every step, so a value written into the
    parameter alone is undone by the next step.  Gluon's own ``set_data``
    resets such a kvstore, which then starts again from the parameter's
    value, and refuses a distributed one ("Cannot reset distributed
    KVStore."), whose servers hold the weights.  Parameters without
    gradients (BatchNorm's running statistics) are never pulled back.
    """
    trainer = _line.trainer_of(param)
    if (trainer is None or param.grad_req == "null"
            or not trainer._kv_initialized or not trainer._update_on_kvstore
            or param in trainer._params_to_init):
        return None
    return "distributed" if "dist" in trainer._kvstore.type else "local"


def set_values(param: gluon.Parameter, value) -> None:
    """Set every copy of an initialized ``param`` to ``value`` (NumPy, or a
    legacy MXNet array on the CPU), and the Trainer's copy with them:
    Gluon's own ``set_data`` where a Trainer keeps the parameter in its
    local kvstore (see ``kvstore_keeps``; the caller refuses a distributed
    one first), else :func:`copy_into`."""
    if kvstore_keeps(param) is None:
        copy_into(param, value)
    else:
        param.set_data(as_array_of(param, value))
