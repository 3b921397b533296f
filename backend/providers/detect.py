"""`detectProvider`: which API a pasted address (and key) leads to, best candidate first.

`detect` reads the request and plans the probes (`backend.providers.detect_plan`), sends them
all at once on the shared provider client (so the `proxy` setting applies as it does to every
provider request, and loopback is never proxied), reads each answer as evidence
(`backend.providers.detect_answers`), and ranks what was found:

1. a model list (200) beats a refusal in the protocol's error shape (401/403), which beats a
   402/429 in that shape; a refusal is believed first on a versioned path (`/v1/models`), since
   many gateways refuse every path before routing;
2. then the base URL closest to what was typed (as typed, then with `/v1` added or cut back to
   its version segment, then without `/v1`, then a template's);
3. then the type the pasted endpoint speaks (`…/messages` is Anthropic's), then a known key
   prefix (`sk-ant-`, `gsk_`, …), then the order of the probes.

Every probe is a GET of a model list; the whole detection takes at most `DETECT_SECONDS`, and
once one probe has found a model list the others get `GRACE_SECONDS` more. Nothing found
raises `TIMEOUT`, `CONNECTION_FAILED` or `INVALID_RESPONSE` (something answered, but not an API
we know), each listing the attempts (`MiaodaError.with_attempts`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from backend.errors import ConnectionFailed, InvalidResponse, MiaodaError, UpstreamTimeout
from backend.i18n import tr
from backend.models import ProviderType
from backend.providers.detect_answers import AUTH, LIST, Finding, finding, outcome_of, parse
from backend.providers.detect_plan import (
    ANTHROPIC,
    Plan,
    Probe,
    plan,
    read_request,
    same_place,
    scratch_config,
)
from backend.providers.proxies import VIA, proxy_failure
from backend.providers.templates import get_templates
from backend.providers.transport import SharedClient, outgoing
from backend.providers.wire.errors import Origin
from backend.redact import REDACTOR

log = logging.getLogger("miaoda.providers")

DETECT_SECONDS = 2.5
GRACE_SECONDS = 0.5
MAX_MODELS = 500
_BODY_LIMIT = 16 * 1024 * 1024
# Key prefixes that name a vendor (its template id); unknown prefixes are fine.
KEY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("sk-ant-", "anthropic"),
    ("sk-or-", "openrouter"),
    ("sk-proj-", "openai"),
    ("gsk_", "groq"),
    ("xai-", "xai"),
    ("pplx-", "perplexity"),
    ("csk-", "cerebras"),
    ("hf_", "huggingface"),
    ("AIza", "gemini"),
)


@dataclass
class Attempt:
    """One probe and how it went."""

    probe: Probe
    outcome: str
    elapsed_ms: int
    status: int | None = None
    found: Finding | None = None
    failure: MiaodaError | None = None  # a proxy's failure, which names the proxy

    def to_wire(self) -> dict[str, Any]:
        return {
            "method": self.probe.call.method,
            "url": self.probe.shown,
            "protocol": self.probe.kind,
            "status": self.status,
            "outcome": self.outcome,
            "elapsedMs": self.elapsed_ms,
            "keySent": self.probe.key_sent,
        }


@dataclass
class Candidate:
    """One (type, base URL) and everything found for it."""

    type: ProviderType
    base: str
    findings: list[Finding] = field(default_factory=list)
    template: Mapping[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # evidence beyond the answers

    @property
    def best(self) -> list[Finding]:
        """The strongest findings, closest to what was typed first."""
        top = max(f.strength for f in self.findings)
        return sorted((f for f in self.findings if f.strength == top), key=_closeness)

    def to_wire(self) -> dict[str, Any]:
        best = self.best
        models = next((f.models for f in best if f.models is not None), ())
        evidence = list(dict.fromkeys(f.evidence for f in best))
        if len(models) > MAX_MODELS:
            evidence.append(tr("detect.evidence.modelsCut", shown=f"{MAX_MODELS:,}"))
        out: dict[str, Any] = {
            "type": self.type,
            "baseURL": self.base,
            "requestURL": scratch_config(self.type, self.base).chat_url,
            "models": list(models[:MAX_MODELS]),
            "evidence": [*evidence, *self.notes],
        }
        if self.template is not None:
            out["templateId"] = self.template["id"]
        if best[0].strength == AUTH and best[0].auth_error is not None:
            out["authError"] = best[0].auth_error
        return out


def detect(
    request: Any,
    clients: SharedClient,
    *,
    templates: Sequence[Mapping[str, Any]] | None = None,
    seconds: float = DETECT_SECONDS,
    grace: float = GRACE_SECONDS,
) -> Detection:
    """A detection of `request` (`{url, apiKey?}`, read at once: INVALID_CONFIG naming the
    field), ready to `run` on the provider loop. `templates` replaces the app's in tests."""
    pasted, api_key = read_request(request)
    REDACTOR.add(api_key)  # never expected in a log line; masked there if it ever were
    known = list(get_templates() if templates is None else templates)
    return Detection(plan(pasted, api_key, known), api_key, known, clients, seconds, grace)


class Detection:
    """One detection: its probes, run together by `run` on the provider loop."""

    def __init__(
        self,
        planned: Plan,
        api_key: str | None,
        templates: list[Mapping[str, Any]],
        clients: SharedClient,
        seconds: float,
        grace: float,
    ) -> None:
        self._plan, self._key, self._templates = planned, api_key, templates
        self._clients, self._seconds, self._grace = clients, seconds, grace

    async def run(self) -> dict[str, Any]:
        """`{candidates, attempts}`; raises when no candidate was found (see the module)."""
        attempts = await self._probe_all()
        candidates = self._rank([a.found for a in attempts if a.found is not None])
        log.info(
            "detection for %s: %d probes, %d candidates",
            self._plan.pasted.origin,
            len(attempts),
            len(candidates),
        )
        wire = [a.to_wire() for a in attempts]
        if not candidates:
            host = urlsplit(attempts[0].probe.shown).netloc if attempts else ""
            raise _nothing_found(attempts, host, self._seconds).with_attempts(wire)
        return {"candidates": [c.to_wire() for c in candidates], "attempts": wire}

    # --- probing ----------------------------------------------------------------------

    async def _probe_all(self) -> list[Attempt]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self._seconds
        tasks = {
            asyncio.create_task(self._attempt(probe, httpx.Timeout(self._seconds))): probe
            for probe in self._plan.probes
        }
        done_attempts: dict[asyncio.Task[Attempt], Attempt] = {}
        pending = set(tasks)
        while pending:
            left = deadline - loop.time()
            if left <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                done_attempts[task] = attempt = task.result()
                if attempt.found is not None and attempt.found.strength == LIST:
                    deadline = min(deadline, loop.time() + self._grace)
        cut_short = loop.time() < started + self._seconds
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        late = round((loop.time() - started) * 1000)
        outcome = "stopped" if cut_short else "timeout"
        return [done_attempts.get(t) or Attempt(p, outcome, late) for t, p in tasks.items()]

    async def _attempt(self, probe: Probe, timeout: httpx.Timeout) -> Attempt:
        started = time.perf_counter()
        try:
            status, body = await self._get(probe, timeout)
        except httpx.TransportError as exc:
            attempt = Attempt(probe, _failed(exc), _ms_since(started))
            via = exc.request.extensions.get(VIA) if _has_request(exc) else None
            if via:
                origin = Origin.of(probe.call.url, "", self._key)
                attempt.failure = proxy_failure(exc, via, origin)
            return attempt
        except (httpx.HTTPError, httpx.InvalidURL, ValueError):  # an unreadable answer, a bad URL
            return Attempt(probe, "error", _ms_since(started))
        payload = parse(body)
        found = finding(probe, status, payload, self._key, self._plan.pasted.host)
        return Attempt(probe, outcome_of(probe, status, payload), _ms_since(started), status, found)

    async def _get(self, probe: Probe, timeout: httpx.Timeout) -> tuple[int, bytes]:
        """Status and (the first `_BODY_LIMIT` bytes of the) body of one GET, whatever the
        status: unlike `Exchange`, detection reads refusals as evidence."""
        request = outgoing(probe.call, timeout)
        client = self._clients.lease()
        try:
            response = await client.send(request, stream=True)
            try:
                parts: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    parts.append(chunk)
                    size += len(chunk)
                    if size >= _BODY_LIMIT:
                        break
                return response.status_code, b"".join(parts)
            finally:
                await response.aclose()
        finally:
            await self._clients.release(client)

    # --- ranking ----------------------------------------------------------------------

    def _rank(self, findings: list[Finding]) -> list[Candidate]:
        by_place: dict[tuple[str, str], Candidate] = {}
        for found in findings:
            key = (found.type, found.base)
            by_place.setdefault(key, Candidate(found.type, found.base)).findings.append(found)
        candidates = list(by_place.values())
        prefix = self._key_template()
        for candidate in candidates:
            candidate.template = self._template_of(candidate)
            candidate.notes = self._notes(candidate, prefix)
        typed = self._plan.pasted.typed_type
        order = {id(c): i for i, c in enumerate(candidates)}

        def rank(c: Candidate) -> tuple[int, ...]:
            best = c.best
            strength = best[0].strength
            trusted = any(f.versioned for f in best) if strength == AUTH else False
            return (
                -strength,
                -int(trusted),
                min(f.probe.distance for f in best),
                int(typed is not None and c.type != typed),
                -_prefix_score(c, prefix),
                order[id(c)],
            )

        return sorted(candidates, key=rank)

    def _key_template(self) -> Mapping[str, Any] | None:
        if self._key is None:
            return None
        for prefix, template_id in KEY_PREFIXES:
            if self._key.startswith(prefix):
                return next((t for t in self._templates if t["id"] == template_id), None)
        return None

    def _template_of(self, candidate: Candidate) -> Mapping[str, Any] | None:
        """The template a candidate is: the one its probes were for, or one on its origin."""
        for found in candidate.findings:
            named = found.probe.template
            template = next((t for t in self._templates if t["id"] == named), None)
            if template is not None and template["type"] == candidate.type:
                return template
        on_origin = [
            t
            for t in self._templates
            if t["type"] == candidate.type and same_place(str(t["baseURL"]), candidate.base)
        ]
        exact = [t for t in on_origin if str(t["baseURL"]).rstrip("/") == candidate.base]
        return next(iter(exact or on_origin), None)

    def _notes(self, candidate: Candidate, prefix: Mapping[str, Any] | None) -> list[str]:
        notes: list[str] = []
        template = candidate.template
        if template is not None and any(t is template for t in self._plan.docs_of):
            notes.append(
                tr("detect.evidence.docs", name=template["displayName"], baseURL=candidate.base)
            )
        # The key went only to the origin the user typed (Ollama's own list needs none).
        elsewhere = [f for f in candidate.best if not f.probe.key_sent and f.probe.kind != "ollama"]
        if self._key is not None and elsewhere and len(elsewhere) == len(candidate.best):
            notes.append(tr("detect.evidence.noKeySent", host=self._plan.pasted.host))
        if template is not None:
            notes.append(tr("detect.evidence.template", name=template["displayName"]))
        if prefix is not None and _prefix_score(candidate, prefix):
            notes.append(tr("detect.evidence.keyPrefix", name=prefix["displayName"]))
        return notes


def _closeness(found: Finding) -> tuple[int, bool]:
    # Ollama's own list last: the models its OpenAI-compatible API lists are what chats use.
    return found.probe.distance, found.probe.kind == "ollama"


def _prefix_score(candidate: Candidate, prefix: Mapping[str, Any] | None) -> int:
    """2: the key's vendor is this candidate's template; 1: the key's prefix names this type
    (`sk-ant-`: Anthropic's protocol); 0: the key says nothing about it."""
    if prefix is None:
        return 0
    if candidate.template is not None and candidate.template["id"] == prefix["id"]:
        return 2
    return int(prefix["type"] == ANTHROPIC == candidate.type)


def _failed(exc: httpx.TransportError) -> str:
    """The outcome of a request that got no answer."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    cause: BaseException | None = exc
    seen: list[BaseException] = []
    while cause is not None and cause not in seen:
        if isinstance(cause, ConnectionRefusedError):
            return "refused"
        if isinstance(cause, socket.gaierror):
            return "unknown-host"
        if isinstance(cause, ssl.SSLError):
            return "tls"
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    return "error"


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - httpx raises when the error was made without one
    except RuntimeError:
        return False
    return True


def _nothing_found(attempts: list[Attempt], host: str, seconds: float) -> MiaodaError:
    """The error for a detection that found no candidate: what most helps the user."""
    for attempt in attempts:
        if attempt.failure is not None:
            return attempt.failure
    outcomes = {a.outcome for a in attempts}
    if any(a.status is not None for a in attempts):
        return InvalidResponse(tr("detect.failed.unrecognized", host=host))
    for outcome, key in (
        ("refused", "detect.failed.refused"),
        ("unknown-host", "detect.failed.unknownHost"),
        ("tls", "detect.failed.tls"),
    ):
        if outcome in outcomes:
            return ConnectionFailed(tr(key, host=host))
    if outcomes <= {"timeout", "stopped"}:
        return UpstreamTimeout(tr("detect.failed.timeout", host=host, seconds=f"{seconds:g}"))
    return ConnectionFailed(tr("detect.failed.unreachable", host=host))


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
