"""Logging to a rotating file in the data folder, with secrets redacted by construction.

Every record passes through `RedactingFormatter`, which formats the whole line (traceback
included) and then applies `backend.redact`: every API key the app has handled in this process
(the manager registers each with `REDACTOR` the moment it reads or writes one), plus anything
shaped like a credential, so a key cannot reach the log even through an exception message
produced by a third-party library.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from backend.redact import REDACTOR, SecretRegistry

LOG_NAME = "miaoda"


class RedactingFormatter(logging.Formatter):
    """A formatter whose output has passed through the redactor."""

    def __init__(self, redactor: SecretRegistry, fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def configure_logging(
    data_dir: Path, *, level: int = logging.INFO, redactor: SecretRegistry = REDACTOR
) -> Path:
    """Send the app's logs to `<data>/logs/miaoda.log` (1 MB x 3 files); return the path."""
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "miaoda.log"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_miaoda", False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(RedactingFormatter(redactor))
    handler._miaoda = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(LOG_NAME).setLevel(level)
    # httpx logs full request URLs at INFO; a key sent as a query parameter would be in them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return path
