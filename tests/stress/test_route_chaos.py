"""Chaos through a failover route (issue 17): three providers that each fail 40 % of the time
(500, a reset connection, a hang past the read timeout, 429), 500 requests with 10 at a time,
and the app restarted half way.

What must hold: every request either answers or fails with the error of the last member it
tried (or, when every member was paused, the paused error); each member is sent exactly one
request per attempt (so nothing is sent after a first token, and nothing is retried inside the
route); no key or circuit state is lost across the restart. The counts are printed (and go
into the stress report).
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.providers import ProviderService
from backend.providers.circuit import to_wire as circuit_wire
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.stress import report
from tests.stress.helpers import (
    CHAT_PATH,
    FAST_RETRY,
    TIMEOUTS,
    TOKEN,
    add_provider,
    api_headers,
    assert_well_formed,
    parse_events,
)

pytestmark = pytest.mark.slow

REQUESTS = 500
CONCURRENCY = 10
FAILURE_RATE = 0.4
COOL_OFF = 1.0  # seconds an open circuit waits before its probe (30 in the app)
# A hang is cut by the read timeout: short here, as a spurious timeout on a busy machine is
# just one more failure the assertions allow.
READ_TIMEOUT = 0.5
CHAOS_TIMEOUTS = replace(TIMEOUTS, read=READ_TIMEOUT, chat_read=READ_TIMEOUT)


def chaos_replies(rng: random.Random, count: int) -> list[Reply]:
    """What one provider answers, request after request: 60 % a streamed answer, else one of
    the four failures."""
    replies = []
    for _ in range(count):
        if rng.random() >= FAILURE_RATE:
            replies.append(Reply.stream(openai_stream(["Fine", "."])))
            continue
        kind = rng.choice(("500", "reset", "hang", "429"))
        if kind == "500":
            replies.append(Reply.json({"error": {"message": "boom"}}, 500))
        elif kind == "reset":
            replies.append(Reply(drop=True, reset=True))
        elif kind == "hang":
            replies.append(
                Reply.stream(openai_stream(["late"]), hang_before_headers=READ_TIMEOUT * 3)
            )
        else:
            replies.append(Reply.json({"error": {"message": "slow"}}, 429, {"retry-after": "1"}))
    return replies


def start(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> MiaodaApp:
    service = functools.partial(ProviderService, timeouts=CHAOS_TIMEOUTS, retry=FAST_RETRY)
    monkeypatch.setattr("backend.app.ProviderService", service)
    app = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, chat_heartbeat=0.3)
    monkeypatch.setattr(app.circuits, "_cool_off", COOL_OFF)
    app.start_server(0)
    return app


def one_request(url: str, route_id: str) -> list[tuple[str, Any]]:
    body = {"providerId": route_id, "messages": [{"role": "user", "content": "Hi"}]}
    response = httpx.post(f"{url}/api/chat/stream", json=body, headers=api_headers(), timeout=60)
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def run(app: MiaodaApp, route_id: str, count: int) -> list[list[tuple[str, Any]]]:
    url = app.server_url
    assert url is not None
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda _: one_request(url, route_id), range(count)))


def saved_state(app: MiaodaApp, ids: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each member's circuit (as kept) and keys (as read), for comparing across a restart."""
    kept = app.circuits._circuits  # the raw state, not a view moved on by the clock
    circuits = {
        pid: {**circuit_wire(kept[pid]), "failures": kept[pid].failures}
        for pid in ids
        if pid in kept
    }
    bridge = app.bridge()
    keys = {}
    for pid in ids:
        provider = bridge.getCustomProvider(pid)["provider"]
        keys[pid] = [(k["id"], k["state"], k["until"], k["lastError"]) for k in provider["keys"]]
    return circuits, keys


def same_keys(after: dict[str, Any], before: dict[str, Any], read_at: datetime) -> bool:
    """Whether the keys read after a restart are those read before it. A key cooling until a
    time now past reads as active again (keeping its last error): the restart between the two
    reads may take longer than a cool-off, and one ending during the second read reads either
    way, so both are accepted for it."""
    stamp = read_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def same(now: tuple[Any, ...], then: tuple[Any, ...]) -> bool:
        key, state, until, error = then
        over = state == "cooling" and until is not None and until <= stamp
        return now == then or (over and now == (key, "active", None, error))

    return after.keys() == before.keys() and all(
        len(after[pid]) == len(entries) and all(map(same, after[pid], entries))
        for pid, entries in before.items()
    )


def check(events: list[tuple[str, Any]], counts: Counter[str]) -> None:
    """The request's outcome is one the contract allows; tally it."""
    assert_well_formed(events)
    attempts = [data for kind, data in events if kind == "attempt"]
    assert attempts, events
    done = events[-1][1]
    if done["finishReason"] == "stop":
        assert attempts[-1]["outcome"] == "answering"
        assert done["providerId"] == attempts[-1]["providerId"]
        counts["answered"] += 1
        return
    error = events[-2][1]
    tried = [a for a in attempts if a["outcome"] != "skipped"]
    if not tried:
        assert "paused" in error["message"], error
        counts["failed: every member paused"] += 1
        return
    last = tried[-1]
    if last["outcome"] == "answering":  # failed after its first token: never retried
        counts["failed after the first token"] += 1
        return
    assert error["code"] == last["code"], (error, last)
    counts[f"failed: last member {error['code']}"] += 1


def test_a_failover_route_under_chaos_answers_or_fails_with_the_last_members_error(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(17)
    upstreams = [FakeUpstream().start() for _ in range(3)]
    try:
        for upstream in upstreams:
            upstream.script(CHAT_PATH, *chaos_replies(rng, REQUESTS * 2))
        app = start(data_dir, monkeypatch)
        ids = [
            add_provider(app, u.url + "/v1", name=f"member-{n}") for n, u in enumerate(upstreams)
        ]
        route = app.bridge().addRoute(
            {"name": "chaos", "displayName": "Chaos", "strategy": "failover", "members": ids}
        )
        assert route["success"], route
        route_id = route["id"]

        first = run(app, route_id, REQUESTS // 2)
        before = saved_state(app, ids)
        app.close()
        app = start(data_dir, monkeypatch)
        try:
            circuits, keys = saved_state(app, ids)
            read_at = datetime.now(UTC)
            assert circuits == before[0]  # no circuit state lost
            assert same_keys(keys, before[1], read_at), (keys, before[1])  # no key state lost
            second = run(app, route_id, REQUESTS - REQUESTS // 2)
        finally:
            app.close()

        counts: Counter[str] = Counter()
        per_member: Counter[tuple[int, str]] = Counter()
        for events in first + second:
            check(events, counts)
            for kind, data in events:
                if kind == "attempt":
                    per_member[(ids.index(data["providerId"]), data["outcome"])] += 1
        # One request per attempt that was sent: no retries, nothing after a first token.
        for n, upstream in enumerate(upstreams):
            sent = per_member[(n, "failed")] + per_member[(n, "answering")]
            assert len(upstream.requests_to(CHAT_PATH)) == sent, n
        assert sum(counts.values()) == REQUESTS
        assert counts["answered"] > REQUESTS // 2  # three members at 60 % each answer most
    finally:
        for upstream in upstreams:
            upstream.close()

    lines = [f"route chaos: {REQUESTS} requests, {CONCURRENCY} at a time, restart half way"]
    lines += [f"  {name}: {count}" for name, count in sorted(counts.items())]
    for n in range(3):
        row = ", ".join(
            f"{outcome} {per_member[(n, outcome)]}"
            for outcome in ("answering", "failed", "skipped")
        )
        lines.append(f"  member {n + 1}: {row}; requests received {len(upstreams[n].requests)}")
    report.note("\n".join(lines))
