"""Fixtures shared by the integration tests (`service` is suite-wide, in tests/conftest.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.app import MiaodaApp
from tests.integration.served import Call, rpc, serve


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything our code, httpx and httpcore log, down to DEBUG."""
    for name in ("miaoda", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    """The real app on the encrypted-file secret store, serving on a loopback port with the
    token "tok" (`rpc` and `post` below speak to it)."""
    instance = serve(data_dir)
    yield instance
    instance.close()


@pytest.fixture(params=["bridge", "rpc"])
def call(request: pytest.FixtureRequest, app: MiaodaApp) -> Call:
    """Call a method by name with positional arguments: on the bridge, or over HTTP."""
    if request.param == "bridge":
        bridge = app.bridge()
        return lambda method, *args: getattr(bridge, method)(*args)
    return lambda method, *args: rpc(app, method, *args)
