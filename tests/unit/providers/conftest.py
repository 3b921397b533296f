"""Fixtures for the provider-layer tests: a real fake upstream and a service that never sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.providers import ProviderService
from tests.fakes.upstream import SleepRecorder


@pytest.fixture
def sleeps() -> SleepRecorder:
    """The retry delays the service asked for (it does not really wait)."""
    return SleepRecorder()


@pytest.fixture
def service(sleeps: SleepRecorder) -> Iterator[ProviderService]:
    """A provider service whose retry backoff is recorded instead of waited."""
    svc = ProviderService(sleep=sleeps)
    yield svc
    svc.close()
