"""Builders shared by the usage unit tests: a clock the test moves, providers, records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from backend.models import ProviderConfig, default_auth
from backend.storage import Storage
from backend.usage import UsageService

_IDS = count()


class Clock:
    """The usage service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def at(text: str) -> datetime:
    """An aware UTC datetime from ISO text."""
    return datetime.fromisoformat(text).astimezone(UTC)


def add_provider(
    storage: Storage, provider_id: str, base_url: str = "https://relay.example/v1"
) -> None:
    """Save a provider (display name: the id in title case) at `base_url`."""
    storage.insert_provider(
        ProviderConfig(
            id=provider_id,
            name=provider_id,
            display_name=provider_id.title(),
            base_url=base_url,
            model="m",
            type="openai-compatible",
            auth=default_auth("openai-compatible"),
        )
    )


def record(
    service: UsageService,
    provider_id: str = "p1",
    model: str = "m",
    *,
    inputs: int | None = 1000,
    outputs: int | None = 500,
    source: str | None = "reported",
    ttft: int | None = 300,
    finish: str = "stop",
    error: str | None = None,
    route: str | None = None,
    key: str | None = None,
    cached: int | None = None,
) -> str:
    """Record one request as the chat path would; its request id."""
    request_id = f"req-{next(_IDS)}"
    fields: dict[str, Any] = {
        "requestId": request_id,
        "providerId": provider_id,
        "model": model,
        "inputTokens": inputs,
        "outputTokens": outputs,
        "usageSource": source,
        "ttftMs": ttft,
        "elapsedMs": 1000,
        "finishReason": finish,
        "errorCode": error,
        "routeId": route,
        "keyId": key,
        "cachedInputTokens": cached,
    }
    service.record(fields)
    return request_id


def failed(service: UsageService, provider_id: str = "p1", **fields: Any) -> str:
    """Record a request that failed before any token."""
    return record(
        service,
        provider_id,
        inputs=None,
        outputs=None,
        source=None,
        ttft=None,
        finish="error",
        error="UPSTREAM_ERROR",
        **fields,
    )
