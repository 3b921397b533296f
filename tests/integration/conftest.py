"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from backend.providers import ProviderService


@pytest.fixture
def service() -> Iterator[ProviderService]:
    """A provider service with the default settings."""
    svc = ProviderService()
    yield svc
    svc.close()
