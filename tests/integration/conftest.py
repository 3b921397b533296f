"""Fixtures shared by the integration tests (`service` is suite-wide, in tests/conftest.py)."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything our code, httpx and httpcore log, down to DEBUG."""
    for name in ("miaoda", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog
