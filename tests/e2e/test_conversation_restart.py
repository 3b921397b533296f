"""Conversations outlive the page and the app: a reload, and a second `miaoda serve` on the same
data folder, show what the first stored (open, and listed in the sidebar); and an app killed
(SIGKILL) during a slow stream leaves the partial reply, which the next start closes and the
thread marks "Interrupted" — never a connection error.

Each test runs its own app processes in its own data folder (not the module's `served_app`)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import (
    CHAT_PATH,
    PageWatch,
    RunningApp,
    chat_reply,
    item,
    last_reply,
    open_chat,
    reload_chat,
    screenshot_matrix,
    script_openai,
    send_message,
    serve,
    settle_drawer_open,
    sidebar,
)
from tests.fakes.upstream import FakeUpstream

pytestmark = pytest.mark.browser


class Apps:
    """Starts `miaoda serve` processes on one data folder, one at a time, and stops them all."""

    def __init__(self, root: Path, upstream: FakeUpstream) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.upstream = upstream
        self.running: list[subprocess.Popen[str]] = []

    def start(self) -> RunningApp:
        """A new app process on the shared data folder (its first line read)."""
        errors = self.root / f"serve-stderr-{len(self.running)}.txt"
        app = serve(self.data_dir, errors, self.upstream)
        self.running.append(app.process)
        return app

    def stop(self, app: RunningApp, sig: int = signal.SIGTERM) -> None:
        """Stop `app` with `sig` and wait for it to exit."""
        app.process.send_signal(sig)
        app.process.wait(timeout=10)

    def close(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()


@pytest.fixture
def apps(tmp_path: Path, upstream: FakeUpstream) -> Iterator[Apps]:
    """App processes of this test, on one data folder of their own."""
    script_openai(upstream)
    started = Apps(tmp_path, upstream)
    yield started
    started.close()


@pytest.fixture
def tab(context: Any, watch: PageWatch) -> Iterator[Any]:
    """A page of the test's browser context; fails the test on a page error or dialog."""
    page = context.new_page()
    page.on("dialog", lambda dialog: (watch.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    yield page
    # A killed app makes the page's pending requests fail: the browser logs those, not the app.
    errors = [e for e in watch.errors if "net::ERR" not in e and "Failed to load" not in e]
    assert errors == [], f"the page reported errors: {errors}"
    assert watch.dialogs == [], f"the page opened dialogs: {watch.dialogs}"


def open_app(page: Any, app: RunningApp, hash_: str = "") -> None:
    """Open `app` from its link, then go to `hash_` (the chat) and wait for the view."""
    page.goto(app.url)
    page.locator("providers-view .view-subtitle").filter(has_not_text="Loading").wait_for()
    open_chat(page)
    if hash_:
        page.evaluate(f"location.hash = {hash_!r}")
        page.locator("chat-view[data-thread=ready]").wait_for()


def test_a_reloaded_page_and_a_restarted_app_show_the_conversation(apps: Apps, tab: Any) -> None:
    first = apps.start()
    first.add_provider(name="groq", displayName="Groq")
    open_app(tab, first)
    send_message(tab, "Remember me after a restart")
    expect(last_reply(tab)).to_have_attribute("data-status", "done")
    cid = tab.locator("chat-view").get_attribute("data-conversation-id")
    assert cid

    reload_chat(tab)  # the URL names the conversation now
    expect_open(tab, cid)
    screenshot_matrix(tab, "restart-reloaded", settle=settle_drawer_open)
    apps.stop(first)

    second = apps.start()
    listed = second.rpc("listConversations")["conversations"]
    assert [c["id"] for c in listed] == [cid]
    open_app(tab, second, f"#/chat/{cid}")
    expect_open(tab, cid)
    screenshot_matrix(tab, "restart-restarted", settle=settle_drawer_open)


def expect_open(page: Any, conversation_id: str) -> None:
    """The thread shows the conversation sent before, and the sidebar lists it as the open one."""
    expect(page.locator("chat-view")).to_have_attribute("data-conversation-id", conversation_id)
    expect(page.locator("chat-message.msg-user .msg-bubble")).to_have_text(
        ["Remember me after a restart"]
    )
    expect(last_reply(page).locator(".msg-content")).to_have_text("Hello!")
    side = sidebar(page)
    expect(side.locator("conversation-item")).to_have_count(1)
    expect(item(side, "Remember me after a restart").locator(".conv-link")).to_have_attribute(
        "aria-current", "page"
    )


def test_a_killed_app_leaves_the_partial_reply_marked_interrupted(
    apps: Apps, tab: Any, upstream: FakeUpstream
) -> None:
    first = apps.start()
    first.add_provider(name="groq", displayName="Groq")
    upstream.script(CHAT_PATH, chat_reply([f"piece{i} " for i in range(60)], delay=0.25))
    open_app(tab, first)
    send_message(tab, "Write a long answer")
    expect(last_reply(tab).locator(".msg-content")).to_contain_text("piece5")
    cid = tab.locator("chat-view").get_attribute("data-conversation-id")
    assert cid
    apps.stop(first, signal.SIGKILL)

    second = apps.start()
    stored = second.rpc("getConversation", cid)["messages"][-1]
    assert stored["finishReason"] == "error"
    assert stored["error"]["code"] == "INTERNAL"
    assert stored["content"].startswith("piece0 piece1")
    # The old page is pointed at the new app (a new port) and opens the conversation.
    open_app(tab, second, f"#/chat/{cid}")
    reply = last_reply(tab)
    expect(reply).to_have_attribute("data-status", "interrupted")
    expect(reply.locator(".msg-flag")).to_have_text("Interrupted")
    expect(reply.locator(".msg-content")).to_contain_text("piece0 piece1")
    expect(tab.locator(".chat-error")).to_have_count(0)
    expect(tab.get_by_text("Can't connect")).to_have_count(0)
    screenshot_matrix(tab, "thread-interrupted")
