"""Small file helpers: crash-safe writes, size-limited reads of user-chosen files, and private
modes for the app's own files.

Private modes (POSIX only; on Windows the user's profile folder is already private through its
ACLs, and `chmod` there only toggles the read-only flag): the data folder and its `logs` folder
are 0700, and the database and log files 0600. They are created with those modes, so they are
never readable by others even for a moment, and existing ones are tightened, so an install made
before this rule (or under a loose umask) becomes private the next time the app starts.
Tightening only removes permission bits; it never adds any. It is best effort: a file the user
does not own is left as it is, with a warning in the log, and the code that opens it reports
any real problem.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

from backend.errors import ImportInvalid, StorageError
from backend.i18n import tr

log = logging.getLogger("miaoda.fileio")

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_POSIX = os.name == "posix"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` so that a crash leaves either the old file or the new one, never half of it."""
    path = path.expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
    except OSError as err:
        reason = err.strerror or tr("files.writeFailed")
        raise StorageError(tr("files.cannotWrite", name=path.name, reason=reason)) from None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (POSIX; Windows cannot open a folder this way)."""
    if not _POSIX:
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_limited(path: Path, limit: int) -> bytes:
    """Read at most `limit` bytes of a file, refusing a larger one before reading it all."""
    path = path.expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ImportInvalid(tr("files.missing", name=path.name)) from None
    except IsADirectoryError:
        raise ImportInvalid(tr("files.isFolder", name=path.name)) from None
    except OSError as err:
        reason = err.strerror or tr("files.readFailed")
        raise ImportInvalid(tr("files.cannotRead", name=path.name, reason=reason)) from None
    if len(data) > limit:
        raise ImportInvalid(
            tr("files.tooLarge", size=limit // (1024 * 1024)),
            fields={"file": [tr("files.tooLargeField")]},
        )
    return data


# --- private modes ------------------------------------------------------------------------


def make_private_dir(path: Path) -> None:
    """Create the folder `path` (and any missing parents), private to the user: 0700 on POSIX,
    and an existing folder with looser permissions is tightened. Raises OSError when the
    folder cannot be created."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    tighten(path, PRIVATE_DIR_MODE)


def make_private_file(path: Path) -> None:
    """Make sure the file `path` is 0600 on POSIX: created empty with that mode when it is
    missing (so whatever opens it next writes into a private file), tightened when it exists.
    Never truncates. Best effort: a failure is logged, and left to the code that opens it."""
    if not _POSIX:
        return
    try:
        # O_NONBLOCK: a FIFO planted at `path` fails at once instead of blocking start-up.
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK
        fd = os.open(path, flags, PRIVATE_FILE_MODE)
    except OSError as err:
        log.warning("could not create %s privately: %s", path, err.strerror or err)
        return
    os.close(fd)
    tighten(path, PRIVATE_FILE_MODE)


def tighten(path: Path, mode: int) -> None:
    """Remove any permission bits of the existing file or folder `path` beyond `mode` (POSIX).
    A missing path is left missing; a failure is logged, not raised."""
    if not _POSIX:
        return
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
        if current & ~mode:
            os.chmod(path, current & mode)
    except FileNotFoundError:
        return
    except OSError as err:
        log.warning("could not make %s private: %s", path, err.strerror or err)


def rotate_privately(source: str, dest: str) -> None:
    """A `rotator` for logging's rotating handlers: moves the full log `source` to `dest`, as
    the default does, then creates `source` anew with mode 0600 so the file the handler opens
    next is private too (rotated files keep their mode)."""
    if os.path.exists(source):
        os.replace(source, dest)
    make_private_file(Path(source))
