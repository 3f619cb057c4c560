"""Atomic replacement of a checkpoint file.

The data go to a temporary file beside the target and are renamed over it
only once whole and flushed, so a crash, a kill or a full disk at any
moment leaves the old file or the whole new one.  A temporary file left by
a killed process is removed by the next save to the same target.
"""


from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable

from ..errors import CheckpointError
from ._common import file_name

#: Temporary files of an unfinished save: '.<name>.mxparams-tmp.<pid>.<hex>'.
TEMP_TAG = ".mxparams-tmp."


def _replace(target: str, fill: Callable[[str], None]) -> None:
    """Let ``fill`` write a temporary file beside ``target``, then rename it.

    A symbolic link is followed: the file it points to is replaced, from a
    temporary file in that file's directory (a rename within one file
    system), and the link stays a link.
    """
    real = os.path.realpath(target) if os.path.islink(target) else target
    directory, base = os.path.split(os.path.abspath(real))
    if os.path.isdir(real):
        raise CheckpointError(target, "is a directory; give a file name")
    if not os.path.isdir(directory):
        raise CheckpointError(target, f"cannot write: the directory "
                                      f"{directory!r} does not exist")
    mode = _mode_of(target, real)
    remove_stale_temps(real)
    temp = os.path.join(directory, f".{base}{TEMP_TAG}{os.getpid()}."
                                   f"{secrets.token_hex(4)}")
    try:
        # Created here (the umask applies, as for a plain open), then filled.
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        if mode is not None:  # a replaced file keeps its permissions
            os.chmod(temp, mode)
        wanted = stat.S_IMODE(os.stat(temp).st_mode)
        fill(temp)
        # The safetensors package writes a file of its own (mode 0600) in
        # the temporary file's place; the target gets the mode chosen above.
        if stat.S_IMODE(os.stat(temp).st_mode) != wanted:
            os.chmod(temp, wanted)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, real)
    except BaseException as err:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(err, Exception) and not isinstance(err, CheckpointError):
            raise CheckpointError(target, f"cannot write: {err}") from err
        raise
    _fsync_dir(directory)


def _mode_of(target: str, real: str) -> int | None:
    """The permission bits of an existing file ``real`` (None if there is
    none); ``target`` is how the user named it.

    A read-only target is refused: chmod 0444 is how a checkpoint is kept
    from being overwritten, and the rename of an atomic save would replace
    it even where ``open(target, 'w')`` fails.
    """
    try:
        found = os.stat(real)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise CheckpointError(target, f"cannot write: {err.strerror}") from None
    if not stat.S_ISREG(found.st_mode):
        raise CheckpointError(target, "cannot write: it exists and is not a "
                                      "regular file")
    if not found.st_mode & 0o222:
        raise CheckpointError(target, "cannot write: the file is read-only "
                                      "(chmod u+w it to replace it, or save "
                                      "under another name)")
    return stat.S_IMODE(found.st_mode)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)  # makes the rename itself durable
    except OSError:
        pass
    finally:
        os.close(fd)


def stale_temps(target) -> list[str]:
    """Temporary files of earlier saves to ``target`` whose process is gone."""
    directory, base = os.path.split(os.path.abspath(file_name(target)))
    prefix = f".{base}{TEMP_TAG}"
    found: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for entry in names:
        if not entry.startswith(prefix):
            continue
        pid = entry[len(prefix):].partition(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            found.append(os.path.join(directory, entry))
    return found


def remove_stale_temps(target) -> None:
    for temp in stale_temps(target):
        try:
            os.unlink(temp)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
