"""What one probe's answer proves: the shapes of model lists and errors, read as evidence.

Pure (no I/O). An answer is evidence by its shape, not by the probe that got it (a gateway
may answer the Anthropic probe with an OpenAI list): an OpenAI list (`data`: objects with an
`id`), an Anthropic list (the same, with `type: "model"` items or `has_more`/`first_id`), and
Ollama's `/api/tags` (`models`: objects with a `name`) are the strongest; a 401/403 whose body
is the protocol's error object proves the API is there and speaks that protocol; a 402/429 in
that shape is a weaker sign. Web pages, 404s and redirects (to a login page, say) prove nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from backend.i18n import tr
from backend.models import ProviderType
from backend.providers.detect_plan import ANTHROPIC, OPENAI, Probe, is_versioned, without_version
from backend.providers.wire.openai import model_ids
from backend.redact import Redactor

LIST, AUTH, WEAK = 3, 2, 1  # how strong a finding is
_WEAK_STATUSES = (402, 429)


@dataclass(frozen=True)
class Finding:
    """What one answer says about one (type, base URL)."""

    type: ProviderType
    base: str
    strength: int
    evidence: str
    probe: Probe
    models: tuple[str, ...] | None = None  # a list's ids
    auth_error: dict[str, str] | None = None

    @property
    def versioned(self) -> bool:
        """Whether the URL that answered has a version segment (auth errors from a server that
        refuses every path before routing are believed on such a path first)."""
        return is_versioned(self.probe.shown.rsplit("/", 1)[0])


def outcome_of(probe: Probe, status: int, payload: Any) -> str:
    """The attempt's outcome for an HTTP answer (`payload`: its JSON, or None)."""
    if 200 <= status < 300:
        return "ok" if _list_type(probe, payload) is not None else "unrecognized"
    if status in (401, 403):
        return "auth"
    if status in (404, 405, 410):
        return "not-found"
    if 300 <= status < 400:
        return "redirect"
    return "error"


def parse(body: bytes) -> Any:
    """The JSON of a body, or None."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def finding(
    probe: Probe, status: int, payload: Any, api_key: str | None, host: str
) -> Finding | None:
    """The evidence an answer gives, or None. `api_key` is the key the user gave (sent or
    not, see `probe.key_sent`); `host` is what they typed, for the message of a key not sent."""
    if 200 <= status < 300:
        return _listed(probe, status, payload, api_key)
    if status not in (401, 403, *_WEAK_STATUSES) or probe.kind == "ollama":
        return None
    provider_type = _error_type(payload)
    base = _base(probe, provider_type) if provider_type else None
    if provider_type is None or base is None:
        return None
    words = {"url": probe.shown, "status": status}
    anthropic = provider_type == ANTHROPIC
    if status in _WEAK_STATUSES:
        key = "detect.evidence.anthropicError" if anthropic else "detect.evidence.openaiError"
        return Finding(provider_type, base, WEAK, tr(key, **words), probe)
    key = "detect.evidence.anthropicAuth" if anthropic else "detect.evidence.openaiAuth"
    error = _auth_error(probe, status, payload, api_key, host)
    return Finding(provider_type, base, AUTH, tr(key, **words), probe, auth_error=error)


def _listed(probe: Probe, status: int, payload: Any, api_key: str | None) -> Finding | None:
    provider_type = _list_type(probe, payload)
    base = _base(probe, provider_type) if provider_type else None
    if provider_type is None or base is None:
        return None
    # Ids that echo the key or look like a credential are left out, as everywhere.
    ids = tuple(Redactor(api_key).drop_leaks(model_ids(payload) or []))
    words = {"url": probe.shown, "status": status, "count": f"{len(ids):,}"}
    if probe.kind == "ollama":
        text = tr("detect.evidence.ollamaList", **words, baseURL=base)
    elif provider_type == ANTHROPIC:
        text = tr("detect.evidence.anthropicList", **words)
    else:
        text = tr("detect.evidence.openaiList", **words)
    return Finding(provider_type, base, LIST, text, probe, models=ids)


def _list_type(probe: Probe, payload: Any) -> ProviderType | None:
    """The type whose model list `payload` is (at the URL `probe` asked), or None."""
    if not isinstance(payload, dict):
        return None
    if probe.kind == "ollama":
        items = payload.get("models")
        if isinstance(items, list) and all(_named(i, "name") for i in items):
            return OPENAI
        return None
    items = payload.get("data")
    if not isinstance(items, list) or not all(_named(i, "id") for i in items):
        return None
    if any(i.get("type") == "model" for i in items) or {"has_more", "first_id"} & payload.keys():
        return ANTHROPIC
    if items or payload.get("object") == "list":
        return OPENAI
    return None


def _named(item: Any, name: str) -> bool:
    return isinstance(item, dict) and isinstance(item.get(name), str) and bool(item[name])


def _error_type(payload: Any) -> ProviderType | None:
    """The protocol whose error object `payload` is: Anthropic's `{"type": "error", "error":
    {…}}`, OpenAI's `{"error": {…}}` (or `{"error": "…"}`, as vLLM answers); else None."""
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if payload.get("type") == "error" and isinstance(error, dict):
        return ANTHROPIC
    if isinstance(error, dict) or (isinstance(error, str) and error):
        return OPENAI
    return None


def _base(probe: Probe, provider_type: ProviderType) -> str | None:
    """The base URL of `provider_type` whose models URL is the one `probe` asked, or None when
    that type cannot have it (an Anthropic base URL's models are always under `/v1`)."""
    if probe.kind == "ollama":
        return probe.shown.removesuffix("/api/tags") + "/v1"
    parent = probe.shown.removesuffix("/models")
    if provider_type == OPENAI:
        return parent
    return without_version(parent) if parent.endswith("/v1") else None


def _auth_error(
    probe: Probe, status: int, payload: Any, api_key: str | None, host: str
) -> dict[str, str]:
    """The `authError` of a candidate known from a refusal: what it means for the user."""
    if api_key is not None and not probe.key_sent:
        return {"code": "AUTH_FAILED", "message": tr("detect.authError.notSent", host=host)}
    said = Redactor(api_key).quote(_said(payload), 160)
    detail = (
        tr("upstream.detail.statusSaid", status=status, said=said)
        if said
        else tr("upstream.detail.status", status=status)
    )
    key = "detect.authError.rejected" if probe.key_sent else "detect.authError.noKey"
    return {"code": "AUTH_FAILED", "message": tr(key, detail=detail)}


def _said(payload: Any) -> str:
    """The words of an error object (its `message`)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, str):
        return error
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) else ""
