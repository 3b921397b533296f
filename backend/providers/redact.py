"""Keeping API keys out of messages and log lines.

Three places could leak a key: text the provider sends back (OpenAI echoes part of a wrong key
in its 401 message), URLs (the `query` auth scheme puts the key in the query string), and
httpx's own INFO log line, which prints the full request URL. `Redactor` cleans the first two;
`install_log_filter()` rewrites httpx's records so their URLs lose the query values.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote, urlsplit, urlunsplit

MASK = "[redacted]"
_MAX_QUOTE = 200

# Credentials that upstream text may echo: bearer tokens and the common key shapes.
_SECRET_SHAPES = re.compile(
    r"(?i)\bbearer\s+\S+|\b(?:sk|pk|rk|gsk|xai|key|api[-_]?key)[-_][A-Za-z0-9*._\-]{6,}"
)
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"']+=)[^&#\s\"']+")


class Redactor:
    """Removes one key (and anything shaped like a credential) from text."""

    def __init__(self, secret: str | None) -> None:
        self._secrets = [s for s in {secret, quote(secret or "", safe="")} if s]

    def text(self, value: str) -> str:
        """The text with the key, bearer tokens, key-like words and query values masked."""
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        value = _SECRET_SHAPES.sub(MASK, value)
        return _QUERY_VALUE.sub(r"\1" + MASK, value)

    def quote(self, value: str, limit: int = _MAX_QUOTE) -> str:
        """Upstream text made safe and short enough to quote inside one of our messages."""
        cleaned = " ".join(self.text(value).split())
        return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


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


def install_log_filter() -> None:
    """Attach the query-redacting filter to httpx's logger (idempotent)."""
    logger = logging.getLogger("httpx")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
