"""Shared fixtures and the rule for missing prerequisites: fail in CI, skip with advice locally."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture
def upstream() -> Iterator[Any]:
    """A running fake LLM server (a real local HTTP server)."""
    from tests.fakes.upstream import FakeUpstream

    with FakeUpstream() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh data folder, also exported as MIAODA_DATA_DIR for code that reads the env."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("MIAODA_DATA_DIR", str(path))
    yield path


def keyring_usable() -> bool:
    """True when a real, secure Secret Service keyring answers (as under ./dev test)."""
    from backend.errors import KeyringUnavailable
    from backend.secrets import KeyringSecretStore

    try:
        KeyringSecretStore()
    except KeyringUnavailable:
        return False
    return True


@pytest.fixture(params=["file", "keyring"])
def secret_store(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    """Each real secret backend in turn: the encrypted file and the OS keyring."""
    from backend.secrets import EncryptedFileSecretStore, KeyringSecretStore

    if request.param == "keyring":
        require(keyring_usable(), "needs a Secret Service keyring: run ./dev test")
        return KeyringSecretStore()
    return EncryptedFileSecretStore(data_dir)


@pytest.fixture
def storage(data_dir: Path) -> Iterator[Any]:
    """A real SQLite store in the test's data folder."""
    from backend.storage import Storage

    store = Storage(data_dir / "miaoda.db")
    yield store
    store.close()


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


@pytest.fixture
def check() -> ScriptedCheck:
    return ScriptedCheck()


@pytest.fixture
def manager(storage: Any, secret_store: Any, check: ScriptedCheck) -> Any:
    """The real manager over real storage and each real secret backend."""
    from backend.manager import CustomProviderManager

    return CustomProviderManager(storage, secret_store, check=check)


@pytest.fixture
def bridge(manager: Any, storage: Any, check: ScriptedCheck, data_dir: Path) -> Any:
    """The real bridge (no dialogs) over the real manager."""
    from backend.bridge import AppInfo, Bridge
    from backend.health.monitor import HealthMonitor

    health = HealthMonitor(manager, storage, check)
    info = AppInfo(
        str(data_dir),
        "test",
        "test store",
        str(data_dir / "logs" / "miaoda.log"),
        lambda: None,
        "t0k",
    )
    return Bridge(manager, health, FakeTools(), info)


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


# Suites whose printed figures (sizes, timings) belong in the run's output, even when captured.
FIGURE_SUITES = ("tests/packaging/",)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Feed the stress report with every test wherever it lives (the UI canary test is in
    tests/e2e): pytest sends this hook only to conftest files on the test's own path."""
    from tests.stress import conftest as stress

    stress.record(report)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Repeat the figures the packaging tests printed (bundle and .deb sizes, launch time)."""
    lines: list[str] = []
    for report in terminalreporter.stats.get("passed", []):
        if report.nodeid.startswith(FIGURE_SUITES) and report.capstdout.strip():
            lines.extend(
                line
                for line in report.capstdout.splitlines()
                if any(word in line for word in ("MB", "size", "took", "ready", "Depends"))
            )
    if lines:
        terminalreporter.section("figures")
        for line in dict.fromkeys(lines):  # once each, in order
            terminalreporter.write_line(line)
