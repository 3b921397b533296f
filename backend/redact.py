"""Keeping API keys out of text: messages, logs, anything an upstream says back.

One set of rules for every place that masks (stdlib only, bottom layer):

- a key the app knows is replaced wherever it appears, as is and URL-encoded;
- anything shaped like a credential is masked even when the app never saw it: bearer tokens,
  `x-api-key: …`/`api-key=…` pairs, and the common key prefixes (`sk-`, `sk-ant-`, `gsk_`,
  `xai-`, `key-`, `api_key-`, …);
- query-string values are masked (the `query` auth scheme puts a key there).

`Redactor` masks one request's key, for the error messages about that request; `REDACTOR` is
the process-wide registry the manager adds every key to as it reads or writes one, and that
the log formatter applies to every line; `safe_url` is what logs and messages may show of a
URL; `install_log_filter` rewrites httpx's own log records, which print whole request URLs.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "[redacted]"
_MAX_QUOTE = 200
_MIN_SECRET = 6  # shorter values are not masked on their own: that would garble plain text

_SHAPES = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"
    r"|((?:x-)?api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"
    r"|\b(?:sk-ant|sk|pk|rk|gsk|xai|key|api[-_]?key)[-_][A-Za-z0-9*._\-]{6,}"
)
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"']+=)[^&#\s\"']+")


def _shape(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + MASK


def mask(text: str, secrets: frozenset[str] | set[str] | list[str] = frozenset()) -> str:
    """`text` with `secrets`, credential-shaped words and query-string values masked."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _SHAPES.sub(_shape, text)
    return _QUERY_VALUE.sub(r"\1" + MASK, text)


class Redactor:
    """Masks one key (and anything shaped like a credential) in text about one request."""

    def __init__(self, secret: str | None) -> None:
        self._secrets = [s for s in {secret, quote(secret or "", safe="")} if s]

    def text(self, value: str) -> str:
        """The text with the key, credential-shaped words and query values masked."""
        return mask(value, self._secrets)

    def quote(self, value: str, limit: int = _MAX_QUOTE) -> str:
        """Upstream text made safe and short enough to quote inside one of our messages."""
        cleaned = " ".join(self.text(value).split())
        return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


class SecretRegistry:
    """Every key handled in this process, masked in any text given to `redact`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secret: str | None) -> None:
        """Remember a key (and its URL-encoded form); short values are ignored."""
        if not secret or len(secret) < _MIN_SECRET:
            return
        with self._lock:
            self._secrets = self._secrets | {secret, quote(secret, safe="")}

    def redact(self, text: str) -> str:
        """`text` with every known key, credential-shaped words and query values masked."""
        return mask(text, self._secrets)  # a frozenset swapped whole: read without the lock


REDACTOR = SecretRegistry()


def safe_url(url: str) -> str:
    """The URL without its query string and user info: what logs and messages may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _QueryRedactingFilter(logging.Filter):
    """Masks query values in a record's final text (httpx logs the full request URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg = _QUERY_VALUE.sub(r"\1" + MASK, message)
            record.args = ()
        return True


_FILTER = _QueryRedactingFilter()


def install_log_filter(logger_name: str = "httpx") -> None:
    """Attach the query-redacting filter to a library's logger (idempotent)."""
    logger = logging.getLogger(logger_name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
