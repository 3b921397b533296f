"""Fixtures for the provider-layer tests: the suite-wide `service` and `sleeps` (tests/conftest.py),
with retry backoff recorded in `sleeps` instead of waited."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import SleepRecorder


@pytest.fixture
def retry_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """Provider-layer tests record the retry delays `service` asks for (it does not really wait)."""
    return sleeps
