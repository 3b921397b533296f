"""Usage benchmark: getUsageSummary over many recorded requests, and what recording costs a chat.

Run: .venv/bin/python bench/bench_usage.py [--records 1000000] [--runs 20] [--chats 40]

(a) A data file with `--records` chat requests spread over 30 days (8 providers in USD and CNY,
    23 models, 2 routes, 11 keys, 3 % errors, 5 % estimated usage, log-normal times to first
    token), written in bulk and then given its running totals. `getUsageSummary` for those 30
    days grouped by day (Asia/Shanghai) and by model, p50 and p95 over `--runs` runs, against
    the baseline in the same run: the plain GROUP BY over the request log that an app without
    running totals would do. Also the time `UsageService.record` takes for one more request.
(b) Time to first token of `POST /api/chat/stream` through the real app (its own process, a
    fake upstream in another), with recording and with recording switched off in the app's
    process, the two taking turns request by request; recording happens when a stream ends, so
    the difference should be noise.

Target: getUsageSummary ≤ 50 ms for 1,000,000 records, by day and by model.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.app import MiaodaApp
from backend.models import ProviderConfig, default_auth
from backend.storage import Storage, UsageStore
from backend.usage import UsageService, zones
from bench.common import first_delta_ms, percentile, serve_upstream

END = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 30
WARMUP = 3
# provider, currency, models with (input, output) price per million
PROVIDERS = [
    ("openai", "USD", {"gpt-5": (1.25, 10), "gpt-5-mini": (0.25, 2), "gpt-4.1": (2, 8)}),
    ("anthropic", "USD", {"claude-sonnet-4-5": (3, 15), "claude-haiku-4-5": (1, 5)}),
    ("deepseek", "CNY", {"deepseek-v4-flash": (1, 2), "deepseek-v4-pro": (3, 6)}),
    ("qwen", "CNY", {"qwen-plus": (0.8, 2), "qwen-max": (2.4, 9.6), "qwen-flash": (0.15, 1.5)}),
    ("moonshot", "CNY", {"kimi-k2.6": (4, 16), "moonshot-v1-8k": (2, 10)}),
    ("groq", "USD", {"llama-3.3-70b-versatile": (0.59, 0.79), "openai/gpt-oss-120b": (0.15, 0.75)}),
    ("gemini", "USD", {"gemini-2.5-flash": (0.3, 2.5), "gemini-2.5-pro": (1.25, 10)}),
    ("relay", "CNY", {"gpt-4o-mini": (1, 4), "claude-3-5-haiku": (6, 30), "glm-4.5": (2, 8),
                      "kimi-k2-0905-preview": (4, 16), "qwen-turbo": (0.3, 0.6),
                      "deepseek-v3": (2, 8), "mystery-model": (0, 0)}),
]  # fmt: skip


def timed(action: Callable[[], Any], runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls, after a few unmeasured ones."""
    for _ in range(min(WARMUP, runs)):
        action()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        out.append((time.perf_counter() - started) * 1000)
    return out


def generate(path: Path, count: int, seed: int = 18) -> None:
    """`count` requests over the 30 days before END, written in bulk, then their totals."""
    rng = random.Random(seed)
    with Storage(path) as storage:
        for name, _, models in PROVIDERS:
            storage.insert_provider(
                ProviderConfig(
                    id=f"id-{name}",
                    name=name,
                    display_name=name.title(),
                    base_url=f"https://{name}.example/v1",
                    model=next(iter(models)),
                    type="openai-compatible",
                    auth=default_auth("openai-compatible"),
                )
            )
    choices = [
        (f"id-{name}", currency, model, price)
        for name, currency, models in PROVIDERS
        for model, price in models.items()
    ]
    weights = [1 / (i + 1) for i in range(len(choices))]  # a few models do most of the work
    start = END - timedelta(days=DAYS)
    span = DAYS * 86400 * 1000
    offsets = sorted(rng.randrange(span) for _ in range(count))
    rows = []
    for n, offset in enumerate(offsets):
        provider_id, currency, model, (pin, pout) = rng.choices(choices, weights)[0]
        failed = rng.random() < 0.03
        estimated = not failed and rng.random() < 0.05
        inputs = None if failed else int(rng.lognormvariate(7, 1))
        outputs = None if failed else int(rng.lognormvariate(5.5, 0.8))
        cost = None
        if not failed:
            cost = round(pin * (inputs or 0) + pout * (outputs or 0))
            cost = None if model == "mystery-model" else cost
        route = rng.choice(["", "", "", "route-main", "route-cheap"])
        created = start + timedelta(milliseconds=offset)
        rows.append(
            (
                f"req-{n}",
                provider_id,
                model,
                inputs,
                outputs,
                None if failed else ("estimated" if estimated else "reported"),
                None if failed else int(rng.lognormvariate(6.2, 0.6)),
                None if failed else int(rng.lognormvariate(8, 0.5)),
                "error" if failed else "stop",
                "UPSTREAM_ERROR" if failed else None,
                created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                route or None,
                f"key-{provider_id}-{rng.randrange(2 if provider_id < 'id-m' else 1)}",
                None,
                cost,
                None if cost is None else currency,
            )
        )
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO chat_requests (request_id, provider_id, model, input_tokens, "
            "output_tokens, usage_source, ttft_ms, elapsed_ms, finish_reason, error_code, "
            "created_at, route_id, key_id, cached_input_tokens, cost_micros, currency) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    with Storage(path) as storage:
        UsageStore(storage).rebuild()


def baseline(path: Path, by: str) -> Callable[[], Any]:
    """The plain GROUP BY over the request log, for the same 30 days."""
    since = (END - timedelta(days=DAYS)).isoformat().replace("+00:00", "Z")
    until = END.isoformat().replace("+00:00", "Z")
    key = "substr(datetime(created_at, '+8 hours'), 1, 10)" if by == "day" else "model"
    sql = (
        f"SELECT {key}, currency, count(*), sum(finish_reason = 'error'), sum(input_tokens), "  # noqa: S608 - bench, constant text
        "sum(output_tokens), sum(CASE WHEN usage_source = 'estimated' THEN input_tokens + "
        "output_tokens END), sum(cost_micros), sum(cost_micros IS NULL AND input_tokens > 0) "
        f"FROM chat_requests WHERE created_at >= ? AND created_at < ? GROUP BY {key}, currency"
    )
    conn = sqlite3.connect(path, check_same_thread=False)
    return lambda: conn.execute(sql, (since, until)).fetchall()


def summary_table(records: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "usage.db"
        started = time.perf_counter()
        generate(path, records)
        built = time.perf_counter() - started
        with Storage(path) as storage:
            service = UsageService(storage, clock=lambda: END, zone=zones.named("Asia/Shanghai"))
            with sqlite3.connect(path) as conn:
                groups = conn.execute("SELECT count(*) FROM usage_groups").fetchone()[0]
                totals = conn.execute("SELECT count(*) FROM usage_totals").fetchone()[0]
            size = path.stat().st_size / 1e6
            print(f"(a) getUsageSummary over {records:,} records in {DAYS} days")
            print(
                f"    data file {size:.1f} MB, built in {built:.1f} s; {groups} groups, "
                f"{totals:,} running-total rows\n"
            )
            print(f"    {'query':<44}{'runs':>6}{'p50 ms':>10}{'p95 ms':>10}")
            lines = [
                ("getUsageSummary groupBy=day", lambda: service.summary({"groupBy": "day"}), runs),
                ("getUsageSummary groupBy=model", lambda: service.summary({"groupBy": "model"}),
                 runs),
                ("baseline: GROUP BY over chat_requests, day", baseline(path, "day"),
                 max(3, runs // 4)),
                ("baseline: GROUP BY over chat_requests, model", baseline(path, "model"),
                 max(3, runs // 4)),
            ]  # fmt: skip
            for label, action, count in lines:
                values = timed(action, count)
                p50, p95 = statistics.median(values), percentile(values, 0.95)
                print(f"    {label:<44}{count:>6}{p50:>10.2f}{p95:>10.2f}")
            record = {
                "providerId": "id-openai",
                "model": "gpt-5",
                "inputTokens": 1200,
                "outputTokens": 300,
                "usageSource": "reported",
                "ttftMs": 420,
                "elapsedMs": 2100,
                "finishReason": "stop",
            }
            ids = iter(range(10**9))
            values = timed(lambda: service.record({**record, "requestId": f"x{next(ids)}"}), runs)
            p50, p95 = statistics.median(values), percentile(values, 0.95)
            print(f"    {'UsageService.record, one request':<44}{runs:>6}{p50:>10.2f}{p95:>10.2f}")
            print("    target: getUsageSummary ≤ 50 ms (p50) for 1,000,000 records\n")


# --- (b) recording and the time to first token --------------------------------------------


def serve_app(pipe: Any, upstream: str) -> None:
    """Child process: the real app; "on"/"off" switch its usage recording."""
    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        config = {
            "name": "fake",
            "displayName": "Fake",
            "baseURL": upstream + "/v1",
            "model": "fake-model",
            "type": "openai-compatible",
        }
        provider_id = app.bridge().addCustomProvider(config, {"validate": False})["id"]
        recording = app.usage.record
        pipe.send((app.server_url, provider_id))
        while (command := pipe.recv()) != "stop":
            # The switch the benchmark needs: the instance attribute shadows the method.
            app.usage.record = recording if command == "on" else (lambda record: None)  # type: ignore[method-assign]
            pipe.send(None)
        pipe.send(app.usage.summary({"groupBy": "provider"})["totals"]["requests"])
        app.close()


def ttft_table(chats: int) -> None:
    context = multiprocessing.get_context("spawn")
    upstream_pipe, theirs = context.Pipe()
    upstream = context.Process(target=serve_upstream, args=(theirs,), daemon=True)
    upstream.start()
    app_pipe, theirs = context.Pipe()
    app = context.Process(target=serve_app, args=(theirs, upstream_pipe.recv()), daemon=True)
    app.start()
    url, provider_id = app_pipe.recv()
    client = httpx.Client(timeout=60, headers={"X-MiaoDa-Token": "bench"})
    times: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for run in range(chats + WARMUP):
            for mode in ("on", "off") if run % 2 else ("off", "on"):
                app_pipe.send(mode)
                app_pipe.recv()
                ms = first_delta_ms(client, url, provider_id)
                if run >= WARMUP:
                    times[mode].append(ms)
    finally:
        client.close()
        app_pipe.send("stop")
        recorded = app_pipe.recv()
        app.join(10)
        upstream_pipe.send("stop")
        upstream.join(5)
    print(f"(b) time to first token over HTTP, {chats} chats each, taking turns")
    print(f"    {'app':<44}{'p50 ms':>10}{'p95 ms':>10}")
    for mode, label in (("on", "TTFT with recording"), ("off", "TTFT without recording")):
        values = times[mode]
        print(f"    {label:<44}{statistics.median(values):>10.3f}{percentile(values, 0.95):>10.3f}")
    added = statistics.median(times["on"]) - statistics.median(times["off"])
    print(f"    added TTFT p50 by recording: {added:+.3f} ms ({recorded} requests recorded)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="requests recorded")
    parser.add_argument("--runs", type=int, default=20, help="summary runs per line")
    parser.add_argument("--chats", type=int, default=40, help="chats with and without recording")
    args = parser.parse_args()
    print("MiaoDa Chat usage benchmark\n")
    summary_table(args.records, args.runs)
    ttft_table(args.chats)


if __name__ == "__main__":
    main()
