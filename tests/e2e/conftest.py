"""Browser end-to-end fixtures: the real app (`python -m backend serve`) as a subprocess, a fake
LLM upstream it talks to, and Debian's Chromium driven by Playwright.

One browser per session; one app (with its own data folder) per test module, emptied before each
test; one browser context per test, so every test starts from an empty list and a fresh page.
Helpers (the running app's handle, screenshots, the chat view) are in tests/e2e/helpers.py.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    MODEL,
    RECORD_TYPED_SECRETS,
    PageWatch,
    RunningApp,
    script_openai,
    script_rejecting,
    serve,
)
from tests.fakes.upstream import FakeUpstream
from tests.helpers import require


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, shared by the whole session."""
    require(CHROMIUM.exists(), "needs Debian's chromium: run ./dev test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shared_upstream() -> Iterator[FakeUpstream]:
    """The fake provider server of a test module."""
    with FakeUpstream() as fake:
        yield fake


@pytest.fixture
def upstream(shared_upstream: FakeUpstream) -> FakeUpstream:
    """Overrides the suite-wide `upstream`: the module's shared fake server (the one the app
    talks to), scripted as an OpenAI-compatible provider at /v1 and a key-rejecting one at
    /bad/v1."""
    shared_upstream.requests.clear()
    script_openai(shared_upstream, "/v1", (MODEL, "llama-3.3-70b-versatile", "other-model"))
    script_rejecting(shared_upstream)
    return shared_upstream


@pytest.fixture(scope="module")
def served_app(
    tmp_path_factory: pytest.TempPathFactory, shared_upstream: FakeUpstream
) -> Iterator[RunningApp]:
    """`python -m backend serve` in its own data folder, stopped with SIGTERM after the module."""
    root = tmp_path_factory.mktemp("miaoda")
    running = serve(root / "data", root / "serve-stderr.txt", shared_upstream)
    process = running.process
    try:
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def app(served_app: RunningApp, upstream: FakeUpstream) -> RunningApp:
    """The module's app emptied of routes, of providers (and so of keys, checks and history)
    and of conversations. Routes go first: a route outlives its providers' removal."""
    for route in served_app.rpc("getAllRoutes")["routes"]:
        assert served_app.rpc("removeRoute", route["id"])["success"]
    for provider in served_app.providers():
        assert served_app.rpc("removeCustomProvider", provider["id"])["success"]
    served_app.remove_conversations()
    return served_app


@pytest.fixture
def watch() -> PageWatch:
    """The dialogs and errors of `page`; either fails the test at teardown."""
    return PageWatch()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context at 1280x800 that accepts downloads."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    ctx.set_default_timeout(10_000)
    ctx.add_init_script(RECORD_TYPED_SECRETS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any, app: RunningApp, watch: PageWatch) -> Iterator[Any]:
    """The app opened from the link `miaoda serve` printed; fails the test on a page error."""
    tab = context.new_page()

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    tab.on("console", lambda msg: watch.errors.append(msg.text) if msg.type == "error" else None)
    tab.goto(app.url)
    tab.locator("providers-view .view-subtitle").filter(has_not_text="Loading").wait_for()
    yield tab
    assert watch.errors == [], f"the page reported errors: {watch.errors}"
    assert watch.dialogs == [], f"the page opened dialogs: {watch.dialogs}"
