"""Reading a file that another process may change: regular files, pread, checks.

Why no memory map: when another process truncates a file that is mapped,
touching a page past its new end raises SIGBUS.  Python cannot recover
from it: MXNet 1.9.1's process dies (exit 135), MXNet 2's handler turns it
into a bare ``OSError: Bus error``, and the safetensors package's Rust
code aborts the process ("Rust cannot catch foreign exceptions").  So a
checkpoint is read with ``pread`` into memory this process owns, and the
file's size and modification time are compared with those it had when it
was opened after every read: a file that shrinks, grows or is rewritten
while it is read gives a ``CheckpointError``, never a crash or a mix of
old and new bytes.  (A rewrite of the same size within the file system's
timestamp resolution cannot be seen; a truncation always is.)

Why regular files only: opening a FIFO waits for a writer forever, and a
device, a socket or a directory is not a checkpoint.  The path is checked
with ``stat`` before it is opened (opening some devices has effects of its
own), the open does not block (``O_NONBLOCK``), and the open file is
checked again with ``fstat`` (the path may have been replaced in between).
"""
from __future__ import annotations

import os
import stat
import tempfile
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..errors import CheckpointError, CheckpointNotFound

#: Called with the file's name after the index of a checkpoint (its
#: headers and names; a safetensors file's JSON header) was read and
#: before any of its data are.  For tests: they truncate or rewrite the
#: file here, deterministically.
after_index: Callable[[str], None] | None = None

# Reads of at least _PARALLEL_MIN bytes go in _PIECE pieces to up to
# _THREADS threads: reading a 553 MB file into new memory took 0.39 s on
# one thread and 0.20 s on two (a 2-core VM, medians of 3).
_PIECE = 16 << 20
_PARALLEL_MIN = 64 << 20
_THREADS = 4
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def index_read(name: str) -> None:
    """The index of ``name`` was read: run the test hook, if any."""
    if after_index is not None:
        after_index(name)


def _refuse_irregular(name: str, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    what = next((kind for test, kind in _KINDS if test(mode)), "not a file")
    if stat.S_ISDIR(mode):
        raise CheckpointError(name, "is a directory, not a parameter file")
    raise CheckpointError(name, f"is {what}, not a regular file; checkpoints "
                                "are read from regular files only (write the "
                                "data to a file first)")


def _os_error(name: str, err: OSError) -> CheckpointError:
    reason = f"cannot read the file: {err.strerror or err}"
    if isinstance(err, FileNotFoundError):  # also a FileNotFoundError
        return CheckpointNotFound(name, reason)
    return CheckpointError(name, reason)


class Source:
    """A regular file opened for reading at offsets, and what it was like then.

    ``size`` is its size when it was opened.  :meth:`read` and
    :meth:`readinto` read exactly what they are asked for and check that
    the file did not change; :meth:`close` (or the garbage collector, once
    the last lazy array of the file is gone) closes it.
    """

    __slots__ = ("name", "size", "_fd", "_identity", "_close", "__weakref__")

    def __init__(self, name: str):
        self.name = name
        try:
            _refuse_irregular(name, os.stat(name).st_mode)
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK
                         | getattr(os, "O_CLOEXEC", 0))
        except OSError as err:
            raise _os_error(name, err) from None
        self._close = weakref.finalize(self, os.close, fd)
        try:
            found = os.fstat(fd)
            _refuse_irregular(name, found.st_mode)
        except BaseException:
            self.close()
            raise
        self._fd = fd
        self.size = found.st_size
        self._identity = (found.st_size, found.st_mtime_ns)

    def close(self) -> None:
        self._close()

    def changed(self) -> str | None:
        """Why the file is not as it was when it was opened (None if it is)."""
        try:
            found = os.fstat(self._fd)
        except OSError as err:
            return f"cannot be read any more ({err.strerror})"
        if found.st_size != self.size:
            return (f"changed while it was being read: it was {self.size:,} "
                    f"bytes long and is now {found.st_size:,}")
        if found.st_mtime_ns != self._identity[1]:
            return "was modified while it was being read"
        return None

    def check(self) -> None:
        """Raise :class:`CheckpointError` if the file changed since it was opened."""
        reason = self.changed()
        if reason is not None:
            raise CheckpointError(self.name, reason + " (another process is "
                                  "writing it?); nothing was taken from it; "
                                  "read it again once it is complete")

    def readinto(self, offset: int, buffer: memoryview) -> None:
        """Fill ``buffer`` (bytes) from ``offset``, then check the file."""
        self.readinto_many([(offset, buffer)])

    def readinto_many(self, parts: list[tuple[int, memoryview]]) -> None:
        """Fill each ``(offset, buffer)``, then check the file once.

        Large reads go in pieces to a few threads (``pread`` releases the
        GIL): the time of reading into new memory is mostly the kernel
        mapping its pages, which runs on every core at once.
        """
        pieces = [(offset + start, buffer[start:start + _PIECE])
                  for offset, buffer in parts
                  for start in range(0, len(buffer), _PIECE)]
        total = sum(len(buffer) for _, buffer in pieces)
        threads = min(_THREADS, os.cpu_count() or 1, len(pieces))
        try:
            if total < _PARALLEL_MIN or threads < 2:
                short = [p for p in pieces if self._fill(*p)]
            else:
                with ThreadPoolExecutor(threads) as pool:
                    short = [p for p, cut in zip(pieces, pool.map(
                        lambda p: self._fill(*p), pieces), strict=True) if cut]
        except OSError as err:
            raise _os_error(self.name, err) from None
        self.check()
        if short:  # shorter than when it was opened, and back again
            raise CheckpointError(self.name, f"changed while it was being "
                                             f"read: it ended before byte "
                                             f"{short[0][0] + len(short[0][1]):,}")

    def _fill(self, offset: int, buffer: memoryview) -> bool:
        """Read ``buffer`` from ``offset``; True if the file ended first."""
        done, total = 0, len(buffer)
        while done < total:
            got = _preadv(self._fd, buffer[done:], offset + done)
            if not got:
                return True
            done += got
        return False

    def read(self, offset: int, n: int) -> bytes:
        """Exactly ``n`` bytes from ``offset`` (the caller checked they exist)."""
        buffer = bytearray(n)
        self.readinto(offset, memoryview(buffer))
        return bytes(buffer)

    def fileno(self) -> int:
        return self._fd


def _preadv(fd: int, buffer: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    data = os.pread(fd, len(buffer), offset)  # no preadv (macOS before 11)
    buffer[:len(data)] = data
    return len(data)


class Cursor:
    """Reads a file front to back in blocks: an index of many small records.

    The parser checks that what it asks for lies inside the file; a short
    read means the file changed, which :class:`Source` reports.
    """

    __slots__ = ("_source", "pos", "_buf", "_start")
    _BLOCK = 1 << 16

    def __init__(self, source: Source):
        self._source = source
        self.pos = 0
        self._buf = b""
        self._start = 0

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        pos, start = self.pos, self._start
        if not (start <= pos and pos + n <= start + len(self._buf)):
            size = min(max(n, self._BLOCK), self._source.size - pos)
            self._buf, self._start = self._source.read(pos, size), pos
            start = pos
        self.pos = pos + n
        return self._buf[pos - start:pos - start + n]

    def skip(self, n: int) -> None:
        self.pos += n


class IndexCopy:
    """A private copy of a file's index (its first bytes), as long as the
    file, named by a path: for a reader that takes a path and maps the
    file itself (the safetensors package, to check a header).

    The rest of the copy is a hole, which reads as zeros and uses no
    memory.  On Linux it is a sealed ``memfd`` (it cannot shrink, grow or
    be written once made) named by ``/proc/self/fd``; elsewhere a
    temporary file, removed when the copy is closed.  The reader maps this
    copy, never the user's file, whose truncation by another process would
    raise SIGBUS inside it.
    """

    def __init__(self, source: Source, index: bytes):
        fd, self.path, self._temp = _memfd()
        self._fd: int | None = fd
        try:
            written = 0
            while written < len(index):
                written += os.write(fd, index[written:])
            os.ftruncate(fd, source.size)
            if self._temp is None:
                _seal(fd)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        if self._temp is not None:
            try:
                os.unlink(self._temp)
            except OSError:
                pass

    def __enter__(self) -> IndexCopy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _memfd() -> tuple[int, str, str | None]:
    """(fd, path, temporary file to remove or None) of an empty copy."""
    create = getattr(os, "memfd_create", None)
    if create is not None and os.path.isdir("/proc/self/fd"):
        try:
            fd = create("mxparams-checkpoint-index",
                        os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError:
            pass
        else:
            return fd, f"/proc/self/fd/{fd}", None
    fd, temp = tempfile.mkstemp(prefix="mxparams-checkpoint-index-")
    return fd, temp, temp


def _seal(fd: int) -> None:
    import fcntl
    seals = (getattr(fcntl, "F_SEAL_SHRINK", 0) | getattr(fcntl, "F_SEAL_GROW", 0)
             | getattr(fcntl, "F_SEAL_WRITE", 0) | getattr(fcntl, "F_SEAL_SEAL", 0))
    if seals and hasattr(fcntl, "F_ADD_SEALS"):
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        except OSError:
            pass  # nobody else has the fd; the seals only make it certain
