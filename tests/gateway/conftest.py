"""Fixtures for the gateway tests: the fake provider behind LiteLLM, the proxy, and the real app.

The proxy is started once for this folder (installing `.venv-gateway` first when needed) and
stopped after its last test. When it cannot be installed or started, its tests skip locally with the
reason and fail in CI (`require`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import MiaodaApp
from backend.providers import ProviderService
from backend.providers.transport import ProviderTimeouts
from tests.fakes.upstream import FakeUpstream, SleepRecorder
from tests.gateway import proxy
from tests.helpers import CANARY_KEY, require
from tests.stress import report
from tests.stress.helpers import TOKEN

# Roomier than the stress suite's: a gateway adds a hop, and its first answers are the slowest.
TIMEOUTS = ProviderTimeouts(connect=5.0, read=20.0, write=5.0, pool=5.0, chat_read=20.0)


@pytest.fixture(scope="package")
def relay() -> Iterator[FakeUpstream]:
    """The fake provider LiteLLM's `relay` model forwards to (tests script its replies)."""
    with FakeUpstream() as server:
        yield server


@pytest.fixture(scope="package")
def gateway(
    relay: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[proxy.Gateway | str]:
    """The running LiteLLM proxy (its master key is the canary key), or why it could not be
    had; `gateway_url` turns the reason into a skip or, in CI, a failure."""
    try:
        running = proxy.start(tmp_path_factory.mktemp("litellm"), CANARY_KEY, relay.url)
    except proxy.GatewayUnavailable as exc:
        yield str(exc)
        return
    report.note(
        f"LiteLLM proxy: venv {running.install_seconds:.1f} s (0 when reused), "
        f"start to live {running.start_seconds:.1f} s"
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def gateway_url(gateway: proxy.Gateway | str) -> str:
    """The proxy's base URL (no /v1); skips locally, fails in CI, when there is no proxy."""
    if isinstance(gateway, str):
        require(
            False,
            "needs the LiteLLM proxy, installed from PyPI into .venv-gateway from "
            f"requirements/gateway.txt on first use; it could not be had: {gateway}",
        )
    assert isinstance(gateway, proxy.Gateway)
    if gateway.process.poll() is not None:
        pytest.fail(f"the LiteLLM proxy has exited:\n{gateway.log_tail()}")
    return gateway.url


@pytest.fixture
def app(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, sleeps: SleepRecorder
) -> Iterator[MiaodaApp]:
    """The real app on a loopback port, with the default retry policy whose waits are recorded
    in `sleeps`, not slept (a 7 s Retry-After costs nothing)."""
    service = functools.partial(ProviderService, timeouts=TIMEOUTS, sleep=sleeps)
    monkeypatch.setattr("backend.app.ProviderService", service)
    instance = MiaodaApp(data_dir, secret_backend="file", token=TOKEN, chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()
