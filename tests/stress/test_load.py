"""Load: 20 concurrent chat streams of 2,000 chunks each through the real server, while the
health sweep and CRUD calls hammer the API; three rounds, with the process's RSS after each.
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.stress.conftest import add_provider, api_headers, assert_well_formed, note, stream_chat

pytestmark = pytest.mark.slow

STREAMS = 20
CHUNKS = 2_000
ROUNDS = int(os.environ.get("MIAODA_STRESS_ROUNDS", "3"))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pieces_for(stream: int, round_: int) -> list[str]:
    return [f"<{stream}.{round_}.{j}>" for j in range(CHUNKS)]


class Hammer(threading.Thread):
    """Calls RPC methods in a loop until stopped; keeps every failure."""

    def __init__(self, url: str, calls: Any, tag: str = "") -> None:
        super().__init__(daemon=True)
        self.url, self.calls, self.tag = url, calls, tag
        self.stop = threading.Event()
        self.failures: list[Any] = []
        self.count = 0

    def rpc(self, client: httpx.Client, method: str, *args: Any) -> dict[str, Any]:
        response = client.post(
            f"{self.url}/api/rpc/{method}", content=json.dumps(list(args)), headers=api_headers()
        )
        result: dict[str, Any] = response.json()
        self.count += 1
        return result

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not self.stop.is_set():
                try:
                    self.calls(self, client, i)
                except Exception as exc:  # recorded, asserted on by the test
                    self.failures.append(repr(exc))
                i += 1


def health_calls(hammer: Hammer, client: httpx.Client, i: int) -> None:
    result = hammer.rpc(client, "checkAllCustomProvidersHealth")
    if not result["success"]:
        hammer.failures.append(result)
        return
    # The streaming providers must stay healthy (CRUD ones point at a closed port on purpose).
    ours = [s for s in result["statuses"] if s["providerName"].startswith("load")]
    if len(ours) != STREAMS or any(s["status"] != "healthy" for s in ours):
        hammer.failures.append([s for s in ours if s["status"] != "healthy"] or ours)


def crud_calls(hammer: Hammer, client: httpx.Client, i: int) -> None:
    config = {
        "name": f"crud-{hammer.tag}-{i}",
        "displayName": f"Crud {i}",
        "baseURL": "http://127.0.0.1:9/v1",
        "model": "m",
        "type": "openai-compatible",
    }
    added = hammer.rpc(client, "addCustomProvider", config, {"validate": False})
    steps = [added]
    if added["success"]:
        pid = added["id"]
        steps.append(
            hammer.rpc(client, "updateCustomProvider", pid, {"model": "m2"}, {"validate": False})
        )
        steps.append(hammer.rpc(client, "getCustomProvider", pid))
        steps.append(hammer.rpc(client, "getAllCustomProviders"))
        steps.append(hammer.rpc(client, "removeCustomProvider", pid))
    hammer.failures += [s for s in steps if not s["success"]]


def test_twenty_streams_of_two_thousand_chunks_with_health_and_crud(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    url = str(app.server_url)
    providers = [add_provider(app, f"{upstream.url}/s{i}", name=f"load{i}") for i in range(STREAMS)]
    for i in range(STREAMS):
        upstream.script(f"/s{i}/models", Reply.json({"data": [{"id": "fake-model"}]}))
    figures: list[float] = []
    calls = {"health sweeps": 0, "CRUD calls": 0}
    started = time.monotonic()
    for round_ in range(ROUNDS):
        for i in range(STREAMS):
            upstream.script(
                f"/s{i}/chat/completions", Reply.stream(openai_stream(pieces_for(i, round_)))
            )
        results: dict[int, Any] = {}
        errors: list[str] = []

        def run(i: int, results: dict[int, Any] = results, errors: list[str] = errors) -> None:
            try:
                results[i] = stream_chat(url, providers[i], text=f"stream {i}", timeout=60)
            except Exception as exc:  # recorded, asserted on below
                errors.append(f"stream {i}: {exc!r}")

        hammers = [
            Hammer(url, health_calls),
            Hammer(url, crud_calls, f"a{round_}"),
            Hammer(url, crud_calls, f"b{round_}"),
        ]
        for hammer in hammers:
            hammer.start()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(STREAMS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        for hammer in hammers:
            hammer.stop.set()
            hammer.join(30)
        assert not errors, errors
        for i in range(STREAMS):
            _, events, _ = results[i]
            assert_well_formed(events)
            assert not [d for k, d in events if k == "error"], (i, events[-3:])
            text = "".join(d["text"] for k, d in events if k == "delta")
            assert text == "".join(pieces_for(i, round_)), f"stream {i} round {round_} differs"
            assert events[-1][1]["finishReason"] == "stop"
        for hammer in hammers:
            assert not hammer.failures, hammer.failures[:3]
            assert hammer.count > 0
            calls["health sweeps" if hammer.calls is health_calls else "CRUD calls"] += hammer.count
        del results, events, text
        gc.collect()
        figures.append(rss_mb())
    elapsed = time.monotonic() - started
    note(
        f"load: {ROUNDS} rounds of {STREAMS} streams x {CHUNKS} chunks in {elapsed:.1f} s; "
        f"RSS after each round (MB): {', '.join(f'{f:.1f}' for f in figures)}; "
        f"alongside: {calls['health sweeps']} health sweeps, {calls['CRUD calls']} CRUD calls"
    )
    # Roughly flat: the last round may not grow much beyond the first (caches warm up there).
    assert figures[-1] - figures[0] < 60, figures
