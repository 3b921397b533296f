"""What a provider said, as the app's error codes: pure mapping, no I/O.

Two sources feed it: an HTTP status with headers and body (`from_response`) and an error object
found inside a 200 body or in the middle of a stream (`from_payload`); a failure to connect is
mapped next to the transport, in `backend.providers.errors`. Each result is an
`UpstreamFailure` subclass whose message says what happened and what to do, in the app's
language (`upstream.*` in the catalogue), quotes the provider's own words as it sent them
(redacted, shortened) where they help, and carries `upstream_status` and `retry_after`. The
advice fits what the request was for (`Origin.purpose`): the connection test sends one short
message, so "start a new conversation" would point the wrong way there.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from backend.errors import (
    AuthFailed,
    BadRequest,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidResponse,
    ModelNotFound,
    QuotaExceeded,
    RateLimited,
    UpstreamError,
    UpstreamFailure,
    UpstreamTimeout,
)
from backend.i18n import tr
from backend.redact import Redactor, safe_url


class PermanentConnectionFailure(ConnectionFailed):
    """A connection failure that retrying cannot mend (bad URL scheme, TLS certificate)."""


# What a request is for: a user's chat, or the connection test's one short message.
Purpose = Literal["chat", "test"]


@dataclass(frozen=True)
class Origin:
    """What an error message may say about where a request went, and what it was for."""

    redactor: Redactor
    url: str  # already safe: no query string
    model: str
    purpose: Purpose = "chat"

    @classmethod
    def of(cls, url: str, model: str, api_key: str | None, purpose: Purpose = "chat") -> Origin:
        """The origin of a request to `url` made with `api_key`."""
        return cls(Redactor(api_key), safe_url(url), model, purpose)

    @property
    def host(self) -> str:
        """Host (and port) of the URL, for connection messages."""
        return urlsplit(self.url).netloc.rpartition("@")[2] or self.url


# Error "type"/"status" strings of OpenAI, Anthropic and Google, read as HTTP statuses.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "invalid_argument": 400,
    "authentication_error": 401,
    "unauthenticated": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "not_found_error": 404,
    "not_found": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "resource_exhausted": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "server_error": 500,
    "internal": 500,
    "unavailable": 503,
    "deadline_exceeded": 504,
    "overloaded_error": 529,
}
_QUOTA_WORDS = (
    "insufficient_quota",
    "insufficient quota",
    "exceeded your current quota",
    "billing",
    "credit",
    "insufficient balance",
    "insufficient_balance",
    "payment required",
    "top up",
)
_CONTEXT_WORDS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "too many tokens",
    "reduce the length",
    "exceeds the model's max",
    "tokens exceeds",
)
_MODEL_WORDS = (
    "model_not_found",
    "model not found",
    "no such model",
    "unknown model",
    "invalid model",
)
# A rejected key, in the words of servers that answer it with 400 rather than 401 (Google's
# "API key not valid", OpenAI-compatible gateways' "Invalid API key"). Only phrases about the key
# itself: a 400 that merely mentions a key is still a bad request.
_KEY_WORDS = (
    "invalid api key",
    "invalid_api_key",
    "incorrect api key",
    "api key not valid",
    "api_key_invalid",
    "api key expired",
)
# LiteLLM without its database: it cannot look up virtual keys, and answers every key but its
# master key with 400 "No connected db." (type "no_db_connection").
_NO_KEY_DB_WORDS = ("no connected db", "no_db_connection")
_QUOTED = re.compile(r"“(.*)”")
_MISSING_WORDS = ("not found", "does not exist", "not exist", "no such", "not available")


def from_response(
    status: int, headers: Mapping[str, str], body: bytes, origin: Origin
) -> UpstreamFailure:
    """Map a non-2xx HTTP answer."""
    payload = _json_or_none(body)
    message, kind = _describe(payload)
    if not message and payload is None:
        message = body.decode("utf-8", "replace") if _looks_textual(headers) else ""
    return _classify(status, message, kind, origin, retry_after(headers), status)


def from_payload(payload: Any, origin: Origin, status: int | None = None) -> UpstreamFailure:
    """Map an error object that arrived with a 2xx status (a body or a stream event)."""
    message, kind = _describe(payload)
    shown = status if status is not None and status >= 400 else None
    return _classify(shown or _status_from(payload, kind), message, kind, origin, None, shown)


def error_object(payload: Any) -> bool:
    """True when a 2xx JSON payload is in fact an error report."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    return isinstance(payload, dict) and (
        payload.get("error") not in (None, "", {}) or payload.get("type") == "error"
    )


def invalid_response(detail: str, origin: Origin) -> InvalidResponse:
    """The provider sent something that is not the protocol we expect."""
    said = origin.redactor.quote(detail, 120)
    return InvalidResponse(tr("upstream.invalidResponse", url=origin.url, detail=said))


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the provider asks us to wait: `retry-after-ms`, else `Retry-After` (secs or date).

    When the server names no wait itself, the same two headers prefixed `llm_provider-` are read:
    LiteLLM forwards the headers of the provider behind it that way, and its own limiter answers
    429 with `llm_provider-retry-after`.
    """
    for prefix in ("", "llm_provider-"):
        wait = _wait_millis(headers.get(f"{prefix}retry-after-ms"))
        if wait is None:
            wait = _wait_header(headers.get(f"{prefix}retry-after"))
        if wait is not None:
            return wait
    return None


def with_known_wait(error: UpstreamFailure, wait: float | None) -> UpstreamFailure:
    """`error`, or when it is a rate limit that named no wait, one that names `wait`.

    `wait` is the latest wait an earlier answer to the same request asked for: after a retry
    that waited out `Retry-After: 20` fails again without the header, 20 s is still the best
    advice there is.
    """
    if not wait or error.retry_after is not None or not isinstance(error, RateLimited):
        return error
    # The advice of a rate limit that named no wait, which this one replaces.
    said = error.message.removesuffix(tr("upstream.advice.waitAMoment")).rstrip()
    return RateLimited(
        tr("upstream.rateLimited.earlierWait", said=said, wait=_seconds(wait)),
        retry_after=wait,
        upstream_status=error.upstream_status,
    )


def _wait_millis(value: str | None) -> float | None:
    seconds = _finite(value)
    return None if seconds is None else seconds / 1000.0


def _wait_header(value: str | None) -> float | None:
    """A `Retry-After` value: seconds, or an HTTP date."""
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return seconds
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _finite(value: str | None) -> float | None:
    """A header's number, at least 0; None unless it is one ("inf" and "nan" are not: they
    would make the error's `retryAfter` invalid JSON)."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(0.0, number) if math.isfinite(number) else None


def _classify(
    status: int | None,
    message: str,
    kind: str,
    origin: Origin,
    wait: float | None,
    shown: int | None,
) -> UpstreamFailure:
    """The error for a status (real, or read from an error type) and the provider's words.

    `shown` is the HTTP status to quote in the message: None when the status was only
    inferred (an error object inside a 200 answer).
    """
    said = origin.redactor.quote(message) if message else ""
    detail = _detail(shown, said)
    text = f"{kind} {message}".lower()
    key_problem = status is not None and 400 <= status < 500 and status != 429
    if key_problem and any(word in text for word in _NO_KEY_DB_WORDS):
        return AuthFailed(tr("upstream.auth.noKeyDatabase", detail=detail), upstream_status=status)
    if status in (401, 403) or (key_problem and any(word in text for word in _KEY_WORDS)):
        key = "upstream.auth.refused" if status == 403 else "upstream.auth.rejected"
        return AuthFailed(tr(key, detail=detail, model=origin.model), upstream_status=status)
    if status == 402 or any(word in text for word in _QUOTA_WORDS):
        return QuotaExceeded(tr("upstream.quota", detail=detail), upstream_status=status)
    if any(word in text for word in _CONTEXT_WORDS):
        key = "upstream.context.test" if origin.purpose == "test" else "upstream.context.chat"
        return ContextLengthExceeded(
            tr(key, detail=detail, model=origin.model), upstream_status=status
        )
    if status == 429:
        advice = (
            tr("upstream.advice.wait", wait=_seconds(wait))
            if wait
            else tr("upstream.advice.waitAMoment")
        )
        return RateLimited(
            tr("upstream.rateLimited.message", detail=detail, advice=advice),
            retry_after=wait,
            upstream_status=status,
        )
    if status is not None and 400 <= status < 500 and _about_model(text, status):
        return ModelNotFound(
            tr("upstream.modelNotFound", detail=detail, model=origin.model),
            upstream_status=status,
        )
    if status == 404:
        return BadRequest(
            tr("upstream.noEndpoint", detail=detail, url=origin.url), upstream_status=status
        )
    if status == 408:
        return UpstreamTimeout(tr("upstream.requestTimeout", detail=detail), upstream_status=status)
    if status is not None and 400 <= status < 500:
        return BadRequest(tr("upstream.badRequest", detail=detail), upstream_status=status)
    if status == 529 or "overloaded" in text:
        return UpstreamError(tr("upstream.overloaded", detail=detail), upstream_status=status)
    if status is not None and 300 <= status < 400:
        return BadRequest(tr("upstream.redirected", detail=detail), upstream_status=status)
    return UpstreamError(
        tr("upstream.serverError", detail=detail), retry_after=wait, upstream_status=status
    )


def _about_model(text: str, status: int) -> bool:
    if any(word in text for word in _MODEL_WORDS):
        return True
    if "model" not in text:
        return False
    return status == 404 or any(word in text for word in _MISSING_WORDS)


def provider_said(error: UpstreamFailure) -> str:
    """The provider's own words quoted in an error's message (see `_detail`), or ""."""
    match = _QUOTED.search(error.message)
    return match.group(1) if match else ""


def _detail(status: int | None, said: str) -> str:
    """What the provider answered, to follow a sentence's first clause: its HTTP status and
    words, the words in “” (which `provider_said` finds again in every language)."""
    if status and said:
        return tr("upstream.detail.statusSaid", status=status, said=said)
    if status:
        return tr("upstream.detail.status", status=status)
    return tr("upstream.detail.said", said=said) if said else ""


def _seconds(wait: float) -> str:
    return tr("upstream.seconds", count=max(1, round(wait)))


def _describe(payload: Any) -> tuple[str, str]:
    """The human message and the machine type/code found in an error payload."""
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return "", ""
    inner = payload.get("error", payload)
    if isinstance(inner, str):
        return inner, ""
    if not isinstance(inner, dict):
        return "", ""
    message = inner.get("message") or payload.get("message") or _fastapi_detail(payload)
    kinds = [inner.get(k) for k in ("type", "code", "status")]
    kind = " ".join(str(k) for k in kinds if isinstance(k, str | int) and k != "")
    return (message if isinstance(message, str) else json.dumps(message)), kind


def _fastapi_detail(payload: Mapping[str, Any]) -> str:
    detail = payload.get("detail")
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        return str(detail[0].get("msg", ""))
    return ""


def _status_from(payload: Any, kind: str) -> int | None:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    inner = payload.get("error") if isinstance(payload, dict) else None
    code = inner.get("code") if isinstance(inner, dict) else None
    if isinstance(code, int) and 400 <= code < 600:
        return code
    if isinstance(code, str) and code.isdigit() and 400 <= int(code) < 600:
        return int(code)
    for word in kind.lower().split():
        if word in _TYPE_STATUS:
            return _TYPE_STATUS[word]
    return None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _looks_textual(headers: Mapping[str, str]) -> bool:
    kind = headers.get("content-type", "text/plain")
    return kind.startswith("text/plain") or "json" in kind
