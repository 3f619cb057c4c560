"""``save`` and ``load``: a network's parameters to a file and back.

``save`` writes the one file format that MXNet 1.x and 2.x load in either
array mode (or safetensors); ``load`` reads every format either version
writes, checks everything first, and then writes all or nothing.
"""


from __future__ import annotations

import json
from collections.abc import Mapping

import numpy
from mxnet import autograd, gluon

from .. import _compat
from .._table import Column, Table, Tabular, fmt_shape
from .._version import __version__
from ..errors import CheckpointDTypeMismatch, CheckpointError, CheckpointShapeMismatch, examples
from ..params import check_checkpoint_call, shapes_agree, walk
from ._common import KEYS_PATHS, META_KEYS, META_MODE, META_MXNET, META_TIED, META_WRITER
from ._file import choose_format, read, read_all, write
from ._plan import Rename, _plan, _refusal, _renamed, _view


def save(block: gluon.Block, file, *, format: str | None = None,
         metadata: Mapping[str, str] | None = None) -> None:
    """Write the parameters of ``block`` to ``file``, portably and atomically.

    The file is keyed by structural path (``'0.weight'``).  By default it
    is MXNet's NDArray format without the numpy-shape flag: Gluon's own
    ``load_parameters`` reads it on MXNet 1.x and 2.x in numpy and legacy
    nd mode, and so does :func:`load`; tied parameters are stored under
    each of their paths, as ``save_parameters`` does.  A name ending in
    ``.safetensors`` (or ``format='safetensors'``) writes safetensors, the
    format other frameworks read: each Parameter once, under its first
    path, with metadata naming mxparams, the MXNet version, the array mode
    and the other paths of tied Parameters; dtypes are kept.
    ``format='mxnet'`` forces MXNet's format.  The file is written to a
    temporary file beside ``file`` and renamed over it, so an interrupted
    save leaves any previous file intact.  One copy of each parameter is
    saved (the first device's).

    ``metadata`` ({text: text}) goes into a safetensors file's header
    beside mxparams' own entries, and :func:`read_metadata` gives it back;
    MXNet's format has no place for it.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(3, in_units=2))
    >>> net.initialize()
    >>> folder = tempfile.mkdtemp()
    >>> mp.save(net, os.path.join(folder, "dense.params"))
    >>> list(mp.inspect_checkpoint(os.path.join(folder, "dense.params")).keys())
    ['0.weight', '0.bias']
    >>> mp.save(net, os.path.join(folder, "dense.safetensors"))
    >>> from safetensors.numpy import load_file  # as other frameworks read it
    >>> sorted(load_file(os.path.join(folder, "dense.safetensors")))
    ['0.bias', '0.weight']
    >>> mp.save(net, os.path.join(folder, "run.safetensors"),
    ...         metadata={"epoch": "12", "dataset": "fashion-mnist"})
    >>> mp.read_metadata(os.path.join(folder, "run.safetensors"))
    {'dataset': 'fashion-mnist', 'epoch': '12'}
    """
    check_checkpoint_call("save", {"file": file})
    fmt = choose_format(file, format)
    user = _user_metadata(metadata, fmt)
    found = _initialized(block, "save", "cannot save")
    params = found.params
    if fmt == "mxnet":
        write(file, {key: _compat.data_copies(param)[0]
                           for key, param in params.items()})
        return
    # Other frameworks have no ties: each Parameter is stored once, under
    # its first path, and the metadata lists its other paths.
    groups = _compat.paths_by_parameter(found.sites())
    stored = {first: _compat.data_copies(params[first])[0] for first in groups}
    tied = {first: paths[1:] for first, paths in groups.items() if len(paths) > 1}
    metadata = {META_WRITER: __version__,
                META_MXNET: _compat.MXNET_VERSION,
                META_MODE: _compat.current_mode(),
                META_KEYS: KEYS_PATHS, **user}
    if tied:
        metadata[META_TIED] = json.dumps(tied, separators=(",", ":"))
    write(file, stored, format=fmt, metadata=metadata)


def _user_metadata(metadata: object, fmt: str) -> dict[str, str]:
    """``metadata=`` of :func:`save`, checked before anything is written."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save: metadata must be a mapping of text to text, "
                        f"got {type(metadata).__name__}")
    if fmt != "safetensors":
        raise ValueError("save: metadata= needs a safetensors file (a name "
                         "ending in '.safetensors', or format='safetensors'): "
                         "MXNet's format has no place for it, and extra keys "
                         "would break Gluon's own load_parameters")
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save: metadata is text to text; {key!r}: "
                            f"{type(value).__name__} {value!r} (convert "
                            "numbers with str(), structures with json.dumps)")
        if key == META_WRITER or key.startswith(META_WRITER + "."):
            raise ValueError(f"save: metadata key {key!r}: keys 'mxparams' "
                             "and 'mxparams.*' are mxparams' own; choose "
                             "another name")
    return dict(metadata)


def _initialized(block: gluon.Block, func: str, doing: str) -> _compat.Walk:
    """The walk of ``block``, every Parameter of which has data."""
    found = walk(block, func)
    params = found.params
    pending = [p for p, param in params.items() if _compat.is_pending(param)]
    unset = [p for p, param in params.items() if not _compat.is_initialized(param)
             and p not in pending]
    if pending or unset:
        reasons = []
        if unset:
            reasons.append(f"{len(unset)} not initialized ({examples(unset)}); "
                           "call net.initialize()")
        if pending:
            reasons.append(f"{len(pending)} with shapes not known yet "
                           f"({examples(pending)}); run one forward pass")
        raise RuntimeError(f"{doing} {type(block).__name__}: parameters "
                           + "; ".join(reasons))
    return found


def read_metadata(file) -> dict[str, str]:
    """The metadata a safetensors checkpoint carries, as :func:`save`'s
    ``metadata=`` wrote it (mxparams' own entries, ``mxparams*``, left out;
    :func:`inspect_checkpoint` shows them).  Only the file's header is
    read; MXNet's formats have no metadata and give ``{}``.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2, in_units=2)
    >>> layer.initialize()
    >>> path = os.path.join(tempfile.mkdtemp(), "layer.safetensors")
    >>> mp.save(layer, path, metadata={"note": "first run"})
    >>> mp.read_metadata(path)
    {'note': 'first run'}
    """
    check_checkpoint_call("read_metadata", {"file": file})
    raw = read(file)
    return {k: v for k, v in sorted(raw.metadata.items())
            if not (k == META_WRITER or k.startswith(META_WRITER + "."))}


def state_dict(block: gluon.Block) -> dict[str, numpy.ndarray]:
    """The parameters of ``block`` as ``{path: NumPy array}``, in memory.

    What :func:`save` would write, without a file: every Parameter once,
    under its first path (a tied Parameter's other paths are left out, as
    a safetensors file stores it), constants included, each a NumPy copy
    of the first device's data in the parameter's dtype.
    :func:`load_state_dict` puts such a mapping back.

    >>> import mxparams as mp
    >>> from mxnet import init
    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential()
    >>> net.add(nn.Dense(2, in_units=3), nn.Dense(1, in_units=2))
    >>> net.initialize(init.One())
    >>> state = mp.state_dict(net)
    >>> {path: value.shape for path, value in state.items()}
    {'0.weight': (2, 3), '0.bias': (2,), '1.weight': (1, 2), '1.bias': (1,)}
    >>> state["0.weight"].dtype.name, float(state["0.weight"].sum())
    ('float32', 6.0)
    """
    found = _initialized(block, "state_dict", "state_dict: cannot read")
    return {first: _compat.to_numpy(_compat.data_copies(found.params[first])[0])
            for first in _compat.paths_by_parameter(found.sites())}


class LoadReport(Tabular):
    """What :func:`load` did: ``loaded`` paths and ``skipped`` (name, reason).

    ``renamed`` maps file keys to the paths they were loaded into where
    they differ: keys renamed by ``rename=`` (also in ``by_rename``) and
    MXNet 1.x global names mapped to paths.  ``dropped`` lists the file
    keys ``rename=`` dropped.  Falsy when everything was loaded (with
    ``strict=True`` nothing is ever skipped: a problem raises instead);
    ``str()`` is a short text report.  As in PyTorch, ``missing_keys``
    lists the network's paths the source had no value for and
    ``unexpected_keys`` the source's keys the network has no place for
    (both empty after a ``strict=True`` load, which raises instead).
    ``file`` is None for :func:`load_state_dict`.
    """

    def __init__(self, file: str | None, fmt: str, loaded: list, skipped: list,
                 renamed: dict, parameters: int, by_rename: dict | None = None,
                 dropped: list | None = None, missing_keys: list | None = None,
                 unexpected_keys: list | None = None):
        self.file = file
        self.format = fmt
        self.loaded: list[str] = loaded
        self.skipped: list[tuple[str, str]] = skipped
        self.renamed: dict[str, str] = renamed
        self.by_rename: dict[str, str] = by_rename or {}
        self.dropped: list[str] = dropped or []
        self.parameters = parameters  # distinct Parameters in the network
        self.missing_keys: list[str] = missing_keys or []
        self.unexpected_keys: list[str] = unexpected_keys or []

    def __bool__(self) -> bool:
        return bool(self.skipped)

    def table(self) -> Table:
        footer = [("File", self.file) if self.file is not None
                  else ("Source", "a mapping (load_state_dict)"),
                  ("Loaded", f"{len(self.loaded)} of {self.parameters} "
                             "parameters")]
        if self.by_rename:
            first = next(iter(self.by_rename.items()))
            n = len(self.by_rename)
            footer.append(("Renamed", f"{n} key{'s' if n != 1 else ''} by "
                                      f"rename=, e.g. {first[0]!r} -> "
                                      f"{first[1]!r}"))
        if self.dropped:
            footer.append(("Dropped", f"{len(self.dropped)} by rename=: "
                                      f"{examples(self.dropped)}"))
        names = {k: p for k, p in self.renamed.items() if k not in self.by_rename}
        if names:
            first = next(iter(names.items()))
            footer.append(("Keys", f"{len(names)} MXNet 1.x global names "
                                   f"mapped to paths, e.g. {first[0]!r} -> "
                                   f"{first[1]!r}"))
        return Table([Column("Skipped"), Column("Reason")], self.skipped,
                     footer, header=bool(self.skipped))


def load(block: gluon.Block, file, *, strict: bool = True,
         rename: Rename = None) -> LoadReport:
    """Load a checkpoint into ``block``; all or nothing.

    Reads :func:`save` files, Gluon's ``save_parameters`` files of MXNet
    1.x (numpy and nd mode) and 2.x (``.npz``), ``export`` parameter
    files (``arg:``/``aux:`` keys) and safetensors files, whichever program
    wrote them; the format is told by the file's first bytes, not its
    name.  Keys that are MXNet 1.x global names (``dense0_weight``) are
    mapped to structural paths when the mapping is certain (on 1.x: the
    network's own names; otherwise a unique attribute and shape), and
    refused otherwise.

    ``rename`` maps the file's keys to paths first, for files keyed
    another way (a PyTorch ``state_dict``): a mapping ``{file key: path}``
    (keys it does not name stay as they are) or a function ``key -> path``;
    None for a path drops the key.  Every format takes it; the report
    lists what was renamed and dropped.

    Everything is checked before anything changes: parameters missing from
    the file, keys in the file that the network lacks, shapes and dtypes.
    With ``strict=True`` any problem raises :class:`CheckpointError` and
    leaves the network untouched; ``strict=False`` loads the parameters
    that match and lists the others in the returned report (falsy when
    nothing was skipped).  A refusal that includes a shape conflict is a
    :class:`CheckpointShapeMismatch`, both a ``CheckpointError`` and a
    ``ShapeMismatch``.  Shapes not
    known yet (after ``initialize()``, before the first forward pass) are
    taken from the file, as Gluon's ``load_parameters`` does.  Every device
    copy of a parameter is set.

    >>> import os, tempfile
    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> def mlp():
    ...     net = nn.HybridSequential()
    ...     net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    ...     return net
    >>> net = mlp()
    >>> net.initialize()
    >>> path = os.path.join(tempfile.mkdtemp(), "mlp.params")
    >>> mp.save(net, path)
    >>> copy = mlp()
    >>> print(mp.load(copy, path))  # doctest: +ELLIPSIS
    File    ...mlp.params
    Loaded  4 of 4 parameters
    >>> bool((copy[0].weight.data().asnumpy() == net[0].weight.data().asnumpy()).all())
    True
    >>> bigger = mlp()
    >>> bigger.add(nn.Dense(1, in_units=1))
    >>> mp.load(bigger, path)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.CheckpointError: checkpoint '...mlp.params': cannot load into
    HybridSequential: missing from the file: '2.weight', '2.bias'. Nothing was loaded;
    strict=False loads the 4 parameters that match

    A file whose keys name the layers differently:

    >>> import numpy
    >>> from safetensors.numpy import save_file
    >>> other = os.path.join(tempfile.mkdtemp(), "other.safetensors")
    >>> save_file({"fc.weight": numpy.ones((3, 2), "float32"),
    ...            "fc.bias": numpy.zeros(3, "float32")}, other)
    >>> layer = nn.HybridSequential()
    >>> layer.add(nn.Dense(3, in_units=2))
    >>> print(mp.load(layer, other,
    ...               rename=lambda key: key.replace("fc.", "0.")))  # doctest: +ELLIPSIS
    File     ...other.safetensors
    Loaded   2 of 2 parameters
    Renamed  2 keys by rename=, e.g. 'fc.bias' -> '0.bias'
    """
    check_checkpoint_call("load", {"file": file}, flags={"strict": strict})
    sites = walk(block, "load").sites()
    raw = read(file)
    arrays, origin = _view(raw)
    return _load_arrays(block, sites, raw.path, raw.format, arrays, origin,
                        strict, rename)


def _load_arrays(block: gluon.Block, sites: dict, name: str | None, fmt: str,
                 arrays: dict, origin: dict, strict: bool, rename: Rename
                 ) -> LoadReport:
    """What :func:`load` and :func:`load_state_dict` share: ``arrays``
    ({key: array with .shape and .dtype}) checked against ``sites`` and
    then written, all or nothing; ``origin`` maps each key to the source's
    own, ``name`` is the file (None: a mapping)."""
    source = name if name is not None else STATE_DICT
    by_rename: dict[str, str] = {}
    dropped: list[str] = []
    if rename is not None:
        arrays, origin, by_rename, dropped = _renamed(source, arrays, origin,
                                                      rename)
    plan = _plan(origin, arrays, sites)

    # Everything is checked from the file's headers (and, for tied paths
    # the file holds twice, their values) before anything changes.
    skipped: list[tuple[str, str]] = []
    problems: dict[str, list[str]] = {}
    missing: list[str] = []
    unexpected: list[str] = []

    def refuse(what: str, reason: str, label: str | None = None) -> None:
        problems.setdefault(reason, []).append(label or what)
        skipped.append((what, reason))

    good = []
    for path_, site in sites.items():
        if site.first != path_:
            continue  # a tied Parameter is loaded once, under its first path
        param = site.param
        key = plan.chosen.get(path_)
        if key is None:
            refuse(path_, "no unambiguous key in the file" if plan.ambiguous
                   else "missing from the file")
            missing.append(path_)
            continue
        value = arrays[key]
        dtype = _compat.dtype_name(param)
        file_key = origin[key] if origin[key] in by_rename else key
        label = path_ if file_key == path_ else f"{path_} (file key {file_key!r})"
        if not shapes_agree(site.shape, value.shape):
            refuse(path_, f"shape {fmt_shape(tuple(value.shape))} in the file, "
                          f"{fmt_shape(site.shape)} in the network", label)
        elif value.dtype.name != dtype:
            refuse(path_, f"dtype {value.dtype.name} in the file, {dtype} in "
                          f"the network (cast one of them, e.g. net.cast("
                          f"'{value.dtype.name}'))", label)
        elif _compat.kvstore_keeps(param) == "distributed":
            refuse(path_, "a Trainer updates it on a distributed kvstore, "
                          "whose servers keep the weights (Gluon cannot reset "
                          "it: the next step would bring the old values "
                          "back); load before creating the Trainer", label)
        else:
            good.append((path_, param, value))
    for path_, first in plan.conflicts:
        refuse(path_, f"tied to {first!r} in the network, but the file holds "
                      "another value here")
    for key in plan.unexpected:
        unexpected.append(origin[key])
        if origin[key] in by_rename:  # the report also says where it came from
            refuse(f"{key} (file key {origin[key]!r})",
                   "in the file, not in the network", key)
        else:
            refuse(origin[key], "in the file, not in the network")
    for key in plan.ambiguous:
        refuse(origin[key], "in the file; its attribute and shape fit several "
                            "parameters")

    if strict and problems:
        error = (CheckpointShapeMismatch if any(r.startswith("shape ") for r in problems)
                 else CheckpointDTypeMismatch if any(r.startswith("dtype ")
                                                     for r in problems)
                 else CheckpointError)
        raise error(source, _refusal(block, problems, plan, len(good),
                                   foreign=bool(arrays) and not plan.chosen
                                   and not plan.ambiguous))
    # Every value is read now, before the first write: a file that another
    # process cuts or rewrites meanwhile then fails the load with nothing
    # changed.  Parameters without data get arrays of the file's values now
    # too, so that nothing the checks can foresee fails once copying has
    # begun.
    ready = [(path_, param, value, None if _compat.is_initialized(param)
              else _compat.as_array_of(param, value))
             for (path_, param, _), value in zip(
                 good, read_all([value for _, _, value in good]), strict=True)]
    loaded = [path_ for path_, *_ in ready]
    # In-place writes are an error inside autograd.record() (compatibility §6).
    with autograd.pause():
        # Each value is let go once it is copied, so the memory held for
        # the file shrinks as the copies go in.
        ready.reverse()
        while ready:
            _, param, value, made = ready.pop()
            if made is None:
                _compat.set_values(param, value)
            else:
                _compat.load_init(param, made)
            del value, made
    renamed = dict(by_rename)
    renamed.update(plan.renamed)
    return LoadReport(name, fmt, loaded, skipped,
                      renamed, sum(s.first == p for p, s in sites.items()),
                      by_rename, dropped, missing, unexpected)


def load_state_dict(block: gluon.Block, state: Mapping, *, strict: bool = True,
                    rename: Rename = None) -> LoadReport:
    """Load ``{path: array}`` into ``block``; all or nothing, like :func:`load`.

    ``state`` maps structural paths to NumPy or MXNet arrays, as
    :func:`state_dict` gives them (a tied Parameter under any one of its
    paths).  The checks, ``strict``, ``rename`` and the report are those of
    :func:`load`, with ``missing_keys`` and ``unexpected_keys`` as PyTorch
    names them; with ``strict=True`` any problem raises
    :class:`CheckpointError` and changes nothing.  The values are copied
    in: the mapping stays the caller's.

    >>> import mxparams as mp
    >>> from mxnet import init
    >>> from mxnet.gluon import nn
    >>> def mlp():
    ...     net = nn.HybridSequential()
    ...     net.add(nn.Dense(2, in_units=3), nn.Dense(1, in_units=2))
    ...     return net
    >>> net = mlp()
    >>> net.initialize(init.One())
    >>> copy = mlp()
    >>> print(mp.load_state_dict(copy, mp.state_dict(net)))
    Source  a mapping (load_state_dict)
    Loaded  4 of 4 parameters
    >>> float(copy[1].weight.data().sum())
    2.0
    >>> state = mp.state_dict(net)
    >>> state["2.weight"] = state.pop("1.weight")
    >>> report = mp.load_state_dict(mlp(), state, strict=False)
    >>> report.missing_keys, report.unexpected_keys
    (['1.weight'], ['2.weight'])
    """
    check_checkpoint_call("load_state_dict", {}, flags={"strict": strict})
    if not isinstance(state, Mapping):
        raise TypeError(f"load_state_dict: state must be a mapping {{path: "
                        f"array}} (mp.state_dict gives one), got "
                        f"{type(state).__name__}")
    arrays = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"load_state_dict: the keys of state are paths "
                            f"(str), got {type(key).__name__} {key!r}")
        if not (_compat.is_mx_array(value) or isinstance(value, numpy.ndarray)):
            raise TypeError(f"load_state_dict: state[{key!r}] must be a NumPy "
                            f"or MXNet array, got {type(value).__name__}")
        arrays[key] = value
    sites = walk(block, "load_state_dict").sites()
    # Host copies, made before anything is written; an MXNet array's dtype
    # is then a numpy dtype in every mode.
    arrays = {key: numpy.ascontiguousarray(_compat.to_numpy(value))
              for key, value in arrays.items()}
    return _load_arrays(block, sites, None, STATE_DICT, arrays,
                        {key: key for key in arrays}, strict, rename)


#: How a mapping is named where a file name would be.
STATE_DICT = "state_dict"
