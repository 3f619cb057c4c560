"""Array modes (numpy or legacy nd) and the kinds of MXNet arrays.

Both lines have legacy ``mx.nd`` arrays and numpy-mode ``mx.np`` arrays (a
subclass of ``mx.nd.NDArray``, convertible both ways without a copy); 1.x
runs in either mode, 2.x in numpy mode only (compatibility §10).  Code
elsewhere asks these functions instead of testing classes or modes.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
from typing import Any

import mxnet as mx
import numpy
from mxnet import gluon

from . import _line

#: The array modes mxparams supports on the installed MXNet.
MODES: tuple[str, ...] = ("np", "nd") if _line.ND_MODE_SUPPORTED else ("np",)


def set_mode(mode: str) -> None:
    """Switch MXNet's array semantics: 'np' (numpy, the tutorial's) or 'nd'.

    Only ``MODES`` are accepted: legacy 'nd' mode exists on 1.x only.
    """
    from mxnet import npx
    if mode not in MODES:
        raise ValueError(
            f"array mode {mode!r} is not supported on MXNet {mx.__version__}; "
            f"choose one of {', '.join(MODES)}")
    if mode == "np":
        npx.set_np()
    else:
        npx.reset_np()


def current_mode() -> str:
    """'np' when numpy array semantics are on, else 'nd'."""
    return "np" if mx.util.is_np_array() else "nd"


def is_mx_array(value) -> bool:
    """Whether ``value`` is an MXNet array of either kind (mx.np or mx.nd)."""
    return isinstance(value, mx.nd.NDArray)  # mx.np.ndarray is a subclass


def is_legacy_array(value) -> bool:
    """Whether ``value`` is a legacy mx.nd array (not a numpy-mode one)."""
    return isinstance(value, mx.nd.NDArray) and not isinstance(value, mx.np.ndarray)


def to_numpy(value) -> numpy.ndarray:
    """A NumPy array of ``value``: an MXNet array's host copy (it waits for
    the array), anything else as NumPy makes it."""
    return value.asnumpy() if is_mx_array(value) else numpy.asarray(value)


def mode_array(value, dtype=None):
    """``value`` as an MXNet array of the current mode's kind, of ``dtype``
    (``value``'s own by default: both lines would otherwise give a NumPy
    value the mode's default dtype, float32 in nd mode and on 2.x)."""
    make = mx.np.array if current_mode() == "np" else mx.nd.array
    return make(value, dtype=dtype or value.dtype)


def ones(shape: tuple):
    """An array of ones of the current mode's kind (a network's input)."""
    return (mx.np if current_mode() == "np" else mx.nd).ones(shape)


def as_storage_of(value, array):
    """``value`` (a legacy MXNet array) in the storage type of ``array``.

    A row-sparse parameter holds row_sparse arrays; assigning a dense
    array into one makes MXNet cast it on the fly and log "Storage
    fallback detected" to fd 2, where a cast beforehand is silent.
    """
    stype = getattr(array, "stype", "default")
    return value if value.stype == stype else value.tostype(stype)


def holds_np_arrays(param: gluon.Parameter) -> bool:
    """Whether the data are mx.np arrays (else legacy mx.nd ones).

    The kind follows the parameter's existing data, else the current mode,
    as Gluon's own ``load_parameters`` decides (compatibility §10).
    """
    data = param._data
    if data:
        return isinstance(data[0], mx.np.ndarray)
    return current_mode() == "np"


# --- subnormal numbers ----------------------------------------------------

# Compatibility §12: where MXNet flushes subnormals to zero on the Python
# thread (2.x with NaiveEngine), numpy then reads 1e-40 as 0; the line
# says whether it has a switch for it.
_SET_FLUSH_DENORMS = _line.SET_FLUSH_DENORMS
# Made from its bits: converting 1e-40 on a flushing thread gives 0.
_SUBNORMAL = numpy.array([71362], dtype=numpy.uint32).view(numpy.float32)


@contextlib.contextmanager
def keep_subnormals():
    """numpy on this thread follows IEEE 754 for subnormals while inside."""
    if _SET_FLUSH_DENORMS is None or _SUBNORMAL[0] != 0:
        yield
        return
    previous = _SET_FLUSH_DENORMS(False)
    try:
        yield
    finally:
        _SET_FLUSH_DENORMS(previous)


# --- copies ----------------------------------------------------------------

def _as_nd(value):
    if isinstance(value, mx.nd.NDArray):  # mx.np too: a view, not a copy
        value = value.as_nd_ndarray()
        # A row-sparse parameter is saved whole (the portable format and
        # every version's loader take dense arrays).
        return value if value.stype == "default" else value.tostype("default")
    return mx.nd.array(value, dtype=value.dtype)


def save_portable(fname: str, arrays: dict, progress=None) -> None:
    """Write {key: array} in the one format every version and mode loads.

    Each version's own ``save_parameters`` writes a file another setup
    cannot load (compatibility §9): 2.x writes a NumPy ``.npz`` that 1.x
    rejects, and 1.x in numpy mode flags its file "np shape", which 1.x in
    nd mode rejects.  MXNet's NDArray-list writer with numpy semantics
    switched off writes the flag-free legacy format, verified to load on
    1.9.1 and 2.0 in both modes.  ``arrays`` holds MXNet (np or nd) or
    NumPy arrays; ``progress(n)`` is told the bytes of each array as it is
    converted.
    """
    with mx.util.np_array(False), mx.util.np_shape(False):
        converted = {}
        for key, value in arrays.items():
            converted[key] = _as_nd(value)
            if progress is not None:
                progress(value.nbytes)
        mx.nd.save(fname, converted)

#: dtypes of the staging arrays below (bool: 1.x legacy arrays have none).
_STAGING_DTYPES = frozenset(["float16", "float32", "float64", "uint8", "int8",
                             "int32", "int64"])


def staging_arrays(specs: list[tuple[tuple | None, numpy.dtype]]
                   ) -> list[tuple[Any, memoryview] | None]:
    """For each (shape, dtype): an MXNet array on the CPU and a writable
    view of its bytes, to read a file straight into; None where a NumPy
    array must do (another dtype, a byte order that is not the host's,
    an empty shape or None).

    The arrays come from MXNet's own storage pool, as those of Gluon's
    ``load_parameters`` do: it keeps memory that freed arrays (the
    activations of a forward pass) had mapped already, where a new NumPy
    array of hundreds of MB is mapped page by page as it is written
    (docs/checkpoints.md, "Time and memory").  ``MXNDArrayGetData`` of
    MXNet's C API (the same in 1.x and 2.x) gives the address; the view
    is used only while the array is held.
    """
    out: list[tuple[Any, memoryview] | None] = []
    for shape, dtype in specs:
        dtype = numpy.dtype(dtype)
        if (dtype.name not in _STAGING_DTYPES or not dtype.isnative
                or not shape or 0 in shape):
            out.append(None)
            continue
        with mx.util.np_array(False), mx.util.np_shape(False):
            array = mx.nd.empty(shape, dtype=dtype.name)
        pointer = ctypes.c_void_p()
        mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle,
                                                         ctypes.byref(pointer)))
        size = math.prod(shape) * dtype.itemsize
        out.append((array, memoryview((ctypes.c_ubyte * size).from_address(
            pointer.value)).cast("B")))
    return out

def as_array_of(param: gluon.Parameter, value, dtype=None):
    """``value`` (NumPy, mx.np or legacy mx.nd) as an array ``param`` takes:
    of the kind it holds (mx.np or mx.nd, compatibility §6 and §10) and,
    once it holds data, in its storage type (``as_storage_of``).  An MXNet
    array is viewed, not copied; a NumPy array is made one of ``dtype``
    (its own by default).
    """
    holds_np = holds_np_arrays(param)
    if isinstance(value, mx.np.ndarray):
        if holds_np:
            return value
        value = value.as_nd_ndarray()
    elif isinstance(value, mx.nd.NDArray):
        if holds_np:
            return value.as_np_ndarray()
    else:
        value = (mx.np.array if holds_np else mx.nd.array)(
            value, dtype=dtype or value.dtype)
        if holds_np:
            return value
    return as_storage_of(value, param._data[0]) if param._data else value


def copy_into(param: gluon.Parameter, value) -> None:
    """Copy ``value`` into every device copy of an initialized ``param``.

    A legacy MXNet array (a staging array) is copied by MXNet's copy
    operator, as Gluon's own ``set_data`` copies: it reorders into
    oneDNN's layouts and crosses devices.  From a NumPy array, MXNet
    copies a host copy straight from the numpy buffer (``_sync_copyfrom``,
    what ``array[:] = numpy_array`` runs on both versions), with no array
    in between; where it cannot (copies on other devices, arrays in
    oneDNN's layouts, below, row-sparse arrays) through an MXNet array and
    the operator.  The caller has checked shape and dtype.
    """
    if isinstance(value, mx.nd.NDArray):
        for array in param._data:
            if isinstance(array, mx.np.ndarray):
                value.copyto(array.as_nd_ndarray())
            else:
                as_storage_of(value, array).copyto(array)
        return
    for array, device in zip(param._data, _line.list_devices(param), strict=True):
        # 'cpu', 'cpu_pinned', 'cpu_shared': host memory; a row_sparse
        # array has no buffer of the whole (it refuses the copy).
        if (device.device_type.startswith("cpu")
                and getattr(array, "stype", "default") == "default"):
            try:
                array._sync_copyfrom(value)
                continue
            except mx.base.MXNetError:
                # Gate (compatibility §13), by behaviour, per array: after a
                # forward pass oneDNN (1.x "MKLDNN", 2.x "DNNL"; on unless
                # MXNET_MKLDNN_ENABLED / MXNET_ONEDNN_ENABLED is 0) keeps
                # convolution weights in a blocked layout of its own, which
                # has no plain buffer: the copy from the host refuses it
                # ("We can't generate TBlob for ... data") before writing.
                pass
        # MXNet's copy operator reorders into oneDNN's layouts and crosses
        # devices.
        source = mx.nd.array(value, dtype=value.dtype)
        if isinstance(array, mx.np.ndarray):
            source.copyto(array.as_nd_ndarray())
        else:
            as_storage_of(source, array).copyto(array)
