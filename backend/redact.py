"""Keeping API keys out of text: messages, logs, anything an upstream says back.

One set of rules for every place that masks (stdlib only, bottom layer):

- a key the app knows is replaced wherever it appears, in every form text can carry it in
  (`secret_forms`): as is, JSON-escaped, as a Python repr, URL-encoded, and base64-encoded;
- anything shaped like a credential is masked even when the app never saw it: bearer tokens,
  `x-api-key: …`/`api-key=…` pairs, and the common key prefixes (`sk-`, `sk-ant-`, `gsk_`,
  `xai-`, `key-`, `api_key-`, …);
- query-string values are masked (the `query` auth scheme puts a key there).

`Redactor` masks one request's key, for the error messages about that request, and drops the
model ids of a list that would need masking; `REDACTOR` is the process-wide registry the
manager adds every key to as it reads or writes one, and that the log formatter applies to
every line; `safe_url` is what logs and messages may show of a URL; `install_log_filter`
rewrites httpx's own log records, which print whole request URLs.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "[redacted]"
_MAX_QUOTE = 200
_MIN_SECRET = 6  # shorter keys are not masked on their own: that would garble plain text

_SHAPES = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"
    r"|((?:x-)?api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"
    r"|\b(?:sk-ant|sk|pk|rk|gsk|xai|key|api[-_]?key)[-_][A-Za-z0-9*._\-]{6,}"
)
_QUERY_VALUE = re.compile(r"([?&][^=&#\s\"']+=)[^&#\s\"']+")
_BASE64: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)


def secret_forms(secret: str) -> frozenset[str]:
    """Every way `secret` can be written into text, to be masked wherever one appears.

    As is; JSON-escaped as `json.dumps` writes it (without the quotes, with and without
    `ensure_ascii`, and with PHP's escaped slashes); as Python's repr (tracebacks, logged
    dicts); URL-encoded (`quote` with no safe characters, `quote_plus`); base64 of its UTF-8
    bytes (standard and URL-safe, padded and not), which matches where the key starts a
    base64 text. Inside a longer base64 text (a Basic auth header encodes `user:key`) the
    key's characters depend on its byte alignment and on the bytes around it, so each
    alignment adds the part the key alone decides; masking that leaves a character or three
    on either side, which carry a few bits of the key's first and last bytes.

    A key shorter than `_MIN_SECRET` has no forms, and no form shorter than that is given:
    masking a few common characters wherever they appear would garble ordinary text (and
    drop ordinary model ids). Such a key is one in name only ("EMPTY", "none").
    """
    if len(secret) < _MIN_SECRET:
        return frozenset()
    escaped = json.dumps(secret)[1:-1]
    escaped_utf8 = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {
        secret,
        escaped,
        escaped_utf8,
        escaped.replace("/", "\\/"),
        escaped_utf8.replace("/", "\\/"),
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        quote(secret, safe="", errors="surrogatepass"),
        quote_plus(secret, safe="", errors="surrogatepass"),
    }
    data = secret.encode("utf-8", "surrogatepass")
    for encode in _BASE64:
        whole = encode(data).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        for shift, unknown in ((0, 0), (1, 2), (2, 3)):
            # `shift` bytes before the key: the first `unknown` characters depend on them; the
            # last one may depend on the byte after the key (always left out: it is simpler,
            # and the whole forms above, being longer, are masked first where they appear).
            text = encode(b"\0" * shift + data).decode("ascii").rstrip("=")
            forms.add(text[unknown:-1])
    return frozenset(form for form in forms if len(form) >= _MIN_SECRET)


def _longest_first(forms: Iterable[str]) -> tuple[str, ...]:
    """Longest first, so a form that contains another is masked whole, not cut apart."""
    return tuple(sorted(set(forms), key=lambda form: (-len(form), form)))


def _mask(text: str, ordered: tuple[str, ...]) -> str:
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _SHAPES.sub(_shape, text)
    return _QUERY_VALUE.sub(r"\1" + MASK, text)


def _shape(match: re.Match[str]) -> str:
    return (match.group(1) or match.group(2) or "") + MASK


def mask(text: str, secrets: Collection[str] = frozenset()) -> str:
    """`text` with `secrets` (exactly as given), credential-shaped words and query values
    masked; `secret_forms` gives the forms of a key worth passing."""
    return _mask(text, _longest_first(secrets))


class Redactor:
    """Masks one key (and anything shaped like a credential) in text about one request."""

    def __init__(self, secret: str | None) -> None:
        self._secrets = _longest_first(secret_forms(secret or ""))

    def text(self, value: str) -> str:
        """The text with the key (in any form), credential-shaped words and query values
        masked."""
        return _mask(value, self._secrets)

    def quote(self, value: str, limit: int = _MAX_QUOTE) -> str:
        """Upstream text made safe and short enough to quote inside one of our messages.

        Whitespace is flattened to single spaces; text longer than `limit` is cut after the
        last whole word that fits and ends with "…" (only a first word longer than the
        whole limit is cut inside, there being no word boundary to cut at). The key is masked
        before the cut, so a mask is never cut in half.
        """
        cleaned = " ".join(self.text(value).split())
        if len(cleaned) <= limit:
            return cleaned
        room = max(0, limit - 1)  # the "…" takes one character
        head = cleaned[: room + 1]  # one more: a space there means the word before fits whole
        cut = head.rfind(" ")
        return (cleaned[:cut] if cut > 0 else cleaned[:room]).rstrip() + "…"

    def keeps(self, value: str) -> bool:
        """True when `value` needs no masking: no key, nothing credential-shaped, no query."""
        return self.text(value) == value

    def drop_leaks(self, values: Iterable[str]) -> list[str]:
        """The values that need no masking, in order; the others are left out whole.

        For upstream lists whose items are names the user picks from (model ids): an item
        that echoes the key, or looks like a credential, is dropped rather than shown masked,
        since an entry called "[redacted]" is not a model anyone can choose.
        """
        return [value for value in values if self.keeps(value)]


class SecretRegistry:
    """Every key handled in this process, masked in any text given to `redact`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: frozenset[str] = frozenset()
        self._secrets: tuple[str, ...] = ()

    def add(self, secret: str | None) -> None:
        """Remember a key (in every form of `secret_forms`); short values are ignored."""
        if not secret or secret in self._keys:  # the manager adds a key at every read
            return
        forms = secret_forms(secret)
        if not forms:
            return
        with self._lock:
            self._keys = self._keys | {secret}
            self._secrets = _longest_first((*self._secrets, *forms))

    def redact(self, text: str) -> str:
        """`text` with every known key (in any form), credential-shaped words and query values
        masked."""
        return _mask(text, self._secrets)  # a tuple swapped whole: read without the lock


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
