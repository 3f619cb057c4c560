"""Setting parameter values: ``set_data`` and ``constant``."""
from __future__ import annotations

import numpy
from mxnet import autograd, gluon

from . import _compat
from ._arrays import ieee
from ._table import fmt_shape
from .errors import DTypeMismatch, ShapeMismatch


def _label(param: gluon.Parameter) -> str:
    """The parameter as a message names it: by dtype and shape.

    A Parameter does not know its path, and its Gluon name differs by
    version ('dense0_weight', or 'block_a1_weight' with a 1.x prefix, on
    1.x; 'weight' on 2.x), so messages do not use it.
    """
    return (f"the {_compat.dtype_name(param)} parameter of shape "
            f"{fmt_shape(_compat.raw_shape(param))}")


@ieee  # numpy.finfo below
def _out_of_range(array, dtype: numpy.dtype, target: numpy.dtype) -> str | None:
    """Why ``array`` does not fit in ``target`` (a narrower kind of the same
    dtype family), or None if every value fits."""
    info: numpy.iinfo | numpy.finfo
    if target.kind in "iu":
        info = numpy.iinfo(target)
    elif target.kind == "f":
        info = numpy.finfo(target)
    else:
        return None
    if dtype.kind not in "iuf" or (dtype.kind == target.kind
                                   and dtype.itemsize <= target.itemsize):
        return None
    values = _compat.to_numpy(array)
    if not values.size:
        return None
    with numpy.errstate(invalid="ignore"):
        finite = values[numpy.isfinite(values)] if dtype.kind == "f" else values
        low, high = (finite.min(), finite.max()) if finite.size else (0, 0)
    if low >= info.min and high <= info.max:
        return None
    return (f"values from {low} to {high} do not fit in {target.name} "
            f"({info.min} to {info.max})")


def _as_array(value):
    """(array-like with .shape and .dtype, numpy dtype) without copying MXNet data."""
    if _compat.is_mx_array(value):
        return value, numpy.dtype(value.dtype)
    if isinstance(value, numpy.ndarray):
        return value, value.dtype
    raise TypeError(
        f"set_data takes an MXNet or numpy array, got {type(value).__name__}; "
        "wrap lists or scalars with numpy.array(...)")


def set_data(param: gluon.Parameter, value) -> None:
    """Assign ``value`` to every copy of an initialized Parameter.

    Checks first, changes after: the shape must equal the parameter's
    (``mp.ShapeMismatch`` otherwise) and the dtype must convert without
    changing kind (float64 into float32 is fine, float into int is not:
    ``mp.DTypeMismatch``, also a ``TypeError``).
    Accepts mx.np, mx.nd and numpy arrays, and is safe inside
    ``autograd.record()``, where a plain in-place write raises.

    >>> import numpy
    >>> import mxparams as mp
    >>> from mxnet import autograd
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=3)
    >>> layer.initialize()
    >>> with autograd.record():
    ...     mp.set_data(layer.bias, numpy.array([1.0, 2.0]))
    >>> layer.bias.data().tolist()
    [1.0, 2.0]
    >>> mp.set_data(layer.weight, numpy.zeros((3, 2)))  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.ShapeMismatch: cannot set the float32 parameter of shape (2, 3):
    expected shape (2, 3), got (3, 2)
    """
    if not isinstance(param, gluon.Parameter):
        raise TypeError(f"set_data takes a Gluon Parameter (e.g. "
                        f"mp.get(net, '0.weight')), got {type(param).__name__}")
    array, dtype = _as_array(value)
    if _compat.is_pending(param):
        raise RuntimeError(
            f"cannot set {_label(param)}: its shape is not known yet "
            "(deferred initialization); run a forward pass first")
    if not _compat.is_initialized(param):
        raise RuntimeError(
            f"cannot set {_label(param)}: it is not initialized; call "
            "net.initialize() (or mp.initialize(net)) and run a forward pass "
            "first")
    shape = tuple(param.shape)
    if tuple(array.shape) != shape:
        raise ShapeMismatch(f"cannot set {_label(param)}: expected shape "
                            f"{fmt_shape(shape)}, got {fmt_shape(tuple(array.shape))}")
    expected = numpy.dtype(_compat.dtype_name(param))
    if not numpy.can_cast(dtype, expected, casting="same_kind"):
        raise DTypeMismatch(f"cannot set {_label(param)} from {dtype.name} "
                        f"values; convert with .astype('{expected.name}') if "
                        "that is intended")
    overflow = _out_of_range(array, dtype, expected)
    if overflow:
        raise ValueError(f"cannot set {_label(param)}: {overflow}")
    copies = _compat.data_copies(param)
    # Gluon's own set_data refuses an mx.nd array for an mx.np parameter
    # (compatibility §6); a NumPy value becomes an MXNet array too, which
    # Gluon copies with MXNet's operator, the one that writes into arrays
    # in oneDNN's layouts (a copy from a NumPy buffer fails there, §13).
    array = _compat.as_array_of(param, array, expected)
    # Writing into an array that a recorded graph uses is an error inside
    # autograd.record() (compatibility §6); the assignment is not part of the
    # graph.
    with autograd.pause():
        if len(copies) == 1:  # one write: it happens or it does not
            param.set_data(array)
            return
        # Several devices: keep what they held, in case a later copy fails.
        before = [c.copy() for c in copies]
        try:
            param.set_data(array)
        except BaseException:
            for copy, old in zip(copies, before, strict=True):
                copy[:] = old
            raise


def constant(block: gluon.Block, name: str, value, *, dtype=None) -> gluon.Parameter:
    """Register a constant (``grad_req='null'``) parameter on ``block``.

    The parameter becomes attribute ``name`` of ``block`` and is returned;
    ``initialize()`` fills it with ``value`` and training never changes it.
    Its dtype is float32, like every Gluon parameter's default, unless
    ``dtype`` says otherwise, whatever the dtype of ``value`` (numpy's
    float64 and int64 included) and on every MXNet version and array mode.
    Call it in the block's ``__init__`` without assigning the result to
    the same attribute again (MXNet 1.x forbids re-assigning a Parameter
    attribute).

    >>> import mxparams as mp
    >>> from mxnet import np
    >>> from mxnet.gluon import nn
    >>> class Scaled(nn.Block):
    ...     def __init__(self):
    ...         super().__init__()
    ...         mp.constant(self, "scale", np.array([2.0, 3.0]))
    ...     def forward(self, x):
    ...         return x * self.scale.data()
    >>> net = Scaled()
    >>> net.initialize()
    >>> net(np.ones(2)).tolist()
    [2.0, 3.0]
    >>> net.scale.grad_req, net.scale.dtype == "float32"
    ('null', True)
    """
    if not isinstance(block, gluon.Block):
        raise TypeError(f"constant takes the Block to register on, got "
                        f"{type(block).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"constant name must be a str (a Python identifier), "
                        f"got {type(name).__name__} {name!r}")
    if not name.isidentifier():
        raise ValueError(f"constant name must be a Python identifier, got {name!r}")
    if hasattr(block, name):
        raise ValueError(f"{type(block).__name__} already has an attribute "
                         f"{name!r}; choose another name for the constant")
    if not (_compat.is_mx_array(value) or isinstance(value, numpy.ndarray)):
        raise TypeError(f"constant value must be an MXNet or numpy array, "
                        f"got {type(value).__name__}")
    try:
        target = numpy.dtype("float32" if dtype is None else dtype)
    except TypeError:
        raise TypeError(f"constant dtype must be a numpy dtype such as "
                        f"'float32', got {dtype!r}") from None
    host = _compat.to_numpy(value)
    if not numpy.can_cast(host.dtype, target, casting="same_kind"):
        raise DTypeMismatch(f"constant {name!r}: {host.dtype.name} values cannot "
                        f"become {target.name}; pass dtype='{host.dtype.name}' "
                        "to keep them")
    overflow = _out_of_range(host, host.dtype, target)
    if overflow:
        raise ValueError(f"constant {name!r}: {overflow}")
    with _compat.rollback(blocks=[block]):
        return _compat.make_constant(block, name, host.astype(target))
