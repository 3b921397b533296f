"""Routes in the window (CONTRACT §10): the routes screen — creating a route by picking
providers and ordering them with the arrows and by dragging, the server's field errors next to
the fields, editing its strategy, each member's circuit breaker refreshed live, a route whose
providers were removed, removing one, the screen and the form in Chinese — routes in the chat's
provider picker (no model picker then), and a reply through a failover route saying who
answered and who failed before, live and after a reload."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.english import element_english
from tests.e2e.helpers import (
    MODEL,
    RunningApp,
    chat_reply,
    last_reply,
    open_chat,
    reload_chat,
    reload_list,
    screenshot_matrix,
    send_message,
)
from tests.fakes.upstream import Reply

pytestmark = pytest.mark.browser

SERVER_ERROR = {"error": {"message": "Internal server error", "type": "server_error"}}


@pytest.fixture
def routed(app: RunningApp) -> Iterator[RunningApp]:
    """The module's app (emptied of routes and providers by conftest) without scheduled health
    checks: a provider saved without a test is checked 3 s later, and an unhealthy check opens
    its circuit, which would make a route skip it (the tests open circuits themselves, by
    checking)."""
    assert app.rpc("setHealthSettings", {"enabled": False})["success"]
    yield app
    assert app.rpc("setHealthSettings", {"enabled": True})["success"]


@pytest.fixture
def chinese(routed: RunningApp) -> Iterator[RunningApp]:
    """The app with its language set to Simplified Chinese, put back to the system's after."""
    assert routed.rpc("updateSettings", {"language": "zh-CN"})["success"]
    yield routed
    assert routed.rpc("updateSettings", {"language": "system"})["success"]


def add_route(app: RunningApp, members: list[str], **fields: Any) -> dict[str, Any]:
    """Save a route of `members` (provider ids) through the API."""
    config = {"name": "main", "displayName": "Main", "strategy": "failover", "members": members}
    result = app.rpc("addRoute", {**config, **fields})
    assert result["success"], result
    route: dict[str, Any] = result["route"]
    return route


def the_route(app: RunningApp) -> dict[str, Any]:
    """The one stored route."""
    routes = app.rpc("getAllRoutes")["routes"]
    assert len(routes) == 1, routes
    route: dict[str, Any] = routes[0]
    return route


def open_routes(page: Any) -> Any:
    """Go to #/routes and wait for the view to have read the routes; returns the view."""
    page.evaluate("location.hash = '#/routes'")
    view = page.locator("routes-view[data-ready]")
    view.wait_for()
    return view


def route_card(page: Any, display_name: str) -> Any:
    return page.locator("route-card").filter(
        has=page.locator(".route-title", has_text=display_name)
    )


def member(card: Any, display_name: str) -> Any:
    return card.locator(".route-member").filter(
        has=card.page.locator(".member-name", has_text=display_name)
    )


def form_order(dialog: Any) -> list[str]:
    names: list[str] = dialog.locator(".member-row .member-name").all_inner_texts()
    return names


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- the routes screen --------------------------------------------------------------------------


def test_without_routes_the_screen_says_what_a_route_is(page: Any, routed: RunningApp) -> None:
    routed.add_provider(name="groq", displayName="Groq")
    page.get_by_role("link", name="Routes").click()
    view = page.locator("routes-view[data-ready]")
    expect(view.locator(".routes-empty")).to_contain_text(
        "Use several providers as one: if one fails before answering, the next answers"
    )
    expect(page).to_have_title("Routes — MiaoDa Chat")
    view.get_by_role("button", name="Create a route").click()
    expect(page.locator("dialog.route-dialog .dialog-title")).to_have_text("Create a route")


def test_a_route_is_made_by_picking_providers_and_ordering_them_by_arrows_and_drag(
    page: Any, routed: RunningApp
) -> None:
    groq = routed.add_provider(name="groq", displayName="Groq")
    deepseek = routed.add_provider(name="deepseek", displayName="DeepSeek", model="deepseek-chat")
    openrouter = routed.add_provider(name="openrouter", displayName="OpenRouter")
    open_routes(page).get_by_role("button", name="Create a route").click()
    dialog = page.locator("dialog.route-dialog")
    dialog.get_by_label("Display name").fill("Main line")
    expect(dialog.get_by_label("Name", exact=True)).to_have_value("main-line")

    # Nothing chosen: the server's message stands next to the members.
    dialog.get_by_role("button", name="Create route").click()
    members_field = dialog.locator(".members-field")
    expect(members_field.locator(".field-msg")).to_have_text(
        "Choose 1 to 32 providers for the route."
    )
    expect(dialog.locator(".form-error")).to_contain_text("Providers, in the order tried")

    for name in ("Groq", "DeepSeek", "OpenRouter"):
        dialog.get_by_role("button", name=f"Add {name} to the route").click()
    expect(members_field.locator(".field-msg")).to_be_hidden()
    expect(dialog.locator(".form-error")).to_be_hidden()
    assert form_order(dialog) == ["Groq", "DeepSeek", "OpenRouter"]
    expect(dialog.get_by_text("Every saved provider is in the route.")).to_be_visible()

    up = dialog.get_by_role("button", name="Move OpenRouter up")
    up.click()
    assert form_order(dialog) == ["Groq", "OpenRouter", "DeepSeek"]
    expect(up).to_be_focused()  # the focus stays on the arrow, so it can be pressed again
    expect(dialog.get_by_role("status")).to_have_text("OpenRouter moved to position 2 of 3.")
    expect(dialog.get_by_role("button", name="Move Groq up")).to_be_disabled()
    expect(dialog.get_by_role("button", name="Move DeepSeek down")).to_be_disabled()

    # Dragged by its row onto the top half of the first row: DeepSeek goes first.
    rows = dialog.locator(".member-row")
    rows.filter(has_text="DeepSeek").drag_to(rows.first, target_position={"x": 40, "y": 3})
    assert form_order(dialog) == ["DeepSeek", "Groq", "OpenRouter"]
    dialog.get_by_text("Round-robin").click()
    expect(dialog.locator(".strategy-option").filter(has_text="Round-robin")).to_contain_text(
        "each request starts one provider further down the list"
    )
    dialog.get_by_text("Failover", exact=True).click()
    screenshot_matrix(page, "routes-form")

    dialog.get_by_role("button", name="Create route").click()
    expect(dialog).to_be_hidden()
    card = route_card(page, "Main line")
    expect(card.locator(".member-name")).to_have_text(["DeepSeek", "Groq", "OpenRouter"])
    expect(card.locator(".route-strategy")).to_have_text("Failover")
    expect(card.locator(".card-name")).to_have_text("main-line")
    stored = the_route(routed)
    assert stored["members"] == [deepseek["id"], groq["id"], openrouter["id"]]
    assert (stored["name"], stored["strategy"]) == ("main-line", "failover")


def test_a_name_taken_by_a_provider_is_refused_next_to_the_name(
    page: Any, routed: RunningApp
) -> None:
    routed.add_provider(name="groq", displayName="Groq")
    open_routes(page).get_by_role("button", name="Create a route").click()
    dialog = page.locator("dialog.route-dialog")
    dialog.get_by_label("Display name").fill("Groq pair")
    dialog.get_by_label("Name", exact=True).fill("GROQ")
    dialog.get_by_role("button", name="Add Groq to the route").click()
    dialog.get_by_role("button", name="Create route").click()
    name_field = dialog.locator(".field[data-field=name]")
    expect(name_field.locator(".field-msg")).to_have_text("A provider already uses this name.")
    expect(dialog.get_by_label("Name", exact=True)).to_be_focused()
    assert routed.rpc("getAllRoutes")["routes"] == []


def test_editing_a_route_changes_its_strategy_and_circuits_show_live(
    page: Any, routed: RunningApp
) -> None:
    upstream = routed.upstream
    healthy = Reply.json({"object": "list", "data": [{"id": MODEL}]})
    upstream.script("/flaky/v1/models", healthy)
    upstream.script("/flaky/v1/chat/completions", chat_reply(["ok"]))
    steady = routed.add_provider(name="steady", displayName="Steady")
    rejected = routed.add_provider(
        name="rejected", displayName="Rejected", baseURL=f"{upstream.url}/bad/v1"
    )
    flaky = routed.add_provider(
        name="flaky", displayName="Flaky", baseURL=f"{upstream.url}/flaky/v1"
    )
    # An unhealthy check opens a circuit at once.
    assert routed.rpc("checkCustomProviderHealth", rejected["id"])["status"]["status"] == (
        "unhealthy"
    )
    add_route(routed, [steady["id"], rejected["id"], flaky["id"]])
    open_routes(page)
    card = route_card(page, "Main")
    chip = member(card, "Rejected").locator(".circuit-chip")
    expect(chip).to_have_text(re.compile(r"^Paused, reopens in (30|[12]\d|[1-9]) s$"))
    expect(member(card, "Rejected").locator(".circuit-why")).to_contain_text("AUTH_FAILED")
    expect(member(card, "Flaky").locator(".circuit-chip")).to_have_text("Available")
    expect(page.locator("routes-view .view-subtitle")).to_have_text("1 route · 1 provider paused")

    # The screen follows the circuits without a reload: Flaky fails a check (open), then
    # passes one, which lets one probe through (half-open).
    upstream.script("/flaky/v1/models", Reply.json(SERVER_ERROR, status=500))
    assert routed.rpc("checkCustomProviderHealth", flaky["id"])["status"]["status"] == "unhealthy"
    expect(member(card, "Flaky").locator(".circuit-chip")).to_have_text(
        re.compile(r"^Paused, reopens in")
    )
    expect(member(card, "Flaky").locator(".circuit-why")).to_contain_text("UPSTREAM_ERROR")
    upstream.script("/flaky/v1/models", healthy)
    assert routed.rpc("checkCustomProviderHealth", flaky["id"])["success"]
    expect(member(card, "Flaky").locator(".circuit-chip")).to_have_text("Probing")
    expect(member(card, "Flaky")).to_have_attribute("data-circuit", "half-open")
    expect(member(card, "Steady").locator(".circuit-chip")).to_have_text("Available")
    expect(page.locator("routes-view .view-subtitle")).to_have_text("1 route · 1 provider paused")
    screenshot_matrix(page, "routes-list")

    page.get_by_role("button", name="Edit Main").click()
    dialog = page.locator("dialog.route-dialog")
    expect(dialog.get_by_label("Display name")).to_be_focused()
    dialog.get_by_text("Fastest").click()
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".route-strategy")).to_have_text("Fastest")
    assert the_route(routed)["strategy"] == "fastest"
    assert the_route(routed)["members"] == [steady["id"], rejected["id"], flaky["id"]]


def test_a_route_whose_providers_were_removed_is_shown_with_a_warning(
    page: Any, routed: RunningApp
) -> None:
    gone = routed.add_provider(name="gone", displayName="Gone")
    add_route(routed, [gone["id"]], displayName="Orphan", name="orphan")
    assert routed.rpc("removeCustomProvider", gone["id"])["success"]
    open_routes(page)
    card = route_card(page, "Orphan")
    expect(card.locator(".route-warning")).to_contain_text("No providers left")
    expect(card.locator(".route-count")).to_have_text("0 providers")


def test_removing_a_route_asks_first_and_keeps_its_providers(page: Any, routed: RunningApp) -> None:
    groq = routed.add_provider(name="groq", displayName="Groq")
    add_route(routed, [groq["id"]])
    open_routes(page)
    page.get_by_role("button", name="Remove Main").click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("Remove “Main”?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Remove route").click()
    expect(page.locator("route-card")).to_have_count(0)
    expect(page.locator(".routes-empty")).to_be_visible()
    assert routed.rpc("getAllRoutes")["routes"] == []
    assert [p["name"] for p in routed.providers()] == ["groq"]


# What the test seeded, which stays as it is in any language, and the words of the fake
# upstream's refusal ("Incorrect API key provided."), which the circuit's reason quotes.
NAMES = ("Steady", "Rejected", "main", MODEL, "Incorrect", "provided")


def test_the_screen_and_the_form_speak_chinese(page: Any, chinese: RunningApp) -> None:
    steady = chinese.add_provider(name="steady", displayName="Steady")
    rejected = chinese.add_provider(
        name="rejected", displayName="Rejected", baseURL=f"{chinese.upstream.url}/bad/v1"
    )
    assert chinese.rpc("checkCustomProviderHealth", rejected["id"])["success"]
    add_route(chinese, [steady["id"], rejected["id"]], displayName="主线路")
    reload_list(page)
    view = open_routes(page)
    expect(view.locator(".view-title")).to_have_text("路由")
    expect(view.locator(".view-subtitle")).to_have_text("1 条路由 · 1 个服务商已熔断")
    card = route_card(page, "主线路")
    expect(card.locator(".route-strategy")).to_have_text("故障转移")
    expect(card.locator(".route-count")).to_have_text("2 个服务商")
    expect(member(card, "Steady").locator(".circuit-chip")).to_have_text("可用")
    expect(member(card, "Rejected").locator(".circuit-chip")).to_have_text(
        re.compile(r"^已熔断，([12]?\d|30) 秒后恢复$")
    )
    left = element_english(view, NAMES)
    assert left == [], left

    card.get_by_role("button", name="编辑 主线路").click()
    dialog = page.locator("dialog.route-dialog")
    expect(dialog.locator(".dialog-title")).to_have_text("编辑 主线路")
    expect(dialog.locator(".strategy-name")).to_have_text(["故障转移", "轮询", "最快优先"])
    dialog.get_by_role("button", name="下移 Steady").click()
    expect(dialog.get_by_role("status")).to_have_text("Steady 已移到第 2 位（共 2 个）。")
    left = element_english(dialog, NAMES)
    assert left == [], left


# --- routes in the chat ---------------------------------------------------------------------


def test_routes_are_offered_after_the_providers_and_hide_the_model_picker(
    page: Any, routed: RunningApp
) -> None:
    groq = routed.add_provider(name="groq", displayName="Groq")
    deepseek = routed.add_provider(name="deepseek", displayName="DeepSeek")
    route = add_route(routed, [groq["id"], deepseek["id"]])
    open_chat(page)
    picker = page.get_by_label("Provider", exact=True)
    groups = picker.locator("optgroup")
    expect(groups.last).to_have_attribute("label", "Routes")
    expect(groups.last.locator("option")).to_have_text(["Main · failover: Groq, DeepSeek"])
    model = page.get_by_role("combobox", name="Model")
    expect(model).to_be_visible()

    picker.select_option(route["id"])
    expect(model).to_be_hidden()
    expect(page.locator("chat-provider-picker health-badge")).to_be_hidden()
    expect(page.get_by_role("textbox", name="Message")).to_have_attribute(
        "placeholder", "Message Main"
    )
    picker.select_option(groq["id"])
    expect(model).to_be_visible()


@pytest.fixture
def failover(routed: RunningApp) -> dict[str, Any]:
    """A failover route Main of three providers: Groq answers 500, DeepSeek's port refuses
    connections, OpenRouter answers."""
    upstream = routed.upstream
    upstream.script("/broken/v1/chat/completions", Reply.json(SERVER_ERROR, status=500))
    groq = routed.add_provider(name="groq", displayName="Groq", baseURL=f"{upstream.url}/broken/v1")
    deepseek = routed.add_provider(
        name="deepseek",
        displayName="DeepSeek",
        baseURL=f"http://127.0.0.1:{closed_port()}/v1",
        model="deepseek-chat",
    )
    openrouter = routed.add_provider(name="openrouter", displayName="OpenRouter")
    route = add_route(routed, [groq["id"], deepseek["id"], openrouter["id"]])
    return {"route": route, "groq": groq, "deepseek": deepseek, "openrouter": openrouter}


ANSWERED = "Answered by OpenRouter — Groq failed (500), DeepSeek could not be reached"


def test_a_reply_through_a_route_says_who_answered_and_who_failed_before(
    page: Any, routed: RunningApp, failover: dict[str, Any]
) -> None:
    routed.upstream.script("/v1/chat/completions", chat_reply(["Hello ", "from the third."]))
    open_chat(page)
    page.get_by_label("Provider", exact=True).select_option(failover["route"]["id"])
    with page.expect_request("**/api/chat/stream") as asked:
        send_message(page, "Who answers?")
    body = asked.value.post_data_json
    assert body["providerId"] == failover["route"]["id"]
    assert "model" not in body  # the server refuses a model with a route
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "done")
    expect(reply.locator(".msg-content")).to_have_text("Hello from the third.")
    expect(reply.locator(".msg-route")).to_have_text(ANSWERED)
    expect(reply.locator(".msg-author")).to_have_text("OpenRouter")
    expect(reply.locator(".msg-model")).to_have_text(MODEL)
    sent = [r.path for r in routed.upstream.requests if r.path.endswith("/chat/completions")]
    assert sent == ["/broken/v1/chat/completions", "/v1/chat/completions"]

    reload_chat(page)
    reply = last_reply(page)
    expect(reply.locator(".msg-route")).to_have_text(ANSWERED)
    expect(reply.locator(".msg-author")).to_have_text("OpenRouter")
    expect(page.get_by_label("Provider", exact=True)).to_have_value(failover["route"]["id"])
    screenshot_matrix(page, "chat-route-answered")


def test_when_every_member_fails_the_error_card_shows_and_the_line_lists_them(
    page: Any, routed: RunningApp, failover: dict[str, Any]
) -> None:
    routed.upstream.script("/v1/chat/completions", Reply.json(SERVER_ERROR, status=503))
    open_chat(page)
    page.get_by_label("Provider", exact=True).select_option(failover["route"]["id"])
    send_message(page, "Anyone there?")
    reply = last_reply(page)
    expect(reply).to_have_attribute("data-status", "error")
    expect(reply.locator("chat-error .chat-error")).to_be_visible()
    line = (
        "No provider answered — Groq failed (500), DeepSeek could not be reached, "
        "OpenRouter failed (503)"
    )
    expect(reply.locator(".msg-route")).to_have_text(line)
    expect(reply.locator(".msg-author")).to_have_text("Main")  # the route: no member answered
    reload_chat(page)
    reply = last_reply(page)
    expect(reply.locator(".msg-route")).to_have_text(line)
    expect(reply.locator(".msg-author")).to_have_text("Main")
    expect(reply.locator(".msg-model")).to_have_text("")
    screenshot_matrix(page, "chat-route-all-failed")


def test_the_line_is_there_while_the_reply_streams(
    page: Any, routed: RunningApp, failover: dict[str, Any]
) -> None:
    # OpenRouter sends its first words, then nothing until the reply is stopped.
    routed.upstream.script("/v1/chat/completions", chat_reply(["Hello ", "later"], hang_after=2))
    open_chat(page)
    page.get_by_label("Provider", exact=True).select_option(failover["route"]["id"])
    send_message(page, "Who answers?")
    reply = last_reply(page)
    expect(reply.locator(".msg-content")).to_have_text("Hello")
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(reply.locator(".msg-route")).to_have_text(ANSWERED)
    expect(reply.locator(".msg-author")).to_have_text("OpenRouter")
    page.get_by_role("button", name="Stop").click()
    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".msg-route")).to_have_text(ANSWERED)


PHRASES = """async () => {
  const { routeLine } = await import("/js/lib/route-attempts.js");
  const codes = ["RATE_LIMITED", "UPSTREAM_ERROR", "CONNECTION_FAILED", "TIMEOUT", "AUTH_FAILED",
    "QUOTA_EXCEEDED", "MODEL_NOT_FOUND", "INVALID_RESPONSE"];
  const said = (code) => (code === "UPSTREAM_ERROR" ? "A server error (HTTP 502)." : "…");
  const failed = codes.map((code, i) => ({ providerName: `P${i}`, outcome: "failed", code,
    message: said(code) }));
  const skipped = { providerName: "Paused", outcome: "skipped", code: "TIMEOUT", message: "…" };
  const answering = { providerName: "DeepSeek", outcome: "answering", code: null, message: null };
  const line = (attempts, status = "done") => {
    const l = routeLine({ routeId: "r", status, attempts });
    return l && [l.lead, l.name, l.rest].filter(Boolean).join(" | ");
  };
  return {
    answered: line([...failed, skipped, answering]),
    first: line([answering]),
    trying: line([failed[0]], "streaming"),
    direct: routeLine({ routeId: null, status: "done", attempts: null }),
  };
}"""


def test_each_way_a_member_fails_reads_as_a_short_phrase(page: Any) -> None:
    lines = page.evaluate(PHRASES)
    assert lines == {
        "answered": "Answered by | DeepSeek | P0 was rate limited (429), P1 failed (502), "
        "P2 could not be reached, P3 timed out, P4 refused the key, P5 is out of quota, "
        "P6 does not have the model, P7 answered in a way the app could not read, "
        "Paused skipped (circuit open)",
        "first": "Answered by | DeepSeek",
        "trying": "P0 was rate limited (429) — trying the next provider…",
        "direct": None,
    }
