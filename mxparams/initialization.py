"""Initialization by structural path: ``initialize`` and ``Initializer``.

Everything goes through Gluon's own ``Parameter.initialize``, one call per
Parameter, with the requested initializer as its *default*: a layer's own
``weight_initializer``/``bias_initializer`` keeps precedence exactly as in
``Block.initialize``, deferred initialization still waits for the first
forward pass, and Gluon's built-in initializers run unchanged.  What
mxparams adds is the path: Gluon tells an initializer the Parameter's name,
which is the global ``dense0_weight`` on 1.x and a bare ``weight`` on 2.x;
an ``mp.Initializer`` is told ``0.weight`` on both.
"""
from __future__ import annotations

import inspect
import re
from typing import TypeAlias

import mxnet as mx
from mxnet import gluon

from . import _compat
from .errors import did_you_mean
from .params import ParamDict, Select, check_flag, collect

InitSpec: TypeAlias = str | mx.init.Initializer | None


class Initializer(mx.init.Initializer):
    """Base class for initializers that see structural paths.

    Subclasses implement ``init_weight(self, path, arr)`` and fill ``arr``
    in place; ``path`` is the parameter's structural path (``'0.weight'``)
    on every MXNet version.  A method named after the path's last part
    (``init_bias``, ``init_gamma``, ...) is used instead when defined.
    Pass instances to :func:`initialize`.

    >>> import mxparams as mp
    >>> from mxnet.gluon import nn
    >>> class Ones(mp.Initializer):
    ...     def init_weight(self, path, arr):
    ...         print("init", path, arr.shape)
    ...         arr[:] = 1
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(3, in_units=2), nn.Dense(1, in_units=3))
    >>> mp.initialize(net, Ones())
    init 0.weight (3, 2)
    init 1.weight (1, 3)
    >>> float(net[1].weight.data().sum())
    3.0
    """

    def init_weight(self, path: str, arr) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must define init_weight(self, path, arr)")

    def _init_weight(self, name, arr):
        # Reached only when Gluon calls the initializer itself, without the
        # path: the name it passes differs between MXNet versions.
        raise TypeError(
            f"{type(self).__name__} is an mp.Initializer: it receives "
            f"structural paths, which Gluon's initialize() does not know. "
            f"Use mp.initialize(net, {type(self).__name__}(...)) instead of "
            "net.initialize(...)")

    def _method_for(self, path: str):
        attr = path.rpartition(".")[2]
        return getattr(self, f"init_{attr}", None) or self.init_weight


class _AtPath(mx.init.Initializer):
    """Gluon-facing adapter: calls an ``Initializer`` with one fixed path.

    Gluon calls ``_init_weight`` of the effective initializer of each
    Parameter (compatibility §5), so one adapter per Parameter is enough, and it
    is still the right one when initialization is deferred.
    """

    def __init__(self, init: Initializer, path: str):
        super().__init__()
        self._user = init
        self._path = path

    def _init_weight(self, _name, arr):
        self._user._method_for(self._path)(self._path, arr)


class _Given(mx.init.Initializer):
    """Gluon-facing initializer that writes values computed beforehand."""

    def __init__(self, value):
        super().__init__()
        self._value = value

    def _init_weight(self, _name, arr):
        value = self._value
        if _compat.is_legacy_array(arr):
            value = _compat.as_storage_of(value.as_nd_ndarray(), arr)
        arr[:] = value


def _registered() -> dict[str, type]:
    """Built-in initializer names -> classes.

    gluon.Constant registers one alias per constant ('constant_<id>');
    those are not initializers a user would name.
    """
    return {name: cls for name, cls in
            mx.registry.get_registry(mx.init.Initializer).items()
            if not re.search(r"\d", name)}


def _needs_arguments(cls: type[mx.init.Initializer]) -> bool:
    """Whether ``cls()`` fails for want of arguments ('constant', the
    fused-RNN initializer, whose registered name differs by version)."""
    return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                   p.POSITIONAL_OR_KEYWORD)
               for p in list(inspect.signature(cls.__init__).parameters.values())[1:])


def _resolve(init: InitSpec) -> mx.init.Initializer:
    """Validate ``init`` before anything is changed."""
    if init is None:
        return mx.init.Uniform()  # Gluon's own default (Block.initialize)
    if isinstance(init, mx.init.Initializer):
        return init
    if isinstance(init, str):
        registered = _registered()
        cls = registered.get(init.lower())
        if cls is not None and _needs_arguments(cls):
            what = "value" if cls is mx.init.Constant else "..."
            raise ValueError(
                f"initializer {init!r} needs arguments: pass an instance, "
                f"mx.init.{cls.__name__}({what})")
        names = sorted(n for n, c in registered.items() if not _needs_arguments(c))
        if cls is None:
            hint = did_you_mean(init.lower(), names, cutoff=0.6)
            hint = hint + " " if hint else ""
            raise ValueError(
                f"unknown initializer {init!r}; {hint}built-in names: "
                f"{', '.join(names)}; or pass an instance such as "
                "mx.init.Normal(0.01)")
        return mx.init.create(init)
    raise TypeError(
        f"init must be an initializer instance (mx.init.Xavier(), an "
        f"mp.Initializer subclass), a built-in name such as 'xavier', or "
        f"None; got {type(init).__name__}")


#: mx.cpu()'s class: Context on MXNet 1.x, Device on 2.x (whose Context
#: makes one too).
_DEVICE = type(mx.cpu())


def _check_devices(where, name: str) -> None:
    """``where`` is None, a device, or a non-empty list of devices."""
    devices = where if isinstance(where, (list, tuple)) else [where]
    if where is None or (devices and all(isinstance(d, _DEVICE) for d in devices)):
        return
    raise TypeError(f"initialize: {name} must be a device such as mx.cpu() or "
                    f"mx.gpu(0), or a list of them, got "
                    f"{type(where).__name__} {where!r}")


def _targets(target, select: Select, init) -> list[tuple[str, gluon.Parameter]]:
    """(path, Parameter) to initialize: each Parameter once, at its first path."""
    if isinstance(target, gluon.Parameter):
        if select is not None:
            raise TypeError("select applies to a Block or a ParamDict, not "
                            "to a single Parameter")
        if isinstance(init, Initializer):
            # A lone Parameter does not know its path, and its Gluon name
            # is no stand-in (it differs by version).
            raise TypeError(
                f"{type(init).__name__} is an mp.Initializer, which is told "
                "each parameter's path, and a lone Parameter has none: pass "
                "the block and pick the parameter by path, e.g. "
                "mp.initialize(net, init, select=r'0\\.weight')")
        return [("", target)]
    if isinstance(target, ParamDict):
        chosen = target.select(select)
    elif isinstance(target, gluon.Block):
        chosen = collect(target, select=select)
    else:
        raise TypeError(
            f"initialize() takes a Block, a Parameter or an mp.ParamDict, got "
            f"{type(target).__name__}")
    once: dict[str, tuple[str, gluon.Parameter]] = {}
    for site in chosen.sites().values():
        once.setdefault(site.first, (site.path, site.param))
    return list(once.values())


def initialize(target: gluon.Block | gluon.Parameter | ParamDict,
               init: InitSpec = None, *, select: Select = None,
               force_reinit: bool = True, device=None, ctx=None) -> None:
    """Initialize parameters with Gluon's initializers, by path.

    ``target`` is a Block, a single Parameter or a ParamDict; ``select``
    picks paths as in :func:`collect`.  ``init`` is a Gluon initializer
    (``mx.init.Normal(0.01)``), a built-in name (``'xavier'``), an
    :class:`Initializer`, or None for Gluon's default ``Uniform()``.
    A layer's own ``weight_initializer``/``bias_initializer`` takes
    precedence, as in ``Block.initialize`` (so Dense biases stay 0).
    Parameters whose shape is unknown are initialized at the first forward
    pass.  All or nothing: every value is computed before any parameter
    changes, so an initializer that raises leaves the network as it was.

    Unlike Gluon, ``force_reinit`` defaults to True, on purpose: calling
    ``mp.initialize`` means "set these values now" (the chapter
    re-initializes one network with one initializer after another); with
    ``force_reinit=False`` parameters that are already initialized (or
    waiting for their shape) are left alone.  Copies stay on their devices
    unless ``device`` (or its MXNet 1.x name ``ctx``) is given.  A
    Parameter reachable by several paths (tied) is initialized once, under
    its first path.

    >>> import mxparams as mp
    >>> from mxnet import init
    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(4, in_units=3), nn.Dense(2, in_units=4))
    >>> mp.initialize(net, init.Constant(0.5), select="1")
    >>> net[1].weight.data()[0].tolist(), net[1].bias.data().tolist()
    ([0.5, 0.5, 0.5, 0.5], [0.0, 0.0])
    >>> mp.initialize(net, "xavier", select=r".*\\.weight")
    >>> mp.initialize(net, "xavir")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown initializer 'xavir'; did you mean 'xavier'? ...
    """
    default = _resolve(init)
    check_flag(force_reinit, "force_reinit", "initialize")
    if device is not None and ctx is not None:
        raise TypeError("pass device= or its MXNet 1.x name ctx=, not both")
    where_to = device if device is not None else ctx
    _check_devices(where_to, "device" if device is not None else "ctx")
    plan = []
    for path, param in _targets(target, select, default):
        if not force_reinit and (_compat.is_initialized(param)
                                 or _compat.is_pending(param)):
            continue  # Gluon would warn, naming it ambiguously on 2.x
        where = (where_to if where_to is not None
                 else list(_compat.devices(param)) or None)
        chosen = _AtPath(default, path) if isinstance(default, Initializer) else default
        plan.append((param, chosen, where))
    # Every value is computed first, by Gluon, into arrays of mxparams' own:
    # an initializer that fails on the tenth parameter has changed nothing.
    values = [_compat.initial_value(param, chosen) for param, chosen, _ in plan]
    # Then one commit through Gluon's own initialize (a shape still unknown
    # stays deferred, to be initialized at the first forward pass).
    with _compat.rollback(params=[param for param, _, _ in plan]):
        for (param, chosen, where), value in zip(plan, values, strict=True):
            _compat.init_param(param, chosen if value is None else _Given(value),
                               where, force_reinit)
