"""The one error tree of MiaoDa Chat and its contract codes (stdlib and backend.i18n only).

    MiaodaError                      code         HTTP
    ├── InvalidConfig                INVALID_CONFIG      400
    ├── DuplicateName                DUPLICATE_NAME      409
    ├── NotFound                     NOT_FOUND           404
    ├── Cancelled                    CANCELLED           400
    ├── KeyringUnavailable           KEYRING_UNAVAILABLE 503
    ├── StorageError                 STORAGE_ERROR       500
    ├── ImportInvalid                IMPORT_INVALID      400
    ├── DecryptFailed                DECRYPT_FAILED      400
    ├── Unauthorized                 UNAUTHORIZED        401
    ├── InternalError                INTERNAL            500
    └── UpstreamFailure              (errors from an LLM provider; HTTP 502)
        ├── AuthFailed               AUTH_FAILED
        ├── RateLimited              RATE_LIMITED
        ├── QuotaExceeded            QUOTA_EXCEEDED
        ├── ModelNotFound            MODEL_NOT_FOUND
        ├── ContextLengthExceeded    CONTEXT_LENGTH_EXCEEDED
        ├── BadRequest               BAD_REQUEST
        ├── ConnectionFailed         CONNECTION_FAILED
        ├── UpstreamTimeout          TIMEOUT
        ├── UpstreamError            UPSTREAM_ERROR
        └── InvalidResponse          INVALID_RESPONSE

Every message is a sentence the user can act on, in the app's language: a kind's own message
is the catalogue text of its `default_key`, looked up (`backend.i18n.tr`) when the error is
made, and a message given to the constructor was made with `tr` by whoever raised it. No
message ever contains an API key: validation messages never repeat the rejected value, and
upstream text is passed through `backend.providers.redact` (the request's key, bearer tokens,
key-shaped words and URL query values masked) before it becomes part of a message. Log lines
are masked once more by `backend.logsetup`, which knows every key the app has handled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from backend.i18n import tr


class MiaodaError(Exception):
    """Base of every error the app reports to a user."""

    code: ClassVar[str] = "INTERNAL"
    http_status: ClassVar[int] = 500
    default_key: ClassVar[str] = "errors.internal.default"

    def __init__(
        self,
        message: str | None = None,
        *,
        fields: Mapping[str, Sequence[str]] | None = None,
        retry_after: float | None = None,
        upstream_status: int | None = None,
    ) -> None:
        self.message = message or self.default_text()
        self.fields = {k: list(v) for k, v in (fields or {}).items()}
        self.retry_after = retry_after
        self.upstream_status = upstream_status
        # Ids of what was stored before the failure (a conversation's user message and its
        # error reply), so the client can show them instead of guessing: see `stored_as`.
        self.stored: dict[str, str] = {}
        # The requests a detection made before giving up (`detectProvider`): see `with_attempts`.
        self.attempts: list[dict[str, Any]] | None = None
        super().__init__(self.message)

    def default_text(self) -> str:
        """This kind of error's own message, in the app's language."""
        return tr(self.default_key)

    def stored_as(self, ids: Mapping[str, str]) -> MiaodaError:
        """This error, telling the client which stored messages it ended in."""
        self.stored = dict(ids)
        return self

    def with_attempts(self, attempts: Sequence[Mapping[str, Any]]) -> MiaodaError:
        """This error, listing the requests that were tried before it (as `attempts`)."""
        self.attempts = [dict(attempt) for attempt in attempts]
        return self

    def to_dict(self) -> dict[str, Any]:
        """The `error` object of the contract's result envelope."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            out["fields"] = self.fields
        if self.retry_after is not None:
            out["retryAfter"] = _round_retry(self.retry_after)
        out.update(self.stored)
        if self.attempts is not None:
            out["attempts"] = self.attempts
        return out


def _round_retry(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(value, 3)


class InvalidConfig(MiaodaError):
    code = "INVALID_CONFIG"
    http_status = 400
    default_key = "errors.invalidConfig.default"


class DuplicateName(MiaodaError):
    code = "DUPLICATE_NAME"
    http_status = 409
    default_key = "errors.duplicateName.default"


class NotFound(MiaodaError):
    code = "NOT_FOUND"
    http_status = 404
    default_key = "errors.notFound.default"


class Cancelled(MiaodaError):
    code = "CANCELLED"
    http_status = 400
    default_key = "errors.cancelled.default"


class KeyringUnavailable(MiaodaError):
    code = "KEYRING_UNAVAILABLE"
    http_status = 503
    default_key = "errors.keyringUnavailable.default"


class StorageError(MiaodaError):
    code = "STORAGE_ERROR"
    http_status = 500
    default_key = "errors.storageError.default"


class ImportInvalid(MiaodaError):
    code = "IMPORT_INVALID"
    http_status = 400
    default_key = "errors.importInvalid.default"


class DecryptFailed(MiaodaError):
    code = "DECRYPT_FAILED"
    http_status = 400
    default_key = "errors.decryptFailed.default"


class Unauthorized(MiaodaError):
    code = "UNAUTHORIZED"
    http_status = 401
    default_key = "errors.unauthorized.default"


class InternalError(MiaodaError):
    code = "INTERNAL"
    http_status = 500


class UpstreamFailure(MiaodaError):
    """A failure reported by, or on the way to, an LLM provider."""

    http_status = 502
    code = "UPSTREAM_ERROR"
    default_key = "errors.upstreamFailure.default"
    retryable: ClassVar[bool] = False


class AuthFailed(UpstreamFailure):
    code = "AUTH_FAILED"
    default_key = "errors.authFailed.default"


class RateLimited(UpstreamFailure):
    code = "RATE_LIMITED"
    default_key = "errors.rateLimited.default"
    retryable = True


class QuotaExceeded(UpstreamFailure):
    code = "QUOTA_EXCEEDED"
    default_key = "errors.quotaExceeded.default"


class ModelNotFound(UpstreamFailure):
    code = "MODEL_NOT_FOUND"
    default_key = "errors.modelNotFound.default"


class ContextLengthExceeded(UpstreamFailure):
    code = "CONTEXT_LENGTH_EXCEEDED"
    default_key = "errors.contextLengthExceeded.default"


class BadRequest(UpstreamFailure):
    code = "BAD_REQUEST"
    default_key = "errors.badRequest.default"


class ConnectionFailed(UpstreamFailure):
    code = "CONNECTION_FAILED"
    default_key = "errors.connectionFailed.default"
    retryable = True


class UpstreamTimeout(UpstreamFailure):
    code = "TIMEOUT"
    default_key = "errors.timeout.default"
    retryable = True


class UpstreamError(UpstreamFailure):
    code = "UPSTREAM_ERROR"
    default_key = "errors.upstreamError.default"
    retryable = True


class InvalidResponse(UpstreamFailure):
    code = "INVALID_RESPONSE"
    default_key = "errors.invalidResponse.default"


ALL_CODES: frozenset[str] = frozenset(
    cls.code
    for cls in (
        InvalidConfig,
        DuplicateName,
        NotFound,
        Cancelled,
        KeyringUnavailable,
        StorageError,
        ImportInvalid,
        DecryptFailed,
        Unauthorized,
        InternalError,
        AuthFailed,
        RateLimited,
        QuotaExceeded,
        ModelNotFound,
        ContextLengthExceeded,
        BadRequest,
        ConnectionFailed,
        UpstreamTimeout,
        UpstreamError,
        InvalidResponse,
    )
)


def upstream_failure(
    code: str,
    message: str,
    *,
    retry_after: float | None = None,
    upstream_status: int | None = None,
) -> UpstreamFailure:
    """The provider failure with this `code` (UPSTREAM_ERROR for a code no failure has), for
    a failure known only by its code, as an `error` event carries it."""
    kinds = {cls.code: cls for cls in UpstreamFailure.__subclasses__()}
    kind = kinds.get(code, UpstreamError)
    return kind(message, retry_after=retry_after, upstream_status=upstream_status)
