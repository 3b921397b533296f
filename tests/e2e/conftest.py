"""Browser end-to-end fixtures: the real app (`python -m backend serve`) as a subprocess, a fake
LLM upstream it talks to, and Debian's Chromium driven by Playwright.

One browser per session; one app (with its own data folder) per test module, emptied before each
test; one browser context per test, so every test starts from an empty list and a fresh page.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CANARY_KEY, artifacts_dir, require
from tests.fakes.upstream import FakeUpstream, Reply, openai_chunk, openai_stream, openai_usage

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TOKEN = "e2e-token-5b7c1d9a"
REPO = Path(__file__).resolve().parents[2]
SERVE_LINE = re.compile(r"MiaoDa Chat is running at (http://127\.0\.0\.1:\d+)/#token=(\S+)")
MODEL = "fake-model"
XSS = "<img src=x onerror=alert(1)>"


@dataclass
class RunningApp:
    """A `miaoda serve` process and how to reach it."""

    base: str
    token: str
    data_dir: Path
    process: subprocess.Popen[str]
    upstream: FakeUpstream

    @property
    def url(self) -> str:
        """The link `miaoda serve` printed (token in the fragment)."""
        return f"{self.base}/#token={self.token}"

    def rpc(self, method: str, *args: Any) -> dict[str, Any]:
        """Call the app's API directly (to seed data or check what the UI did)."""
        request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 app
            f"{self.base}/api/rpc/{method}",
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json", "X-MiaoDa-Token": self.token},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            result: dict[str, Any] = json.load(response)
        return result

    def add_provider(self, **overrides: Any) -> dict[str, Any]:
        """Save a provider pointing at the fake upstream, without a connection test."""
        config: dict[str, Any] = {
            "name": "groq",
            "displayName": "Groq",
            "baseURL": f"{self.upstream.url}/v1",
            "model": MODEL,
            "type": "openai-compatible",
            "apiKey": CANARY_KEY,
        }
        config.update({k: v for k, v in overrides.items() if v is not None})
        for key in [k for k, v in overrides.items() if v is None]:
            config.pop(key, None)
        result = self.rpc("addCustomProvider", config, {"validate": False})
        assert result["success"], result
        provider: dict[str, Any] = result["provider"]
        return provider

    def providers(self) -> list[dict[str, Any]]:
        result = self.rpc("getAllCustomProviders")
        assert result["success"], result
        providers: list[dict[str, Any]] = result["providers"]
        return providers


def script_openai(
    upstream: FakeUpstream, prefix: str = "/v1", models: tuple[str, ...] = (MODEL,)
) -> None:
    """Make `prefix` an OpenAI-compatible endpoint that answers chats and lists `models`."""
    upstream.script(f"{prefix}/chat/completions", Reply.stream(openai_stream(["Hello", "!"])))
    upstream.script(
        f"{prefix}/models", Reply.json({"object": "list", "data": [{"id": m} for m in models]})
    )


def script_rejecting(upstream: FakeUpstream, prefix: str = "/bad/v1") -> None:
    """Make `prefix` an endpoint that refuses every key (HTTP 401)."""
    body = {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}
    upstream.script(f"{prefix}/chat/completions", Reply.json(body, status=401))
    upstream.script(f"{prefix}/models", Reply.json(body, status=401))


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
    """A fake OpenAI-compatible provider at /v1 and a key-rejecting one at /bad/v1."""
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
    data_dir = root / "data"
    env = {
        **os.environ,
        "MIAODA_DATA_DIR": str(data_dir),
        "MIAODA_SECRET_BACKEND": "file",
        "MIAODA_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    errors = root / "serve-stderr.txt"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--no-browser", "--port", "0"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = _first_line(process, errors, timeout=20)
        match = SERVE_LINE.search(line)
        assert match, f"unexpected first line from miaoda serve: {line!r}"
        yield RunningApp(match.group(1), match.group(2), data_dir, process, shared_upstream)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def app(served_app: RunningApp, upstream: FakeUpstream) -> RunningApp:
    """The module's app emptied of providers (and so of keys, checks and history)."""
    for provider in served_app.providers():
        assert served_app.rpc("removeCustomProvider", provider["id"])["success"]
    return served_app


def _first_line(process: subprocess.Popen[str], errors: Path, timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            process.kill()
            raise AssertionError(f"miaoda serve printed nothing within {timeout} s")
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=5)
        raise AssertionError(f"miaoda serve exited: {errors.read_text()[-2000:]}")
    return line


@dataclass
class PageWatch:
    """What the page did that a user would notice or a test must forbid."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context at 1280x800 that accepts downloads."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    ctx.set_default_timeout(10_000)
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


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot as a test artifact."""
    path = artifacts_dir() / "e2e" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), animations="disabled")
    return path


def reload_list(page: Any) -> None:
    """Reload the page (the token survives in sessionStorage) and wait for the list."""
    page.reload()
    page.locator("providers-view .view-subtitle").filter(has_not_text="Loading").wait_for()


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll `predicate` until true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


# --- the chat view ----------------------------------------------------------------------------

CHAT_PATH = "/v1/chat/completions"


def open_chat(page: Any) -> None:
    """Go to #/chat and wait until the view has loaded the providers (it does on each visit)."""
    page.evaluate("location.hash = '#/chat'")
    page.locator("chat-view[data-active][data-ready]").wait_for()


def reload_chat(page: Any) -> None:
    """Reload the page at #/chat (the token stays in sessionStorage) and wait for the view."""
    page.reload()
    page.locator("chat-view[data-active][data-ready]").wait_for()


def send_message(page: Any, text: str) -> None:
    """Type `text` in the composer and press Enter."""
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def last_reply(page: Any) -> Any:
    """The newest assistant message."""
    return page.locator("chat-message.msg-assistant").last


def chat_reply(
    pieces: list[str],
    *,
    reasoning: tuple[str, ...] = (),
    tool_calls: list[dict[str, Any]] | None = None,
    usage: tuple[int, int] | None = (12, 40),
    delay: float = 0.0,
    **options: Any,
) -> Reply:
    """An OpenAI-style stream: reasoning pieces, then text pieces, then tool calls and usage."""
    chunks = [openai_chunk({"role": "assistant", "content": ""})]
    chunks += [openai_chunk({"reasoning_content": r}) for r in reasoning]
    chunks += [openai_chunk({"content": p}) for p in pieces]
    for index, call in enumerate(tool_calls or []):
        function = {"name": call["name"], "arguments": call["arguments"]}
        wire = {"index": index, "id": call["id"], "type": "function", "function": function}
        chunks.append(openai_chunk({"tool_calls": [wire]}))
    chunks.append(openai_chunk({}, "tool_calls" if tool_calls else "stop"))
    if usage is not None:
        chunks.append(openai_usage(*usage))
    chunks.append(b"data: [DONE]\n\n")
    return Reply.stream(chunks, delay=delay, **options)
