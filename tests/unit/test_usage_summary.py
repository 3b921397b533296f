"""getUsageSummary and its CSV (backend/usage/summary.py) on real SQLite with a test clock."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from backend.errors import InvalidConfig
from backend.models import ProviderKey
from backend.storage import KeyStore, Route, RouteStore, Storage
from backend.usage import UsageService, zones
from tests.unit.usage_helpers import Clock, add_provider, at, failed, record

NOW = "2026-12-10T12:00:00+00:00"


@pytest.fixture
def clock() -> Clock:
    return Clock(at(NOW))


@pytest.fixture
def usage(storage: Storage, clock: Clock) -> UsageService:
    """The service with prices for m (CNY) and g (USD) at any provider, Shanghai days."""
    service = UsageService(storage, clock=clock, zone=zones.named("Asia/Shanghai"))
    service.set_price(
        {"model": "m", "inputPerMillion": 2, "outputPerMillion": 8, "currency": "CNY"}
    )
    service.set_price(
        {"model": "g", "inputPerMillion": 0.075, "outputPerMillion": 0.3, "currency": "USD"}
    )
    return service


def summary(usage: UsageService, group_by: str, **options: Any) -> dict[str, Any]:
    return usage.summary({"groupBy": group_by, **options})


def rows(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in result["rows"]}


def test_costs_add_up_exactly_per_currency_and_are_never_converted(
    usage: UsageService,
) -> None:
    for _ in range(3):
        record(usage, model="m", inputs=1234, outputs=567)  # 2468 + 4536 = 7004 µ¥
        record(usage, model="g", inputs=12, outputs=1)  # 0.9 + 0.3 = 1.2 -> 1 µ$
    totals = summary(usage, "model")["totals"]
    assert totals["cost"] == {"CNY": 0.021012, "USD": 0.000003}
    by_model = rows(summary(usage, "model"))
    assert by_model["m"]["cost"] == {"CNY": 0.021012}
    assert by_model["g"]["cost"] == {"USD": 0.000003}


def test_a_model_without_a_price_counts_as_unknown_cost_not_zero(
    usage: UsageService,
) -> None:
    record(usage, model="mystery", inputs=10, outputs=10)
    row = rows(summary(usage, "model"))["mystery"]
    assert row["cost"] == {} and row["unknownCostRequests"] == 1


def test_a_failed_request_is_an_error_with_no_cost(usage: UsageService) -> None:
    failed(usage, model="m")
    row = rows(summary(usage, "model"))["m"]
    assert (row["requests"], row["errors"], row["unknownCostRequests"]) == (1, 1, 0)
    assert row["cost"] == {} and row["ttftP50"] is None


def test_estimated_tokens_and_their_cost_are_reported_apart(usage: UsageService) -> None:
    record(usage, model="m", inputs=1000, outputs=0)
    record(usage, model="m", inputs=500, outputs=500, source="estimated")
    row = rows(summary(usage, "model"))["m"]
    assert row["estimatedTokens"] == 1000
    assert row["cost"] == {"CNY": 0.007} and row["estimatedCost"] == {"CNY": 0.005}


def test_days_are_local_days_of_the_time_zone(usage: UsageService, clock: Clock) -> None:
    clock.now = at("2026-12-09T17:30:00+00:00")  # 01:30 on 10 December in Shanghai
    record(usage)
    clock.now = at(NOW)
    shanghai = rows(summary(usage, "day", since="2026-12-09", until="2026-12-11"))
    assert shanghai["2026-12-09"]["requests"] == 0 and shanghai["2026-12-10"]["requests"] == 1
    utc = rows(summary(usage, "day", since="2026-12-09", until="2026-12-11", timezone="Etc/UTC"))
    assert utc["2026-12-09"]["requests"] == 1 and utc["2026-12-10"]["requests"] == 0


def test_a_day_in_a_zone_half_an_hour_off_the_hour_ends_at_its_own_midnight(
    usage: UsageService, clock: Clock
) -> None:
    clock.now = at("2026-12-09T18:20:00+00:00")  # 23:50 in Kolkata (UTC+5:30)
    record(usage)
    clock.now = at("2026-12-09T18:40:00+00:00")  # 00:10 the next day
    record(usage)
    clock.now = at(NOW)
    days = rows(
        summary(usage, "day", since="2026-12-09", until="2026-12-11", timezone="Asia/Kolkata")
    )
    assert days["2026-12-09"]["requests"] == 1 and days["2026-12-10"]["requests"] == 1


def test_a_day_when_the_clocks_go_forward_has_23_hours(storage: Storage, clock: Clock) -> None:
    usage = UsageService(storage, clock=clock, zone=zones.named("America/New_York"))
    clock.now = at("2026-03-09T03:30:00+00:00")  # 23:30 on 8 March in New York (EDT)
    record(usage)
    clock.now = at("2026-03-09T04:30:00+00:00")  # 00:30 on 9 March
    record(usage)
    clock.now = at("2026-03-20T00:00:00+00:00")
    days = rows(summary(usage, "day", since="2026-03-08", until="2026-03-10"))
    assert [days[d]["requests"] for d in ("2026-03-08", "2026-03-09")] == [1, 1]


def test_a_period_may_start_inside_a_quarter_hour(usage: UsageService, clock: Clock) -> None:
    clock.now = at("2026-12-10T10:05:00+00:00")
    record(usage)
    clock.now = at("2026-12-10T10:10:00+00:00")
    record(usage)
    clock.now = at(NOW)
    result = summary(usage, "model", since="2026-12-10T10:07:00Z", until="2026-12-10T10:11:00Z")
    assert result["totals"]["requests"] == 1
    result = summary(usage, "model", since="2026-12-10T10:00:00Z", until="2026-12-10T10:06:00Z")
    assert result["totals"]["requests"] == 1


def test_the_default_period_is_the_last_30_days_up_to_now(
    usage: UsageService, clock: Clock
) -> None:
    clock.now = at("2026-11-09T12:00:00+00:00")  # 31 days ago
    record(usage)
    clock.now = at("2026-11-11T12:00:00+00:00")
    record(usage)
    clock.now = at(NOW)
    record(usage)  # recorded at the very moment the summary is asked for
    result = summary(usage, "provider")
    assert result["totals"]["requests"] == 2
    assert result["since"] == "2026-11-10T12:00:00.001Z"


def test_day_rows_cover_every_day_and_break_down_by_provider_and_model(
    usage: UsageService, storage: Storage, clock: Clock
) -> None:
    add_provider(storage, "p1")
    add_provider(storage, "p2")
    clock.now = at("2026-12-08T04:00:00+00:00")
    record(usage, "p1", "m")
    record(usage, "p2", "g")
    record(usage, "p2", "m")
    clock.now = at(NOW)
    result = summary(usage, "day", since="2026-12-07", until="2026-12-10")
    assert [row["key"] for row in result["rows"]] == ["2026-12-07", "2026-12-08", "2026-12-09"]
    day = rows(result)["2026-12-08"]
    assert day["byProvider"]["p2"] == {"requests": 2, "cost": {"CNY": 0.006, "USD": 0.000225}}
    assert day["byModel"]["m"]["requests"] == 2
    assert rows(result)["2026-12-07"]["requests"] == 0
    assert "byProvider" not in result["totals"]


def test_rows_are_labelled_with_names_and_say_what_was_removed(
    usage: UsageService, storage: Storage
) -> None:
    add_provider(storage, "groq")
    route = Route("route-1", "main", "Main", "failover", ("groq",), "t", "t")
    RouteStore(storage).insert_route(route)
    KeyStore(storage).replace("groq", [(ProviderKey("key-1", "sk-…9f2c"), "entry-1")], "t")
    record(usage, "groq", route="route-1", key="key-1")
    record(usage, "gone", route="route-gone", key="key-gone")
    record(usage, "groq")
    labels = {g: {r["key"]: r["label"] for r in summary(usage, g)["rows"]} for g in
              ("provider", "route", "key")}  # fmt: skip
    assert labels["provider"] == {"groq": "Groq", "gone": "(removed provider)"}
    assert labels["route"] == {
        "route-1": "Main",
        "route-gone": "(removed route)",
        "": "Direct (no route)",
    }
    assert labels["key"] == {"key-1": "sk-…9f2c", "key-gone": "(removed key)", "": "No key"}


def test_rows_come_most_requests_first(usage: UsageService) -> None:
    record(usage, model="a")
    for _ in range(3):
        record(usage, model="b")
    assert [row["key"] for row in summary(usage, "model")["rows"]] == ["b", "a"]


def test_ttft_percentiles_come_from_the_histograms_within_9_percent(
    usage: UsageService,
) -> None:
    for ms in range(100, 1100, 10):  # 100 requests: 100, 110, ..., 1090 ms
        record(usage, ttft=ms)
    totals = summary(usage, "model")["totals"]
    assert abs(totals["ttftP50"] - 590) / 590 <= 0.0906
    assert abs(totals["ttftP95"] - 1040) / 1040 <= 0.0906


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({}, "groupBy"),
        ({"groupBy": "week"}, "groupBy"),
        ({"groupBy": "day", "timezone": "Mars/Olympus"}, "timezone"),
        ({"groupBy": "day", "since": "yesterday"}, "since"),
        ({"groupBy": "day", "since": "2026-12-02", "until": "2026-12-01"}, "until"),
        ({"groupBy": "day", "since": "2020-01-01"}, "since"),
        ({"groupBy": "day", "colour": "red"}, "colour"),
    ],
)
def test_bad_options_name_their_field(usage: UsageService, options: Any, field: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        usage.summary(options)
    assert field in caught.value.fields


def test_a_time_without_an_offset_is_local_time_in_the_zone(usage: UsageService) -> None:
    result = summary(usage, "model", since="2026-12-01T08:00:00", until="2026-12-02")
    assert result["since"] == "2026-12-01T00:00:00.000Z"
    assert result["until"] == "2026-12-01T16:00:00.000Z"
    assert result["timezone"] == "Asia/Shanghai"


def test_the_csv_has_a_header_exact_costs_and_blank_cells_where_nothing_was_priced(
    usage: UsageService,
) -> None:
    record(usage, model="m", inputs=1234, outputs=567)
    record(usage, model="mystery")
    text, name = usage.export_csv({"groupBy": "model"})
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:4] == ["key", "label", "requests", "errors"]
    by_key = {line[0]: dict(zip(table[0], line, strict=True)) for line in table[1:]}
    assert by_key["m"]["costCNY"] == "0.007004" and by_key["m"]["costUSD"] == ""
    assert by_key["mystery"]["unknownCostRequests"] == "1"
    assert name == "miaoda-usage-by-model-2026-11-10-to-2026-12-10.csv"


def test_a_csv_cell_that_looks_like_a_formula_is_kept_as_text(
    usage: UsageService, storage: Storage
) -> None:
    record(usage, model="=HYPERLINK(1)")
    text, _ = usage.export_csv({"groupBy": "model"})
    assert "'=HYPERLINK(1)" in text
