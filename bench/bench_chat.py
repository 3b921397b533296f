"""Chat streaming benchmark: the provider layer and relay against direct httpx.

Run: .venv/bin/python bench/bench_chat.py [--runs 50] [--chunks 5000]

The fake upstream (tests/fakes/upstream.py) runs in its own process, so its work does not share
a GIL with the code being measured. Printed:

  (a) time to first event, p50/p95 over `--runs` requests: httpx reading the stream directly
      versus the whole app over HTTP (`POST /api/chat/stream`, the app in its own process as
      it is for the window, read with httpx), and the TTFT the app adds;
  (b) a `--chunks`-chunk stream end to end, fastest of `--rounds` runs: per-chunk cost and
      the relay's throughput as a share of direct httpx (reading lines and decoding each
      chunk's JSON; raw bytes and async httpx for reference);
  (c) 10 concurrent streams through the app versus 1: wall time, for paced streams (an LLM's
      pace) and for unpaced ones (CPU bound: 2 cores are the limit).

litellm (an optional, bench-only dependency) is added to (a) and (b) when it is importable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempfile

import httpx

from backend.app import MiaodaApp
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    generated_pieces,
    openai_stream,
)

BODY = {"model": "fake-model", "messages": [{"role": "user", "content": "Hello"}], "stream": True}
PACED_PIECES, PACED_DELAY = 100, 0.01  # 100 tokens at 10 ms: about 1 s, an LLM's pace


def serve(pipe: Any, chunks: int) -> None:
    """Child process: run the fake upstream until told to stop."""
    with FakeUpstream() as upstream:
        upstream.script(
            "/short/chat/completions", Reply.stream(openai_stream(["Hello", " there", "!"]))
        )
        upstream.script(
            "/big/chat/completions", Reply.stream(openai_stream(list(generated_pieces(chunks))))
        )
        paced = openai_stream(list(generated_pieces(PACED_PIECES)))
        upstream.script("/paced/chat/completions", Reply.stream(paced, delay=PACED_DELAY))
        pipe.send(upstream.url)
        pipe.recv()


# --- the two ways of reading a stream ------------------------------------------------------


def direct_first(client: httpx.Client, url: str) -> tuple[float, float]:
    """httpx alone: (seconds to the first content chunk, seconds to the end)."""
    started = time.perf_counter()
    first = 0.0
    with client.stream("POST", url, json=BODY) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and not first and _has_content(line):
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


def direct_decode(client: httpx.Client, url: str) -> int:
    """httpx alone, decoding every chunk: the text length read."""
    size = 0
    with client.stream("POST", url, json=BODY) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:])["choices"]
                if choices:
                    size += len(choices[0]["delta"].get("content") or "")
    return size


def direct_raw(client: httpx.Client, url: str) -> int:
    """httpx alone, bytes only."""
    with client.stream("POST", url, json=BODY) as response:
        return sum(len(chunk) for chunk in response.iter_raw())


async def async_direct_first(client: httpx.AsyncClient, url: str) -> tuple[float, float]:
    """Async httpx alone (what the provider runtime is built on): as `direct_first`."""
    started = time.perf_counter()
    first = 0.0
    async with client.stream("POST", url, json=BODY) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {") and not first and _has_content(line):
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


async def async_direct_decode(client: httpx.AsyncClient, url: str) -> int:
    """Async httpx alone, decoding every chunk: the text length read."""
    size = 0
    async with client.stream("POST", url, json=BODY) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {"):
                choices = json.loads(line[6:])["choices"]
                if choices:
                    size += len(choices[0]["delta"].get("content") or "")
    return size


def _has_content(line: str) -> bool:
    return bool(json.loads(line[6:])["choices"][0]["delta"].get("content"))


def load_litellm() -> Any | None:
    """The litellm module when it is installed (an optional, bench-only comparison)."""
    # Use the cost map shipped in the package instead of fetching it from the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm  # type: ignore[import-not-found]
    except ImportError:
        return None
    litellm.telemetry = False
    return litellm


def litellm_stream(litellm: Any, base: str) -> Any:
    """litellm's OpenAI-compatible streaming call to `base` (the provider's base URL)."""
    return litellm.completion(
        model="openai/fake-model",
        api_base=base,
        api_key="sk-bench",
        messages=BODY["messages"],
        stream=True,
    )


def litellm_first(litellm: Any, base: str) -> tuple[float, float]:
    """litellm SDK: (seconds to the first content chunk, seconds to the end)."""
    started = time.perf_counter()
    first = 0.0
    for chunk in litellm_stream(litellm, base):
        if not first and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started


def litellm_decode(litellm: Any, base: str) -> int:
    """litellm SDK, every chunk: the text length read."""
    size = 0
    for chunk in litellm_stream(litellm, base):
        if chunk.choices:
            size += len(chunk.choices[0].delta.content or "")
    return size


def serve_app(pipe: Any, upstream: str) -> None:
    """Child process: the real app (its HTTP server, /api/chat/stream), a provider per path.

    It runs in its own process because that is how it is used: the window's web engine (or a
    browser) reads the stream from another process, so the client's work here must not share
    the app's GIL.
    """
    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        ids = {}
        for name in ("short", "big", "paced"):
            added = app.bridge().addCustomProvider(
                {
                    "name": name,
                    "displayName": name,
                    "baseURL": f"{upstream}/{name}",
                    "model": "fake-model",
                    "type": "openai-compatible",
                },
                {"validate": False},
            )
            ids[name] = added["id"]
        pipe.send((app.server_url, ids))
        while pipe.recv() == "cpu":  # the parent asks for this process's CPU time, or stops it
            pipe.send(time.process_time())
        app.close()


class AppOverHttp:
    """A client of the app process's `/api/chat/stream`."""

    def __init__(self, upstream: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, theirs = context.Pipe()
        self._process = context.Process(target=serve_app, args=(theirs, upstream), daemon=True)
        self._process.start()
        self.url, self.ids = self._pipe.recv()
        self.client = httpx.Client(timeout=60, headers={"X-MiaoDa-Token": "bench"})

    def first(self, name: str) -> tuple[float, float]:
        """Seconds to the first delta event, and to the end of the stream."""
        started = time.perf_counter()
        first = 0.0
        for chunk in self._stream(name):
            if not first and b"event: delta" in chunk:
                first = time.perf_counter() - started
        return first, time.perf_counter() - started

    def read_all(self, name: str, client: httpx.Client | None = None) -> int:
        """Bytes of the whole event stream (read with `client`, default: this one's)."""
        return sum(len(chunk) for chunk in self._stream(name, client or self.client))

    def new_client(self) -> httpx.Client:
        """Another client (one per thread, for concurrent streams)."""
        return httpx.Client(timeout=60, headers={"X-MiaoDa-Token": "bench"})

    def _stream(self, name: str, client: httpx.Client | None = None) -> Any:
        body = {"providerId": self.ids[name], "messages": [{"role": "user", "content": "Hello"}]}
        with (client or self.client).stream("POST", f"{self.url}/api/chat/stream", json=body) as r:
            yield from r.iter_raw()

    def cpu(self) -> float:
        """CPU seconds the app's process has used so far."""
        self._pipe.send("cpu")
        return float(self._pipe.recv())

    def close(self) -> None:
        self.client.close()
        self._pipe.send("stop")
        self._process.join(10)


# --- measurements ------------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def at_once(works: list[Callable[[], object]]) -> float:
    """Wall seconds for one thread per work item, all started together."""
    threads = [threading.Thread(target=work) for work in works]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="requests for the TTFT percentiles")
    parser.add_argument("--chunks", type=int, default=5000, help="chunks in the throughput stream")
    parser.add_argument("--rounds", type=int, default=7, help="runs of the throughput stream")
    args = parser.parse_args()

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    server = context.Process(target=serve, args=(theirs, args.chunks), daemon=True)
    server.start()
    url = ours.recv()
    client = httpx.Client(timeout=60)
    over_http = AppOverHttp(url)
    try:
        report(args, url, client, over_http)
    finally:
        over_http.close()
        client.close()
        ours.send("stop")
        server.join(5)


def report(
    args: argparse.Namespace,
    url: str,
    client: httpx.Client,
    over_http: AppOverHttp,
) -> None:
    print(f"MiaoDa Chat streaming benchmark — fake upstream in its own process at {url}")
    print(f"python {sys.version.split()[0]}, httpx {httpx.__version__}; the paths run in turn,")
    print("so a busy machine slows them alike.\n")
    loop = asyncio.new_event_loop()
    aclient = httpx.AsyncClient(timeout=60)
    short, big = url + "/short/chat/completions", url + "/big/chat/completions"
    paths: dict[str, Callable[[str], Any]] = {
        "httpx direct (sync)": lambda u: direct_first(client, u),
        "httpx direct (async)": lambda u: loop.run_until_complete(async_direct_first(aclient, u)),
        "/api/chat/stream over HTTP": lambda u: over_http.first("short"),
    }
    litellm = load_litellm()
    if litellm is not None:
        paths["litellm SDK (sync)"] = lambda u: litellm_first(
            litellm, u.removesuffix("/chat/completions")
        )
    try:
        ttft = {name: [] for name in paths}  # type: dict[str, list[float]]
        for run in range(args.runs + 5):
            for name, first in paths.items():
                seconds = first(short)[0] * 1000
                if run >= 5:  # the first rounds warm pools and code paths
                    ttft[name].append(seconds)
        print(f"(a) time to first event over {args.runs} requests (short stream)")
        print(f"    {'path':<32}{'p50 ms':>10}{'p95 ms':>10}")
        for name, values in ttft.items():
            print(
                f"    {name:<32}{statistics.median(values):>10.3f}{percentile(values, 0.95):>10.3f}"
            )
        http_p50 = statistics.median(ttft["/api/chat/stream over HTTP"])
        over_sync = http_p50 - statistics.median(ttft["httpx direct (sync)"])
        over_async = http_p50 - statistics.median(ttft["httpx direct (async)"])
        print(
            f"    added TTFT p50 through the app: {over_sync:.3f} ms over sync httpx "
            f"(budget ≤ 3 ms), {over_async:.3f} ms over async httpx"
        )
        if litellm is not None:
            lite = statistics.median(ttft["litellm SDK (sync)"]) - statistics.median(
                ttft["httpx direct (sync)"]
            )
            print(f"    litellm SDK: {lite:.3f} ms over sync httpx")
        print()

        n = args.chunks
        readers: dict[str, Callable[[], object]] = {
            "httpx direct, raw bytes": lambda: direct_raw(client, big),
            "httpx direct, lines + JSON": lambda: direct_decode(client, big),
            "httpx async, lines + JSON": lambda: loop.run_until_complete(
                async_direct_decode(aclient, big)
            ),
            "/api/chat/stream over HTTP": lambda: over_http.read_all("big"),
        }
        if litellm is not None:
            readers["litellm SDK (sync)"] = lambda: litellm_decode(litellm, url + "/big")
        totals = {name: [] for name in readers}  # type: dict[str, list[float]]
        for run in range(args.rounds + 1):
            for name, read in readers.items():
                started = time.perf_counter()
                read()
                if run:
                    totals[name].append(time.perf_counter() - started)
        # The fastest run is the least disturbed by whatever else the machine is doing.
        seconds = {name: min(values) for name, values in totals.items()}
        baseline = seconds["httpx direct, lines + JSON"]
        print(f"(b) one {n}-chunk stream, fastest of {args.rounds} runs")
        print(f"    {'path':<32}{'total ms':>10}{'µs/chunk':>10}{'throughput':>12}")
        for name, value in seconds.items():
            share = baseline / value * 100
            print(f"    {name:<32}{value * 1000:>10.1f}{value / n * 1e6:>10.2f}{share:>11.0f}%")
        http = seconds["/api/chat/stream over HTTP"]
        of_async = seconds["httpx async, lines + JSON"] / http * 100
        print(
            f"    relay throughput through the app: {baseline / http * 100:.0f}% of sync httpx "
            f"lines+JSON, {of_async:.0f}% of async httpx\n"
        )
        cpu = over_http.cpu()
        for _ in range(args.rounds):
            over_http.read_all("paced")
        paced = over_http.cpu() - cpu
        cpu = over_http.cpu()
        for _ in range(args.rounds):
            over_http.read_all("short")
        short = over_http.cpu() - cpu
        per_chunk = (paced - short) / (args.rounds * (PACED_PIECES - 3)) * 1e6
        cpu = over_http.cpu()
        for _ in range(args.rounds):
            over_http.read_all("big")
        unpaced = ((over_http.cpu() - cpu) - short) / (args.rounds * (n - 3)) * 1e6
        print("    app CPU per relayed chunk (budget ≤ 33 µs), each stream less a 3-chunk one:")
        print(f"      unpaced {n}-chunk stream, read in large pieces: {unpaced:.1f} µs")
        print(f"      paced stream, one chunk per upstream read: {per_chunk:.1f} µs\n")
    finally:
        loop.run_until_complete(aclient.aclose())
        loop.close()

    print("(c) 10 concurrent streams through the app versus 1 (wall time, fastest of 3)")
    print(f"    {'stream':<32}{'1 stream s':>11}{'10 streams s':>13}{'ratio':>8}")
    clients = [over_http.new_client() for _ in range(10)]
    try:
        for name, path in (
            (f"paced ({PACED_PIECES} × {PACED_DELAY * 1000:.0f} ms)", "paced"),
            (f"unpaced ({args.chunks} chunks)", "big"),
        ):
            one = min(at_once([partial(over_http.read_all, path)]) for _ in range(3))
            each = [partial(over_http.read_all, path, c) for c in clients]
            ten = min(at_once(each) for _ in range(3))
            print(f"    {name:<32}{one:>11.3f}{ten:>13.3f}{ten / one:>8.2f}")
    finally:
        for each in clients:
            each.close()
    print("    paced: ≈1.0 means no stream slows another. unpaced: CPU bound; the app relays on")
    print("    about one core (the GIL) and the readers share the other, so 10 streams take up")
    print("    to ≈10× one stream.\n")

    if load_litellm() is None:
        print("litellm: not installed, so not compared (pip install litellm to include it).")


if __name__ == "__main__":
    main()
