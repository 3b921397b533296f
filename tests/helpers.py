"""Helpers shared by the whole suite: the canary key, the rule for missing prerequisites (fail in
CI, skip with advice locally), where artifacts go, and small fakes and builders.

Test modules and conftest files import these from here; conftest files hold only fixtures and
hooks.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

# A key that must never show up anywhere but the secret store. Tests scan for it.
CANARY_KEY = "sk-canary-7f3e9b1c4d2a8e6f0b5c9d3e1a7f4b2c"
IN_CI = bool(os.environ.get("CI"))


def require(condition: bool, reason: str) -> None:
    """Skip locally (with how to enable) when a prerequisite is missing; fail in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


def artifacts_dir() -> Path:
    """Where tests save screenshots and reports (ignored by git)."""
    path = Path(
        os.environ.get("MIAODA_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def keyring_usable() -> bool:
    """True when a real, secure Secret Service keyring answers (as under ./dev test)."""
    from backend.errors import KeyringUnavailable
    from backend.secrets import KeyringSecretStore

    try:
        KeyringSecretStore()
    except KeyringUnavailable:
        return False
    return True


class FakeTools:
    """Provider tools for bridge tests that need no network."""

    def __init__(self) -> None:
        self.models = ["model-a", "model-b"]

    def list_models(self, config: Any, api_key: str | None) -> list[str]:
        return list(self.models)

    def templates(self) -> list[dict[str, Any]]:
        return [{"id": "openai", "displayName": "OpenAI"}]


class ScriptedCheck:
    """A connection check whose outcome a test sets; records what it was asked."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls: list[tuple[Any, str | None]] = []

    def __call__(self, config: Any, api_key: str | None) -> Any:
        from backend.models import HealthStatus

        self.calls.append((config, api_key))
        if self.error is not None:
            raise self.error
        return HealthStatus(
            config.id, config.name, status="healthy", response_time=42, check_kind="chat"
        )


def provider_config(**overrides: Any) -> dict[str, Any]:
    """A valid add request; keyword overrides replace fields (None removes one)."""
    config: dict[str, Any] = {
        "name": "groq",
        "displayName": "Groq",
        "baseURL": "https://api.groq.com/openai/v1",
        "model": "llama-3.3-70b-versatile",
        "type": "openai-compatible",
        "apiKey": CANARY_KEY,
    }
    for key, value in overrides.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


def files_containing(folder: Path, needle: str) -> list[Path]:
    """Every file below `folder` whose bytes contain `needle`."""
    raw = needle.encode()
    return [p for p in folder.rglob("*") if p.is_file() and raw in p.read_bytes()]


T = TypeVar("T")


def run_async(scenario: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(scenario())` on a thread of its own: the test session's main thread may
    already run an event loop (Playwright's sync API keeps one while the e2e browser is open),
    and asyncio.run refuses to start inside one."""
    box: list[T] = []
    failure: list[BaseException] = []

    def main() -> None:
        async def run() -> T:
            return await scenario()

        try:
            box.append(asyncio.run(run()))
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=main, name="run-async")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return box[0]
