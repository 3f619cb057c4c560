"""Exceptions raised by mxparams, and the hints they carry.

Every exception mxparams defines is an :class:`MxparamsError`, and also
the builtin exception the situation has always raised, so both ``except
mp.MxparamsError`` and the older ``except KeyError`` / ``ValueError`` /
``TypeError`` / ``FileNotFoundError`` catch it::

    MxparamsError
    ├── ParamNotFound              (also KeyError)
    │   └── BlockNotFound
    ├── Mismatch                   (also ValueError)
    │   ├── ShapeMismatch
    │   │   └── CheckpointShapeMismatch  (also CheckpointError)
    │   └── DTypeMismatch          (also TypeError)
    │       └── CheckpointDTypeMismatch  (also CheckpointError)
    ├── CheckpointError
    │   ├── CheckpointShapeMismatch
    │   ├── CheckpointDTypeMismatch
    │   └── CheckpointNotFound     (also FileNotFoundError)
    ├── StructureError             (also ValueError)
    ├── ModelError                 (also ValueError)
    ├── NonFiniteError             (also ValueError)
    └── ReplicaMismatch            (also ValueError)

Wrong argument types are plain ``TypeError`` and wrong argument values
plain ``ValueError``: those are mistakes in the call, not findings about
the network or the file.
"""
from __future__ import annotations

import difflib
import errno
import os

from ._table import printable, quoted


class MxparamsError(Exception):
    """The base of every exception mxparams raises on purpose.

    >>> import mxparams as mp
    >>> issubclass(mp.ParamNotFound, mp.MxparamsError)
    True
    """


class ParamNotFound(MxparamsError, KeyError):
    """No parameter under that path (or 1.x name); lists the closest paths.

    A ``KeyError``, so ``except KeyError`` keeps working.

    >>> raise ParamNotFound("no parameter at path 'x'")
    Traceback (most recent call last):
    ...
    mxparams.errors.ParamNotFound: no parameter at path 'x'
    """

    def __str__(self) -> str:
        # KeyError.__str__ would quote the message like a key; show it as
        # text, with the characters of a path that a terminal would act on
        # escaped.
        return printable(str(self.args[0])) if self.args else ""


class BlockNotFound(ParamNotFound):
    """No block under that path (:func:`mxparams.get_block`); lists the
    closest block paths.  A ``KeyError``, like :class:`ParamNotFound`.
    """


class Mismatch(MxparamsError, ValueError):
    """Two things that must agree do not: the family of :class:`ShapeMismatch`
    and :class:`DTypeMismatch`; the message gives expected vs got.

    A ``ValueError``.  ``except mp.Mismatch`` catches every shape or dtype
    disagreement of ``tie``, ``load``, ``sync_replicas`` and the rest.
    """


class ShapeMismatch(Mismatch):
    """Two shapes that must agree do not; the message gives expected vs got.

    >>> raise ShapeMismatch("'0.weight': expected shape (256, 20), got (20, 256)")
    Traceback (most recent call last):
    ...
    mxparams.errors.ShapeMismatch: '0.weight': expected shape (256, 20), got (20, 256)
    """


class DTypeMismatch(Mismatch, TypeError):
    """Two dtypes that must agree do not; the message gives both.

    Raised by ``tie`` for blocks whose parameters differ in dtype.  Both a
    :class:`Mismatch` (with :class:`ShapeMismatch`) and, as before, a
    ``TypeError``.

    >>> raise DTypeMismatch("cannot tie: dtypes differ at 'weight': "
    ...                     "float32 in Dense, float16 in Dense")  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    mxparams.errors.DTypeMismatch: cannot tie: dtypes differ at 'weight':
    float32 in Dense, float16 in Dense
    """


class CheckpointError(MxparamsError):
    """A checkpoint file cannot be read, or cannot be loaded into a block.

    ``file`` is the file and ``reason`` says what is wrong with it; the
    message names both.  Raised for unreadable, empty, truncated, foreign
    and corrupt files and for files that do not fit the network; when it is
    raised, no parameter and no file has been changed.  The message shows
    control characters of the file's name and keys as escapes, and a name's
    bytes that are not UTF-8 as ``\\xNN``.

    >>> raise CheckpointError("model.params", "the file is empty")
    Traceback (most recent call last):
    ...
    mxparams.errors.CheckpointError: checkpoint 'model.params': the file is empty
    """

    def __init__(self, file: object, reason: str):
        super().__init__(file, reason)
        self.file = str(file)
        self.reason = reason

    def __str__(self) -> str:
        return printable(f"checkpoint {quoted(self.file)}: {self.reason}")


class CheckpointShapeMismatch(CheckpointError, ShapeMismatch):
    """A load refused because shapes in the file and the network differ.

    Both a :class:`CheckpointError` (the file does not fit) and a
    :class:`ShapeMismatch` (expected vs got, per path, in the message), so
    either ``except`` catches it.
    """


class CheckpointDTypeMismatch(CheckpointError, DTypeMismatch):
    """A load refused because dtypes in the file and the network differ
    (and no shape does: that is a :class:`CheckpointShapeMismatch`).

    Both a :class:`CheckpointError` and a :class:`DTypeMismatch` (so also a
    ``TypeError``).
    """


class CheckpointNotFound(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist.

    ``CheckpointNotFound(file, reason="the file does not exist")``.  Both a
    :class:`CheckpointError` (``file``, ``reason``, the message) and a
    ``FileNotFoundError`` whose ``errno`` is ``errno.ENOENT``, ``strerror``
    the system's text for it and ``filename`` the file, so ``except
    FileNotFoundError`` and ``except OSError`` catch it as they catch
    ``open``'s.

    >>> e = CheckpointNotFound("model.params")
    >>> isinstance(e, FileNotFoundError), e.filename, e.errno == errno.ENOENT
    (True, 'model.params', True)
    >>> raise e
    Traceback (most recent call last):
    ...
    mxparams.errors.CheckpointNotFound: checkpoint 'model.params': the file does not exist
    """

    def __init__(self, file: object, reason: str = "the file does not exist"):
        # OSError.__new__ has already read (file, reason) as (errno,
        # strerror); set the attributes as a FileNotFoundError has them.
        super().__init__(file, reason)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = self.file

    def __reduce__(self):
        return type(self), (self.file, self.reason)


class StructureError(MxparamsError, ValueError):
    """A network whose parameters have no unique structural paths.

    Raised by every function that walks a network (``collect``, ``tree``,
    ``summary``, ``save``, ``load``, ...) for a child registered under the
    empty name, for two different blocks or parameters that end up at one
    path (a child name containing '.'), and for a block that contains
    itself.  The message names both blocks involved and the fix; the
    network is not changed.

    >>> raise StructureError("the root block (Sequential) has a child ...")
    Traceback (most recent call last):
    ...
    mxparams.errors.StructureError: the root block (Sequential) has a child ...
    """


class ModelError(MxparamsError, ValueError):
    """A model that :func:`~mxparams.load_model` cannot make: a factory
    that cannot be imported or raises, a symbol file this MXNet cannot
    read, a parameter file that does not fit its symbol, a forward pass
    that fails.  The message says what was tried and why, in one line;
    the exception that stopped it, if any, is its ``__cause__``.

    >>> raise ModelError("factory 'nets:build' raised KeyError: 'units'")
    Traceback (most recent call last):
    ...
    mxparams.errors.ModelError: factory 'nets:build' raised KeyError: 'units'
    """


class NonFiniteError(MxparamsError, ValueError):
    """Parameters or gradients hold NaN or Inf; raised by ``check_finite``.

    The message names every path with its NaN and Inf counts; ``report``
    holds the full :class:`~mxparams.finite.FiniteReport`.

    >>> raise NonFiniteError("NaN or Inf in 1 array: '0.weight' (grad): 3 NaN")
    Traceback (most recent call last):
    ...
    mxparams.errors.NonFiniteError: NaN or Inf in 1 array: '0.weight' (grad): 3 NaN
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class ReplicaMismatch(MxparamsError, ValueError):
    """Copies of a parameter that should be equal differ; raised by
    ``check_replicas(..., raise_error=True)``.

    The message names every differing path with its devices; ``report``
    holds the full :class:`~mxparams.distributed.ReplicaReport`.

    >>> raise ReplicaMismatch("copies differ in 1 array: 'bias' (data): cpu(0) vs cpu(1)")
    Traceback (most recent call last):
    ...
    mxparams.errors.ReplicaMismatch: copies differ in 1 array: 'bias' (data): cpu(0) vs cpu(1)
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


def examples(names) -> str:
    """Up to four names, quoted, for a message: "'a', 'b', ..." or 'none'."""
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:4])
    return shown + (", ..." if len(names) > 4 else "") if names else "none"


def quoted_names(names) -> str:
    return ", ".join(repr(n) for n in names)


def did_you_mean(word: str, choices, cutoff: float = 0.5) -> str:
    """"did you mean 'a', 'b'?" for the closest choices, or ''.

    The one suggestion builder of every "unknown name" message.

    >>> did_you_mean("xavir", ["xavier", "normal", "uniform"])
    "did you mean 'xavier'?"
    >>> did_you_mean("zzz", ["xavier"])
    ''
    """
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=cutoff)
    return f"did you mean {quoted_names(close)}?" if close else ""
