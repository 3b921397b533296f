"""Logging to a rotating file in the data folder, with secrets redacted by construction.

Every record passes through `RedactingFormatter`, which formats the whole line (traceback
included) and then removes every API key the app has handled in this process, plus anything
shaped like a bearer token or a well-known key prefix. The manager registers each key with
`REDACTOR` the moment it reads or writes one, so a key cannot reach the log even through an
exception message produced by a third-party library.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from pathlib import Path

LOG_NAME = "miaoda"
_PATTERNS = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"
    r"|(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"
    r"|(api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"
    r"|\b(sk-[A-Za-z0-9_\-]{8,}|sk-ant-[A-Za-z0-9_\-]{8,}|gsk_[A-Za-z0-9]{8,}|xai-[A-Za-z0-9]{8,})"
)
MASK = "[REDACTED]"


class SecretRedactor:
    """Remembers secret values handled in this process and masks them in any text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: str | None) -> None:
        """Register a secret; short values are ignored (masking them would garble text)."""
        if not secret or len(secret) < 6:
            return
        with self._lock:
            self._secrets = self._secrets | {secret}

    def redact(self, text: str) -> str:
        """Return `text` with every known secret and key-shaped token masked."""
        for secret in self._secrets:  # frozenset swap makes this read lock-free
            if secret in text:
                text = text.replace(secret, MASK)
        return _PATTERNS.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    prefix = match.group(1) or match.group(2) or match.group(3) or ""
    return prefix + MASK


REDACTOR = SecretRedactor()


class RedactingFormatter(logging.Formatter):
    """A formatter whose output has passed through the redactor."""

    def __init__(self, redactor: SecretRedactor, fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        self._redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def configure_logging(
    data_dir: Path, *, level: int = logging.INFO, redactor: SecretRedactor = REDACTOR
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
