"""Prices in force, monthly budgets and their alerts (backend/usage/service.py), clock-driven."""

from __future__ import annotations

from typing import Any

import pytest

from backend.errors import InvalidConfig, NotFound
from backend.storage import Storage
from backend.usage import UsageService, zones
from tests.unit.usage_helpers import Clock, add_provider, at, record

DEEPSEEK = "https://api.deepseek.com"


@pytest.fixture
def clock() -> Clock:
    return Clock(at("2026-12-10T04:00:00+00:00"))


@pytest.fixture
def usage(storage: Storage, clock: Clock) -> UsageService:
    """Providers p1 (a relay, no bundled prices) and ds (DeepSeek); Shanghai months."""
    add_provider(storage, "p1")
    add_provider(storage, "ds", DEEPSEEK)
    return UsageService(storage, clock=clock, zone=zones.named("Asia/Shanghai"))


def cost_of(usage: UsageService, model: str = "m", provider: str = "p1") -> dict[str, float]:
    row = next(r for r in usage.summary({"groupBy": "model"})["rows"] if r["key"] == model)
    return dict(row["cost"])


def price(model: str, input: float, output: float, **extra: Any) -> dict[str, Any]:
    return {"model": model, "inputPerMillion": input, "outputPerMillion": output,
            "currency": "CNY", **extra}  # fmt: skip


# --- prices ---------------------------------------------------------------------------------


def test_a_price_edit_changes_only_the_cost_of_later_requests(usage: UsageService) -> None:
    usage.set_price(price("m", 2, 8, providerId="p1"))
    record(usage, inputs=1000, outputs=500)  # 6000 µ¥
    usage.set_price(price("m", 4, 16, providerId="p1"))
    record(usage, inputs=1000, outputs=500)  # 12000 µ¥
    assert cost_of(usage) == {"CNY": 0.018}


def test_a_user_price_wins_over_the_bundled_one_and_removing_it_falls_back(
    usage: UsageService,
) -> None:
    record(usage, "ds", "deepseek-v4-flash", inputs=10**6, outputs=0)  # bundled: ¥1/M
    usage.set_price(price("deepseek-v4-flash", 3, 3, providerId="ds"))
    record(usage, "ds", "deepseek-v4-flash", inputs=10**6, outputs=0)  # ¥3
    usage.remove_price("ds", "deepseek-v4-flash")
    record(usage, "ds", "deepseek-v4-flash", inputs=10**6, outputs=0)  # ¥1 again
    assert cost_of(usage, "deepseek-v4-flash") == {"CNY": 5.0}


def test_a_provider_price_wins_over_a_price_for_any_provider(usage: UsageService) -> None:
    usage.set_price(price("m", 1, 1))
    usage.set_price(price("m", 5, 5, providerId="p1"))
    assert usage.price_for("p1", "m").input == 5  # type: ignore[union-attr]
    assert usage.price_for("ds", "m").input == 1  # type: ignore[union-attr]


def test_cached_input_is_charged_at_its_own_price(usage: UsageService) -> None:
    record(usage, "ds", "deepseek-v4-flash", inputs=10**6, outputs=0, cached=10**6)
    assert cost_of(usage, "deepseek-v4-flash") == {"CNY": 0.02}


def test_get_prices_lists_user_prices_first_then_bundled_ones_with_their_source(
    usage: UsageService,
) -> None:
    usage.set_price(price("m", 2, 8, providerId="p1"))
    listed = usage.prices()
    first = listed["prices"][0]
    assert (first["source"], first["providerId"], first["inputPerMillion"]) == ("user", "p1", 2)
    bundled = [p for p in listed["prices"] if p["source"] == "bundled"]
    flash = next(p for p in bundled if p["model"] == "deepseek-v4-flash")
    assert flash["currency"] == "CNY" and flash["asOf"] and flash["table"] == "deepseek"
    assert listed["providerTables"] == {"p1": None, "ds": "deepseek"}


def test_removing_a_price_that_is_not_set_is_not_found(usage: UsageService) -> None:
    with pytest.raises(NotFound):
        usage.remove_price("ds", "deepseek-v4-flash")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"inputPerMillion": 1, "outputPerMillion": 1, "currency": "CNY"}, "model"),
        (price("m", -1, 1), "inputPerMillion"),
        (price("m", 1, "2"), "outputPerMillion"),
        (price("m", 1, 1, cachedInputPerMillion=0.0000001), "cachedInputPerMillion"),
        ({**price("m", 1, 1), "currency": "EUR"}, "currency"),
        (price("m", 1, 1, tier=2), "tier"),
        (price("", 1, 1), "model"),
    ],
)
def test_a_bad_price_names_its_field(usage: UsageService, value: Any, field: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        usage.set_price(value)
    assert field in caught.value.fields


def test_a_price_for_a_provider_that_does_not_exist_is_not_found(usage: UsageService) -> None:
    with pytest.raises(NotFound):
        usage.set_price(price("m", 1, 1, providerId="nope"))


def test_a_price_keeps_its_decimals_exactly(usage: UsageService) -> None:
    saved = usage.set_price(price("m", 0.075, 0.3, cachedInputPerMillion=0.0075))
    assert (saved["inputPerMillion"], saved["cachedInputPerMillion"]) == (0.075, 0.0075)
    record(usage, inputs=12, outputs=0)
    assert cost_of(usage) == {"CNY": 0.000001}  # 0.9 µ¥ rounds half up to 1


# --- budgets --------------------------------------------------------------------------------


def spend(usage: UsageService, yuan: int) -> None:
    """A request to p1 costing `yuan` (price: ¥1 per million input tokens)."""
    record(usage, inputs=yuan * 10**6, outputs=0)


@pytest.fixture
def budgeted(usage: UsageService) -> UsageService:
    usage.set_price(price("m", 1, 0, providerId="p1"))
    usage.set_budget("p1", {"amount": 10, "currency": "CNY"})
    return usage


def thresholds(usage: UsageService) -> list[tuple[int, str]]:
    return [(a["threshold"], a["month"]) for a in usage.budgets()["alerts"]]


def test_budget_alerts_fire_at_80_and_100_percent_once_each(budgeted: UsageService) -> None:
    spend(budgeted, 7)
    assert thresholds(budgeted) == []
    spend(budgeted, 1)  # 80 %
    spend(budgeted, 1)
    assert thresholds(budgeted) == [(80, "2026-12")]
    spend(budgeted, 2)  # 110 %
    spend(budgeted, 5)
    alerts = budgeted.budgets()["alerts"]
    assert [(a["threshold"], a["spent"]) for a in alerts] == [(80, 8.0), (100, 11.0)]
    assert alerts[0]["seq"] < alerts[1]["seq"]


def test_a_new_month_starts_from_nothing_and_fires_again(
    budgeted: UsageService, clock: Clock
) -> None:
    spend(budgeted, 9)
    clock.now = at("2026-12-31T16:30:00+00:00")  # 00:30 on 1 January in Shanghai
    [budget] = budgeted.budgets()["budgets"]
    assert (budget["month"], budget["spent"], budget["share"]) == ("2027-01", 0.0, 0.0)
    assert budgeted.budgets()["alerts"] == []  # December's stay in December
    spend(budgeted, 8)
    assert thresholds(budgeted) == [(80, "2027-01")]


def test_the_month_is_the_local_month(budgeted: UsageService, clock: Clock) -> None:
    clock.now = at("2026-11-30T17:00:00+00:00")  # 01:00 on 1 December in Shanghai
    spend(budgeted, 8)
    assert thresholds(budgeted) == [(80, "2026-12")]


def test_only_costs_in_the_budget_currency_count(usage: UsageService) -> None:
    usage.set_price({**price("m", 1, 0, providerId="p1"), "currency": "USD"})
    usage.set_budget("p1", {"amount": 10, "currency": "CNY"})
    spend(usage, 20)
    [budget] = usage.budgets()["budgets"]
    assert budget["spent"] == 0 and usage.budgets()["alerts"] == []


def test_get_budgets_reports_spending_and_share(budgeted: UsageService) -> None:
    spend(budgeted, 3)
    [budget] = budgeted.budgets()["budgets"]
    assert budget == {
        "providerId": "p1",
        "providerName": "P1",
        "amount": 10.0,
        "currency": "CNY",
        "month": "2026-12",
        "spent": 3.0,
        "share": 0.3,
    }


def test_removing_a_budget_stops_its_alerts(budgeted: UsageService) -> None:
    assert budgeted.set_budget("p1", None) is None
    spend(budgeted, 20)
    assert budgeted.budgets() == {"budgets": [], "alerts": []}


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"amount": 0, "currency": "CNY"}, "amount"),
        ({"amount": 5, "currency": "GBP"}, "currency"),
        ({"amount": True, "currency": "CNY"}, "amount"),
        ({"currency": "CNY"}, "amount"),
    ],
)
def test_a_bad_budget_names_its_field(usage: UsageService, budget: Any, field: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        usage.set_budget("p1", budget)
    assert field in caught.value.fields


def test_a_budget_for_an_unknown_provider_is_not_found(usage: UsageService) -> None:
    with pytest.raises(NotFound):
        usage.set_budget("nope", {"amount": 5, "currency": "CNY"})


def test_clearing_usage_resets_spending_and_alerts(budgeted: UsageService) -> None:
    spend(budgeted, 9)
    assert budgeted.clear() == 1
    assert budgeted.budgets()["alerts"] == []
    assert budgeted.budgets()["budgets"][0]["spent"] == 0
    spend(budgeted, 8)
    assert thresholds(budgeted) == [(80, "2026-12")]
