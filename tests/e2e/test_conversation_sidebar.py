"""The conversation sidebar in a real browser: groups by local day with pinned on top, opening
and switching, "New conversation" that keeps the open one, inline rename, pin, delete with undo
(and without), collapse, and the drawer at 800x600. Conversations are seeded through the real
app: `POST /api/chat` in the conversation form against the fake upstream."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

# The seeding and sidebar helpers live in tests/e2e/helpers.py; they are imported here by name
# too, so a module that took them from this one keeps working.
from tests.e2e.helpers import (
    CHAT_PATH,
    XSS,
    PageWatch,
    RunningApp,
    answer_plainly,  # noqa: F401 - importable from here
    backdate,
    chat_once,  # noqa: F401 - importable from here
    chat_reply,
    item,
    last_reply,
    open_sidebar,
    reload_chat,
    screenshot_matrix,
    seed,
    send_message,
    settle_drawer_open,
    settle_layout,
    sidebar,
    start_conversation,  # noqa: F401 - importable from here
    titles,
    wait_until,
)

pytestmark = pytest.mark.browser

# frontend/js/components/conversation-undo.js
UNDO_MS = 8000
GRACE_MS = 10000
STORE_KEY = "miaoda.pendingConversationDeletes"


def current_id(page: Any) -> str | None:
    """The conversation the URL opens."""
    result: str | None = page.evaluate(
        "async () => (await import('/js/services/conversation-service.js'))"
        ".conversationFromHash().id"
    )
    return result


# --- the tests --------------------------------------------------------------------------------


def test_the_list_is_grouped_by_local_day_with_pinned_on_top(page: Any, app: RunningApp) -> None:
    ids = seed(
        app, "Old pinned notes", "Older plan", "Last week idea", "Yesterday recap", "Today chat"
    )
    backdate(app, ids["Old pinned notes"], 40)
    backdate(app, ids["Older plan"], 30)
    backdate(app, ids["Last week idea"], 4)
    backdate(app, ids["Yesterday recap"], 1)
    assert app.rpc("updateConversation", ids["Old pinned notes"], {"pinned": True})["success"]
    side = open_sidebar(page)

    expect(side.locator(".conv-group-title")).to_have_text(
        ["Pinned", "Today", "Yesterday", "Previous 7 days", "Older"]
    )
    expect(titles(side)).to_have_text(
        ["Old pinned notes", "Today chat", "Yesterday recap", "Last week idea", "Older plan"]
    )
    pinned = side.locator('.conv-group[data-group="pinned"] conversation-item')
    expect(pinned.locator(".conv-pin-mark")).to_be_visible()
    screenshot_matrix(page, "sidebar-groups", settle=lambda p: settle_drawer_open(p))


def test_the_local_day_groups_follow_the_calendar(page: Any) -> None:
    now = "2026-03-10T09:30:00"  # local time of the browser
    cases = {
        "2026-03-10T00:01:00": "today",
        "2026-03-09T23:59:00": "yesterday",
        "2026-03-09T00:00:00": "yesterday",
        "2026-03-08T23:00:00": "week",
        "2026-03-03T00:00:00": "week",
        "2026-03-02T23:59:00": "older",
        "2026-03-11T08:00:00": "today",  # a clock a little ahead: not the future group
    }
    got = page.evaluate(
        """async ([now, stamps]) => {
            const { groupOf } = await import('/js/components/conversation-sidebar.js');
            const at = new Date(now);
            return stamps.map((s) => groupOf({ updatedAt: new Date(s).toISOString() }, at));
        }""",
        [now, list(cases)],
    )
    assert got == list(cases.values())


def test_opening_and_switching_highlights_the_open_conversation(page: Any, app: RunningApp) -> None:
    ids = seed(app, "First topic", "Second topic")
    side = open_sidebar(page)
    item(side, "First topic").locator(".conv-link").click()
    expect(page).to_have_url(f"{app.base}/#/chat/{ids['First topic']}")
    expect(item(side, "First topic").locator(".conv-link")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.locator("chat-message.msg-user")).to_contain_text("First topic")

    second = item(side, "Second topic").locator(".conv-link")
    second.focus()
    page.keyboard.press("Enter")
    expect(page.locator("chat-message.msg-user")).to_contain_text("Second topic")
    expect(second).to_have_attribute("aria-current", "page")
    expect(item(side, "First topic").locator(".conv-link")).not_to_have_attribute(
        "aria-current", "page"
    )
    expect(second).to_be_focused()  # switching conversations does not move the focus away


def test_new_conversation_keeps_the_open_one(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Keep me around")
    side = open_sidebar(page)
    item(side, "Keep me around").locator(".conv-link").click()
    expect(page.locator("chat-message.msg-user")).to_contain_text("Keep me around")
    side.get_by_role("button", name="New conversation").click()
    expect(page).to_have_url(f"{app.base}/#/chat/new")
    expect(page.locator("chat-message")).to_have_count(0)
    expect(titles(side)).to_have_text(["Keep me around"])
    expect(side.locator("conversation-item.is-current")).to_have_count(0)
    assert app.rpc("getConversation", ids["Keep me around"])["success"]


def test_a_sent_message_lists_the_new_conversation_and_switching_keeps_both(
    page: Any, app: RunningApp
) -> None:
    seed(app, "Earlier topic")
    app.upstream.script(CHAT_PATH, chat_reply(["Hello", "!"]))  # the chat view streams
    side = open_sidebar(page)
    item(side, "Earlier topic").locator(".conv-link").click()
    expect(page.locator("chat-message.msg-user")).to_contain_text("Earlier topic")
    side.get_by_role("button", name="New conversation").click()
    expect(page).to_have_url(f"{app.base}/#/chat/new")

    send_message(page, "Plan the garden for spring")
    expect(last_reply(page)).to_have_attribute("data-status", "done")
    expect(titles(side)).to_have_text(["Plan the garden for spring", "Earlier topic"])
    current = side.locator("conversation-item.is-current .conv-title")
    expect(current).to_have_text("Plan the garden for spring")
    screenshot_matrix(page, "sidebar-new-sent", settle=settle_drawer_open)

    item(side, "Earlier topic").locator(".conv-link").click()
    expect(page.locator("chat-message.msg-user .msg-bubble")).to_have_text(["Earlier topic"])
    expect(current).to_have_text("Earlier topic")
    expect(titles(side)).to_have_text(["Plan the garden for spring", "Earlier topic"])
    screenshot_matrix(page, "sidebar-switched", settle=settle_drawer_open)


def test_rename_inline_saves_on_enter_and_cancels_on_escape(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Draft name")
    side = open_sidebar(page)
    entry = item(side, "Draft name")
    entry.hover()
    entry.get_by_role("button", name="Rename “Draft name”").click()
    box = side.get_by_role("textbox", name="Conversation title")
    expect(box).to_be_focused()
    expect(box).to_have_value("Draft name")
    box.fill("Not this")
    box.press("Escape")
    expect(titles(side)).to_have_text(["Draft name"])

    entry.hover()
    entry.get_by_role("button", name="Rename “Draft name”").click()
    box.fill("   ")
    box.press("Enter")
    expect(side.locator(".conv-rename-note")).to_have_text("A title can't be empty.")
    expect(box).to_have_attribute("aria-invalid", "true")
    box.fill("Trip to 杭州")
    screenshot_matrix(page, "sidebar-rename", settle=lambda p: settle_rename(p, "Trip to 杭州"))
    box.press("Enter")
    expect(titles(side)).to_have_text(["Trip to 杭州"])
    expect(side.locator("conversation-item .conv-link")).to_be_focused()
    assert app.rpc("getConversation", ids["Draft name"])["conversation"]["title"] == "Trip to 杭州"
    reload_chat(page)
    expect(titles(sidebar(page))).to_have_text(["Trip to 杭州"])


def settle_rename(page: Any, typed: str) -> None:
    """Show a rename in progress at each size: a narrow window closes the drawer (and the
    input, whose blur keeps what was typed), so open both again."""
    side = settle_layout(page)
    box = side.get_by_role("textbox", name="Conversation title")
    if not box.count():
        entry = side.locator("conversation-item").first
        entry.hover()
        entry.locator(".conv-action").first.click()
        box.fill(typed)
    expect(box).to_be_visible()


def test_pin_moves_a_conversation_to_the_top(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Alpha", "Beta", "Gamma")
    side = open_sidebar(page)
    expect(titles(side)).to_have_text(["Gamma", "Beta", "Alpha"])
    entry = item(side, "Alpha")
    entry.hover()
    entry.get_by_role("button", name="Pin “Alpha”").click()
    expect(side.locator(".conv-group-title")).to_have_text(["Pinned", "Today"])
    expect(titles(side)).to_have_text(["Alpha", "Gamma", "Beta"])
    unpin = entry.get_by_role("button", name="Unpin “Alpha”")
    expect(unpin).to_have_attribute("aria-pressed", "true")
    assert app.rpc("getConversation", ids["Alpha"])["conversation"]["pinned"] is True
    screenshot_matrix(page, "sidebar-pinned", settle=lambda p: settle_drawer_open(p))
    entry.hover()
    unpin.click()
    expect(side.locator(".conv-group-title")).to_have_text(["Today"])


def test_delete_then_undo_keeps_the_conversation(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Precious", "Other")
    side = open_sidebar(page)
    item(side, "Precious").locator(".conv-link").click()
    expect(page.locator("chat-message.msg-user")).to_contain_text("Precious")
    entry = item(side, "Precious")
    entry.hover()
    entry.get_by_role("button", name="Delete “Precious”").click()

    expect(titles(side)).to_have_text(["Other"])
    expect(page).to_have_url(f"{app.base}/#/chat/new")  # it was open: a new one instead
    toast = page.locator(".undo-toast")
    expect(toast).to_contain_text("Conversation deleted")
    expect(toast).to_contain_text("Precious")
    undo = toast.get_by_role("button", name="Undo")
    undo.focus()  # the timer waits while the toast has the focus: however slow the screenshots
    screenshot_matrix(page, "sidebar-delete-toast")
    undo.click()
    expect(toast).to_have_count(0)
    expect(titles(side)).to_have_text(["Other", "Precious"])
    assert app.rpc("getConversation", ids["Precious"])["success"]

    reload_chat(page)
    expect(titles(sidebar(page))).to_have_text(["Other", "Precious"])
    assert app.rpc("getConversation", ids["Precious"])["success"]


def test_delete_without_undo_removes_it_when_the_toast_ends(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Disposable", "Stays")
    side = open_sidebar(page)
    entry = item(side, "Disposable")
    entry.hover()
    entry.get_by_role("button", name="Delete “Disposable”").click()
    expect(titles(side)).to_have_text(["Stays"])
    page.mouse.move(0, 0)  # the timer pauses under the pointer
    assert app.rpc("getConversation", ids["Disposable"])["success"], (
        "deferred while undo is offered"
    )
    expect(page.locator(".undo-toast")).to_have_count(0, timeout=UNDO_MS + 5000)
    assert wait_gone(app, ids["Disposable"])
    reload_chat(page)
    expect(titles(sidebar(page))).to_have_text(["Stays"])


def wait_gone(app: RunningApp, conversation_id: str) -> bool:
    """True once the app no longer has `conversation_id` (the delete is asynchronous)."""
    return wait_until(lambda: not app.rpc("getConversation", conversation_id)["success"], 5)


def test_a_reload_during_the_undo_window_still_deletes(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Leaving now", "Staying")
    side = open_sidebar(page)
    entry = item(side, "Leaving now")
    entry.hover()
    entry.get_by_role("button", name="Delete “Leaving now”").click()
    expect(titles(side)).to_have_text(["Staying"])
    reload_chat(page)
    expect(titles(sidebar(page))).to_have_text(["Staying"])
    assert wait_gone(app, ids["Leaving now"])


def delete_from_list(side: Any, title: str) -> None:
    """Press the trash button of `title` in the sidebar."""
    entry = item(side, title)
    entry.hover()
    entry.get_by_role("button", name=f"Delete “{title}”").click()


def another_tab(context: Any, app: RunningApp, watch: PageWatch) -> Any:
    """A second page of the same browser (so the same localStorage), opened from the link."""
    tab = context.new_page()
    tab.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    tab.goto(app.url)
    return tab


def test_another_tab_leaves_a_delete_to_the_tab_offering_undo(
    page: Any, app: RunningApp, context: Any, watch: PageWatch
) -> None:
    ids = seed(app, "Shared plans", "Other")
    side = open_sidebar(page)
    delete_from_list(side, "Shared plans")
    undo = page.locator(".undo-toast").get_by_role("button", name="Undo")
    undo.focus()  # the timer waits while the toast has the focus

    second = another_tab(context, app, watch)  # a fresh load while Undo is offered
    other = open_sidebar(second)
    expect(titles(other)).to_have_text(["Other"])  # hidden there too
    expect(second.locator(".undo-toast")).to_have_count(0)  # Undo is the first tab's
    assert app.rpc("getConversation", ids["Shared plans"])["success"], "not deleted yet"

    undo.click()
    expect(titles(side)).to_have_text(["Other", "Shared plans"])
    expect(titles(other)).to_have_text(["Other", "Shared plans"])  # shown again there too
    assert app.rpc("getConversation", ids["Shared plans"])["success"]


def test_a_delete_whose_tab_vanished_is_finished_by_another_after_the_grace(
    page: Any, app: RunningApp, context: Any, watch: PageWatch
) -> None:
    ids = seed(app, "Left behind", "Other")
    page.add_init_script(SILENT_EXIT)  # ahead of the app's own `pagehide` listeners
    page.reload()
    second = context.new_page()
    second.clock.install()  # to let the grace pass without waiting for it
    second.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    second.goto(app.url)
    other = open_sidebar(second)
    side = open_sidebar(page)
    delete_from_list(side, "Left behind")
    expect(titles(other)).to_have_text(["Other"])

    page.evaluate("window.e2eSilentExit = true")
    page.close()  # as a crash or a discarded tab would: the app hears nothing
    second.wait_for_timeout(500)
    assert app.rpc("getConversation", ids["Left behind"])["success"], "the owner may be slow"

    second.clock.fast_forward(GRACE_MS + 3000)
    assert wait_gone(app, ids["Left behind"])
    expect(titles(other)).to_have_text(["Other"])
    assert wait_until(lambda: pending_deletes(second) == [])


# Keeps `pagehide` from the app once `window.e2eSilentExit` is set (a listener added first runs
# first, and stops the others).
SILENT_EXIT = """addEventListener("pagehide", (event) => {
  if (window.e2eSilentExit) event.stopImmediatePropagation();
})"""


def pending_deletes(page: Any) -> list[Any]:
    """The pending deletes recorded in the browser's localStorage."""
    stored: list[Any] = page.evaluate(f"JSON.parse(localStorage.getItem({STORE_KEY!r}) || '[]')")
    return stored


def test_a_page_back_from_the_back_forward_cache_drops_its_stale_undo(
    page: Any, app: RunningApp
) -> None:
    ids = seed(app, "Cached away", "Other")
    side = open_sidebar(page)
    delete_from_list(side, "Cached away")
    expect(page.locator(".undo-toast")).to_have_count(1)
    # Playwright's Chromium runs without the back/forward cache: send its events as it would.
    page.evaluate("dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true }))")
    assert wait_gone(app, ids["Cached away"]), "the delete goes out as the page is hidden"
    page.evaluate("dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true }))")
    expect(page.locator(".undo-toast")).to_have_count(0)
    expect(titles(side)).to_have_text(["Other"])
    assert wait_until(lambda: pending_deletes(page) == [])


def test_deleting_a_conversation_drops_its_unsent_draft(page: Any, app: RunningApp) -> None:
    ids = seed(app, "With a draft", "Other")
    side = open_sidebar(page)
    item(side, "With a draft").locator(".conv-link").click()
    expect(page.locator("chat-message.msg-user")).to_contain_text("With a draft")
    page.get_by_role("textbox", name="Message").fill("half a thought, never sent")
    key = f"miaoda.chat.draft.{ids['With a draft']}"  # frontend/js/lib/chat-store.js
    assert page.evaluate(f"localStorage.getItem({key!r})") == "half a thought, never sent"

    delete_from_list(side, "With a draft")
    page.locator(".undo-toast").get_by_role("button", name="Delete now").click()
    assert wait_gone(app, ids["With a draft"])
    assert wait_until(lambda: page.evaluate(f"localStorage.getItem({key!r})") is None)


def test_an_xss_title_stays_text_in_the_sidebar(page: Any, app: RunningApp) -> None:
    seed(app, XSS)
    side = open_sidebar(page)
    expect(titles(side)).to_have_text([XSS])
    expect(side.locator("img")).to_have_count(0)
    entry = item(side, XSS)
    entry.hover()
    expect(entry.get_by_role("button", name=f"Rename “{XSS}”")).to_be_visible()


def test_a_long_title_is_cut_short_and_keeps_its_buttons_in_view(
    page: Any, app: RunningApp
) -> None:
    long_title = "Planning the vegetable garden for spring: beds, seeds, watering and compost"
    seed(app, long_title, "Short one")
    side = open_sidebar(page)
    entry = item(side, "Planning the vegetable garden")
    entry.hover()
    panel = side.locator(".conv-scroll").bounding_box()
    title = entry.locator(".conv-title")
    delete = entry.get_by_role("button", name=f"Delete “{long_title}”")
    assert panel and (box := delete.bounding_box())
    assert box["x"] + box["width"] <= panel["x"] + panel["width"], "the buttons stay in view"
    assert title.evaluate("el => el.scrollWidth > el.clientWidth"), "cut short with an ellipsis"


def test_collapse_is_remembered(page: Any, app: RunningApp) -> None:
    seed(app, "Something")
    side = open_sidebar(page)
    hide = side.get_by_role("button", name="Hide conversations")
    expect(hide).to_have_attribute("aria-expanded", "true")
    hide.click()
    expect(side.locator(".conv-panel")).to_be_hidden()
    show = side.get_by_role("button", name="Show conversations")
    expect(show).to_be_focused()
    expect(side.get_by_role("button", name="New conversation")).to_be_visible()  # the rail
    reload_chat(page)
    side = sidebar(page)
    expect(side.locator(".conv-panel")).to_be_hidden()
    screenshot_matrix(page, "sidebar-collapsed")
    side.get_by_role("button", name="Show conversations").click()
    expect(titles(side)).to_have_text(["Something"])


def test_the_drawer_at_800x600(page: Any, app: RunningApp) -> None:
    ids = seed(app, "Small screen chat", "Another one")
    page.set_viewport_size({"width": 800, "height": 600})
    side = open_sidebar(page)
    expect(side).to_have_attribute("data-drawer", "")
    expect(side.locator(".conv-panel")).to_be_hidden()  # starts closed when narrow
    show = side.get_by_role("button", name="Show conversations")
    show.click()
    panel = side.locator(".conv-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_role("button", name="New conversation")).to_be_focused()
    box = panel.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 800 and box["height"] <= 600
    screenshot_matrix(page, "sidebar-drawer", settle=lambda p: settle_drawer_open(p))

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(show).to_be_focused()

    show.click()
    expect(panel).to_be_visible()
    page.mouse.click(700, 300)  # outside the drawer
    expect(panel).to_be_hidden()

    show.click()
    item(side, "Small screen chat").locator(".conv-link").click()
    expect(panel).to_be_hidden()
    expect(page).to_have_url(f"{app.base}/#/chat/{ids['Small screen chat']}")
    expect(page.locator("chat-message.msg-user")).to_contain_text("Small screen chat")


def test_show_more_pages_through_a_long_list(page: Any, app: RunningApp) -> None:
    provider = app.add_provider()
    for n in range(55):
        assert app.rpc(
            "createConversation", {"title": f"Bulk {n:02d}", "providerId": provider["id"]}
        )["success"]
    side = open_sidebar(page)
    expect(side.locator("conversation-item")).to_have_count(50)
    side.locator(".conv-scroll").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(side.locator("conversation-item")).to_have_count(55)
    expect(side.get_by_role("button", name="Show more")).to_be_hidden()
    expect(titles(side).last).to_have_text("Bulk 00")


def test_the_empty_state(page: Any, app: RunningApp) -> None:
    side = open_sidebar(page)
    expect(side.locator(".conv-state")).to_contain_text("No conversations yet")
    assert current_id(page) is None
