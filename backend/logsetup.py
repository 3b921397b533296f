"""Logging to a rotating file in the data folder, with secrets redacted by construction.

Every record passes through `RedactingFormatter`, which formats the whole line (traceback
included) and then applies `backend.redact`: every API key the app has handled in this process
(the manager registers each with `REDACTOR` the moment it reads or writes one), in every form
text can carry it in (as is, JSON-escaped, repr, URL- and base64-encoded), plus anything
shaped like a credential, so a key cannot reach the log even through an exception message
produced by a third-party library. A log call whose arguments do not fit its message is
written as a redacted line too, instead of going to logging's own error report on stderr
(which prints the arguments as they are).
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from backend.fileio import (
    PRIVATE_FILE_MODE,
    make_private_dir,
    make_private_file,
    rotate_privately,
    tighten,
)
from backend.redact import REDACTOR, SecretRegistry

LOG_NAME = "miaoda"


class RedactingFormatter(logging.Formatter):
    """A formatter whose output has passed through the redactor."""

    def __init__(self, redactor: SecretRegistry, fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        try:
            line = super().format(record)
        except Exception as error:  # e.g. arguments that do not fit the message's % fields
            line = self._unformattable(record, error)
        return self._redactor.redact(line)

    def _unformattable(self, record: logging.LogRecord, error: Exception) -> str:
        try:
            said = f"{record.msg!s} {record.args!r}"
        except Exception:
            said = "(its message cannot be printed)"
        return (
            f"{self.formatTime(record)} {record.levelname} {record.name} [{record.threadName}] "
            f"a log call could not be formatted ({type(error).__name__}): {said}"
        )


def configure_logging(
    data_dir: Path, *, level: int = logging.INFO, redactor: SecretRegistry = REDACTOR
) -> Path:
    """Send the app's logs to `<data>/logs/miaoda.log` (1 MB x 3 files); return the path."""
    log_dir = data_dir / "logs"
    make_private_dir(log_dir)  # 0700 on POSIX, and the files 0600 (backend.fileio)
    path = log_dir / "miaoda.log"
    for rotated in range(1, 4):
        tighten(log_dir / f"miaoda.log.{rotated}", PRIVATE_FILE_MODE)
    make_private_file(path)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_miaoda", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.rotator = rotate_privately  # the fresh file after a rotation is 0600 too
    handler.setFormatter(RedactingFormatter(redactor))
    handler._miaoda = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(LOG_NAME).setLevel(level)
    # httpx logs full request URLs at INFO; a key sent as a query parameter would be in them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return path
