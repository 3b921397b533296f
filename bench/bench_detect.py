"""Detect benchmark: `detectProvider` over a live local server, and over a host that is down.

Run: .venv/bin/python bench/bench_detect.py [--runs 50] [--down-runs 3]

The fake upstream (an OpenAI-compatible server listing 50 models at /v1/models) runs in its own
process; the real app runs in this one. The live paths take turns in every round. Printed, p50,
p95 and max in ms:

  baseline: one GET /v1/models       one plain request to the same fake (httpx, kept alive)
  detect, base URL pasted (bridge)   `detectProvider({url: …/v1})`: four probes at once
  detect, bare host pasted (bridge)  `detectProvider({url: 127.0.0.1:port})`: four probes
  detect, base URL over /api/rpc     the first path through the app's HTTP server
  down: port refused                 a closed port: every probe refused
  down: never answers                a socket that accepts and stays silent: the time limit

Targets: live detection ≤ 200 ms; a host that is down answers within its time limit (≤ 3 s).
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.app import MiaodaApp
from backend.providers.detect import DETECT_SECONDS
from bench.common import percentile
from tests.fakes.upstream import FakeUpstream, Reply

WARMUP = 3
KEY = "sk-bench-detect-0123456789"
MODELS = {"object": "list", "data": [{"id": f"model-{i}", "object": "model"} for i in range(50)]}


def serve_models(pipe: Any) -> None:
    """Child process: an OpenAI-compatible fake listing models at /v1/models, until told."""
    with FakeUpstream() as upstream:
        upstream.script("/v1/models", Reply.json(MODELS))
        pipe.send(upstream.url)
        pipe.recv()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_port() -> Iterator[int]:
    """A port that accepts every connection and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for sock in [*held, server]:
            sock.close()


def timed_ms(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def failing_ms(bridge: Any, url: str, code: str) -> float:
    """Milliseconds of a detection of `url` that fails with `code`."""
    started = time.perf_counter()
    answer = bridge.detectProvider({"url": url})
    ms = (time.perf_counter() - started) * 1000
    assert answer["error"]["code"] == code, answer
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="detections per live path")
    parser.add_argument("--down-runs", type=int, default=3, help="detections per down host")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    upstream_pipe, theirs = context.Pipe()
    upstream = context.Process(target=serve_models, args=(theirs,), daemon=True)
    upstream.start()
    url = upstream_pipe.recv()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        bridge = app.bridge()
        headers = {"X-MiaoDa-Token": "bench"}
        plain = httpx.Client(timeout=10)
        rpc = httpx.Client(base_url=str(app.server_url), headers=headers, timeout=10)

        def detected(answer: dict[str, Any]) -> None:
            assert answer["success"], answer
            assert answer["candidates"][0]["baseURL"] == url + "/v1", answer

        live: dict[str, Callable[[], Any]] = {
            "baseline: one GET /v1/models": lambda: plain.get(
                url + "/v1/models", headers={"authorization": f"Bearer {KEY}"}
            ).raise_for_status(),
            "detect, base URL pasted (bridge)": lambda: detected(
                bridge.detectProvider({"url": url + "/v1", "apiKey": KEY})
            ),
            "detect, bare host pasted (bridge)": lambda: detected(
                bridge.detectProvider({"url": url.removeprefix("http://"), "apiKey": KEY})
            ),
            "detect, base URL over /api/rpc": lambda: detected(
                rpc.post("/api/rpc/detectProvider", json=[{"url": url + "/v1", "apiKey": KEY}])
                .raise_for_status()
                .json()
            ),
        }
        try:
            for run in range(args.runs + WARMUP):
                for name, action in live.items():
                    ms = timed_ms(action)
                    if run >= WARMUP:
                        rows.setdefault(name, []).append(ms)
            refused = f"127.0.0.1:{closed_port()}"
            for _ in range(args.down_runs):
                ms = failing_ms(bridge, refused, "CONNECTION_FAILED")
                rows.setdefault("down: port refused", []).append(ms)
            with silent_port() as port:
                for _ in range(args.down_runs):
                    ms = failing_ms(bridge, f"127.0.0.1:{port}", "TIMEOUT")
                    rows.setdefault("down: never answers", []).append(ms)
        finally:
            plain.close()
            rpc.close()
            app.close()
            upstream_pipe.send("stop")
            upstream.join(5)

    print("MiaoDa Chat detect benchmark: detectProvider against a local fake")
    print(f"{args.runs} detections per live path after {WARMUP} warm-up rounds (paths take turns);")
    print(f"{args.down_runs} per down host; time limit {DETECT_SECONDS:g} s\n")
    print(f"    {'path':<36}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for name, values in rows.items():
        p50, p95 = statistics.median(values), percentile(values, 0.95)
        print(f"    {name:<36}{p50:>10.1f}{p95:>10.1f}{max(values):>10.1f}")
    slowest_live = max(max(v) for k, v in rows.items() if k.startswith("detect"))
    slowest_down = max(max(v) for k, v in rows.items() if k.startswith("down"))
    print()
    print(f"    slowest live detection: {slowest_live:.1f} ms (target ≤ 200)")
    print(f"    slowest down host: {slowest_down:.1f} ms (target ≤ 3000)")


if __name__ == "__main__":
    main()
