"""Networks from what users have: ``load_model`` makes a Gluon block of a
model-zoo name, a factory function, an exported symbol file with its
parameters, or a checkpoint file alone.  The command line's ``summary``,
``tree`` and ``demo`` show what it makes.

Files are read by the checkpoint package's readers (never by MXNet's
loader), so an export of either MXNet version loads on the other when the
symbol's operators exist there.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, TypeAlias

import numpy
from mxnet import gluon

from . import _compat, _zoo
from ._table import printable
from .checkpoint import load
from .checkpoint._common import file_name
from .checkpoint._file import read
from .checkpoint.inspection import normalized
from .errors import ModelError, did_you_mean, examples
from .initialization import InitSpec, initialize
from .params import walk

#: What ``load_model`` takes as the model: a name, a factory, or a file.
Spec: TypeAlias = str | os.PathLike

#: Suffixes that make a name a checkpoint file rather than a zoo name.
CHECKPOINT_SUFFIXES = (".params", ".npz", ".safetensors")

#: What each kind of spec is, for messages.
KINDS = {"zoo": "a model-zoo name",
         "factory": "a factory (package.module:function or file.py:function)",
         "export": "an exported network (NAME-symbol.json)",
         "checkpoint": "a checkpoint file alone"}

_SYMBOL_SUFFIX = "-symbol.json"
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\Z")


class CheckpointBlock(gluon.Block):
    """The arrays of a checkpoint file as parameters, with no computation.

    Keys that are dotted paths ('features.0.weight') become blocks named by
    their components, so ``tree`` and ``summary(depth=...)`` show the
    file's structure; other keys (1.x global names) stay whole.  Every
    block of the file is a ``CheckpointBlock``, which is what the
    summary's Type column shows.
    """

    def __init__(self) -> None:
        super().__init__()
        # 2.x keeps children by weak reference only: the blocks made for a
        # file are held here (they are registered, so Gluon does not warn).
        self._held: list[gluon.Block] = []

    def forward(self, *args):
        raise ModelError("a checkpoint alone has no computation to run; load it "
                         "into its network with mp.load(network, file)")


class Loaded(NamedTuple):
    """What :func:`load` made, and what the command line says about it."""
    block: gluon.Block
    kind: str                             # a key of KINDS
    title: str                            # the model, for the first line of output
    inputs: tuple[str, ...]               # an exported network's data inputs
    shapes: tuple[tuple[int, ...], ...]   # the forward pass's inputs; () if none
    dtypes: tuple[str, ...]


def kind_of(spec: str) -> str:
    """Which key of ``KINDS`` the text ``spec`` names.

    A colon makes a factory (unless a file has that name), a ``.json``
    name an export, a checkpoint suffix, a path separator or an existing
    file that is no zoo name a checkpoint; anything else is a zoo name.
    """
    where, colon, _ = spec.rpartition(":")
    if colon and where and not os.path.exists(spec):
        return "factory"
    if spec.lower().endswith(".json"):
        return "export"
    if (spec.lower().endswith(CHECKPOINT_SUFFIXES) or os.sep in spec
            or (os.path.exists(spec) and spec.lower() not in _zoo.names())):
        return "checkpoint"
    return "zoo"


def load_model(spec: Spec, *, params: Spec | None = None, epoch: int | None = None,
               input_names: Sequence[str] | None = None,
               input_shapes: Sequence[Sequence[int]] | Sequence[int] | None = None,
               dtype: str | Sequence[str] | None = None,
               kwargs: Mapping[str, Any] | None = None,
               init: InitSpec = None) -> gluon.Block:
    """A Gluon block from a model-zoo name, a factory, an export or a checkpoint.

    ``spec`` is one of:

    * a model-zoo name (``'resnet18_v1'``): ``get_model(name,
      pretrained=False)``;
    * a factory, ``'package.module:function'`` or
      ``'path/to/file.py:function'``: the module is imported (a file as
      ``python file.py`` would run it, its folder first on ``sys.path``)
      and the function (or class) called with ``kwargs``; it must return a
      Gluon block;
    * an exported network, ``'NAME-symbol.json'`` (``HybridBlock.export``
      of MXNet 1.x or 2.x): a ``SymbolBlock`` with the parameters of
      ``params``, else of the ``NAME-NNNN.params`` file beside it (``epoch``
      picks one of several).  Its data inputs are the symbol's variables
      the parameter file does not hold, or ``input_names``.  Its paths are
      the symbol's variable names on both versions (MXNet 1.x's own
      ``SymbolBlock`` cuts their common prefix);
    * a checkpoint file alone (``.params``, ``.npz``, ``.safetensors``, any
      format :func:`load` reads): a :class:`CheckpointBlock` whose
      parameters hold the file's arrays under the file's keys (an export
      file's without ``arg:``/``aux:``; its ``aux:`` arrays and integer
      arrays not trainable).  It has no computation.

    Files are read by mxparams' own readers, so an export of either MXNet
    version loads on the other where its operators exist (MXNet 1.x cannot
    build a 2.x model-zoo export, whose pooling takes ``output_size``).

    ``input_shapes`` (one shape, or one per input) runs one forward pass on
    arrays of ones of ``dtype`` (one, or one per input; float32 by
    default), so that every deferred shape is known; parameters the model
    leaves uninitialized are first initialized with ``init`` (Gluon's
    default when None).  Without it nothing runs and unknown shapes stay
    unknown (``?`` in :func:`summary`).  The block is made in the current
    array mode.

    Whatever cannot be done raises :class:`ModelError` naming what was
    tried and why (a factory that raises, a symbol file this MXNet cannot
    read, a parameter file that does not fit its symbol, a forward pass
    that fails); a file that cannot be read raises :class:`CheckpointError`,
    an unknown zoo name or a bad argument ``ValueError`` or ``TypeError``.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet import np
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    >>> net.initialize()
    >>> net.hybridize()
    >>> _ = net(np.ones((4, 2)))
    >>> prefix = os.path.join(tempfile.mkdtemp(), "mlp")
    >>> _ = net.export(prefix)  # mlp-symbol.json, mlp-0000.params
    >>> exported = mp.load_model(prefix + "-symbol.json", input_shapes=(4, 2))
    >>> [(row.shape, row.trainable) for row in mp.summary(exported).rows]
    [((3, 2), True), ((3,), True), ((1, 3), True), ((1,), True)]
    >>> mp.save(net, prefix + ".params")
    >>> print(mp.summary(mp.load_model(prefix + ".params")))
    Path      Type             Shape   Dtype    Elements  Trainable
    --------  ---------------  ------  -------  --------  ---------
    0.weight  CheckpointBlock  (3, 2)  float32         6  yes
    0.bias    CheckpointBlock  (3,)    float32         3  yes
    1.weight  CheckpointBlock  (1, 3)  float32         3  yes
    1.bias    CheckpointBlock  (1,)    float32         1  yes
    ===============================================================
    Parameters  4 paths, 4 unique
    Elements    13 (13 trainable, 0 non-trainable)
    Memory      52 bytes
    >>> mp.load_model("no_such_net")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown model-zoo network 'no_such_net'...
    """
    return _load(spec, params=params, epoch=epoch, input_names=input_names,
                 input_shapes=input_shapes, dtype=dtype, kwargs=kwargs,
                 init=init).block


def _load(spec: Spec, *, params=None, epoch=None, input_names=None,
          input_shapes=None, dtype=None, kwargs=None, init: InitSpec = None) -> Loaded:
    """:func:`load_model`, with what the command line prints about it."""
    text = _spec_text(spec)
    kind = kind_of(text)
    shapes = _shapes(input_shapes)
    dtypes = _dtypes(dtype, len(shapes))
    for name, value, wanted in (("params", params, "export"), ("epoch", epoch, "export"),
                                ("input_names", input_names, "export"),
                                ("kwargs", kwargs, "factory")):
        if value is not None and kind != wanted:
            raise ValueError(f"{name}= applies to {KINDS[wanted]}, and {text!r} "
                             f"is {KINDS[kind]}")
    if shapes and kind == "checkpoint":
        raise ValueError(f"input_shapes= needs a network to run, and {text!r} "
                         "is a checkpoint file alone")
    inputs: tuple[str, ...] = ()
    if kind == "zoo":
        block = _zoo.get(text)
        title = f"{text} (model zoo, pretrained=False)"
    elif kind == "factory":
        if kwargs is not None and not (isinstance(kwargs, Mapping)
                                       and all(isinstance(k, str) for k in kwargs)):
            raise TypeError(f"kwargs must be a mapping of argument names to "
                            f"values, got {type(kwargs).__name__}")
        block = _from_factory(text, dict(kwargs or {}))
        title = f"{text} (factory" + (f", kwargs {json.dumps(kwargs, default=repr)})"
                                      if kwargs else ")")
    elif kind == "export":
        block, params_path, inputs = _from_export(text, params, epoch, input_names)
        s = "s" * (len(inputs) != 1)
        title = (f"{text} (exported network: parameters {params_path}, "
                 f"input{s} {', '.join(inputs)})")
    else:
        block, fmt = _from_checkpoint(text)
        title = f"{text} (checkpoint alone, {fmt}: its keys as paths, no layer types)"
    if shapes:
        if inputs and len(shapes) != len(inputs):
            raise ModelError(f"{text!r} takes {len(inputs)} input{'s' * (len(inputs) != 1)}"
                             f" ({', '.join(inputs)}); {len(shapes)} input "
                             f"shape{'s' * (len(shapes) != 1)} given")
        _forward(block, shapes, dtypes, init, text)
    return Loaded(block, kind, title, inputs, shapes, dtypes if shapes else ())


def load_any_mode(spec: Spec, **options) -> Loaded:
    """:func:`_load` in numpy mode, or in legacy nd mode where only that
    works: several MXNet 1.x networks use legacy operators that reject
    numpy arrays (compatibility §10).  Sets the process's array mode: for
    the command line."""
    _compat.set_mode("np")
    try:
        return _load(spec, **options)
    except ModelError as err:
        # MXNet's TypeError 'This is a legacy operator which can only accept
        # legacy ndarrays', or the ValueError of a deferred initialization
        # that quotes it.
        if "nd" not in _compat.MODES or "legacy operator" not in str(err.__cause__):
            raise
    _compat.set_mode("nd")
    return _load(spec, **options)


def inputs_text(shapes: Sequence[Sequence[int]], dtypes: Sequence[str]) -> str:
    """'an input of shape 1x3x224x224', 'inputs of shapes 2x3 and 2x5 (int32)'."""
    parts = ["x".join(map(str, shape)) + (f" ({dt})" if dt != "float32" else "")
             for shape, dt in zip(shapes, dtypes, strict=True)]
    if len(parts) == 1:
        return f"an input of shape {parts[0]}"
    return f"inputs of shapes {', '.join(parts[:-1])} and {parts[-1]}"


# --- arguments --------------------------------------------------------------

def _spec_text(spec: object) -> str:
    if isinstance(spec, str):
        if not spec:
            raise ValueError("load_model: the model is empty; give a model-zoo "
                             "name, a factory, an export or a checkpoint file")
        return spec
    if isinstance(spec, os.PathLike):
        return file_name(spec)
    raise TypeError(f"load_model: the model is a str or os.PathLike (a name, a "
                    f"factory or a file), got {type(spec).__name__}")


def _shapes(given: object) -> tuple[tuple[int, ...], ...]:
    """``input_shapes`` as a tuple of shapes: one shape (a sequence of ints)
    or a sequence of them."""
    if given is None:
        return ()
    if not isinstance(given, Sequence) or isinstance(given, str) or not given:
        raise TypeError(f"input_shapes must be a shape such as (1, 3, 224, 224) "
                        f"or a list of them, got {given!r}")
    shapes = [given] if all(_is_int(d) for d in given) else list(given)
    out = []
    for shape in shapes:
        if (not isinstance(shape, Sequence) or isinstance(shape, str) or not shape
                or not all(_is_int(d) for d in shape)):
            raise TypeError(f"input_shapes: {shape!r} is not a shape (a sequence "
                            "of ints such as (1, 3, 224, 224))")
        if min(shape) < 1:
            raise ValueError(f"input_shapes: every dimension is at least 1, got "
                             f"{tuple(shape)}")
        out.append(tuple(int(d) for d in shape))
    return tuple(out)


def _is_int(value: object) -> bool:
    return isinstance(value, int | numpy.integer) and not isinstance(value, bool)


def _dtypes(given: object, inputs: int) -> tuple[str, ...]:
    """``dtype`` as one dtype name per input (float32 by default)."""
    if given is None:
        return ("float32",) * inputs
    if not inputs:
        raise ValueError("dtype= is the dtype of the forward pass's inputs; give "
                         "input_shapes= too")
    names = [given] * inputs if isinstance(given, str) else list(given)  # type: ignore[call-overload]
    if len(names) != inputs:
        raise ValueError(f"dtype: give one dtype, or one per input ({inputs}), "
                         f"got {len(names)}")
    out = []
    for name in names:
        try:
            out.append(numpy.dtype(name).name)
        except TypeError:
            raise ValueError(f"dtype: {name!r} is not a dtype (float32, float16, "
                             "int32, ...)") from None
    return tuple(out)


# --- the kinds of models ------------------------------------------------------

def _from_factory(spec: str, kwargs: dict) -> gluon.Block:
    where, _, attr = spec.rpartition(":")
    from_file = where.endswith(".py")
    if not _DOTTED.match(attr) or not (from_file or _DOTTED.match(where)):
        raise ValueError(f"{spec!r} is not a factory: write package.module:function "
                         "or path/to/file.py:function")
    try:
        module = _import_file(where) if from_file else importlib.import_module(where)
    except ModelError:
        raise
    except Exception as err:
        raise ModelError(f"factory {spec!r}: importing {where!r} raised "
                         f"{_reason(err)}") from err
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            hint = did_you_mean(part, [n for n in dir(target) if not n.startswith("_")])
            raise ModelError(f"factory {spec!r}: {where!r} has no {part!r}"
                             + (f"; {hint}" if hint else "")) from None
    if not callable(target):
        raise ModelError(f"factory {spec!r} is {type(target).__name__}, not a "
                         "function or class")
    try:
        block = target(**kwargs)
    except Exception as err:
        raise ModelError(f"factory {spec!r} raised {_reason(err)}") from err
    if not isinstance(block, gluon.Block):
        raise ModelError(f"factory {spec!r} returned {type(block).__name__}, "
                         "not a Gluon block")
    return block


def _import_file(path: str):
    """The module of a Python file, run as ``python path`` would: its folder
    first on ``sys.path`` meanwhile, so that its own modules beside it
    import; kept in ``sys.modules`` (dataclasses and pickle look for it)."""
    if not os.path.isfile(path):
        raise ModelError(f"factory file {path!r}: no such file")
    stem = os.path.splitext(os.path.basename(path))[0]
    name = "_mxparams_factory_" + re.sub(r"\W", "_", stem)
    found = importlib.util.spec_from_file_location(name, path)
    if found is None or found.loader is None:
        raise ModelError(f"factory file {path!r} cannot be imported")
    module = importlib.util.module_from_spec(found)
    folder = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(folder)
    return module


def _from_export(symbol_file: str, params, epoch, input_names
                 ) -> tuple[gluon.Block, str, tuple[str, ...]]:
    writer = _symbol_writer(symbol_file)
    params_path = _params_file(symbol_file, params, epoch)
    raw = read(params_path)
    arrays = normalized(raw)
    by = f" (written by MXNet {writer})" if writer else ""
    try:
        symbol = _compat.load_symbol(symbol_file)
        variables = list(symbol.list_inputs())
        aux = set(symbol.list_auxiliary_states())
    except Exception as err:
        raise ModelError(f"symbol file {symbol_file!r}{by}: MXNet "
                         f"{_compat.MXNET_VERSION} cannot read it: {_reason(err)}"
                         ) from err
    inputs = _inputs(symbol_file, params_path, variables, aux, arrays, input_names)
    try:
        block = _compat.symbol_block(symbol, list(inputs))
    except Exception as err:
        raise ModelError(f"symbol file {symbol_file!r}{by}: MXNet "
                         f"{_compat.MXNET_VERSION} cannot make a network of it: "
                         f"{_reason(err)}") from err
    # As SymbolBlock.imports does with a parameter file: the parameters
    # take the file's dtypes (none is known before, the inputs having none).
    for path, param in walk(block, "load_model").params.items():
        wanted = arrays[path].dtype.name
        if _compat.dtype_name(param) != wanted:
            param.cast(wanted)
    load(block, params_path)
    return block, params_path, inputs


def _symbol_writer(path: str) -> str | None:
    """The MXNet version that wrote the symbol file at ``path`` (from its
    ``attrs``), after checking that it is one; None if it does not say."""
    if not os.path.isfile(path):
        what = "no such file" if not os.path.exists(path) else "not a regular file"
        raise ModelError(f"symbol file {path!r}: {what}")
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except OSError as err:
        raise ModelError(f"symbol file {path!r}: cannot read it: "
                         f"{err.strerror or err}") from None
    except ValueError as err:
        raise ModelError(f"symbol file {path!r} is not JSON ({err})") from None
    if (not isinstance(data, dict) or not isinstance(data.get("nodes"), list)
            or "heads" not in data):
        raise ModelError(f"{path!r} is JSON but no MXNet symbol (it has no "
                         "'nodes' and 'heads'); HybridBlock.export writes "
                         "NAME-symbol.json beside NAME-NNNN.params")
    attrs = data.get("attrs")
    stamp = attrs.get("mxnet_version") if isinstance(attrs, dict) else None
    if (isinstance(stamp, list) and len(stamp) == 2 and isinstance(stamp[1], int)
            and stamp[1] > 0):
        n = stamp[1]
        return f"{n // 10000}.{n // 100 % 100}.{n % 100}"
    return None


def _params_file(symbol_file: str, params, epoch) -> str:
    """The parameter file of an export: ``params``, else NAME-NNNN.params
    beside NAME-symbol.json (the one there, or that of ``epoch``)."""
    if params is not None:
        if epoch is not None:
            raise ValueError("give params= (a file) or epoch= (a file beside the "
                             "symbol file), not both")
        return file_name(params)
    if epoch is not None and (not _is_int(epoch) or epoch < 0):
        raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
    if not symbol_file.endswith(_SYMBOL_SUFFIX):
        raise ModelError(f"{symbol_file!r} is not named NAME{_SYMBOL_SUFFIX}, so "
                         "no parameter file is looked for beside it; give one "
                         "(params=, --params-file)")
    stem = symbol_file[:-len(_SYMBOL_SUFFIX)]
    folder, base = os.path.split(stem)
    pattern = re.compile(re.escape(base) + r"-(\d{4,})\.params\Z")
    try:
        names = os.listdir(folder or ".")
    except OSError as err:
        raise ModelError(f"cannot list the folder of {symbol_file!r}: "
                         f"{err.strerror or err}") from None
    found = {int(m.group(1)): name for name in names if (m := pattern.match(name))}
    epochs = ", ".join(map(str, sorted(found))) or "none"
    if epoch is not None:
        if epoch not in found:
            raise ModelError(f"no parameter file of epoch {epoch} beside "
                             f"{symbol_file!r} ({base}-{epoch:04d}.params); the "
                             f"epochs there: {epochs}")
        return os.path.join(folder, found[epoch])
    if not found:
        raise ModelError(f"no parameter file {base}-NNNN.params beside "
                         f"{symbol_file!r}; give one (params=, --params-file)")
    if len(found) > 1:
        raise ModelError(f"{len(found)} parameter files beside {symbol_file!r}, "
                         f"of epochs {epochs}; choose one (epoch=, --epoch)")
    return os.path.join(folder, next(iter(found.values())))


def _inputs(symbol_file: str, params_path: str, variables: list, aux: set,
            arrays: dict, input_names) -> tuple[str, ...]:
    """The symbol's data inputs, after checking that the parameter file
    holds every other variable and nothing else."""
    if input_names is not None:
        if isinstance(input_names, str) or not isinstance(input_names, Sequence):
            raise TypeError(f"input_names must be a list of names, got "
                            f"{input_names!r}")
        unknown = [n for n in input_names if n not in variables]
        if unknown:
            hint = did_you_mean(str(unknown[0]), variables)
            raise ModelError(f"symbol file {symbol_file!r} has no variable "
                             f"{examples(unknown)}" + (f"; {hint}" if hint else "")
                             + f"; its variables: {examples(variables)}")
        inputs = tuple(input_names)
    else:
        inputs = tuple(v for v in variables if v not in arrays and v not in aux)
    extra = [k for k in arrays if k not in variables]
    missing = [v for v in variables if v not in arrays and v not in inputs]
    held = [n for n in inputs if n in arrays]
    if extra or missing or held:
        lacking = [v for v in variables if v not in arrays]
        parts = []
        if held:
            parts.append(f"it holds {examples(held)}, named as an input (a data "
                         "input is a variable the file does not hold)")
        if extra:
            hint = did_you_mean(extra[0], lacking)
            parts.append(f"{len(extra)} of its arrays are no variables of the symbol: "
                         f"{examples(extra)}" + (f" ({extra[0]!r}: {hint})" if hint else ""))
        if missing:
            hint = did_you_mean(missing[0], extra)
            parts.append(f"it lacks {len(missing)} parameters of the symbol: "
                         f"{examples(missing)}" + (f" ({missing[0]!r}: {hint})"
                                                  if hint else ""))
        if extra and not input_names:
            parts.append(f"the symbol's variables it does not hold: {examples(lacking)}")
        raise ModelError(f"parameter file {params_path!r} does not fit symbol file "
                         f"{symbol_file!r}: " + "; ".join(parts))
    if not inputs:
        raise ModelError(f"the parameter file {params_path!r} holds every variable "
                         f"of {symbol_file!r}, which leaves no data input; name "
                         "the inputs (input_names=, --input-name)")
    return inputs


def _from_checkpoint(path: str) -> tuple[gluon.Block, str]:
    """A :class:`CheckpointBlock` holding the arrays of the file at ``path``,
    and the file's format in short."""
    raw = read(path)
    arrays = normalized(raw)
    aux = {k for k in arrays if f"aux:{k}" in raw.arrays and k not in raw.arrays}
    root = CheckpointBlock()
    blocks: dict[str, CheckpointBlock] = {"": root}
    nested = _nestable(list(arrays))
    made: dict[str, gluon.Parameter] = {}
    for key, array in arrays.items():
        owner, name = root, key
        if nested:
            parent, _, name = key.rpartition(".")
            owner = _block_at(blocks, parent)
        param = made.get(raw.aliases.get(key, key))
        if param is None:
            dtype = numpy.dtype(array.dtype)
            trained = key not in aux and dtype.kind == "f"
            param = gluon.Parameter(key, grad_req="write" if trained else "null",
                                    shape=tuple(array.shape), dtype=dtype.name)
            made[key] = param
        _compat.add_param(owner, name, param)
    load(root, raw.path)
    return root, raw.format.split(" (")[0]


def _nestable(keys: list[str]) -> bool:
    """Whether every key can be a path of blocks: non-empty components,
    and no key that is also the block of another ('a.b' and 'a.b.c')."""
    if any("" in key.split(".") for key in keys):
        return False
    taken = set(keys)
    return not any(key[:i] in taken for key in keys
                   for i, c in enumerate(key) if c == ".")


def _block_at(blocks: dict[str, CheckpointBlock], path: str) -> CheckpointBlock:
    """The block at ``path``, made (with its parents) when first asked for."""
    found = blocks.get(path)
    if found is None:
        parent, _, name = path.rpartition(".")
        owner = _block_at(blocks, parent)
        found = blocks[path] = CheckpointBlock()
        owner.register_child(found, name)
        owner._held.append(found)
    return found


# --- running it -----------------------------------------------------------------

def _forward(block: gluon.Block, shapes, dtypes, init: InitSpec, text: str) -> None:
    """Initialize what is not, then one forward pass on ones."""
    initialize(block, init, force_reinit=False)
    inputs = [_compat.mode_array(numpy.ones(shape, dtype))
              for shape, dtype in zip(shapes, dtypes, strict=True)]
    try:
        out = block(*inputs)
        for array in _arrays_in(out):
            array.wait_to_read()  # MXNet raises a kernel's error here
    except Exception as err:
        raise ModelError(f"{text!r}: the forward pass on {inputs_text(shapes, dtypes)} "
                         f"failed: {_reason(err)}") from err


def _arrays_in(out) -> list:
    if isinstance(out, list | tuple):
        return [a for item in out for a in _arrays_in(item)]
    return [out] if _compat.is_mx_array(out) else []


def _reason(err: BaseException) -> str:
    """An exception as one line: its class and the first line that says
    something (MXNet's messages start with a C++ traceback and end with
    an operator's documentation)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(
        ("Traceback (most recent call last)", 'File "', "Stack trace"))]
    text = lines[0] if lines else ""
    name = type(err).__name__
    if text.startswith(f"{name}:"):
        text = text[len(name) + 1:].strip()
    text = text.split(", Possible Arguments:")[0]
    if len(text) > 300:
        text = text[:297] + "..."
    return printable(f"{name}: {text}" if text else name)
