"""Usage and cost through the real app (CONTRACT §11): real fake upstreams, the real HTTP chat
routes and RPC, real SQLite, and a clock the test moves.

Costs are checked to the micro-unit against the usage each stream reported (its `usage`
event), priced by the test with decimal arithmetic: what the summary shows must be exactly
that, per group, and stay so when the app restarts.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.storage import UsageStore
from backend.usage import zones
from tests.fakes.upstream import FakeUpstream, Reply, openai_chunk, openai_stream, sse
from tests.helpers import CANARY_KEY
from tests.integration import served
from tests.integration.served import post
from tests.integration.test_chat_http import parse_events
from tests.unit.usage_helpers import Clock, at

PATH = "/v1/chat/completions"
SHANGHAI = zones.named("Asia/Shanghai")


class Reroute(httpx.AsyncBaseTransport):
    """Sends a request for any host but this computer to the fake upstream (so a provider can
    keep a real service's base URL, which is what bundled prices are matched by)."""

    def __init__(self, target: str) -> None:
        self._target = httpx.URL(target)
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self._target
        if request.url.host != "127.0.0.1":
            request.url = request.url.copy_with(scheme="http", host=target.host, port=target.port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock(at("2026-12-10T04:00:00+00:00"))


@pytest.fixture
def usage_app(data_dir: Path, clock: Clock, upstream: FakeUpstream) -> Iterator[MiaodaApp]:
    """The real app with the test's clock, Shanghai time, and every upstream request sent to
    the fake upstream."""
    app = served.serve(data_dir, clock=clock, zone=SHANGHAI, transport=Reroute(upstream.url))
    yield app
    app.close()


def rpc(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    result = served.rpc(app, method, *args)
    assert result["success"], result
    return result


def add_provider(app: MiaodaApp, name: str, base_url: str, model: str) -> str:
    config = {
        "name": name,
        "displayName": name.title(),
        "baseURL": base_url,
        "model": model,
        "type": "openai-compatible",
        "apiKey": f"{CANARY_KEY}-{name}",
    }
    return str(rpc(app, "addCustomProvider", config, {"validate": False})["id"])


def chat(app: MiaodaApp, provider_id: str, content: str = "Hi") -> dict[str, Any]:
    """One streamed chat; its `usage` event (or {} when it had none)."""
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": content}]}
    response = post(app, "/api/chat/stream", body)
    assert response.status_code == 200, response.text
    return next((data for kind, data in parse_events(response.text) if kind == "usage"), {})


def wait_for_records(app: MiaodaApp, count: int) -> None:
    """Until `count` requests are recorded (a stream's record is written as it closes)."""
    store = UsageStore(app.storage)
    deadline = time.monotonic() + 10
    while store.count() < count:
        assert time.monotonic() < deadline, f"{store.count()} of {count} requests recorded"
        time.sleep(0.02)


def micros(usage: dict[str, Any], input_price: str, output_price: str, cached: str = "0") -> int:
    cached_tokens = usage.get("cachedInputTokens") or 0
    exact = (
        Decimal(input_price) * (usage["inputTokens"] - cached_tokens)
        + Decimal(cached) * cached_tokens
        + Decimal(output_price) * usage["outputTokens"]
    )
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


def by(app: MiaodaApp, group_by: str, **options: Any) -> dict[str, dict[str, Any]]:
    result = rpc(app, "getUsageSummary", {"groupBy": group_by, **options})
    return {row["key"]: row for row in result["rows"]}


def test_reported_and_estimated_usage_cost_exactly_per_group_across_a_restart(
    usage_app: MiaodaApp, upstream: FakeUpstream, data_dir: Path, clock: Clock
) -> None:
    relay = add_provider(usage_app, "relay", upstream.url + "/v1", "relay-model")
    other = add_provider(usage_app, "other", "https://other.example/v1", "other-model")
    price = {"inputPerMillion": 0.075, "outputPerMillion": 0.3, "currency": "USD"}
    rpc(usage_app, "setPrice", {"providerId": relay, "model": "relay-model", **price})
    yuan = {"inputPerMillion": 2, "outputPerMillion": 8, "currency": "CNY"}
    rpc(usage_app, "setPrice", {"providerId": other, "model": "other-model", **yuan})
    upstream.script(
        PATH,
        Reply.stream(openai_stream(["Hello"], usage=(1234, 567))),
        Reply.stream(openai_stream(["Estimated ", "answer"], usage=None)),
        Reply.stream(openai_stream(["Yuan"], usage=(40_000, 3_333))),
    )
    reported = chat(usage_app, relay)
    estimated = chat(usage_app, relay, "A longer question, for a bigger estimate")
    in_yuan = chat(usage_app, other)
    assert (reported["source"], estimated["source"]) == ("reported", "estimated")
    wait_for_records(usage_app, 3)

    expected_usd = micros(reported, "0.075", "0.3") + micros(estimated, "0.075", "0.3")
    expected_cny = micros(in_yuan, "2", "8")

    def check(app: MiaodaApp) -> None:
        providers = by(app, "provider")
        assert providers[relay]["cost"] == {"USD": expected_usd / 1e6}
        assert providers[relay]["estimatedCost"] == {"USD": micros(estimated, "0.075", "0.3") / 1e6}
        assert providers[relay]["estimatedTokens"] == (
            estimated["inputTokens"] + estimated["outputTokens"]
        )
        assert providers[other]["cost"] == {"CNY": expected_cny / 1e6}
        totals = rpc(app, "getUsageSummary", {"groupBy": "day"})["totals"]
        assert totals["cost"] == {"CNY": expected_cny / 1e6, "USD": expected_usd / 1e6}
        assert totals["requests"] == 3 and totals["errors"] == 0
        assert totals["inputTokens"] == sum(
            u["inputTokens"] for u in (reported, estimated, in_yuan)
        )
        today = by(app, "day", since="2026-12-10", until="2026-12-11")["2026-12-10"]
        assert today["byProvider"][relay]["requests"] == 2

    check(usage_app)
    usage_app.close()
    again = served.serve(data_dir, clock=clock, zone=SHANGHAI)
    try:
        check(again)
    finally:
        again.close()


def test_a_route_counts_an_error_for_the_member_that_failed_and_tokens_for_the_one_that_answered(
    usage_app: MiaodaApp, upstream: FakeUpstream
) -> None:
    with FakeUpstream() as failing:
        failing.script(PATH, Reply.json({"error": {"message": "boom"}}, 500))
        first = add_provider(usage_app, "first", failing.url + "/v1", "first-model")
        second = add_provider(usage_app, "second", upstream.url + "/v1", "second-model")
        config = {"name": "main", "displayName": "Main", "strategy": "failover",
                  "members": [first, second]}  # fmt: skip
        route = rpc(usage_app, "addRoute", config)["id"]
        upstream.script(PATH, Reply.stream(openai_stream(["Answer"], usage=(12, 40))))
        chat(usage_app, route)
        wait_for_records(usage_app, 2)
    counts = {
        key: (row["requests"], row["errors"], row["inputTokens"], row["outputTokens"])
        for key, row in by(usage_app, "provider").items()
    }
    assert counts == {first: (1, 1, 0, 0), second: (1, 0, 12, 40)}
    through = by(usage_app, "route")[route]
    assert (through["label"], through["requests"], through["errors"]) == ("Main", 2, 1)


def deepseek_stream(prompt: int, hit: int, completion: int) -> list[bytes]:
    """A DeepSeek stream whose usage names the prompt tokens read from its cache."""
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_cache_hit_tokens": hit,
        "prompt_cache_miss_tokens": prompt - hit,
    }
    return [
        openai_chunk({"role": "assistant", "content": "Hi"}),
        openai_chunk({}, "stop"),
        sse({"id": "x", "object": "chat.completion.chunk", "choices": [], "usage": usage}),
        b"data: [DONE]\n\n",
    ]


def test_bundled_prices_apply_by_host_a_user_price_changes_later_costs_and_removing_it_falls_back(
    usage_app: MiaodaApp, upstream: FakeUpstream
) -> None:
    deepseek = add_provider(usage_app, "deepseek", "https://api.deepseek.com", "deepseek-v4-flash")
    upstream.script("/chat/completions", Reply.stream(deepseek_stream(300_000, 200_000, 50_000)))
    first = chat(usage_app, deepseek)
    assert first["cachedInputTokens"] == 200_000
    wait_for_records(usage_app, 1)
    mine = {"providerId": deepseek, "model": "deepseek-v4-flash", "inputPerMillion": 4,
            "outputPerMillion": 8, "currency": "CNY"}  # fmt: skip
    rpc(usage_app, "setPrice", mine)
    second = chat(usage_app, deepseek)
    wait_for_records(usage_app, 2)
    assert rpc(usage_app, "removePrice", deepseek, "deepseek-v4-flash")["removed"] is True
    third = chat(usage_app, deepseek)
    wait_for_records(usage_app, 3)
    bundled = micros(first, "1", "2", cached="0.02")  # ¥1 / ¥2, cache hits ¥0.02 per million
    assert bundled == 100_000 + 4_000 + 100_000
    expected = bundled + micros(second, "4", "8", cached="4") + micros(third, "1", "2", "0.02")
    row = by(usage_app, "model")["deepseek-v4-flash"]
    assert row["cost"] == {"CNY": expected / 1e6}
    assert row["cachedInputTokens"] == 600_000
    again = served.rpc(usage_app, "removePrice", deepseek, "deepseek-v4-flash")
    assert again["error"]["code"] == "NOT_FOUND"


def test_budget_warnings_fire_once_per_threshold_per_month(
    usage_app: MiaodaApp, upstream: FakeUpstream, clock: Clock
) -> None:
    relay = add_provider(usage_app, "relay", upstream.url + "/v1", "relay-model")
    price = {"inputPerMillion": 1000, "outputPerMillion": 0, "currency": "CNY"}
    rpc(usage_app, "setPrice", {"providerId": relay, "model": "relay-model", **price})
    budget = rpc(usage_app, "setBudget", relay, {"amount": 10, "currency": "CNY"})["budget"]
    assert (budget["month"], budget["spent"]) == ("2026-12", 0.0)
    upstream.script(PATH, Reply.stream(openai_stream(["ok"], usage=(3000, 1))))  # ¥3 each

    def alerts() -> list[tuple[int, str]]:
        return [(a["threshold"], a["month"]) for a in rpc(usage_app, "getBudgets")["alerts"]]

    for count in range(1, 6):  # ¥3, 6, 9 (80 %), 12 (100 %), 15
        chat(usage_app, relay)
        wait_for_records(usage_app, count)
    assert alerts() == [(80, "2026-12"), (100, "2026-12")]
    [budget] = rpc(usage_app, "getBudgets")["budgets"]
    assert (budget["spent"], budget["share"]) == (15.0, 1.5)

    clock.now = at("2026-12-31T16:00:00+00:00")  # midnight, 1 January, Shanghai
    assert alerts() == []
    for count in range(6, 9):
        chat(usage_app, relay)
        wait_for_records(usage_app, count)
    assert alerts() == [(80, "2027-01")]


def test_clearing_usage_removes_every_record(usage_app: MiaodaApp, upstream: FakeUpstream) -> None:
    relay = add_provider(usage_app, "relay", upstream.url + "/v1", "relay-model")
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    chat(usage_app, relay)
    chat(usage_app, relay)
    wait_for_records(usage_app, 2)
    assert rpc(usage_app, "clearUsage")["removed"] == 2
    assert rpc(usage_app, "getUsageSummary", {"groupBy": "provider"})["rows"] == []


class SaveDialog:
    """The window's save dialog, answering with a path the test chose."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.suggested: list[str] = []

    def save_path(self, suggested_name: str) -> str | None:
        self.suggested.append(suggested_name)
        return self.answer

    def open_path(self) -> str | None:
        return None


def test_the_csv_export_holds_the_summary_rows_in_the_browser_and_in_the_window(
    usage_app: MiaodaApp, upstream: FakeUpstream, tmp_path: Path
) -> None:
    relay = add_provider(usage_app, "relay", upstream.url + "/v1", "relay-model")
    price = {"inputPerMillion": 2, "outputPerMillion": 8, "currency": "CNY"}
    rpc(usage_app, "setPrice", {"providerId": relay, "model": "relay-model", **price})
    upstream.script(PATH, Reply.stream(openai_stream(["ok"], usage=(1234, 567))))
    chat(usage_app, relay)
    wait_for_records(usage_app, 1)

    browser = rpc(usage_app, "exportUsageCsv", {"groupBy": "provider"})
    table = list(csv.DictReader(io.StringIO(browser["csv"])))
    assert [(r["key"], r["label"], r["requests"], r["costCNY"]) for r in table] == [
        (relay, "Relay", "1", "0.007004")
    ]
    assert browser["filename"].endswith(".csv") and "path" not in browser

    dialog = SaveDialog(str(tmp_path / "usage"))
    saved = usage_app.bridge(dialog).exportUsageCsv({"groupBy": "provider"})
    assert saved["success"] and saved["path"] == str(tmp_path / "usage.csv")
    assert Path(saved["path"]).read_text(encoding="utf-8") == browser["csv"].replace("\r\n", "\n")
    assert dialog.suggested == [browser["filename"]]
    cancelled = usage_app.bridge(SaveDialog(None)).exportUsageCsv({"groupBy": "provider"})
    assert cancelled["error"]["code"] == "CANCELLED"


def test_the_usage_methods_answer_bad_arguments_with_the_field_at_fault(
    usage_app: MiaodaApp,
) -> None:
    answers = {
        "getUsageSummary": served.rpc(usage_app, "getUsageSummary", {"groupBy": "week"}),
        "setPrice": served.rpc(usage_app, "setPrice", {"model": "m"}),
        "setBudget": served.rpc(usage_app, "setBudget", None, {"amount": 1, "currency": "CNY"}),
        "exportUsageCsv": served.rpc(
            usage_app, "exportUsageCsv", {"groupBy": "day", "path": "/tmp/x.txt"}
        ),
    }
    fields = {name: set(answer["error"]["fields"]) for name, answer in answers.items()}
    assert fields == {
        "getUsageSummary": {"groupBy"},
        "setPrice": {"inputPerMillion"},
        "setBudget": {"providerId"},
        "exportUsageCsv": {"path"},
    }
