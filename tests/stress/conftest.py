"""Fixtures for the stress suite and the hook that writes its markdown report at the end.

The app under test is the real one (`MiaodaApp`, waitress on 127.0.0.1, file secret store)
talking to a real local fake upstream. Provider timeouts and retry backoff are shortened so
fault cases finish in about a second: `MiaodaApp` builds its own `ProviderService`, so the
fixture swaps the class it uses for one with small `ProviderTimeouts` and a fast `RetryPolicy`.
Helpers live in tests/stress/helpers.py, the report in tests/stress/report.py.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import MiaodaApp
from backend.providers import ProviderService
from tests.fakes.upstream import FakeUpstream
from tests.stress import report
from tests.stress.helpers import FAST_RETRY, TIMEOUTS, TOKEN, add_provider


@pytest.fixture
def app(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MiaodaApp]:
    """The real app with short provider timeouts, serving on an OS-chosen loopback port."""
    service = functools.partial(ProviderService, timeouts=TIMEOUTS, retry=FAST_RETRY)
    monkeypatch.setattr("backend.app.ProviderService", service)
    instance = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


@pytest.fixture
def provider_id(app: MiaodaApp, upstream: FakeUpstream) -> str:
    """The id of a provider (canary key, no check) on the fake upstream's /v1, in `app`."""
    return add_provider(app, upstream.url + "/v1")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the stress report (test-artifacts/stress-report.md) when stress tests ran."""
    report.write()
