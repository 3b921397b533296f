"""Usage in the window (CONTRACT §11): the Usage screen over real records — chats sent through
`POST /api/chat` to the fake upstream with usage reported, left out (so the app estimates) and a
refused key, and one through `POST /api/chat/stream` and a route whose first member fails — with
its totals and costs per currency, the estimated and unknown-cost flags, an exchange rate, the
period switch, the group tabs, the CSV download, "Clear usage", the prices panel, a
provider's monthly budget: its bar on the card and the toasts at 80 % and 100 %, each once, and
the screen in Chinese (its money, numbers and dates written the Chinese way)."""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import element_english
from tests.e2e.helpers import (
    MODEL,
    RunningApp,
    post_chat,
    reload_list,
    screenshot_matrix,
    wait_until,
)
from tests.fakes.upstream import Reply, openai_stream

pytestmark = pytest.mark.browser

SERVER_ERROR = {"error": {"message": "Internal server error", "type": "server_error"}}
# Prices set through the API, so every cost below is known to the cent.
USD_PRICE = {"inputPerMillion": 10, "outputPerMillion": 30, "currency": "USD"}
CNY_PRICE = {"inputPerMillion": 2, "outputPerMillion": 8, "currency": "CNY"}


@pytest.fixture
def usage(app: RunningApp) -> Iterator[RunningApp]:
    """The module's app (emptied of providers, routes and conversations by conftest) without
    usage records or user prices, and without scheduled health checks (a check is no chat, but
    an unhealthy one would open a route member's circuit)."""
    assert app.rpc("clearUsage")["success"]
    for price in app.rpc("getPrices")["prices"]:
        if price["source"] == "user":
            assert app.rpc("removePrice", price["providerId"], price["model"])["success"]
    assert app.rpc("setHealthSettings", {"enabled": False})["success"]
    yield app
    assert app.rpc("setHealthSettings", {"enabled": True})["success"]


@pytest.fixture
def chinese(usage: RunningApp) -> Iterator[RunningApp]:
    """The app with its language set to Simplified Chinese, put back to the system's after."""
    assert usage.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield usage
    assert usage.rpc("updateSettings", {"language": "system"})["success"]


def completion(usage: tuple[int, int] | None) -> Reply:
    """A whole Chat Completions answer, with `usage` (prompt, completion) or none at all."""
    body: dict[str, Any] = {
        "id": "chatcmpl-usage",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Noted."},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": sum(usage),
        }
    return Reply.json(body)


def chat(app: RunningApp, provider_id: str) -> dict[str, Any]:
    """One stateless `POST /api/chat` (recorded like any chat); its envelope, failed or not."""
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": "Hello there"}]}
    return post_chat(app, body)


def answered(app: RunningApp, provider_id: str, prefix: str, usage: tuple[int, int] | None) -> None:
    """A chat the upstream at `prefix` answers, reporting `usage` (or none)."""
    app.upstream.script(f"{prefix}/chat/completions", completion(usage))
    result = chat(app, provider_id)
    assert result["success"], result


def add(
    app: RunningApp, name: str, display: str, prefix: str, model: str = MODEL
) -> dict[str, Any]:
    """A provider at the fake upstream's `prefix` whose model list has `model`."""
    app.upstream.script(f"{prefix}/models", Reply.json({"object": "list", "data": [{"id": model}]}))
    return app.add_provider(
        name=name, displayName=display, baseURL=f"{app.upstream.url}{prefix}", model=model
    )


def streamed(app: RunningApp, target_id: str, usage: tuple[int, int]) -> None:
    """A chat through `POST /api/chat/stream` (as the chat view sends it), read to its end; the
    upstream at /v1 answers it reporting `usage`."""
    app.upstream.script(
        "/v1/chat/completions", Reply.stream(openai_stream(["Noted."], usage=usage))
    )
    body = {"providerId": target_id, "messages": [{"role": "user", "content": "Hello there"}]}
    request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 app
        f"{app.base}/api/chat/stream",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": app.token},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        events = response.read().decode()
    assert "event: done" in events, events


def route_requests(app: RunningApp, route_id: str) -> int:
    """How many requests the summary counts for a route so far."""
    rows = app.rpc("getUsageSummary", {"groupBy": "route"})["rows"]
    return sum(row["requests"] for row in rows if row["key"] == route_id)


def set_price(
    app: RunningApp, model: str, price: dict[str, Any], provider_id: str | None = None
) -> None:
    result = app.rpc("setPrice", {"providerId": provider_id, "model": model, **price})
    assert result["success"], result


def seed(app: RunningApp) -> dict[str, dict[str, Any]]:
    """Seven records: Groq (USD) 2 chats with reported usage and 1 the app estimates; DeepSeek
    (CNY) 2 chats; Mystery (no price) 1 chat; Broken (its key refused) 1 failed chat."""
    providers = {
        "groq": add(app, "groq", "Groq", "/v1"),
        "deepseek": add(app, "deepseek", "DeepSeek", "/ds/v1", "deepseek-chat"),
        "mystery": add(app, "mystery", "Mystery", "/my/v1", "mystery-model"),
        "broken": app.add_provider(
            name="broken", displayName="Broken", baseURL=f"{app.upstream.url}/bad/v1"
        ),
    }
    set_price(app, MODEL, USD_PRICE)  # any provider: Groq and Broken
    set_price(app, "deepseek-chat", CNY_PRICE, providers["deepseek"]["id"])
    # Groq: 2 x (20,000 in x $10/M + 10,000 out x $30/M) = 2 x $0.50 = $1.00, then an estimate.
    for _ in range(2):
        answered(app, providers["groq"]["id"], "/v1", (20_000, 10_000))
    answered(app, providers["groq"]["id"], "/v1", None)
    # DeepSeek: 2 x (100,000 in x ¥2/M + 50,000 out x ¥8/M) = 2 x ¥0.60 = ¥1.20.
    for _ in range(2):
        answered(app, providers["deepseek"]["id"], "/ds/v1", (100_000, 50_000))
    answered(app, providers["mystery"]["id"], "/my/v1", (1_000, 500))
    refused = chat(app, providers["broken"]["id"])
    assert not refused["success"] and refused["error"]["code"] == "AUTH_FAILED", refused
    return providers


def open_usage(page: Any) -> Any:
    """Go to #/usage and wait for the view to have read a period; returns the view."""
    page.evaluate("location.hash = '#/usage'")
    view = page.locator("usage-view[data-ready]")
    view.wait_for()
    return view


def table_row(view: Any, key: str) -> Any:
    return view.locator(f'usage-table tbody tr[data-key="{key}"]')


def cells(row: Any) -> list[str]:
    """The texts of a table row's cells, once it is there."""
    row.wait_for()
    texts: list[str] = row.locator("th, td").all_inner_texts()
    return [t.strip() for t in texts]


def settle_chart(page: Any) -> None:
    """The chart drawn again in the colour scheme now emulated (a `screenshot_matrix` settle)."""
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    expect(page.locator("usage-chart")).to_have_attribute(
        "data-scheme", "dark" if dark else "light"
    )
    expect(page.locator("usage-chart canvas")).to_be_visible()


def settle_breakdown(page: Any) -> None:
    """The chart drawn for the scheme, then the breakdown table at the top of the window."""
    settle_chart(page)
    page.locator(".usage-breakdown").evaluate("el => el.scrollIntoView({block: 'start'})")


# --- the screen ---------------------------------------------------------------------------------


def test_the_usage_screen_sums_up_real_chats_per_currency(page: Any, usage: RunningApp) -> None:
    providers = seed(usage)
    page.get_by_role("link", name="Usage").click()
    view = page.locator("usage-view[data-ready]")
    expect(page).to_have_title("Usage — MiaoDa Chat")
    expect(view.locator(".view-subtitle")).to_contain_text("7 requests")

    tiles = view.locator("usage-totals")
    expect(tiles.locator('[data-tile="requests"] .tile-value')).to_have_text("7")
    expect(tiles.locator('[data-tile="errors"] .tile-value')).to_have_text("1")
    expect(tiles.locator('[data-tile="errors"] .tile-sub')).to_have_text("14.3% of requests")
    # Never added up: dollars and yuan each on their own line.
    expect(tiles.locator('.cost-line[data-currency="USD"] .cost-amount')).to_have_text("~$1.00")
    expect(tiles.locator('.cost-line[data-currency="CNY"] .cost-amount')).to_have_text("CN¥1.20")
    expect(tiles.locator(".cost-combined")).to_have_count(0)
    expect(tiles.locator(".usage-note-estimated")).to_contain_text("estimated by the app")
    expect(tiles.locator(".usage-note-unpriced")).to_contain_text(
        "1 request without a price: their cost is unknown"
    )

    groq = table_row(view, providers["groq"]["id"])
    assert cells(groq)[:3] == ["Groq", "3", "0"]
    expect(groq.locator(".col-cost")).to_have_text("~$1.00")
    expect(groq.locator("td.is-estimated")).to_have_count(2)  # tokens in and out carry "~"
    deepseek = table_row(view, providers["deepseek"]["id"])
    assert cells(deepseek)[:7] == ["DeepSeek", "2", "0", "0%", "200,000", "100,000", "CN¥1.20"]
    broken = table_row(view, providers["broken"]["id"])
    assert cells(broken)[:4] == ["Broken", "1", "1", "100%"]
    mystery = table_row(view, providers["mystery"]["id"])
    expect(mystery.locator(".cost-unknown")).to_contain_text("cost unknown for 1 request")
    expect(view.locator(".table-legend")).to_be_visible()

    legend = view.locator("usage-chart .legend-item")
    expect(legend).to_have_count(4)
    expect(legend.first).to_contain_text("Groq")
    screenshot_matrix(page, "usage-screen", settle_chart)
    screenshot_matrix(page, "usage-breakdown", settle_breakdown)

    # Stacked by model, measuring the cost in one currency: never two currencies in one bar.
    chart = view.locator("usage-chart")
    chart.get_by_role("radio", name="By model").click()
    expect(chart).to_have_attribute("data-stack", "model")
    chart.get_by_label("Measure").select_option(label="Cost in CNY")
    expect(chart.locator(".legend-item")).to_have_count(1)
    expect(chart.locator(".legend-item")).to_have_text("deepseek-chat CN¥1.20")
    expect(chart.locator(".chart-plot")).to_have_attribute(
        "aria-label", "Cost in CNY per day over 7 days, stacked by model: CN¥1.20 in all."
    )


def test_an_exchange_rate_adds_a_combined_figure_labelled_as_converted(
    page: Any, usage: RunningApp
) -> None:
    seed(usage)
    tiles = open_usage(page).locator("usage-totals")
    tiles.get_by_role("button", name="Set exchange rate").click()
    rate = tiles.get_by_label("CNY for 1 USD")
    expect(rate).to_be_focused()
    rate.fill("0")
    tiles.get_by_role("button", name="Save rate").click()
    expect(tiles.locator(".rate-form .field-msg")).to_have_text(
        "Enter a rate above 0, for example 7.2."
    )
    rate.fill("8")
    tiles.get_by_label("Show the total in").select_option("CNY")
    tiles.get_by_role("button", name="Save rate").click()
    # $1.00 x 8 + ¥1.20 = ¥9.20 (Groq's estimated tokens add a fraction of a fen).
    expect(tiles.locator(".cost-combined-amount")).to_have_text("≈ CN¥9.20 in all")
    expect(tiles.locator(".cost-converted")).to_have_text("Converted at your rate, 1 USD = 8 CNY")
    expect(tiles.locator('.cost-line[data-currency="USD"] .cost-amount')).to_have_text("~$1.00")

    page.reload()  # kept in localStorage
    expect(open_usage(page).locator(".cost-combined-amount")).to_have_text("≈ CN¥9.20 in all")


def test_the_period_switch_reads_another_period(page: Any, usage: RunningApp) -> None:
    seed(usage)
    view = open_usage(page)
    period = view.get_by_role("radiogroup", name="Period")
    expect(period.get_by_role("radio", name="7 days")).to_have_attribute("aria-checked", "true")

    today = date.today()
    period.get_by_role("radio", name="Today").click()
    expect(view).to_have_attribute("data-period", f"{today}..{today}")
    expect(view.locator(".view-subtitle")).to_contain_text("7 requests")
    expect(view.locator("usage-chart .legend-item")).to_have_count(4)

    period.get_by_role("radio", name="Custom").click()
    expect(view.get_by_label("From", exact=True)).to_be_focused()
    view.get_by_label("From", exact=True).fill("2020-01-01")
    view.get_by_label("To", exact=True).fill("2020-01-31")
    view.get_by_role("button", name="Show", exact=True).click()
    expect(view).to_have_attribute("data-period", "2020-01-01..2020-01-31")
    expect(view.locator(".view-subtitle")).to_have_text("Jan 1 – Jan 31, 2020 · 0 requests")
    expect(view.locator('[data-tile="requests"] .tile-value')).to_have_text("0")
    expect(view.locator("usage-table .table-message")).to_have_text("No requests in this period.")
    expect(view.locator("usage-chart .chart-empty")).to_be_visible()

    # Arrow keys move the choice, as in any radio group.
    period.get_by_role("radio", name="Custom").press("ArrowLeft")
    expect(period.get_by_role("radio", name="This month")).to_be_focused()
    expect(view).to_have_attribute("data-period", f"{today.replace(day=1)}..{today}")
    expect(view.locator(".view-subtitle")).to_contain_text("7 requests")

    page.reload()  # the choice is kept
    expect(open_usage(page).get_by_role("radio", name="This month")).to_have_attribute(
        "aria-checked", "true"
    )


def test_the_group_tabs_show_models_routes_and_keys(page: Any, usage: RunningApp) -> None:
    seed(usage)
    first = add(usage, "first", "First", "/fail/v1")
    usage.upstream.script("/fail/v1/chat/completions", Reply.json(SERVER_ERROR, status=500))
    second = add(usage, "second", "Second", "/v1")
    route = usage.rpc(
        "addRoute",
        {
            "name": "main",
            "displayName": "Main",
            "strategy": "failover",
            "members": [first["id"], second["id"]],
        },
    )
    assert route["success"], route
    streamed(usage, route["id"], (20_000, 10_000))
    assert wait_until(lambda: route_requests(usage, route["route"]["id"]) == 2)
    view = open_usage(page)
    tabs = view.get_by_role("tablist", name="Group usage by")
    table = view.locator("usage-table")

    tabs.get_by_role("tab", name="Model").click()
    expect(table).to_have_attribute("data-group", "model")
    expect(tabs.get_by_role("tab", name="Model")).to_have_attribute("aria-selected", "true")
    expect(table_row(view, "mystery-model").locator(".cost-unknown")).to_contain_text(
        "cost unknown: no price for model mystery-model"
    )
    assert cells(table_row(view, "deepseek-chat"))[:2] == ["deepseek-chat", "2"]

    # The route's failed attempt counts as an error of the member that failed; the answer's
    # tokens go to the one that answered.
    tabs.get_by_role("tab", name="Model").press("ArrowRight")
    expect(tabs.get_by_role("tab", name="Route")).to_be_focused()
    expect(table).to_have_attribute("data-group", "route")
    assert cells(table_row(view, route["route"]["id"]))[:4] == ["Main", "2", "1", "50%"]
    expect(view.locator("usage-table tbody tr").filter(has_text="Direct (no route)")).to_have_count(
        1
    )

    tabs.get_by_role("tab", name="Provider").click()
    expect(table).to_have_attribute("data-group", "provider")
    assert cells(table_row(view, first["id"]))[:3] == ["First", "1", "1"]
    assert cells(table_row(view, second["id"]))[:6] == [
        "Second",
        "1",
        "0",
        "0%",
        "20,000",
        "10,000",
    ]

    tabs.get_by_role("tab", name="Key").click()
    expect(table).to_have_attribute("data-group", "key")
    hint = first["apiKeyHint"]
    expect(view.locator("usage-table tbody .row-label").filter(has_text=hint).first).to_be_visible()

    page.reload()  # the tab is kept
    expect(open_usage(page).locator("usage-table")).to_have_attribute("data-group", "key")


def test_csv_export_downloads_the_table_as_grouped(page: Any, usage: RunningApp) -> None:
    providers = seed(usage)
    view = open_usage(page)
    with page.expect_download() as info:
        view.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    assert "provider" in download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = {row["label"]: row for row in csv.DictReader(io.StringIO(text))}
    assert set(rows) == {"Groq", "DeepSeek", "Mystery", "Broken"}
    assert rows["DeepSeek"]["key"] == providers["deepseek"]["id"]
    assert (rows["DeepSeek"]["requests"], rows["DeepSeek"]["costCNY"]) == ("2", "1.200000")
    assert (rows["DeepSeek"]["inputTokens"], rows["DeepSeek"]["outputTokens"]) == (
        "200000",
        "100000",
    )
    assert (rows["Broken"]["requests"], rows["Broken"]["errors"]) == ("1", "1")
    assert rows["Mystery"]["unknownCostRequests"] == "1"
    assert rows["Groq"]["costUSD"].startswith("1.00")
    assert int(rows["Groq"]["estimatedTokens"]) > 0

    view.get_by_role("tablist", name="Group usage by").get_by_role("tab", name="Model").click()
    expect(view.locator("usage-table")).to_have_attribute("data-group", "model")
    with page.expect_download() as info:
        view.get_by_role("button", name="Export CSV").click()
    text = Path(info.value.path()).read_text(encoding="utf-8")
    models = {row["key"] for row in csv.DictReader(io.StringIO(text))}
    assert models == {MODEL, "deepseek-chat", "mystery-model"}


def test_clear_usage_asks_first_then_empties_the_screen(page: Any, usage: RunningApp) -> None:
    seed(usage)
    view = open_usage(page)
    view.get_by_role("button", name="Clear usage").click()
    dialog = page.locator("dialog.confirm-dialog")
    expect(dialog.locator(".dialog-title")).to_have_text("Clear all usage?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    dialog.get_by_role("button", name="Cancel").click()
    expect(view.locator('[data-tile="requests"] .tile-value')).to_have_text("7")

    view.get_by_role("button", name="Clear usage").click()
    page.locator("dialog.confirm-dialog").get_by_role("button", name="Clear usage").click()
    expect(page.locator("toast-region .toast").filter(has_text="Cleared 7 records")).to_be_visible()
    expect(view.locator('[data-tile="requests"] .tile-value')).to_have_text("0")
    expect(view.locator("usage-table .table-message")).to_have_text("No requests in this period.")
    summary = usage.rpc("getUsageSummary", {"groupBy": "provider"})
    assert summary["totals"]["requests"] == 0


# --- prices -------------------------------------------------------------------------------------


def test_a_price_set_from_an_unpriced_model_applies_to_later_requests(
    page: Any, usage: RunningApp
) -> None:
    providers = seed(usage)
    view = open_usage(page)
    view.get_by_role("tablist", name="Group usage by").get_by_role("tab", name="Model").click()
    row = table_row(view, "mystery-model")
    row.get_by_role("button", name="Set a price").click()
    dialog = page.locator("dialog.price-dialog")
    expect(dialog.get_by_label("Model", exact=True)).to_have_value("mystery-model")
    expect(dialog.get_by_label("Input per 1M tokens")).to_be_focused()
    dialog.get_by_label("Input per 1M tokens").fill("4")
    dialog.get_by_role("button", name="Save price").click()
    expect(dialog.locator('[data-field="outputPerMillion"] .field-msg')).to_have_text(
        "Enter a number, 0 or more."
    )
    dialog.get_by_label("Output per 1M tokens").fill("12")
    dialog.get_by_role("button", name="Save price").click()
    expect(dialog).to_be_hidden()
    expect(
        page.locator("toast-region .toast").filter(has_text="Price saved for mystery-model")
    ).to_be_visible()
    prices = view.locator("usage-prices")
    mine = prices.locator('tr[data-model="mystery-model"][data-source="user"]')
    expect(mine).to_contain_text("Yours")
    expect(mine).to_contain_text("$4.00")
    # The request already recorded keeps its unknown cost.
    expect(row.locator(".cost-unknown")).to_be_visible()

    # 1,000 in x $4/M + 500 out x $12/M = $0.01 for the next one.
    answered(usage, providers["mystery"]["id"], "/my/v1", (1_000, 500))
    view.get_by_role("radio", name="Today").click()
    expect(row).to_contain_text("$0.01")
    expect(row.locator(".cost-unknown")).to_contain_text("no price for model mystery-model")

    mine.get_by_role("button", name="Remove your price for mystery-model").click()
    expect(
        page.locator("toast-region .toast").filter(has_text="Removed your price for mystery-model")
    ).to_contain_text("No price applies now")
    expect(mine).to_have_count(0)


def test_removing_a_user_price_falls_back_to_the_bundled_one(page: Any, usage: RunningApp) -> None:
    set_price(
        usage, "deepseek-v4-flash", {"inputPerMillion": 9, "outputPerMillion": 9, "currency": "CNY"}
    )
    prices = open_usage(page).locator("usage-prices")
    prices.get_by_label("Filter prices").fill("deepseek-v4-flash")
    mine = prices.locator('tr[data-model="deepseek-v4-flash"][data-source="user"]')
    expect(mine).to_contain_text("Any provider")
    expect(
        prices.locator('tr[data-model="deepseek-v4-flash"][data-source="bundled"]').first
    ).to_contain_text("Bundled")
    mine.get_by_role("button", name="Remove your price for deepseek-v4-flash").click()
    expect(
        page.locator("toast-region .toast").filter(has_text="Removed your price")
    ).to_contain_text("The bundled price applies again.")
    expect(mine).to_have_count(0)
    expect(
        prices.locator('tr[data-model="deepseek-v4-flash"][data-source="bundled"]').first
    ).to_be_visible()


# --- budgets ------------------------------------------------------------------------------------


def toasts(page: Any, text: str) -> Any:
    return page.locator("toast-region .toast").filter(has_text=text)


def test_a_budget_set_on_the_card_shows_its_bar_and_warns_once_per_threshold(
    page: Any, usage: RunningApp
) -> None:
    deepseek = add(usage, "deepseek", "DeepSeek", "/ds/v1", "deepseek-chat")
    set_price(usage, "deepseek-chat", CNY_PRICE, deepseek["id"])
    reload_list(page)
    card = page.locator(f'provider-card[data-provider-id="{deepseek["id"]}"]')
    card.get_by_role("button", name="Show details of DeepSeek").click()
    card.get_by_role("button", name="Set monthly budget for DeepSeek").click()
    card.get_by_label("Amount per month").fill("1.40")
    card.get_by_label("Currency").select_option("CNY")
    card.get_by_role("button", name="Save budget").click()
    expect(toasts(page, "Budget set for DeepSeek")).to_be_visible()
    bar = card.locator("usage-budget-bar")
    expect(bar.locator(".budget-text")).to_have_text("CN¥0.00 of CN¥1.40 this month · 0%")
    expect(card.locator(".budget-now")).to_have_text("CN¥1.40 a month (only costs in CNY count)")

    # ¥1.20 of ¥1.40: past 80 %.
    for _ in range(2):
        answered(usage, deepseek["id"], "/ds/v1", (100_000, 50_000))
    reload_list(page)
    expect(toasts(page, "DeepSeek has used 80 % of its monthly budget")).to_contain_text(
        "CN¥1.20 of CN¥1.40 spent this month."
    )
    expect(bar).to_have_attribute("data-state", "near")
    expect(bar.locator(".budget-text")).to_have_text("CN¥1.20 of CN¥1.40 this month · 86%")
    expect(bar.locator(".budget-state")).to_have_text("Near the budget")
    screenshot_matrix(page, "usage-budget-bar")

    reload_list(page)  # seen: not toasted again
    expect(bar.locator(".budget-text")).to_have_text("CN¥1.20 of CN¥1.40 this month · 86%")
    expect(toasts(page, "monthly budget")).to_have_count(0)

    # ¥1.80 of ¥1.40: past 100 %; the 80 % alert stays seen.
    answered(usage, deepseek["id"], "/ds/v1", (100_000, 50_000))
    reload_list(page)
    expect(toasts(page, "DeepSeek has reached its monthly budget")).to_be_visible()
    expect(bar).to_have_attribute("data-state", "over")
    expect(bar.locator(".budget-state")).to_have_text("Over budget")
    expect(toasts(page, "used 80 %")).to_have_count(0)

    card.get_by_role("button", name="Show details of DeepSeek").click()
    card.get_by_role("button", name="Change the monthly budget of DeepSeek").click()
    card.get_by_role("button", name="Remove budget").click()
    expect(toasts(page, "Budget removed for DeepSeek")).to_be_visible()
    expect(bar).to_be_hidden()
    assert usage.rpc("getBudgets")["budgets"] == []


# --- in Chinese ---------------------------------------------------------------------------------

# What the seed named, which stays as it is in any language.
SEEDED = ("Groq", "DeepSeek", "Mystery", "Broken", "mystery-model", "deepseek-chat", MODEL)


def test_the_usage_screen_in_chinese_writes_money_numbers_and_dates_the_chinese_way(
    page: Any, chinese: RunningApp
) -> None:
    providers = seed(chinese)
    reload_list(page)
    view = open_usage(page)
    expect(view.locator(".view-title")).to_have_text("用量")
    expect(view.locator(".view-subtitle")).to_contain_text("7 个请求")
    tiles = view.locator("usage-totals")
    expect(tiles.locator('[data-tile="errors"] .tile-sub')).to_have_text("占请求的 14.3%")
    # Each currency in the Chinese way: the yuan is plain ¥, the dollar US$.
    expect(tiles.locator('.cost-line[data-currency="USD"] .cost-amount')).to_have_text("~US$1.00")
    expect(tiles.locator('.cost-line[data-currency="CNY"] .cost-amount')).to_have_text("¥1.20")
    expect(tiles.locator(".usage-note-unpriced")).to_contain_text("1 个请求没有价格")
    deepseek = table_row(view, providers["deepseek"]["id"])
    assert cells(deepseek)[:7] == ["DeepSeek", "2", "0", "0%", "200,000", "100,000", "¥1.20"]
    expect(view.locator("usage-table thead th").first).to_have_text("服务商")

    chart = view.locator("usage-chart")
    chart.get_by_label("指标").select_option(label="费用（CNY）")
    expect(chart.locator(".chart-plot")).to_have_attribute(
        "aria-label", "近 7 天每日的费用（CNY），按服务商堆叠：合计 ¥1.20。"
    )
    # Today's bar, the last of the seven: the day in the readout is written as Chinese dates are.
    plot = chart.locator(".chart-plot .u-over")
    box = plot.bounding_box()
    plot.hover(position={"x": box["width"] * 13 / 14, "y": box["height"] / 2})
    expect(chart.locator(".chart-readout strong")).to_have_text(
        re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日：¥1\.20$")
    )
    # The prices' rows hold the bundled table's data (its services' names, its notes) as it is.
    parts = "usage-view > .view-header, usage-period, usage-totals, usage-chart, usage-table"
    parts += ", usage-prices .panel-head, usage-prices thead"
    left = element_english(view.locator(parts), SEEDED)
    assert left == [], left

    period = view.get_by_role("radiogroup", name="时间范围")
    period.get_by_role("radio", name="自定义").click()
    view.get_by_label("开始", exact=True).fill("2020-01-01")
    view.get_by_label("结束", exact=True).fill("2020-01-31")
    view.get_by_role("button", name="查看", exact=True).click()
    expect(view.locator(".view-subtitle")).to_have_text("2020年1月1日至1月31日 · 0 个请求")
    expect(view.locator("usage-table .table-message")).to_have_text("此期间没有请求。")


def test_a_budget_alert_reads_in_chinese(page: Any, chinese: RunningApp) -> None:
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    toast = page.evaluate(
        """async () => {
          const { alertToast } = await import("/js/components/usage-budget.js");
          const alert = { providerName: "DeepSeek", threshold: 80, currency: "CNY" };
          return alertToast({ ...alert, spent: 1.2, amount: 1.4 });
        }"""
    )
    assert toast == {
        "kind": "warn",
        "title": "DeepSeek 已用掉本月预算的 80%",
        "message": "本月已花费 ¥1.20，预算为 ¥1.40。",
    }
