"""When to try a failed provider request again, and how long to wait first.

The rules follow the official OpenAI and Anthropic SDKs: retry 408, 409, 429 and 5xx answers and
connection failures or timeouts, at most twice, waiting 0.5 s · 2^n (at most 8 s) less up to a
quarter of random jitter, or exactly what `Retry-After` asks when that is at most 60 s (also
`retry-after-ms`, and LiteLLM's `llm_provider-` forms: see `wire.errors.retry_after`). A longer
`Retry-After` is reported rather than waited out. A request whose provider has several keys and
no usable one left waits for the soonest cooling key by the same rules (`key_wait`); a pool of
one key is retried like a provider without a pool. A policy with no retries, as a route's
members are sent with (`IN_ROUTE`), never waits. Failures that cannot
mend by waiting (bad key, no quota, unknown model, context too long) are never retried. Whether
any output already reached the user is the caller's question: after the first token nothing is
retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.errors import (
    AuthFailed,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidResponse,
    ModelNotFound,
    QuotaExceeded,
    UpstreamFailure,
    UpstreamTimeout,
)
from backend.providers.wire.errors import PermanentConnectionFailure

RETRY_STATUSES = frozenset({408, 409, 429})
_NEVER = (
    AuthFailed,
    QuotaExceeded,
    ModelNotFound,
    ContextLengthExceeded,
    InvalidResponse,
    PermanentConnectionFailure,
)


def retryable(error: UpstreamFailure) -> bool:
    """True when waiting and sending the same request again may succeed."""
    if isinstance(error, _NEVER):
        return False
    status = error.upstream_status
    if status is not None:
        return status in RETRY_STATUSES or status >= 500
    return isinstance(error, ConnectionFailed | UpstreamTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries, and the backoff between them."""

    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0
    jitter: Callable[[], float] = field(default=random.random)

    def delay(self, error: UpstreamFailure, retries_done: int) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it is final."""
        if retries_done >= self.max_retries or not retryable(error):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after else None
        return self.backoff(retries_done)

    def backoff(self, retries_done: int) -> float:
        """The exponential backoff before retry number `retries_done + 1`, with jitter."""
        backoff = min(self.base_delay * 2.0**retries_done, self.max_delay)
        return backoff * (1.0 - 0.25 * self.jitter())

    def key_wait(self, soonest: tuple[float, bool] | None, retries_done: int) -> float | None:
        """Seconds to wait for the soonest cooling key of a pool with no usable key (`soonest`:
        its wait and whether the provider named it), or None to fail at once.

        A wait nobody named (a 429 without `Retry-After` cools its key for a guessed 60 s) is
        not waited out: the SDK rule (the backoff) retries sooner, with the key due first.
        """
        if soonest is None or retries_done >= self.max_retries:
            return None
        seconds, named = soonest
        if not named:
            seconds = min(seconds, self.backoff(retries_done))
        return seconds if seconds <= self.max_retry_after else None


IN_ROUTE = RetryPolicy(max_retries=0)
"""How a route sends to a member: once, no waits; another usable key is still tried at once."""
