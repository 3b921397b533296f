"""Fixtures shared by the whole suite, and the suite-wide hooks.

Helpers (the canary key, `require`, `provider_config`, ...) live in tests/helpers.py; import them
from there, not from a conftest.

The real objects build on each other: `data_dir` -> `storage`, `secret_store` -> `manager` (with
`check`) -> `monitor` -> `bridge`, and `retry_sleep` -> `service`. A module that needs a variant
overrides the smallest building block (`secret_store` to use only the file store, `retry_sleep`
to record backoff instead of waiting) rather than redefining `manager` or `service`.
"""

from __future__ import annotations

import asyncio
import locale
import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# English wherever the language setting is "system" (it follows the OS locale), whatever the
# machine's locale: this process and every app the suite starts run in the C locale. Python
# read the locale when it started, hence setlocale as well as the environment.
os.environ.update({"LANG": "C.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""})
locale.setlocale(locale.LC_ALL, "C.UTF-8")

# Helper modules get pytest's detailed assert messages too; this must run before their import.
pytest.register_assert_rewrite(
    "tests.helpers", "tests.stress.helpers", "tests.e2e.helpers", "tests.gui.helpers"
)

from tests.helpers import FakeTools, ScriptedCheck, keyring_usable, require  # noqa: E402

# Suites whose printed figures (sizes, timings) belong in the run's output, even when captured.
FIGURE_SUITES = ("tests/packaging/",)


@pytest.fixture(autouse=True)
def english_messages() -> Iterator[None]:
    """Every test starts and ends with the backend's messages in English: the language is one
    setting for the whole process (backend.i18n), so a test that switches it must not leak."""
    from backend import i18n

    i18n.set_language("en")
    yield
    i18n.set_language("en")


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


@pytest.fixture
def file_secret_store(data_dir: Path) -> Any:
    """The encrypted file secret store in the test's data folder."""
    from backend.secrets import EncryptedFileSecretStore

    return EncryptedFileSecretStore(data_dir)


@pytest.fixture(params=["file", "keyring"])
def secret_store(request: pytest.FixtureRequest, data_dir: Path) -> Any:
    """Each real secret backend in turn: the encrypted file and the OS keyring."""
    from backend.secrets import KeyringSecretStore

    if request.param == "keyring":
        require(keyring_usable(), "needs a Secret Service keyring: run ./dev test")
        return KeyringSecretStore()
    return request.getfixturevalue("file_secret_store")


@pytest.fixture
def storage(data_dir: Path) -> Iterator[Any]:
    """A real SQLite store in the test's data folder."""
    from backend.storage import Storage

    store = Storage(data_dir / "miaoda.db")
    yield store
    store.close()


@pytest.fixture
def check() -> ScriptedCheck:
    """The connection check of `manager` and `monitor`: healthy unless a test sets `.error`."""
    return ScriptedCheck()


@pytest.fixture
def manager(storage: Any, secret_store: Any, check: Any) -> Any:
    """The real manager over real storage and `secret_store` (each real backend by default)."""
    from backend.manager import CustomProviderManager

    return CustomProviderManager(storage, secret_store, check=check)


@pytest.fixture
def monitor(manager: Any, storage: Any, check: Any) -> Iterator[Any]:
    """The real health monitor over `manager`, checking with `check`; closed after the test."""
    from backend.health.monitor import HealthMonitor

    health = HealthMonitor(manager, storage, check)
    yield health
    health.close()


@pytest.fixture
def bridge(manager: Any, monitor: Any, data_dir: Path) -> Any:
    """The real bridge (no dialogs) over the real manager and `monitor`."""
    from backend.bridge import AppInfo, Bridge

    info = AppInfo(
        str(data_dir),
        "test",
        lambda: "test store",
        str(data_dir / "logs" / "miaoda.log"),
        lambda: None,
        "t0k",
    )
    return Bridge(manager, monitor, FakeTools(), info)


@pytest.fixture
def sleeps() -> Any:
    """Records the retry delays a provider service asks for, without waiting (see `retry_sleep`)."""
    from tests.fakes.upstream import SleepRecorder

    return SleepRecorder()


@pytest.fixture
def retry_sleep() -> Callable[[float], Awaitable[None]]:
    """How `service` waits out retry backoff: really (asyncio.sleep). Override with `sleeps`."""
    return asyncio.sleep


@pytest.fixture
def service(retry_sleep: Callable[[float], Awaitable[None]]) -> Iterator[Any]:
    """A provider service with the default settings, waiting out retries with `retry_sleep`."""
    from backend.providers import ProviderService

    svc = ProviderService(sleep=retry_sleep)
    yield svc
    svc.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Put the stress-report notes a test made on its report (see tests/stress/report.py)."""
    from tests.stress.report import NOTE, take_pending

    report = yield
    report.user_properties.extend((NOTE, text) for text in take_pending())
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Feed the stress report with every test wherever it lives (the UI canary test is in
    tests/e2e): pytest sends this hook only to conftest files on the test's own path."""
    from tests.stress.report import record

    record(report)


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


ORPHAN_WAIT = 10.0
"""Seconds the MCP servers of the run have, after the last test, to be gone."""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when an MCP server it started is still alive (issue 20: no orphan MCP
    processes, also after the app was killed): waits up to ORPHAN_WAIT for the last ones, then
    reports and kills them."""
    import contextlib
    import signal
    import time

    from tests.fakes.mcp import leftover_servers

    deadline = time.monotonic() + ORPHAN_WAIT
    left = leftover_servers()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the process table: nothing to wait on for another's exit
        left = leftover_servers()
    if not left:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = ["MCP server processes outlived the test run (orphans):"]
    lines += [f"{pid}: {command}" for pid, command in left]
    if reporter is not None:
        reporter.write("\n")  # after the progress line
    for line in lines:
        if reporter is not None:
            reporter.write_line(line, red=True)
        else:
            print(line)
    for pid, _ in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
