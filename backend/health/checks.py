"""What the health monitor needs of the provider layer, and one batch of checks run through it.

    Prober           the provider layer's checks (`ProviderService` is one); `FunctionProber`
                     turns a plain check function (config, key) -> status into one.
    CheckRun        one batch of checks for `HealthMonitor.check_many`: models checks on the
                     provider loop, chat checks on a few threads, results in one queue.

Each provider says which check it gets (`ProviderConfig.check_kind`). A `models` check costs no
tokens: it lists the provider's models with its key; a provider whose models endpoint turns out
not to exist gets the chat check instead. A `chat` check (gateways and relays, which answer
their model list from their own configuration) is a one-token chat request, which costs a
token or so. A check that raises becomes an unhealthy status (`_guarded`, `failure_status`);
it never escapes into the monitor.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

from backend.errors import MiaodaError
from backend.health.rules import needs_chat_check
from backend.i18n import tr
from backend.models import HealthStatus, ProviderConfig

log = logging.getLogger("miaoda.health")

HealthCheck = Callable[[ProviderConfig, str | None], HealthStatus]
Deliver = Callable[[int, HealthStatus | None], None]

# Chat checks hold a thread each while they wait for the first token: at most this many at once
# (and at most the run's concurrency).
_CHAT_THREADS = 16


class ModelsChecks(Protocol):
    """A running batch of models checks (`ProviderService.start_models_checks`)."""

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None: ...

    def cancel(self) -> None: ...


@runtime_checkable
class Prober(Protocol):
    """The provider layer's checks; `ProviderService` is one."""

    def start_models_checks(
        self, deliver: Deliver, *, timeout: float, connect_timeout: float, concurrency: int
    ) -> ModelsChecks: ...

    def fetch_chat_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float
    ) -> HealthStatus: ...


class FunctionProber:
    """A plain check function (config, key) -> status used as the check, on a thread pool."""

    def __init__(self, check: HealthCheck) -> None:
        self._check = check

    def start_models_checks(
        self, deliver: Deliver, *, timeout: float, connect_timeout: float, concurrency: int
    ) -> ModelsChecks:
        return _ThreadChecks(self.fetch_chat_status, deliver, min(max(1, concurrency), 16))

    def fetch_chat_status(
        self, config: ProviderConfig, api_key: str | None, *, timeout: float = 0.0
    ) -> HealthStatus:
        try:
            return self._check(config, api_key)
        except MiaodaError as err:
            return failure_status(config, err)


class _ThreadChecks:
    def __init__(self, check: Callable[..., HealthStatus], deliver: Deliver, workers: int) -> None:
        self._check = check
        self._deliver = deliver
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="miaoda-health-check")

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self._pool.submit(self._run, tag, config, api_key)

    def cancel(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self._deliver(tag, _guarded(self._check, config, api_key))


def _guarded(
    check: Callable[..., HealthStatus], config: ProviderConfig, key: str | None
) -> HealthStatus:
    try:
        return check(config, key)
    except MiaodaError as err:
        return failure_status(config, err)
    except Exception:
        log.exception("health check of %s crashed", config.id)
        return failure_status(config, None)


def failure_status(config: ProviderConfig, err: MiaodaError | None) -> HealthStatus:
    """The status of a check that could not be made or crashed (`err` None: a bug of ours)."""
    return HealthStatus(
        provider_id=config.id,
        provider_name=config.name,
        status="unhealthy",
        error=err.message if err else tr("providers.checkCrashed"),
        error_code=err.code if err else "INTERNAL",
        http_status=err.upstream_status if err else None,
    )


class CheckRun:
    """One batch of checks: models checks on the provider loop, chat checks on a few threads.

    A provider whose `check_kind` is `chat` goes straight to the chat check. Results arrive in
    one queue; `next` hands them out and sends a provider whose models endpoint does not exist
    to the chat check first.
    """

    def __init__(self, prober: Prober, timeout: float, connect: float, concurrency: int) -> None:
        self._prober = prober
        self._timeout = timeout
        self._results: queue.SimpleQueue[tuple[int, HealthStatus | None]] = queue.SimpleQueue()
        self._models = prober.start_models_checks(
            self._deliver, timeout=timeout, connect_timeout=connect, concurrency=concurrency
        )
        self._jobs: dict[int, tuple[ProviderConfig, str | None]] = {}
        self._chat_threads = max(1, min(concurrency, _CHAT_THREADS))
        self._chats: ThreadPoolExecutor | None = None
        self.pending = 0

    def _deliver(self, tag: int, status: HealthStatus | None) -> None:
        self._results.put((tag, status))  # on the provider loop: must not block

    def submit(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        self.pending += 1
        if config.check_kind == "chat":
            self._submit_chat(tag, config, api_key)
            return
        self._jobs[tag] = (config, api_key)
        self._models.submit(tag, config, api_key)

    def put(self, tag: int, status: HealthStatus) -> None:
        """A result known without asking the provider (e.g. its key could not be read)."""
        self.pending += 1
        self._results.put((tag, status))

    def next(self, timeout: float) -> tuple[int, HealthStatus | None] | None:
        """The next finished check, waiting up to `timeout` s; None if none came."""
        try:
            tag, status = self._results.get(timeout=timeout)
        except queue.Empty:
            return None
        job = self._jobs.pop(tag, None)
        if status is not None and job is not None and needs_chat_check(status):
            self._submit_chat(tag, *job)
            return None
        self.pending -= 1
        return tag, status

    def ready(self) -> list[tuple[int, HealthStatus | None]]:
        """Every further result that has already arrived (without waiting)."""
        found = []
        while self.pending:
            item = self.next(0.0) if not self._results.empty() else None
            if item is None:
                break
            found.append(item)
        return found

    def cancel(self) -> None:
        self._models.cancel()
        if self._chats is not None:
            self._chats.shutdown(wait=False, cancel_futures=True)

    def _submit_chat(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        if self._chats is None:
            self._chats = ThreadPoolExecutor(
                self._chat_threads, thread_name_prefix="miaoda-health-chat"
            )
        self._chats.submit(self._chat_check, tag, config, api_key)

    def _chat_check(self, tag: int, config: ProviderConfig, api_key: str | None) -> None:
        def chat(cfg: ProviderConfig, key: str | None) -> HealthStatus:
            return self._prober.fetch_chat_status(cfg, key, timeout=self._timeout)

        self._results.put((tag, _guarded(chat, config, api_key)))
