"""Small file helpers: crash-safe writes and size-limited reads of user-chosen files."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from backend.errors import ImportInvalid, StorageError


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
    except OSError as err:
        raise StorageError(
            f"Could not write {path.name}: {err.strerror or 'write failed'}. "
            "Choose another folder or free some disk space."
        ) from None


def read_limited(path: Path, limit: int) -> bytes:
    """Read at most `limit` bytes of a file, refusing a larger one before reading it all."""
    path = path.expanduser()
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise ImportInvalid(f"The file {path.name} does not exist.") from None
    except IsADirectoryError:
        raise ImportInvalid(f"{path.name} is a folder, not a file.") from None
    except OSError as err:
        raise ImportInvalid(
            f"Could not read {path.name}: {err.strerror or 'read failed'}."
        ) from None
    if len(data) > limit:
        raise ImportInvalid(
            f"The file is larger than {limit // (1024 * 1024)} MB; it is not a provider export.",
            fields={"file": ["Too large."]},
        )
    return data
