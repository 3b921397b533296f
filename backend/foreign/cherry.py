"""Cherry Studio's backup read into our providers (docs/IMPORT-FROM-OTHER-APPS.md, "Cherry
Studio").

What the app writes (CherryHQ/cherry-studio, src/renderer/src/services/BackupService.ts and
src/main/services/BackupManager.ts): the JSON document ``{time, version, localStorage,
indexedDB}`` (backup `version` 1–5), as a gzip-compressed ``.bak`` up to version 2 and since
then as the member ``data.json`` of a zip. Its providers are in
``localStorage["persist:cherry-studio"]``, redux-persist's text: a JSON object whose every slice
is JSON text again, ``llm`` among them (``{providers: [...], defaultModel, ...}``) and
``_persist`` (``{"version": <store version>}``). Backup format 6 (a zip with ``metadata.json``)
copies the browser's own database files instead, which cannot be read here: it is refused with
advice.

Cherry Studio turns a provider's ``apiHost`` into request URLs by rules that changed in its 1.7
line (src/renderer/src/utils/api.ts, ``formatApiHost``); the store version tells which rules the
file was made under (`NEW_URL_RULES_FROM`). Each provider is resolved to the URL that app sends
to, then expressed in our terms (CONTRACT §1 URL rules, `endpoints` where the path is not ours).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from backend import transfer
from backend.errors import ImportInvalid
from backend.foreign.model import (
    ForeignImport,
    Unsupported,
    display_name,
    provider_name,
)
from backend.i18n import tr
from backend.models import is_secret_header
from backend.transfer import ProviderSecrets

SOURCE = "cherry-studio"
APP_NAME = "Cherry Studio"
ZIP_MEMBERS = ("data.json", "metadata.json")
"""A zip backup's JSON: the document itself (formats 3–5), else format 6's description."""

PERSIST_KEY = "persist:cherry-studio"
NEW_URL_RULES_FROM = 172
"""The first store version of Cherry Studio 1.7 (migration 172 merged the 1.6 and 1.7 lines,
CherryHQ/cherry-studio#11194). Before it, a host ending in `/` gets no `/v1` and a `#` ends a
full request URL; from it on, `/v1` is added unless the path has a version segment, and `#`
only stops that (a full URL then ends in its endpoint)."""
BUILT_IN_NAMES_SHOWN = 10
ENCRYPTED_KEY_PREFIX = "csenc:"
"""Electron safeStorage text (src/renderer/src/utils/secureStorage.ts): bound to that computer."""

_ROOT = f"localStorage.{PERSIST_KEY}"
_VERSION_SEGMENT = re.compile(r"/v\d+(?:alpha|beta)?(?=/|$)", re.IGNORECASE)
_OPENAI_TYPES = frozenset({"openai", "openai-response", "new-api", "mistral"})
_SUPPORTED_TYPES = _OPENAI_TYPES | {"anthropic", "azure-openai", "ollama"}
_NO_VERSION_IDS = frozenset({"copilot", "github", "cherryai", "perplexity"})
"""Built-ins whose host Cherry Studio 1.7 formats without adding a version (providerConfig.ts)."""

# The built-in providers' default hosts, for an entry whose `apiHost` is empty: Cherry Studio's
# INITIAL_PROVIDERS (src/renderer/src/store/llm.ts; later src/renderer/src/config/providers.ts),
# the OpenAI- and Anthropic-compatible ones.
DEFAULT_HOSTS: Mapping[str, str] = {
    "silicon": "https://api.siliconflow.cn",
    "aihubmix": "https://aihubmix.com",
    "ocoolai": "https://api.ocoolai.com",
    "deepseek": "https://api.deepseek.com",
    "ppio": "https://api.ppinfra.com/v3/openai",
    "alayanew": "https://deepseek.alayanew.com",
    "qiniu": "https://api.qnaigc.com",
    "dmxapi": "https://www.dmxapi.cn",
    "burncloud": "https://ai.burncloud.com",
    "tokenflux": "https://tokenflux.ai",
    "302ai": "https://api.302.ai",
    "openrouter": "https://openrouter.ai/api/v1/",
    "ollama": "http://localhost:11434",
    "lmstudio": "http://localhost:1234",
    "anthropic": "https://api.anthropic.com/",
    "openai": "https://api.openai.com",
    "zhipu": "https://open.bigmodel.cn/api/paas/v4/",
    "github": "https://models.inference.ai.azure.com/",
    "yi": "https://api.lingyiwanwu.com",
    "moonshot": "https://api.moonshot.cn",
    "baichuan": "https://api.baichuan-ai.com",
    "dashscope": "https://dashscope.aliyuncs.com/compatible-mode/v1/",
    "stepfun": "https://api.stepfun.com",
    "doubao": "https://ark.cn-beijing.volces.com/api/v3/",
    "infini": "https://cloud.infini-ai.com/maas",
    "minimax": "https://api.minimax.chat/v1/",
    "groq": "https://api.groq.com/openai",
    "together": "https://api.together.xyz",
    "fireworks": "https://api.fireworks.ai/inference",
    "zhinao": "https://api.360.cn",
    "hunyuan": "https://api.hunyuan.cloud.tencent.com",
    "nvidia": "https://integrate.api.nvidia.com",
    "grok": "https://api.x.ai",
    "hyperbolic": "https://api.hyperbolic.xyz",
    "mistral": "https://api.mistral.ai",
    "jina": "https://api.jina.ai",
    "perplexity": "https://api.perplexity.ai/",
    "modelscope": "https://api-inference.modelscope.cn/v1/",
    "xirang": "https://wishub-x1.ctyun.cn",
    "tencent-cloud-ti": "https://api.lkeap.cloud.tencent.com",
    "baidu-cloud": "https://qianfan.baidubce.com/v2/",
    "voyageai": "https://api.voyageai.com",
}


def recognizes(document: Any) -> bool:
    """Whether `document` is a Cherry Studio backup: its JSON document, or format 6's
    `metadata.json`. Our export and other apps' files have neither shape."""
    if not isinstance(document, dict):
        return False
    if document.get("appName") == APP_NAME and _is_int(document.get("version")):
        return True
    storage = document.get("localStorage")
    if isinstance(storage, dict) and PERSIST_KEY in storage:
        return True
    # The exact shape BackupService writes, even when the persisted store is missing from it.
    return (
        set(document) == {"time", "version", "localStorage", "indexedDB"}
        and _is_int(document["time"])
        and _is_int(document["version"])
        and isinstance(storage, dict)
    )


def read(document: Any) -> ForeignImport:
    """The backup's providers in our terms, their keys, and what could not come over."""
    if document.get("appName") == APP_NAME and "localStorage" not in document:
        version = document.get("appVersion")
        readable = isinstance(version, str) and len(version) <= 40 and version.isprintable()
        shown = version if readable else "6+"
        problem = tr("foreign.cherry.directBackupField")
        raise ImportInvalid(
            tr("foreign.cherry.directBackup", version=shown), fields={"metadata.json": [problem]}
        )
    storage = document.get("localStorage")
    if not isinstance(storage, dict):
        raise _broken("localStorage", tr("foreign.cherry.expectedObject"))
    if PERSIST_KEY not in storage:
        raise _broken(_ROOT, tr("foreign.cherry.missing"))
    persisted = _object(_json(storage[PERSIST_KEY], _ROOT), _ROOT)
    if "llm" not in persisted:
        raise _broken(f"{_ROOT}.llm", tr("foreign.cherry.missing"))
    llm = _object(_json(persisted["llm"], f"{_ROOT}.llm"), f"{_ROOT}.llm")
    providers = llm.get("providers")
    if not isinstance(providers, list):
        raise _broken(f"{_ROOT}.llm.providers", tr("transfer.expectedList"))
    entries = [_entry(raw, index) for index, raw in enumerate(providers)]
    backup_version = document.get("version")
    found = ForeignImport(
        source=SOURCE,
        app_name=APP_NAME,
        format_version=str(backup_version) if _is_int(backup_version) else None,
    )
    _Mapper(found, _legacy_urls(persisted), _default_model(llm)).add_all(entries)
    return found


# --- the file's entries -------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One provider of the file, its fields checked for type."""

    id: str
    type: str
    name: str
    api_key: str
    api_host: str
    anthropic_host: str
    api_version: str
    models: tuple[str, ...]
    enabled: bool
    is_system: bool
    oauth: bool
    is_vertex: bool
    headers: dict[str, str] = field(default_factory=dict)


def _entry(raw: Any, index: int) -> _Entry:
    path = f"{_ROOT}.llm.providers[{index}]"
    data = _object(raw, path)

    def text(name: str) -> str:
        value = data.get(name)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise _broken(f"{path}.{name}", tr("foreign.cherry.expectedText"))
        return value

    models = data.get("models")
    if models is None:
        models = []
    if not isinstance(models, list):
        raise _broken(f"{path}.models", tr("transfer.expectedList"))
    model_ids = tuple(
        m["id"] for m in models if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]
    )
    headers = data.get("extra_headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise _broken(f"{path}.extra_headers", tr("foreign.cherry.expectedHeaders"))
    return _Entry(
        id=text("id"),
        type=text("type") or "openai",
        name=text("name"),
        api_key=text("apiKey"),
        api_host=text("apiHost"),
        anthropic_host=text("anthropicApiHost"),
        api_version=text("apiVersion"),
        models=model_ids,
        enabled=data.get("enabled") is True,
        is_system=data.get("isSystem") is True,
        oauth=data.get("authType") == "oauth",
        is_vertex=data.get("isVertex") is True,
        headers=dict(headers),
    )


def _legacy_urls(persisted: Mapping[str, Any]) -> bool:
    """Whether the store predates Cherry Studio 1.7's URL rules (unknown: the current rules)."""
    try:
        meta = _json(persisted.get("_persist"), "_persist")
    except ImportInvalid:
        return False
    version = meta.get("version") if isinstance(meta, dict) else None
    return (
        isinstance(version, int) and not isinstance(version, bool) and version < NEW_URL_RULES_FROM
    )


def _default_model(llm: Mapping[str, Any]) -> tuple[str, str] | None:
    """The app's default model as (provider id, model id), when the file names one."""
    model = llm.get("defaultModel")
    if isinstance(model, dict):
        provider, model_id = model.get("provider"), model.get("id")
        if isinstance(provider, str) and isinstance(model_id, str) and model_id:
            return provider, model_id
    return None


def split_keys(text: str) -> list[str]:
    """Cherry Studio's key list (splitApiKeyString): comma-separated, `\\,` a literal comma,
    blanks dropped; here also deduplicated, in order."""
    keys: list[str] = []
    for part in re.split(r"(?<!\\),", text):
        key = part.strip().replace("\\,", ",")
        if key and key not in keys:
            keys.append(key)
    return keys


# --- mapping ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """Where a provider's requests go, in our terms."""

    type: str
    base_url: str
    endpoints: dict[str, str] = field(default_factory=dict)
    auth: dict[str, str] | None = None
    check_kind: str | None = None


class _Mapper:
    """Maps the file's entries one by one into `found`, keeping names unique."""

    def __init__(self, found: ForeignImport, legacy: bool, default: tuple[str, str] | None):
        self._found = found
        self._legacy = legacy
        self._default = default
        self._taken: list[str] = []
        self._not_set_up: list[str] = []

    def add_all(self, entries: list[_Entry]) -> None:
        for entry in entries:
            self._add(entry)
        if self._not_set_up:
            names = self._not_set_up[:BUILT_IN_NAMES_SHOWN]
            shown = ", ".join(names) + ("…" if len(self._not_set_up) > len(names) else "")
            group = tr("foreign.cherry.builtInGroup", count=len(self._not_set_up))
            self._skip(group, tr("foreign.reason.notSetUp", names=shown))

    def _add(self, entry: _Entry) -> None:
        label = display_name(entry.name, entry.id, fallback=entry.type)
        encrypted = entry.api_key.startswith(ENCRYPTED_KEY_PREFIX)
        keys = [] if encrypted else split_keys(entry.api_key)
        if entry.is_system and not (entry.enabled or keys or encrypted):
            self._not_set_up.append(label)
            return
        model = self._model(entry)
        target = self._target(entry, model)
        if isinstance(target, str):
            self._skip(label, target)
            return
        if model is None:
            self._skip(label, tr("foreign.reason.noModel"))
            return
        self._bring(entry, label, model, target, keys)
        if encrypted:
            self._skip(label, tr("foreign.cherry.keyEncrypted"))

    def _model(self, entry: _Entry) -> str | None:
        if self._default is not None and self._default[0] == entry.id:
            return self._default[1]
        return entry.models[0] if entry.models else None

    def _target(self, entry: _Entry, model: str | None) -> _Target | str:
        """Where the entry's requests go, or why they cannot go anywhere from here."""
        if entry.id == "copilot" or entry.oauth:
            return tr("foreign.reason.signIn")
        if entry.id == "cherryai":
            return tr("foreign.cherry.signedService")
        kind = "vertexai" if entry.is_vertex else entry.type
        if kind not in _SUPPORTED_TYPES:
            return tr("foreign.reason.unsupportedType", type=kind)
        host = entry.anthropic_host if kind == "anthropic" and entry.anthropic_host else ""
        host = (host or entry.api_host).strip()
        if not host and entry.is_system:
            host = DEFAULT_HOSTS.get(entry.id, "")
        if not host:
            return tr("foreign.reason.noUrl")
        if kind == "anthropic":
            return anthropic_target(host, legacy=self._legacy)
        if kind == "azure-openai":
            return azure_target(host, entry.api_version, model or "")
        if kind == "ollama":
            return ollama_target(host)
        return openai_target(host, legacy=self._legacy, versioned=entry.id not in _NO_VERSION_IDS)

    def _bring(
        self, entry: _Entry, label: str, model: str, target: _Target, keys: list[str]
    ) -> None:
        # A built-in's id is a clean name ("deepseek"); a provider the user added has a uuid,
        # so its name, else its host, says more.
        if entry.is_system:
            candidates: tuple[str, ...] = (entry.id, entry.name)
        else:
            candidates = (entry.name, _host_name(target.base_url), entry.id)
        name = provider_name(*candidates, taken=self._taken)
        self._taken.append(name)
        provider: dict[str, Any] = {
            "name": name,
            "displayName": label,
            "type": target.type,
            "baseURL": target.base_url,
            "model": model,
        }
        headers = {n: (None if is_secret_header(n) else v) for n, v in entry.headers.items()}
        secret_headers = {n: v for n, v in entry.headers.items() if is_secret_header(n)}
        if headers:
            provider["headers"] = headers
        if target.endpoints:
            provider["endpoints"] = dict(target.endpoints)
        if target.auth:
            provider["auth"] = dict(target.auth)
        if target.check_kind:
            provider["checkKind"] = target.check_kind
        self._found.providers.append(provider)
        if keys or secret_headers:
            self._found.secrets[name] = ProviderSecrets(tuple(keys), secret_headers)

    def _skip(self, name: str, reason: str) -> None:
        self._found.unsupported.append(Unsupported(name=name, reason=reason))


# --- URL rules ----------------------------------------------------------------------------


def has_version(url: str) -> bool:
    """Whether the URL's path has a version segment (`/v1`, `/v4`, `/v1beta`), as Cherry
    Studio's hasAPIVersion reads it."""
    return bool(_VERSION_SEGMENT.search(_split(url)[1]))


def openai_target(host: str, *, legacy: bool, versioned: bool = True) -> _Target:
    """An OpenAI-style entry: Cherry Studio sends chat to `{formatted host}/chat/completions`."""
    if host.endswith("#"):
        full = host[:-1].strip()
        if not legacy:
            full = _without_slash(full)
            if not full.endswith(("/chat/completions", "/responses")):
                full += "/chat/completions"  # 1.7: `#` only keeps the version off
        return _openai_full_url(full)
    if legacy:
        if host.endswith("/"):
            return _Target("openai-compatible", host[:-1])
        if host.endswith("volces.com/api/v3"):
            return _Target("openai-compatible", host)
        return _Target("openai-compatible", host + "/v1")
    base = _without_slash(host)
    if versioned and not has_version(base):
        base += "/v1"
    return _Target("openai-compatible", base)


def _openai_full_url(url: str) -> _Target:
    """A full request URL: our OpenAI base when it ends in a known endpoint, else `custom`
    with the last path segment as the chat endpoint."""
    origin, path, query = _split(url)
    for endpoint in ("/chat/completions", "/responses"):
        if path.endswith(endpoint):
            base = origin + path[: -len(endpoint)]
            if query:
                return _Target("custom", base, {"chat": f"/chat/completions?{query}"})
            return _Target("openai-compatible", base)
    if path in ("", "/"):
        return _Target("openai-compatible", origin)
    head, _, last = path.rstrip("/").rpartition("/")
    chat = f"/{last}?{query}" if query else f"/{last}"
    # Only the chat URL is known: a health check asks it, not a model list that may not exist.
    return _Target("custom", origin + head, {"chat": chat}, check_kind="chat")


def anthropic_target(host: str, *, legacy: bool) -> _Target:
    """An Anthropic entry: the Anthropic SDK's `{host}/v1/messages` before 1.7, Cherry Studio's
    `{formatted host}/messages` from 1.7 on; a `#` host, its full URL (1.7: plus `/messages`
    unless it ends in it)."""
    if host.endswith("#"):
        full = _without_slash(host[:-1].strip())
        if not legacy and not full.endswith("/messages"):
            full += "/messages"
        origin, path, query = _split(full)
        if path.endswith("/messages"):
            return _messages_at(origin + path[: -len("/messages")], query)
        head, _, last = path.rstrip("/").rpartition("/")
        chat = f"/{last}?{query}" if query else f"/{last}"
        return _Target("anthropic-compatible", origin + head, {"chat": chat}, check_kind="chat")
    base = _without_slash(host)
    if legacy:
        return _Target("anthropic-compatible", base)
    return _messages_at(base if has_version(base) else base + "/v1", "")


def _messages_at(base: str, query: str) -> _Target:
    """Requests to `{base}/messages`: our Anthropic type does that itself for a base ending in
    `/v1`, and with endpoint paths for any other."""
    if base.endswith("/v1") and not query:
        return _Target("anthropic-compatible", base)
    chat = f"/messages?{query}" if query else "/messages"
    return _Target("anthropic-compatible", base, {"chat": chat, "models": "/models"})


def azure_target(host: str, api_version: str, model: str) -> _Target:
    """Azure OpenAI: `{resource}/openai/v1/…` (the v1 API, Cherry Studio's `preview`/`v1`), or
    the deployment URL with a dated `api-version` (the deployment named like the model)."""
    base = _without_slash(host.rstrip("#").strip())
    for suffix in ("/v1", "/openai"):
        base = base.removesuffix(suffix)
    base += "/openai"
    version = api_version.strip()
    auth = {"scheme": "header", "name": "api-key"}
    if version in ("", "preview", "v1"):
        endpoints = {"chat": "/v1/chat/completions", "models": "/v1/models"}
    else:
        query = f"api-version={quote(version, safe='')}"
        deployment = quote(model, safe="")
        endpoints = {
            "chat": f"/deployments/{deployment}/chat/completions?{query}",
            "models": f"/models?{query}",
        }
    return _Target("custom", base, endpoints, auth=auth)


def ollama_target(host: str) -> _Target:
    """Cherry Studio 1.7's own Ollama type talks to `/api`; the same server answers OpenAI's
    protocol under `/v1`, which is what we use."""
    base = _without_slash(host.rstrip("#").strip())
    for suffix in ("/v1", "/api", "/chat"):
        base = base.removesuffix(suffix)
    return _Target("openai-compatible", base + "/v1")


def _without_slash(url: str) -> str:
    return url[:-1] if url.endswith("/") else url


def _split(url: str) -> tuple[str, str, str]:
    """`url` as (scheme://host, path, query); text that is not a URL stays whole as the
    origin, so the provider's validation names it."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return url, "", ""
    if not parts.scheme or not parts.netloc:
        return url, "", ""
    return f"{parts.scheme}://{parts.netloc}", parts.path, parts.query


def _host_name(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


# --- reading ------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json(value: Any, path: str) -> Any:
    """A redux-persist value: JSON text (or, in a hand-edited file, the object itself)."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        raise _broken(path, tr("foreign.cherry.expectedJsonText"))
    try:
        return transfer.parse_json(value.encode("utf-8", "surrogatepass"))
    except ImportInvalid as exc:
        raise _broken(path, tr("foreign.cherry.notJson")) from exc


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _broken(path, tr("foreign.cherry.expectedObject"))
    return value


def _broken(path: str, problem: str) -> ImportInvalid:
    return ImportInvalid(tr("foreign.cherry.broken", path=path), fields={path: [problem]})
