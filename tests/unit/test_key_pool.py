"""Key pools in the provider layer (CONTRACT §10): rotation, key states, and waiting for a key.

The real provider service talks to a real fake upstream; the pool's clock is a settable fake,
and retry waits are recorded (`sleeps`) rather than waited.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from backend.models import ChatEvent, ProviderKey
from backend.providers import IN_ROUTE, KeyCursor, KeyPools, ProviderService
from backend.providers.keys import parse_iso
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    SleepRecorder,
    drain,
    fake_config,
    openai_stream,
    user_request,
)

PATH = "/v1/chat/completions"
PROVIDER = "prov-1"  # fake_config's id
TEXTS = {"e-a": "sk-key-aaaaaaaaaaaa", "e-b": "sk-key-bbbbbbbbbbbb", "e-c": "sk-key-cccccccccccc"}
OK = Reply.stream(openai_stream(["fine"]))
NOW = 1_900_000_000.0


class Clock:
    """A settable POSIX clock."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Saved:
    """A key sink that keeps every state written, in order."""

    def __init__(self) -> None:
        self.states: list[tuple[str, ProviderKey]] = []

    def save_state(self, provider_id: str, key: ProviderKey) -> None:
        self.states.append((provider_id, key))


@pytest.fixture
def retry_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """The service records the waits it asks for instead of waiting."""
    return sleeps


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def saved() -> Saved:
    return Saved()


def pool_of(saved: Saved, clock: Clock, count: int = 2) -> KeyPools:
    pools = KeyPools(saved, clock=clock)
    entries = list(TEXTS)[:count]
    pools.load({PROVIDER: [(ProviderKey(e[-1], f"…{e[-1]}"), e) for e in entries]})
    return pools


def rate_limited(seconds: str | None = None) -> Reply:
    headers = {"retry-after": seconds} if seconds is not None else {}
    return Reply.json({"error": {"message": "Slow down", "type": "rate_limit_error"}}, 429, headers)


REFUSED = Reply.json({"error": {"message": "Incorrect API key provided"}}, 401)
QUOTA = Reply.json(
    {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}, 429
)


def chat(
    service: ProviderService, upstream: FakeUpstream, pools: KeyPools, **options: Any
) -> list[ChatEvent]:
    """One streamed chat through the pool, as the chat service sends one."""
    cursor = pools.cursor(PROVIDER, TEXTS.get, label="Fake")
    assert cursor is not None
    config = replace(fake_config(upstream.url + "/v1"), rotation=cursor)
    return drain(service.open_stream(config, cursor.advance(), user_request(), **options))


def keys_used(upstream: FakeUpstream) -> list[str]:
    """Which key (its last letter) each request to the upstream carried."""
    return [r.headers["authorization"][-1] for r in upstream.requests_to(PATH)]


def state(pools: KeyPools, key_id: str) -> ProviderKey:
    return next(k for k in pools.keys(PROVIDER) if k.id == key_id)


def test_requests_take_turns_over_the_active_keys(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock, count=3)
    upstream.script(PATH, OK, OK, OK, OK)
    for _ in range(4):
        assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    assert keys_used(upstream) == ["a", "b", "c", "a"]
    assert all(k.last_used_at == "2030-03-17T17:46:40.000Z" for k in pools.keys(PROVIDER))


def test_a_rate_limited_key_cools_for_its_retry_after_and_the_next_key_answers_at_once(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited("2"), OK, OK, OK)
    events = chat(service, upstream, pools)
    assert events[-1].data == {"finishReason": "stop"} and sleeps == []
    assert keys_used(upstream) == ["a", "b"]
    cooling = state(pools, "a")
    assert cooling.state == "cooling" and parse_iso(cooling.until) == NOW + 2
    assert cooling.last_error is not None and cooling.last_error["code"] == "RATE_LIMITED"
    assert (PROVIDER, pools.stored(PROVIDER)[0][0]) in saved.states  # written as it changed
    chat(service, upstream, pools)  # a is still cooling: b again
    clock.now += 2
    chat(service, upstream, pools)  # its wait is over: a is used again
    assert keys_used(upstream) == ["a", "b", "b", "a"]
    assert state(pools, "a").state == "active"


def test_a_rate_limit_without_retry_after_cools_the_key_for_60_seconds(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited(), OK)
    chat(service, upstream, pools)
    assert parse_iso(state(pools, "a").until) == NOW + 60


def test_a_refused_key_is_invalid_and_skipped_until_reset(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, REFUSED, OK, OK, OK, OK)
    assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    refused = state(pools, "a")
    assert (refused.state, refused.until) == ("invalid", None)
    assert refused.last_error is not None and refused.last_error["code"] == "AUTH_FAILED"
    clock.now += 86_400  # time alone does not bring it back
    chat(service, upstream, pools)
    chat(service, upstream, pools)
    assert keys_used(upstream) == ["a", "b", "b", "b"]
    assert pools.reset(PROVIDER, "a")
    chat(service, upstream, pools)
    assert keys_used(upstream)[-1] == "a"


def test_a_used_up_quota_makes_the_key_exhausted_and_it_is_tried_again_after_an_hour(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, QUOTA, OK, OK, OK)
    chat(service, upstream, pools)
    exhausted = state(pools, "a")
    assert exhausted.state == "exhausted" and parse_iso(exhausted.until) == NOW + 3600
    chat(service, upstream, pools)
    clock.now += 3600
    chat(service, upstream, pools)
    assert keys_used(upstream) == ["a", "b", "b", "a"]


def test_with_every_key_cooling_the_request_waits_for_the_soonest_one(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited("5"), rate_limited("3"), OK)
    events = chat(service, upstream, pools)
    assert events[-1].data == {"finishReason": "stop"}
    assert sleeps == [3.0]  # b is due first
    assert keys_used(upstream) == ["a", "b", "b"]
    assert [e.data["retryIn"] for e in events if e.kind == "retrying"] == [3.0]


def test_inside_a_route_no_key_is_waited_for_and_the_error_names_the_soonest_wait(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited("5"), rate_limited("3"), OK)
    events = chat(service, upstream, pools, retry=IN_ROUTE)
    assert events[-1].kind == "error"
    assert (events[-1].data["code"], events[-1].data["retryAfter"]) == ("RATE_LIMITED", 3)
    assert sleeps == [] and keys_used(upstream) == ["a", "b"]


def test_a_wait_over_60_seconds_is_reported_not_waited(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited("120"), rate_limited("90"), OK)
    events = chat(service, upstream, pools)
    assert (events[-1].data["code"], events[-1].data["retryAfter"]) == ("RATE_LIMITED", 90)
    assert sleeps == [] and len(upstream.requests) == 2
    # The next request sends nothing, and says when to come back.
    clock.now += 10
    again = chat(service, upstream, pools)
    assert (again[-1].data["code"], again[-1].data["retryAfter"]) == ("RATE_LIMITED", 80)
    assert len(upstream.requests) == 2


def test_a_refused_key_and_a_cooling_one_end_in_a_rate_limit_naming_the_cooling_wait(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited("100"), REFUSED, OK)
    events = chat(service, upstream, pools)
    assert (events[-1].data["code"], events[-1].data["retryAfter"]) == ("RATE_LIMITED", 100)
    assert "Every key of Fake" in events[-1].data["message"]


def test_every_key_refused_ends_in_auth_failed_without_a_request(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock)
    upstream.script(PATH, REFUSED, REFUSED, OK)
    assert chat(service, upstream, pools)[-1].data["code"] == "AUTH_FAILED"
    assert chat(service, upstream, pools)[-1].data["code"] == "AUTH_FAILED"
    assert len(upstream.requests) == 2


def test_one_key_without_retry_after_is_retried_on_the_sdk_backoff_not_after_a_minute(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, rate_limited(), OK)
    assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    assert len(sleeps) == 1 and 0.375 <= sleeps[0] <= 0.5
    assert keys_used(upstream) == ["a", "a"]


def test_no_key_is_switched_after_the_first_token(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    from tests.fakes.upstream import openai_chunk, sse

    pools = pool_of(saved, clock)
    broken = Reply.stream(
        [openai_chunk({"content": "Hel"}), sse({"error": {"message": "Slow down", "code": 429}})]
    )
    upstream.script(PATH, broken, OK)
    events = chat(service, upstream, pools)
    assert [e.kind for e in events] == ["delta", "error"]
    assert len(upstream.requests) == 1 and state(pools, "a").state == "active"


def test_a_check_falls_back_to_an_invalid_key_and_a_pass_re_enables_it(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, REFUSED, OK)
    chat(service, upstream, pools)
    assert state(pools, "a").state == "invalid"
    cursor = pools.cursor(PROVIDER, TEXTS.get, check=True)
    assert isinstance(cursor, KeyCursor)
    config = replace(fake_config(upstream.url + "/v1"), rotation=cursor)
    assert service.test_connection(config, cursor.advance()).status == "healthy"
    assert state(pools, "a").state == "active"


# --- a pool of one key behaves as a provider did before pools ---------------------------------


def test_one_key_limited_without_a_wait_is_reported_without_an_invented_retry_after(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    """The 60 s a key cools after a 429 that named no wait is our guess, not the provider's."""
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, rate_limited(), rate_limited(), rate_limited())
    events = chat(service, upstream, pools)
    assert events[-1].data["code"] == "RATE_LIMITED"
    assert events[-1].data.get("retryAfter") is None
    assert len(sleeps) == 2 and all(s <= 1.0 for s in sleeps)  # the SDK backoff, twice
    assert keys_used(upstream) == ["a", "a", "a"]
    assert state(pools, "a").state == "cooling"  # still recorded


def test_one_key_waits_exactly_the_named_wait_then_answers(
    service: ProviderService,
    upstream: FakeUpstream,
    saved: Saved,
    clock: Clock,
    sleeps: SleepRecorder,
) -> None:
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, rate_limited("7"), OK)
    assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    assert sleeps == [7.0]


def test_one_cooling_or_invalid_key_is_still_sent_and_an_answer_makes_it_active(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    """With no other key to prefer, a key's state changes nothing about sending: the user's
    Retry reaches the provider, as it did before pools."""
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, rate_limited("90"), OK, REFUSED, OK)
    limited = chat(service, upstream, pools)
    assert (limited[-1].data["code"], limited[-1].data["retryAfter"]) == ("RATE_LIMITED", 90)
    assert state(pools, "a").state == "cooling"
    assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    assert state(pools, "a").state == "active"
    assert chat(service, upstream, pools)[-1].data["code"] == "AUTH_FAILED"
    assert state(pools, "a").state == "invalid"
    assert chat(service, upstream, pools)[-1].data == {"finishReason": "stop"}
    assert state(pools, "a").state == "active"
    assert keys_used(upstream) == ["a", "a", "a", "a"]


def test_every_key_cooling_for_a_guessed_minute_names_no_retry_after(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    """When the soonest key's time is our 60 s guess, `retryAfter` stays empty: the time is in
    the message and in the keys' `until`."""
    pools = pool_of(saved, clock)
    upstream.script(PATH, rate_limited(), rate_limited())
    first = chat(service, upstream, pools, retry=IN_ROUTE)
    assert first[-1].data["code"] == "RATE_LIMITED" and first[-1].data.get("retryAfter") is None
    clock.now += 20
    again = chat(service, upstream, pools, retry=IN_ROUTE)
    assert again[-1].data["code"] == "RATE_LIMITED" and again[-1].data.get("retryAfter") is None
    assert "usable again in about 40 seconds" in again[-1].data["message"]
    assert len(upstream.requests) == 2


def test_a_request_that_got_no_answer_has_not_used_its_key(
    service: ProviderService, saved: Saved, clock: Clock
) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pools = pool_of(saved, clock, count=1)
    cursor = pools.cursor(PROVIDER, TEXTS.get, label="Fake")
    assert cursor is not None
    config = replace(fake_config(f"http://127.0.0.1:{port}/v1"), rotation=cursor)
    events = drain(service.open_stream(config, cursor.advance(), user_request()))
    assert events[-1].data["code"] == "CONNECTION_FAILED"
    assert state(pools, "a").last_used_at is None
    assert saved.states == []


def test_a_key_the_provider_answered_records_its_use_even_when_it_failed(
    service: ProviderService, upstream: FakeUpstream, saved: Saved, clock: Clock
) -> None:
    pools = pool_of(saved, clock, count=1)
    upstream.script(PATH, Reply.json({"error": {"message": "Bad request"}}, 400))
    assert chat(service, upstream, pools)[-1].data["code"] == "BAD_REQUEST"
    assert state(pools, "a").last_used_at == "2030-03-17T17:46:40.000Z"
