"""Helpers for the browser end-to-end tests: the running app and how to reach it, scripting the
fake upstream, screenshots with the page text behind them (scanned for the canary key), driving
the provider list and the chat view, and seeding stored conversations and finding them in the
sidebar. The fixtures are in tests/e2e/conftest.py."""

from __future__ import annotations

import json
import os
import re
import selectors
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.fakes.upstream import FakeUpstream, Reply, openai_chunk, openai_stream, openai_usage
from tests.helpers import CANARY_KEY, artifacts_dir

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

    def remove_conversations(self) -> None:
        """Delete every stored conversation."""
        while True:
            listed = self.rpc("listConversations", {"limit": 200})
            assert listed["success"], listed
            if not listed["conversations"]:
                return
            for conversation in listed["conversations"]:
                assert self.rpc("deleteConversation", conversation["id"])["success"]

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


def first_line(process: subprocess.Popen[str], errors: Path, timeout: float) -> str:
    """The first line `process` printed; fails if it printed none within `timeout` seconds or
    exited (showing the end of `errors`, its stderr)."""
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


def serve(
    data_dir: Path, errors: Path, upstream: FakeUpstream, *, allow_stdio_tools: bool = False
) -> RunningApp:
    """`python -m backend serve` on `data_dir` (encrypted-file secrets, the e2e token), its
    stderr in `errors`, once it has printed its address; `allow_stdio_tools` lets the browser
    add stdio tool servers (`--allow-stdio-tools`)."""
    env = {
        **os.environ,
        "MIAODA_DATA_DIR": str(data_dir),
        "MIAODA_SECRET_BACKEND": "file",
        "MIAODA_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
        # "Open data folder" / "Open log" must not start a desktop program during the tests.
        "MIAODA_OPEN_WITH": "true",
    }
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "backend", "serve", "--no-browser", "--port", "0"),
                *(("--allow-stdio-tools",) if allow_stdio_tools else ()),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        line = first_line(process, errors, timeout=20)
        match = SERVE_LINE.search(line)
        assert match, f"unexpected first line from miaoda serve: {line!r}"
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    return RunningApp(match.group(1), match.group(2), data_dir, process, upstream)


@dataclass
class PageWatch:
    """What the page did that a user would notice or a test must forbid."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot as a test artifact, with the page's text beside it (`<name>.txt`), and
    fail if that text holds the canary key or a piece of it (see `canary_fragments_in`)."""
    path = artifacts_dir() / "e2e" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), animations="disabled")
    text = read_page_text(page)
    path.with_suffix(".txt").write_text(text.render(f"{name}.png"), encoding="utf-8")
    leaks = [f"{where} ({', '.join(labels[:2])}…)" for where, labels in text.leaks()]
    assert not leaks, f"the canary key is in the page behind {path.name}: {leaks}"
    return path


SCREEN_SIZES = ((1280, 800), (800, 600))
COLOR_SCHEMES = ("light", "dark")


def emulate_scheme(page: Any, scheme: str) -> None:
    """The OS colour scheme set to `scheme`, once the page shows it: with the theme setting
    "system" the page follows the OS on its next frame (`data-theme` on <html>)."""
    page.emulate_media(color_scheme=scheme)
    expect(page.locator("html")).to_have_attribute("data-theme", scheme)


def screenshot_matrix(page: Any, name: str, settle: Any = None) -> list[Path]:
    """Screenshots of the page as it is now at 1280x800 and 800x600, light and dark
    (`<name>-<width>x<height>-<scheme>.png`), each checked like `screenshot`; the viewport and
    colour scheme are put back afterwards. `settle(page)`, when given, runs after each change
    (e.g. to wait for a layout that depends on the width)."""
    before = page.viewport_size
    paths = []
    try:
        for width, height in SCREEN_SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for scheme in COLOR_SCHEMES:
                emulate_scheme(page, scheme)
                if settle is not None:
                    settle(page)
                paths.append(screenshot(page, f"{name}-{width}x{height}-{scheme}"))
    finally:
        page.emulate_media(color_scheme="light")
        if before:
            page.set_viewport_size(before)
    return paths


# --- the page text behind each screenshot ------------------------------------------------------

# How many trailing characters of a key the app shows on purpose (`sk-…4b2c`, backend key_hint).
HINT_TAIL = 4
# Attributes a key could hide in besides the rendered text and the form values.
TEXT_ATTRIBUTES = (
    "title",
    "aria-label",
    "aria-description",
    "aria-valuetext",
    "placeholder",
    "alt",
)


def canary_fragments(key: str = CANARY_KEY) -> dict[str, str]:
    """What of `key` must never be on a page, by label: the key; its tail one character longer
    than the hint shows (which any longer tail contains); and every 8-character window of its
    random part, for a key cut short at the front or in the middle (`sk-canary-7f3e9b1c…`)."""
    random_part = key.rsplit("-", 1)[-1]
    tail = key[-(HINT_TAIL + 1) :]
    fragments = {"the whole key": key, f"its last {HINT_TAIL + 1} characters": tail}
    for start in range(len(random_part) - 7):
        fragments[f"8 characters of it at {start}"] = random_part[start : start + 8]
    return fragments


CANARY_FRAGMENTS = canary_fragments()


def canary_fragments_in(text: str) -> list[str]:
    """The labels of the canary fragments that occur in `text`."""
    return [label for label, fragment in CANARY_FRAGMENTS.items() if fragment in text]


# Which password fields hold what the user typed: per <input type=password>, the value its last
# trusted `input` event (a user's keystroke or paste, or Playwright acting as one) left in it.
# Installed before any of the app's scripts run; script setting `.value` fires no such event.
RECORD_TYPED_SECRETS = """(() => {
  const typed = new WeakMap();
  Object.defineProperty(window, "__e2eTypedSecrets", { value: typed });
  document.addEventListener("input", (event) => {
    const el = event.composedPath()[0];
    if (!event.isTrusted || !(el instanceof HTMLInputElement)) return;
    if (el.type === "password") typed.set(el, el.value);
  }, true);
})()"""

# Everything a key could hide in: the rendered text (of the document and of any open shadow
# root; no component uses one today), the value of every input, textarea and select (and the
# options of selects and datalists), the attributes in TEXT_ATTRIBUTES, and the document title.
#
# One exemption, as narrow as it can be: an <input type=password> is left out while (1) it is in
# an open <dialog> (the add/edit form, the passphrase fields), (2) its value is exactly what the
# user typed into it (RECORD_TYPED_SECRETS) and (3) not empty. That is a key being entered and
# not yet saved, shown masked; without the exemption a screenshot of a filled-in form would fail
# on the very key the user is pasting. Everything else is scanned: a key the app put into a field
# itself (an edit form prefilled with the stored key), a key left in a field after its dialog
# closed, and a typed key shown with "Show the key you typed" (type=text).
PAGE_TEXT = """(attributes) => {
  const typed = window.__e2eTypedSecrets;
  const out = { title: document.title, body: document.body ? document.body.innerText : "" };
  Object.assign(out, { shadow: [], fields: [], attributes: [], exempt: [] });
  const labelled = (el) => el.getAttribute("aria-label") || (el.labels?.[0]?.textContent ?? "");
  const name = (el) => {
    let text = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "");
    if (el instanceof HTMLInputElement) text += `[type=${el.type}]`;
    const label = labelled(el).trim().slice(0, 60);
    return label ? `${text} "${label}"` : text;
  };
  const typedByUser = (el) =>
    el.type === "password" && el.value !== "" && el.closest("dialog[open]") !== null &&
    typed !== undefined && typed.get(el) === el.value;
  const roots = [document];
  for (let i = 0; i < roots.length; i += 1) {
    for (const el of roots[i].querySelectorAll("*")) {
      if (el.shadowRoot) {
        roots.push(el.shadowRoot);
        const parts = [...el.shadowRoot.childNodes].map((n) => n.innerText ?? n.textContent);
        out.shadow.push([name(el), parts.join("\\n")]);
      }
      for (const attr of attributes) {
        const value = el.getAttribute(attr);
        if (value) out.attributes.push([`${name(el)} @${attr}`, value]);
      }
      if (el instanceof HTMLInputElement && typedByUser(el)) {
        out.exempt.push([name(el), el.value.length]);
      } else if (el instanceof HTMLOptionElement) {
        out.fields.push([`${name(el.parentElement)} option`, `${el.value} | ${el.label}`]);
      } else if ("value" in el && el.matches("input, textarea, select") && el.value !== "") {
        out.fields.push([name(el), el.value]);
      }
    }
  }
  return out;
}"""


@dataclass
class PageText:
    """The text of a page at one moment, by where it was found."""

    title: str
    body: str
    shadow: list[tuple[str, str]]
    fields: list[tuple[str, str]]
    attributes: list[tuple[str, str]]
    exempt: list[tuple[str, int]]

    def entries(self) -> list[tuple[str, str]]:
        """(where, text) for everything scanned."""
        return [
            ("document title", self.title),
            ("body innerText", self.body),
            *[(f"shadow root of {where}", text) for where, text in self.shadow],
            *[(f"value of {where}", text) for where, text in self.fields],
            *[(f"attribute {where}", text) for where, text in self.attributes],
        ]

    def leaks(self) -> list[tuple[str, list[str]]]:
        """(where, [labels of the canary fragments found there]) for each place holding some
        (a list: many places share a description, e.g. `button @title`)."""
        found = [(where, canary_fragments_in(text)) for where, text in self.entries()]
        return [(where, labels) for where, labels in found if labels]

    def render(self, screenshot_name: str) -> str:
        """The text file saved beside the screenshot."""
        attributes = list(dict.fromkeys(self.attributes))
        return "\n".join(
            [
                f"# The page text behind {screenshot_name}, scanned for the canary key",
                "",
                "## document.title",
                self.title,
                "",
                "## document.body.innerText",
                self.body,
                "",
                f"## open shadow roots ({len(self.shadow)})",
                *[f"{where}: {text}" for where, text in self.shadow],
                "",
                f"## values of inputs, textareas, selects, options ({len(self.fields)})",
                *[f"{where} = {text}" for where, text in self.fields],
                "",
                f"## attributes {', '.join(TEXT_ATTRIBUTES)} ({len(attributes)} distinct)",
                *[f"{where} = {text}" for where, text in attributes],
                "",
                f"## not scanned: typed, unsaved password fields in an open dialog "
                f"({len(self.exempt)})",
                *[f"{where}: {length} characters, not recorded" for where, length in self.exempt],
                "",
            ]
        )


def read_page_text(page: Any) -> PageText:
    """Everything on `page` that a key could hide in (see PAGE_TEXT)."""
    raw = page.evaluate(PAGE_TEXT, list(TEXT_ATTRIBUTES))
    return PageText(
        title=raw["title"],
        body=raw["body"],
        shadow=[(where, text) for where, text in raw["shadow"]],
        fields=[(where, text) for where, text in raw["fields"]],
        attributes=[(where, text) for where, text in raw["attributes"]],
        exempt=[(where, length) for where, length in raw["exempt"]],
    )


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


# --- conversations ----------------------------------------------------------------------------
# Seeded through the real app (`POST /api/chat` in the conversation form, against the fake
# upstream), and found again in the chat view's sidebar.


def post_chat(app: RunningApp, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
    """`POST /api/chat` (no stream) with `body`; the answer's envelope, failed or not."""
    request = urllib.request.Request(  # noqa: S310 - always our own http://127.0.0.1 app
        f"{app.base}/api/chat",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-MiaoDa-Token": app.token},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            result: dict[str, Any] = json.load(response)
    except urllib.error.HTTPError as err:
        result = json.load(err)
    return result


def chat_once(app: RunningApp, body: dict[str, Any]) -> dict[str, Any]:
    """`post_chat`, which must succeed."""
    result = post_chat(app, body)
    assert result["success"], result
    return result


def start_conversation(app: RunningApp, provider_id: str, text: str) -> str:
    """A stored conversation whose first message is `text` (so titled by it); its id."""
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": text},
    }
    conversation_id: str = chat_once(app, body)["conversationId"]
    return conversation_id


def backdate(app: RunningApp, conversation_id: str, days: int) -> None:
    """Make `conversation_id` last updated `days` ago (seeding the date groups: the app only
    ever stamps the present)."""
    when = datetime.now(UTC) - timedelta(days=days)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with sqlite3.connect(app.data_dir / "miaoda.db", timeout=10) as db:
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (stamp, conversation_id))
    db.close()


def answer_plainly(app: RunningApp, text: str = "Noted.") -> None:
    """Make the fake upstream answer `POST /api/chat`'s non-streaming requests with `text`."""
    completion = {
        "id": "chatcmpl-seed",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    app.upstream.script(CHAT_PATH, Reply.json(completion))


def seed(app: RunningApp, *titles: str) -> dict[str, str]:
    """One conversation per title (oldest first, so the last is the newest): {title: id}."""
    answer_plainly(app)
    provider = app.add_provider()
    return {title: start_conversation(app, provider["id"], title) for title in titles}


def sidebar(page: Any) -> Any:
    """The chat view's sidebar, once it has listed the conversations."""
    page.locator("conversation-sidebar[data-ready]").wait_for()
    return page.locator("conversation-sidebar")


def open_sidebar(page: Any) -> Any:
    """Go to the chat view and return its loaded sidebar."""
    open_chat(page)
    return sidebar(page)


def titles(side: Any) -> Any:
    """The conversation titles in the order shown."""
    return side.locator("conversation-item:visible .conv-title")


def item(side: Any, title: str) -> Any:
    """The sidebar's item whose title contains `title`."""
    return side.locator("conversation-item", has=side.page.locator(".conv-title", has_text=title))


def settle_layout(page: Any) -> Any:
    """The sidebar once its layout follows the viewport (a media query's change event comes
    at the next frame), opened if it is a closed drawer."""
    side = page.locator("conversation-sidebar")
    if page.viewport_size["width"] < 900:
        expect(side).to_have_attribute("data-drawer", "")
    else:
        expect(side).not_to_have_attribute("data-drawer", "")
    if side.get_attribute("data-collapsed") is not None:
        side.locator(".conv-rail-toggle").click()
    return side


def settle_drawer_open(page: Any) -> None:
    """At 800x600 the sidebar is a drawer: open it so a screenshot shows the list (a
    `screenshot_matrix` settle)."""
    expect(settle_layout(page).locator(".conv-panel")).to_be_visible()
