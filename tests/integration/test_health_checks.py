"""Health checks through the real provider layer against a real fake upstream server.

Each answer a provider can give becomes the right status and code; a check costs at most its
timeout; a check request carries only what it needs and the key never reaches a log line.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.app import MiaodaApp
from backend.health.monitor import HealthMonitor, HealthSettings
from backend.health.schedule import HealthScheduler
from backend.manager import CustomProviderManager
from backend.models import HealthStatus
from backend.providers import ProviderService
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import CANARY_KEY, files_containing, provider_config

MODEL = "fake-model"
TIMEOUT = 1.0


def models(*ids: str) -> Reply:
    return Reply.json({"object": "list", "data": [{"id": i} for i in ids]})


def error(status: int, message: str, **headers: str) -> Reply:
    return Reply.json({"error": {"message": message}}, status, headers)


def hanging(seconds: float, reply: Reply | None = None) -> Reply:
    late = reply or models(MODEL)
    late.hang_before_headers = seconds
    return late


@pytest.fixture
def secret_store(file_secret_store: EncryptedFileSecretStore) -> EncryptedFileSecretStore:
    """Health checks do not depend on the secret backend: only the file store."""
    return file_secret_store


@pytest.fixture
def monitor(
    manager: CustomProviderManager, storage: Storage, service: ProviderService
) -> Iterator[HealthMonitor]:
    """Checks through the real provider `service`, with a TIMEOUT-second limit."""
    settings = HealthSettings(timeout_seconds=TIMEOUT, slow_threshold_ms=300)
    health = HealthMonitor(manager, storage, service, settings=settings)
    yield health
    health.close()


def add(manager: CustomProviderManager, base_url: str, name: str = "p", **fields: Any) -> str:
    config = provider_config(name=name, baseURL=base_url, model=MODEL, **fields)
    provider, _ = manager.add(config, validate=False)
    return provider.id


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check(monitor: HealthMonitor, provider_id: str) -> tuple[HealthStatus, float]:
    started = time.monotonic()
    status = monitor.check(provider_id)
    return status, time.monotonic() - started


# --- every answer gets the right status --------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (models("other", MODEL), ("healthy", None, 200, True)),
        (hanging(0.5), ("degraded", None, 200, True)),  # slower than the 300 ms threshold
        (models("other"), ("degraded", "MODEL_NOT_FOUND", 200, False)),
        (error(401, "Incorrect API key provided"), ("unhealthy", "AUTH_FAILED", 401, None)),
        (error(429, "Slow down", **{"retry-after": "20"}), ("degraded", "RATE_LIMITED", 429, None)),
        (error(500, "Internal error"), ("unhealthy", "UPSTREAM_ERROR", 500, None)),
    ],
    ids=["healthy", "slow", "model-not-listed", "401", "429", "500"],
)
def test_each_answer_gives_its_status_and_code(
    upstream: FakeUpstream,
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    reply: Reply,
    expected: tuple[Any, ...],
) -> None:
    upstream.script("/v1/models", reply)
    status, _ = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.error_code, status.http_status, status.model_available) == (
        expected
    )
    assert status.check_kind == "models" and status.response_time is not None
    # One attempt: a health check never retries, even what a chat would retry (429, 5xx).
    assert len(upstream.requests) == 1
    assert upstream.requests_to("/v1/chat/completions") == []  # no tokens spent


def test_a_refused_connection_is_unhealthy(
    manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    status, seconds = check(monitor, add(manager, f"http://127.0.0.1:{closed_port()}/v1"))
    assert (status.status, status.error_code, status.http_status) == (
        "unhealthy",
        "CONNECTION_FAILED",
        None,
    )
    assert seconds < TIMEOUT


def test_a_hanging_provider_costs_at_most_its_timeout(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", hanging(30))
    status, seconds = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.error_code) == ("unhealthy", "TIMEOUT")
    assert TIMEOUT - 0.05 <= seconds < TIMEOUT + 0.5, seconds
    assert upstream.wait_for_disconnect(1.0) is not None, "the request was left open"


def test_a_provider_that_accepts_but_never_answers_a_chat_costs_its_timeout_too(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", error(404, "Not Found"))
    upstream.script("/v1/chat/completions", hanging(30, Reply.stream(openai_stream(["hi"]))))
    status, seconds = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.error_code, status.check_kind) == ("unhealthy", "TIMEOUT", "chat")
    assert seconds < 2 * TIMEOUT + 0.5  # the models check answered at once; the chat timed out


def test_checking_many_hanging_providers_costs_one_timeout_not_one_each(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", hanging(30))
    for i in range(6):
        add(manager, upstream.url + "/v1", name=f"p{i}")
    started = time.monotonic()
    statuses = monitor.check_all()
    assert [s.error_code for s in statuses] == ["TIMEOUT"] * 6
    assert time.monotonic() - started < TIMEOUT + 0.7


def test_check_all_is_concurrent(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    # Five at most: the fake server's listen backlog is five connections.
    upstream.script("/v1/models", hanging(0.5))
    for i in range(5):
        add(manager, upstream.url + "/v1", name=f"p{i}")
    started = time.monotonic()
    statuses = monitor.check_all()
    elapsed = time.monotonic() - started
    assert [s.status for s in statuses] == ["degraded"] * 5  # slower than 300 ms, yet fine
    # Every request reached the server before the first one was answered.
    arrivals = [r.started for r in upstream.requests]
    assert max(arrivals) - min(arrivals) < 0.5, arrivals
    assert elapsed < 5 * 0.5 / 2


# --- no models endpoint: the chat-path check -----------------------------------------------


@pytest.mark.parametrize("status_code", [404, 405])
def test_without_a_models_endpoint_the_chat_path_is_checked(
    upstream: FakeUpstream,
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    status_code: int,
) -> None:
    upstream.script("/v1/models", error(status_code, "Not Found"))
    upstream.script("/v1/chat/completions", Reply.stream(openai_stream(["Hello", "!"])))
    status, _ = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.check_kind, status.error_code, status.model_available) == (
        "healthy",
        "chat",
        None,
        True,
    )
    [chat] = upstream.requests_to("/v1/chat/completions")
    assert chat.json["max_tokens"] == 16 and chat.json["stream"] is True


def test_a_failing_chat_path_check_is_classified_too(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", error(404, "Not Found"))
    upstream.script("/v1/chat/completions", error(401, "Invalid key"))
    status, _ = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.check_kind, status.error_code, status.http_status) == (
        "unhealthy",
        "chat",
        "AUTH_FAILED",
        401,
    )
    assert len(upstream.requests_to("/v1/chat/completions")) == 1  # not retried


def test_a_models_endpoint_answering_a_web_page_falls_back_to_the_chat_path(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", Reply(200, {"content-type": "text/html"}, b"<html>hi</html>"))
    upstream.script("/v1/chat/completions", Reply.stream(openai_stream(["Hello"])))
    status, _ = check(monitor, add(manager, upstream.url + "/v1"))
    assert (status.status, status.check_kind) == ("healthy", "chat")


# --- what a check sends ---------------------------------------------------------------------

ALLOWED = {"host", "accept", "accept-encoding", "connection", "user-agent"}


def test_an_openai_check_sends_a_bare_get_with_the_key_and_the_providers_headers(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", models(MODEL))
    pid = add(manager, upstream.url + "/v1", headers={"X-Team": "blue"}, apiKey=CANARY_KEY)
    monitor.check(pid)
    [seen] = upstream.requests
    assert (seen.method, seen.body, seen.query) == ("GET", b"", {})
    assert set(seen.headers) <= ALLOWED | {"authorization", "x-team"}
    assert seen.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert seen.headers["x-team"] == "blue"


def test_an_anthropic_check_sends_its_version_and_key_header_only(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", Reply.json({"data": [{"id": MODEL}], "has_more": False}))
    pid = add(manager, upstream.url, type="anthropic-compatible", apiKey=CANARY_KEY)
    assert monitor.check(pid).status == "healthy"
    [seen] = upstream.requests
    assert (seen.method, seen.body, seen.path) == ("GET", b"", "/v1/models")
    assert set(seen.headers) <= ALLOWED | {"x-api-key", "anthropic-version"}
    assert seen.headers["x-api-key"] == CANARY_KEY


def test_a_provider_without_a_key_sends_no_credentials(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", models(MODEL))
    pid = add(manager, upstream.url + "/v1", apiKey=None, auth={"scheme": "none"})
    monitor.check(pid)
    assert set(upstream.requests[0].headers) <= ALLOWED


AUTHS = [
    {"scheme": "bearer"},
    {"scheme": "header", "name": "x-goog-api-key"},
    {"scheme": "query", "name": "key"},
]


@pytest.mark.parametrize("auth", AUTHS, ids=lambda a: a["scheme"])
def test_the_key_never_reaches_a_log_line_a_status_or_a_file(
    upstream: FakeUpstream,
    manager: CustomProviderManager,
    monitor: HealthMonitor,
    logs: pytest.LogCaptureFixture,
    data_dir: Path,
    auth: dict[str, str],
) -> None:
    echo = f"Incorrect API key provided: {CANARY_KEY}. Bearer {CANARY_KEY}"
    upstream.script("/ok/v1/models", models(MODEL))
    upstream.script("/bad/v1/models", error(401, echo))
    upstream.script("/none/v1/chat/completions", error(401, echo))
    upstream.script("/slow/v1/models", hanging(30))
    for prefix in ("ok", "bad", "none", "slow"):
        add(manager, f"{upstream.url}/{prefix}/v1", name=prefix, apiKey=CANARY_KEY, auth=auth)
    statuses = monitor.check_all()
    assert {s.provider_name: s.status for s in statuses} == {
        "bad": "unhealthy",
        "none": "unhealthy",
        "ok": "healthy",
        "slow": "unhealthy",
    }
    if auth["scheme"] == "query":
        assert upstream.requests_to("/ok/v1/models")[0].query == {"key": CANARY_KEY}
    assert logs.records, "nothing was logged: the canary check would prove nothing"
    for record in logs.records:
        assert CANARY_KEY not in record.getMessage(), record.name
    for status in statuses:
        assert CANARY_KEY not in str(status.to_wire())
    assert files_containing(data_dir, CANARY_KEY) == []


# --- removal and shutdown with real requests in flight -------------------------------------


def test_a_provider_removed_during_its_check_leaves_no_status(
    upstream: FakeUpstream, manager: CustomProviderManager, monitor: HealthMonitor
) -> None:
    upstream.script("/v1/models", hanging(0.4))
    pid = add(manager, upstream.url + "/v1")
    worker = threading.Thread(target=monitor.check, args=(pid,))
    worker.start()
    assert upstream.wait_for_requests(1, 5)
    manager.remove(pid)
    worker.join(5)
    assert monitor.statuses() == [] and monitor.updates()["statuses"] == []


def test_the_schedule_stops_within_a_second_while_a_check_hangs(
    upstream: FakeUpstream,
    manager: CustomProviderManager,
    storage: Storage,
    service: ProviderService,
) -> None:
    upstream.script("/v1/models", hanging(30))
    add(manager, upstream.url + "/v1")
    monitor = HealthMonitor(manager, storage, service)  # the default 10 s timeout
    schedule = HealthScheduler(monitor, first_delay=0.0)
    schedule.start()
    assert upstream.wait_for_requests(1, 10)
    started = time.monotonic()
    assert schedule.stop(timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert upstream.wait_for_disconnect(1.0) is not None, "the hanging request was left open"


def test_the_app_runs_the_schedule_and_stops_it_first_on_close(data_dir: Path) -> None:
    app = MiaodaApp(data_dir, secret_backend="file", token="t")
    app.start_server(0)
    app.start_background()
    assert any(t.name == "miaoda-health" for t in threading.enumerate())
    started = time.monotonic()
    app.close()
    assert time.monotonic() - started < 3.0
    assert not any(t.name == "miaoda-health" and t.is_alive() for t in threading.enumerate())
