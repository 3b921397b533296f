"""Routes benchmark: what a failover route adds to the time to first token (issue 17).

Run: .venv/bin/python bench/bench_routes.py [--runs 50]

The fake upstream and the app each run in their own process (as in bench_chat.py); the client
reads `POST /api/chat/stream` over HTTP and times the first `delta` event. The paths run in
turn in every round, so a busy machine slows them alike. Printed, p50 and p95:

  direct              the provider chosen directly
  route, healthy      a failover route whose first member is that provider
  route, 1 refused    a route whose first member's port refuses connections, then that
                      provider (its circuit is closed again before each run, so the refused
                      member is really tried each time rather than skipped)
  connect refused     how long httpx (async, as the provider layer uses it) takes to be
                      refused by that port, measured in the app's process

Targets: route, healthy − direct ≤ 1 ms; route, 1 refused − direct ≤ connect refused + 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.app import MiaodaApp
from bench.common import first_delta_ms, percentile, serve_upstream

REFUSED = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
WARMUP = 5


def serve_app(pipe: Any, upstream: str) -> None:
    """Child process: the real app with a provider, a refused provider and two routes."""
    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        bridge = app.bridge()

        def provider(name: str, base: str) -> str:
            config = {
                "name": name,
                "displayName": name,
                "baseURL": base,
                "model": "fake-model",
                "type": "openai-compatible",
            }
            return str(bridge.addCustomProvider(config, {"validate": False})["id"])

        def route(name: str, members: list[str]) -> str:
            config = {"name": name, "displayName": name, "strategy": "failover", "members": members}
            return str(bridge.addRoute(config)["id"])

        direct = provider("direct", upstream + "/v1")
        refused = provider("refused", REFUSED)
        ids = {
            "direct": direct,
            "route, healthy": route("healthy", [direct]),
            "route, 1 refused": route("one-refused", [refused, direct]),
        }
        pipe.send((app.server_url, ids))
        while (command := pipe.recv()) != "stop":
            if command == "close-circuit":
                app.circuits.succeeded(refused)
                pipe.send(None)
            elif command == "refused":
                pipe.send(asyncio.run(refused_seconds()))
        app.close()


async def refused_seconds() -> float:
    """Seconds for async httpx to be refused by the discard port."""
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        with contextlib.suppress(httpx.ConnectError):
            await client.get(REFUSED + "/models")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="requests per path")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    upstream_pipe, theirs = context.Pipe()
    upstream = context.Process(target=serve_upstream, args=(theirs,), daemon=True)
    upstream.start()
    app_pipe, theirs = context.Pipe()
    app = context.Process(target=serve_app, args=(theirs, upstream_pipe.recv()), daemon=True)
    app.start()
    url, ids = app_pipe.recv()
    client = httpx.Client(timeout=60, headers={"X-MiaoDa-Token": "bench"})
    times: dict[str, list[float]] = {name: [] for name in (*ids, "connect refused")}
    try:
        for run in range(args.runs + WARMUP):
            for name, provider_id in ids.items():
                app_pipe.send("close-circuit")
                app_pipe.recv()
                ms = first_delta_ms(client, url, provider_id)
                if run >= WARMUP:
                    times[name].append(ms)
            app_pipe.send("refused")
            seconds = app_pipe.recv()
            if run >= WARMUP:
                times["connect refused"].append(seconds * 1000)
    finally:
        client.close()
        app_pipe.send("stop")
        app.join(10)
        upstream_pipe.send("stop")
        upstream.join(5)

    print("MiaoDa Chat routes benchmark: time to first token over HTTP")
    print(f"{args.runs} requests per path, after {WARMUP} warm-up rounds; paths take turns\n")
    print(f"    {'path':<22}{'p50 ms':>10}{'p95 ms':>10}")
    for name, values in times.items():
        print(f"    {name:<22}{statistics.median(values):>10.3f}{percentile(values, 0.95):>10.3f}")
    p50 = {name: statistics.median(values) for name, values in times.items()}
    added = p50["route, healthy"] - p50["direct"]
    refused_extra = p50["route, 1 refused"] - p50["direct"] - p50["connect refused"]
    print()
    print(f"    added TTFT p50, route whose first member is healthy: {added:+.3f} ms (target ≤ 1)")
    print(
        f"    route with member 1 refused, p50 beyond direct + connect refused: "
        f"{refused_extra:+.3f} ms (target ≤ 5)"
    )


if __name__ == "__main__":
    main()
