"""LobeChat's exported files read into our providers (the import of docs/API.md).

Two kinds of file are read (the facts and their sources: docs/IMPORT-FROM-OTHER-APPS.md):

- The settings export, `{"exportType": "settings" | "all", "state": {"settings": {...}},
  "version": N}` (lobehub/lobe-chat src/types/exportConfig.ts). From version 7 a provider's
  key and base URL are in `settings.keyVaults.<id>` (`apiKey`, `baseURL`; Azure `endpoint`
  before that) and its switch and models in `settings.languageModel.<id>` (`enabled`,
  `enabledModels`, `customModelCards`); up to version 6 `apiKey` and `endpoint` sat in
  `languageModel.<id>` itself, and up to version 3 OpenAI's was `languageModel.openAI`
  (`OPENAI_API_KEY`, `endpoint`, `useAzure`, `customModelName`), the shapes that
  src/migrations/FromV3ToV4 and FromV6ToV7 convert from. The fields are read by shape, so every
  version from 1 on reads the same way.
- The data export of its database editions, `{"data": {<table>: [rows]}, "mode": "pglite" |
  "postgres", "schemaHash": …}` (src/types/export.ts): providers are the `aiProviders` rows,
  whose `keyVaults` is the JSON text of `{apiKey, baseURL}` (PGlite) or that text encrypted with
  the server's secret, `<iv>:<tag>:<ciphertext>` in hex (Postgres), which cannot be read here.

A provider is brought over when the user set it up: it has a key or a base URL, it is switched
on (except OpenAI and Ollama, which LobeChat switches on by default), or the user added it.
Every other entry is listed in `unsupported`; the built-in ones never set up as one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from backend.errors import ImportInvalid
from backend.foreign.model import (
    ForeignImport,
    Unsupported,
    display_name,
    provider_name,
)
from backend.i18n import tr
from backend.transfer import ProviderSecrets

SOURCE = "lobechat"
APP_NAME = "LobeChat"

_EXPORT_TYPES = frozenset({"settings", "all", "sessions", "agents"})
_WITH_SETTINGS = frozenset({"settings", "all"})
_DB_MODES = frozenset({"pglite", "postgres"})
# Server-side encryption of a vault (src/server/modules/KeyVaultsEncrypt): 12-byte IV, 16-byte
# tag, ciphertext, each in hex, joined by colons.
_ENCRYPTED = re.compile(r"[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]*")

_DEFAULT_PROVIDER = "openai"  # src/const/settings/llm.ts DEFAULT_PROVIDER
# Switched on in LobeChat's default settings (src/const/settings/llm.ts DEFAULT_LLM_CONFIG), so
# being on says nothing about the user having set them up.
_ON_BY_DEFAULT = frozenset({"openai", "ollama"})
# The base URL each built-in OpenAI-compatible provider uses when the user gives none: the
# `baseURL` of its runtime, lobehub/lobe-chat src/libs/agent-runtime/<id>/index.ts.
_OPENAI_DEFAULTS: Mapping[str, str] = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "moonshot": "https://api.moonshot.cn/v1",
    "qwen": "https://dashscope.aliyuncs.com/compatible-mode/v1",
    "zhipu": "https://open.bigmodel.cn/api/paas/v4",
    "siliconcloud": "https://api.siliconflow.cn/v1",
    "mistral": "https://api.mistral.ai/v1",
    "xai": "https://api.x.ai/v1",
    "togetherai": "https://api.together.xyz/v1",
    "perplexity": "https://api.perplexity.ai",
    "fireworksai": "https://api.fireworks.ai/inference/v1",
    "zeroone": "https://api.lingyiwanwu.com/v1",
    "stepfun": "https://api.stepfun.com/v1",
    "lmstudio": "http://127.0.0.1:1234/v1",
}
# src/libs/agent-runtime/anthropic/index.ts DEFAULT_BASE_URL; the Anthropic SDK adds /v1/messages.
_ANTHROPIC_DEFAULT = "https://api.anthropic.com"
# Ollama is reached with the ollama-js client, whose default host this is (its formatHost).
_OLLAMA_DEFAULT = "http://127.0.0.1:11434"
_OLLAMA_PORT = 11434
# Built-in providers spoken to with their own SDK and protocol: no MiaoDa type says the same.
_OWN_PROTOCOL: Mapping[str, str] = {
    "google": "Google Gemini",
    "vertexai": "Google Vertex AI",
    "azure": "Azure OpenAI",
    "azureai": "Azure AI",
    "bedrock": "Amazon Bedrock",
    "cloudflare": "Cloudflare Workers AI",
    "huggingface": "Hugging Face",
    "wenxin": "Baidu Wenxin",
}
# The names LobeChat shows for its built-in providers (src/config/modelProviders/<id>.ts).
_NAMES: Mapping[str, str] = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "ollama": "Ollama",
    "deepseek": "DeepSeek",
    "groq": "Groq",
    "openrouter": "OpenRouter",
    "moonshot": "Moonshot",
    "qwen": "Qwen",
    "zhipu": "ZhiPu",
    "siliconcloud": "SiliconCloud",
    "mistral": "Mistral",
    "xai": "xAI",
    "togetherai": "Together AI",
    "perplexity": "Perplexity",
    "fireworksai": "Fireworks AI",
    "zeroone": "01.AI",
    "stepfun": "Stepfun",
    "lmstudio": "LM Studio",
    **_OWN_PROTOCOL,
}
_NOT_PROVIDERS = frozenset({"password"})  # keyVaults.password is LobeChat's access code


@dataclass
class _Entry:
    """One provider of the file, in the terms both kinds of file share."""

    id: str
    label: str
    custom: bool = False
    sdk: str = "openai"
    api_key: str | None = None
    base_url: str | None = None
    enabled: bool = False
    models: list[str] = field(default_factory=list)
    encrypted: bool = False

    def set_up(self) -> bool:
        typed = bool(self.api_key or self.base_url) or self.encrypted
        return self.custom or typed or (self.enabled and self.id not in _ON_BY_DEFAULT)


def recognizes(document: Any) -> bool:
    """A LobeChat settings/config export or a data export of its database editions."""
    if not isinstance(document, dict):
        return False
    if document.get("exportType") in _EXPORT_TYPES and "version" in document:
        return True
    return document.get("mode") in _DB_MODES and "schemaHash" in document and "data" in document


def read(document: Any) -> ForeignImport:
    """The file's providers in our terms, their keys, and what could not be brought over."""
    if not recognizes(document):
        raise _broken("exportType", tr("foreign.lobechat.field.missing"))
    if "exportType" in document:
        version = _config_version(document)
        entries, default = _config_entries(document)
        label = f"{document['exportType']} v{version}"
    else:
        entries, default = _backup_entries(document)
        number = document.get("formatVersion")
        label = f"{document['mode']} data v{number if type(number) is int else 1}"
    result = ForeignImport(source=SOURCE, app_name=APP_NAME, format_version=label)
    idle: list[str] = []
    for entry in entries:
        if not entry.set_up():
            idle.append(entry.label)
            continue
        _bring(entry, default, result)
    if idle:
        result.unsupported.append(
            Unsupported(", ".join(idle), tr("foreign.lobechat.notSetUp", count=len(idle)))
        )
    return result


# --- the settings export -------------------------------------------------------------------


def _config_version(document: Mapping[str, Any]) -> int:
    version = document["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _broken("version", tr("foreign.lobechat.field.wholeNumber"))
    if document["exportType"] not in _WITH_SETTINGS:
        raise ImportInvalid(
            tr("foreign.lobechat.noSettings", exportType=document["exportType"]),
            fields={"exportType": [tr("foreign.lobechat.field.settingsOrAll")]},
        )
    return version


def _config_entries(document: Mapping[str, Any]) -> tuple[list[_Entry], tuple[str, str] | None]:
    state = _object(document.get("state"), "state", required=True)
    settings = _object(state.get("settings"), "state.settings", required=True)
    path = "state.settings"
    vaults = _object(settings.get("keyVaults"), f"{path}.keyVaults")
    models = _object(settings.get("languageModel"), f"{path}.languageModel")
    entries: dict[str, _Entry] = {}
    if "openAI" in models:
        entry = _legacy_openai(models["openAI"], f"{path}.languageModel.openAI")
        entries[entry.id] = entry
    for pid in [*models, *(p for p in vaults if p not in models)]:
        if pid == "openAI" or pid in _NOT_PROVIDERS or pid in entries:
            continue
        config = _object(models.get(pid), f"{path}.languageModel.{pid}")
        vault = _object(vaults.get(pid), f"{path}.keyVaults.{pid}")
        entries[pid] = _settings_entry(pid, config, vault, path)
    return list(entries.values()), _default_agent(settings.get("defaultAgent"))


def _settings_entry(
    pid: str, config: Mapping[str, Any], vault: Mapping[str, Any], path: str
) -> _Entry:
    """One provider of the settings: its vault, or (before version 7) its own fields."""
    where = {"keyVaults": f"{path}.keyVaults.{pid}", "languageModel": f"{path}.languageModel.{pid}"}
    key = _text(vault, "apiKey", where["keyVaults"]) or _text(
        config, "apiKey", where["languageModel"]
    )
    base = (
        _text(vault, "baseURL", where["keyVaults"])
        or _text(vault, "endpoint", where["keyVaults"])
        or _text(config, "endpoint", where["languageModel"])
    )
    label = display_name(_NAMES.get(pid), fallback=pid)
    entry = _Entry(pid, label, sdk=_builtin_sdk(pid), api_key=key, base_url=base)
    entry.enabled = config.get("enabled") is True
    entry.models = _config_models(config, where["languageModel"])
    return entry


def _legacy_openai(value: Any, path: str) -> _Entry:
    """Up to version 3: `languageModel.openAI`, Azure's settings too when `useAzure` is set."""
    config = _object(value, path)
    pid = "azure" if config.get("useAzure") is True else "openai"
    entry = _Entry(pid, _NAMES[pid], sdk=_builtin_sdk(pid))
    entry.api_key = _text(config, "OPENAI_API_KEY", path)
    entry.base_url = _text(config, "endpoint", path)
    entry.enabled = config.get("enabled") is True
    entry.models = _config_models(config, path)
    return entry


def _config_models(config: Mapping[str, Any], path: str) -> list[str]:
    """The models switched on for a provider, in LobeChat's order: its enabled list, then the
    user's own model cards, then (up to version 3) the `customModelName` list."""
    found: list[str] = []
    enabled = config.get("enabledModels")
    if enabled is not None:
        found += [m for m in _list(enabled, f"{path}.enabledModels") if isinstance(m, str)]
    cards = config.get("customModelCards")
    if cards is not None:
        for card in _list(cards, f"{path}.customModelCards"):
            usable = isinstance(card, dict) and isinstance(card.get("id"), str)
            if usable and card.get("enabled") is not False:
                found.append(card["id"])
    names = _text(config, "customModelName", path)
    if names:
        found += _custom_model_names(names)
    return _unique(m.strip() for m in found)


def _custom_model_names(text: str) -> list[str]:
    """The models a `customModelName` list adds (src/utils/parseModels.ts): comma-separated,
    `-name` removes one, `+name` or `name` adds one, `=Display` and `<…>` describe it, and
    `->deployment` names an Azure deployment."""
    models: list[str] = []
    for item in text.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            continue
        model = re.split(r"=|<|->", item.lstrip("+"), maxsplit=1)[0].strip()
        if model:
            models.append(model)
    return models


def _default_agent(value: Any) -> tuple[str, str] | None:
    """The default assistant's provider and model, the model a new chat of LobeChat uses."""
    config = value.get("config") if isinstance(value, dict) else None
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        return None
    provider = config.get("provider")
    # Before providers were named here, the model was always OpenAI's.
    return (provider if isinstance(provider, str) else _DEFAULT_PROVIDER, config["model"])


# --- the data export -----------------------------------------------------------------------


def _backup_entries(document: Mapping[str, Any]) -> tuple[list[_Entry], tuple[str, str] | None]:
    data = _object(document.get("data"), "data", required=True)
    rows = _list(data.get("aiProviders", []), "data.aiProviders")
    model_rows = _list(data.get("aiModels", []), "data.aiModels")
    settings = _list(data.get("userSettings", []), "data.userSettings")
    entries = [_backup_entry(row, f"data.aiProviders[{i}]") for i, row in enumerate(rows)]
    chats = _backup_models(model_rows)
    for entry, row in zip(entries, rows, strict=True):
        check = row.get("checkModel")
        entry.models = _unique(
            [*chats.get(entry.id, []), *([check] if isinstance(check, str) else [])]
        )
    first = settings[0] if settings and isinstance(settings[0], dict) else {}
    return entries, _default_agent(first.get("defaultAgent"))


def _backup_entry(row: Any, path: str) -> _Entry:
    row = _object(row, path, required=True)
    pid = row.get("id")
    if not isinstance(pid, str) or not pid.strip():
        raise _broken(f"{path}.id", tr("foreign.lobechat.field.text"))
    custom = row.get("source") == "custom"
    settings = _object(row.get("settings"), f"{path}.settings")
    sdk = settings.get("sdkType") if custom else _builtin_sdk(pid)
    label = display_name(row.get("name"), _NAMES.get(pid), fallback=pid)
    entry = _Entry(pid, label, custom=custom, sdk=sdk if isinstance(sdk, str) else "openai")
    entry.enabled = row.get("enabled") is True
    vault = row.get("keyVaults")
    if isinstance(vault, str) and _ENCRYPTED.fullmatch(vault.strip()):
        entry.encrypted = True
        return entry
    vault = _vault_object(vault, f"{path}.keyVaults")
    entry.api_key = _text(vault, "apiKey", f"{path}.keyVaults")
    entry.base_url = _text(vault, "baseURL", f"{path}.keyVaults")
    return entry


def _vault_object(value: Any, path: str) -> Mapping[str, Any]:
    """A PGlite row's vault: the JSON text of an object (empty or null: nothing in it)."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError:
            raise _broken(path, tr("foreign.lobechat.field.jsonText")) from None
    return _object(value, path)


def _backup_models(rows: Iterable[Any]) -> dict[str, list[str]]:
    """Each provider's switched-on chat models, in the order LobeChat sorts them."""
    chats: dict[str, list[tuple[int, int, str]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or row.get("enabled") is not True:
            continue
        if row.get("type", "chat") != "chat":
            continue
        pid, model, sort = row.get("providerId"), row.get("id"), row.get("sort")
        if isinstance(pid, str) and isinstance(model, str):
            place = sort if isinstance(sort, int) and not isinstance(sort, bool) else 1 << 30
            chats.setdefault(pid, []).append((place, index, model))
    return {pid: [model for *_, model in sorted(found)] for pid, found in chats.items()}


# --- one provider into ours ----------------------------------------------------------------


def _bring(entry: _Entry, default: tuple[str, str] | None, result: ForeignImport) -> None:
    """Add the entry to `result` as a provider, or to its unsupported list with the reason."""
    reason = _why_not(entry)
    if reason is None:
        model = default[1] if default and default[0] == entry.id else None
        model = model or next(iter(entry.models), None)
        if model is None:
            reason = tr("foreign.reason.noModel")
    if reason is not None:
        result.unsupported.append(Unsupported(entry.label, reason))
        return
    base, kind = _address(entry)
    assert base is not None and model is not None  # _why_not said both are there
    name = provider_name(entry.id, taken=[p["name"] for p in result.providers])
    provider: dict[str, Any] = {
        "name": name,
        "displayName": display_name(entry.label, fallback=entry.id),
        "type": kind,
        "baseURL": base,
        "model": model,
    }
    if kind == "anthropic-compatible" and urlsplit(base).path.endswith("/v1"):
        # The Anthropic SDK adds /v1 whatever the base ends with; ours would not add a second.
        provider["endpoints"] = {"chat": "/v1/messages", "models": "/v1/models"}
    result.providers.append(provider)
    keys = _keys(entry.api_key)
    if keys:
        result.secrets[name] = ProviderSecrets(api_keys=keys)


def _why_not(entry: _Entry) -> str | None:
    """Why a set-up entry cannot become a provider of ours, or None when it can."""
    if entry.encrypted:
        return tr("foreign.lobechat.reason.encrypted")
    if entry.sdk not in ("openai", "anthropic", "ollama"):
        protocol = _OWN_PROTOCOL.get(entry.sdk, f"“{entry.sdk}”")
        return tr("foreign.reason.unsupportedProtocol", protocol=protocol)
    base, _ = _address(entry)
    if base is None:
        given = entry.base_url or (None if entry.custom else _default_base(entry))
        return tr("foreign.reason.badAddress" if given else "foreign.reason.noAddress")
    return None


def _address(entry: _Entry) -> tuple[str | None, str]:
    """The base URL and type that send requests where LobeChat sends them."""
    given = entry.base_url or (None if entry.custom else _default_base(entry))
    if given is None:
        return None, "openai-compatible"
    if entry.sdk == "ollama":
        return _ollama_base(given), "openai-compatible"
    kind = "anthropic-compatible" if entry.sdk == "anthropic" else "openai-compatible"
    return _checked_url(given), kind


def _default_base(entry: _Entry) -> str | None:
    if entry.sdk == "anthropic":
        return _ANTHROPIC_DEFAULT
    if entry.sdk == "ollama":
        return _OLLAMA_DEFAULT
    return _OPENAI_DEFAULTS.get(entry.id)


def _checked_url(url: str) -> str | None:
    """The URL without trailing `/` (the OpenAI and Anthropic SDKs join paths the same way),
    or None when it is not an http(s) URL with a host and no user name."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return url.rstrip("/")


def _ollama_base(host: str) -> str | None:
    """The OpenAI-compatible base (`/v1`) of the Ollama host LobeChat was given, completed the
    way ollama-js's formatHost does: no scheme means http and port 11434, `:port` means
    127.0.0.1, and query and fragment are dropped. A host already ending in `/v1` keeps it."""
    explicit = "://" in host
    if host.startswith(":"):
        host, explicit = f"http://127.0.0.1{host}", True
    if not explicit:
        host = f"http://{host}"
    try:
        parts = urlsplit(host)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if port is None and not explicit:
        port = _OLLAMA_PORT
    hostname = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = hostname if port is None else f"{hostname}:{port}"
    path = parts.path.rstrip("/")
    base = f"{parts.scheme}://{netloc}{path}"
    return base if path.endswith("/v1") else f"{base}/v1"


def _keys(text: str | None) -> tuple[str, ...]:
    """LobeChat takes several keys in one field, comma-separated, and uses them in turn
    (src/server/modules/AgentRuntime/apiKeyManager.ts): each one, trimmed, in order, once."""
    if not text:
        return ()
    return tuple(_unique(key.strip() for key in text.split(",")))


def _builtin_sdk(pid: str) -> str:
    if pid in ("anthropic", "ollama") or pid in _OWN_PROTOCOL:
        return pid
    return "openai"


# --- reading the file's values -------------------------------------------------------------


def _object(value: Any, path: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        problem = (
            "foreign.lobechat.field.missing" if value is None else "foreign.lobechat.field.object"
        )
        raise _broken(path, tr(problem))
    return value


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _broken(path, tr("foreign.lobechat.field.list"))
    return value


def _text(config: Mapping[str, Any], name: str, path: str) -> str | None:
    """A text field (blank: not given); anything but text or null is a broken file."""
    value = config.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _broken(f"{path}.{name}", tr("foreign.lobechat.field.text"))
    return value.strip() or None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _broken(path: str, problem: str) -> ImportInvalid:
    return ImportInvalid(tr("foreign.lobechat.broken"), fields={path: [problem]})
