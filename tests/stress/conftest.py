"""Fixtures for the stress suite and the markdown report it writes at the end.

The app under test is the real one (`MiaodaApp`, waitress on 127.0.0.1, file secret store)
talking to a real local fake upstream. Provider timeouts and retry backoff are shortened so
fault cases finish in about a second: `MiaodaApp` builds its own `ProviderService`, so the
fixture swaps the class it uses for one with small `ProviderTimeouts` and a fast `RetryPolicy`.
"""

from __future__ import annotations

import functools
import json
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.providers import ProviderService
from backend.providers.retry import RetryPolicy
from backend.providers.transport import ProviderTimeouts
from tests.conftest import CANARY_KEY, artifacts_dir
from tests.fakes.upstream import FakeUpstream

TOKEN = "stress-token"
CHAT_PATH = "/v1/chat/completions"
# Short enough for a quick suite, long enough that a loaded CI box does not time out by accident.
READ_TIMEOUT = 1.5
CONNECT_TIMEOUT = 3.0
TIMEOUTS = ProviderTimeouts(
    connect=CONNECT_TIMEOUT, read=READ_TIMEOUT, write=5.0, pool=5.0, chat_read=READ_TIMEOUT
)
FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=lambda: 0.0)


@pytest.fixture
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MiaodaApp]:
    """The real app with short provider timeouts, serving on an OS-chosen loopback port."""
    service = functools.partial(ProviderService, timeouts=TIMEOUTS, retry=FAST_RETRY)
    monkeypatch.setattr("backend.app.ProviderService", service)
    instance = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


def add_provider(app: MiaodaApp, base_url: str, name: str = "fake", **extra: Any) -> str:
    """Add an openai-compatible provider (without a check) and return its id."""
    config = {
        "name": name,
        "displayName": name.title(),
        "baseURL": base_url,
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKey": CANARY_KEY,
        **extra,
    }
    result = app.bridge().addCustomProvider(config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


@pytest.fixture
def provider_id(app: MiaodaApp, upstream: FakeUpstream) -> str:
    return add_provider(app, upstream.url + "/v1")


def api_headers(token: str = TOKEN) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-MiaoDa-Token": token}


def chat_body(provider_id: str, text: str = "Hello") -> dict[str, Any]:
    return {"providerId": provider_id, "messages": [{"role": "user", "content": text}]}


def parse_events(raw: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of an SSE body; comment lines are skipped."""
    events = []
    for block in raw.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        kind = next(line[7:] for line in lines if line.startswith("event: "))
        data = json.loads("\n".join(line[6:] for line in lines if line.startswith("data: ")))
        events.append((kind, data))
    return events


def stream_chat(
    url: str, provider_id: str, text: str = "Hello", timeout: float = 20.0
) -> tuple[str, list[tuple[str, Any]], float]:
    """POST /api/chat/stream; the raw body, its events and the wall time in seconds."""
    started = time.monotonic()
    response = httpx.post(
        f"{url}/api/chat/stream",
        json=chat_body(provider_id, text),
        headers=api_headers(),
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return response.text, parse_events(response.text), elapsed


def assert_well_formed(events: list[tuple[str, Any]]) -> None:
    """`start` first and `done` last, exactly once each; an error is followed by done/error."""
    kinds = [kind for kind, _ in events]
    assert kinds and kinds[0] == "start", kinds
    assert kinds[-1] == "done", kinds
    assert kinds.count("start") == 1 and kinds.count("done") == 1, kinds
    if "error" in kinds:
        assert kinds.count("error") == 1 and kinds[-2] == "error", kinds
        assert events[-1][1]["finishReason"] == "error"


# --- the report ------------------------------------------------------------------------------

CATEGORIES = {
    "test_upstream_faults": "Upstream faults (/api/chat/stream and /api/chat)",
    "test_secret_canary": "Secret canary sweep",
    "test_server_attacks": "Local server attacks",
    "test_fuzz_bridge": "Fuzzing: bridge arguments, import files, SSE parser",
    "test_load": "Load (concurrent streams + health + CRUD)",
    "test_crash_imports": "Crash safety: SIGKILL during imports and bridge writes",
    "test_atheris": "Coverage-guided fuzzing (atheris): SSE parser, import files",
    "test_canary_ui": "Secret canary in the UI: page text behind every screenshot",
}
_outcomes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
_started = time.monotonic()


def _category(nodeid: str) -> str | None:
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return CATEGORIES.get(module)


def record(report: pytest.TestReport) -> None:
    """Count one test report in its category (called by tests/conftest.py for every test)."""
    category = _category(report.nodeid)
    if category is None:
        return
    name = report.nodeid.split("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed (known bug)" if report.skipped else "XPASS"
        elif report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = "failed" if report.when == "call" else "error"
        _outcomes[category][outcome].append(name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _outcomes:
        return
    lines = [
        "# MiaoDa Chat stress report",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"session time {time.monotonic() - _started:.1f} s.",
        "",
        "Every case runs the real app (waitress on 127.0.0.1, file secret store) against a real",
        "local fake upstream; provider read timeout "
        f"{READ_TIMEOUT} s, connect timeout {CONNECT_TIMEOUT} s for the fault cases.",
        "Run it with `./dev test tests/stress`.",
        "",
        "| category | tried | passed | known bugs (xfail) | failed | skipped |",
        "|---|---|---|---|---|---|",
    ]
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        counts = _outcomes[category]
        tried = sum(len(v) for v in counts.values())
        failed = len(counts["failed"]) + len(counts["error"]) + len(counts["XPASS"])
        lines.append(
            f"| {category} | {tried} | {len(counts['passed'])} | "
            f"{len(counts['xfailed (known bug)'])} | {failed} | {len(counts['skipped'])} |"
        )
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        counts = _outcomes[category]
        bad = {k: v for k, v in counts.items() if k != "passed" and v}
        if not bad:
            continue
        lines += ["", f"## {category}", ""]
        for outcome, names in sorted(bad.items()):
            lines += [f"- {outcome}: `{name}`" for name in names]
    lines += ["", "## Cases tried", ""]
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        cases = sorted(
            (name, outcome) for outcome, names in _outcomes[category].items() for name in names
        )
        lines += [f"<details><summary>{category} ({len(cases)})</summary>", ""]
        lines += [f"- {outcome}: `{name}`" for name, outcome in cases]
        lines += ["", "</details>", ""]
    if _notes:
        lines += ["", "## Measurements", ""]
        lines += [f"- {note}" for note in _notes]
    (artifacts_dir() / "stress-report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


_notes: list[str] = []


def note(text: str) -> None:
    """Add a line to the report's measurements section (e.g. memory figures)."""
    _notes.append(text)
    print(text)
