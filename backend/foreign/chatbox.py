"""Chatbox's exported data (Settings → Data Backup, `chatbox-exported-data-<date>.json`) read
into our providers (docs/IMPORT-FROM-OTHER-APPS.md, "Chatbox").

The file is Chatbox's storage as key → value: `settings`, `configVersion`, sessions, plus
`__exported_items` and `__exported_at`. `configVersion` tells the settings' shape: below 10
they are flat (`openaiKey`, `apiHost`, `claudeApiKey`, `ollamaHost`, …); from 10 on they hold
`providers: {id: {apiKey, apiHost, apiPath, models, …}}` and `customProviders: [{id, name,
type, …}]`. A flat file is first carried to the second shape the way Chatbox's own
`migrate_9_to_10` does when it imports one, so both shapes resolve URLs by the same rules:
the ones Chatbox applies today (chatboxai/chatbox src/shared/utils/llm_utils.ts and the model
classes of src/shared/providers/definitions/). Readers do no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend.errors import ImportInvalid
from backend.foreign.model import ForeignImport, Unsupported, display_name, provider_name
from backend.i18n import tr
from backend.transfer import ProviderSecrets

SOURCE = "chatbox"
APP_NAME = "Chatbox"

FLAT_BEFORE = 10
"""`configVersion` from which the settings hold `providers` (Chatbox's migrate_9_to_10)."""
_CHAT = "/chat/completions"
_OPENAI_V1 = "https://api.openai.com/v1"
_SCHEME = re.compile(r"^https?://", re.IGNORECASE)
_RESPONSES = "OpenAI Responses API"
_NOT_SET_UP_SHOWN = 12  # names listed in the one "not set up" line; the rest are counted


@dataclass(frozen=True)
class _BuiltIn:
    """One of Chatbox's own providers that we bring: how it sends, where, its first model.

    `fixed`: Chatbox sends to `host` whatever the settings say (its model class hard-codes the
    URL), so `host` is already our base; otherwise `host` is the default of the apiHost setting.
    """

    display: str
    wire: str  # "openai" or "claude"
    host: str
    fixed: bool = False
    model: str | None = None
    local: bool = False  # a local server: set up without a key

    def resolve(self, api_host: str) -> tuple[str, dict[str, str]]:
        """Our baseURL and endpoints for this provider with the settings' apiHost."""
        if self.fixed:
            return self.host, {}
        if self.wire == "claude":
            return resolve_claude(api_host or self.host)
        return resolve_openai(api_host or self.host)


# Built-in providers, from chatboxai/chatbox src/shared/defaults.ts (SystemProviders, 2025)
# and src/shared/providers/definitions/*.ts with their model classes (2025-2026): default
# hosts, whether the class ignores apiHost, and the first model of each default list.
_BUILT_INS: dict[str, _BuiltIn] = {
    "openai": _BuiltIn("OpenAI", "openai", "https://api.openai.com", model="gpt-5-chat-latest"),
    "claude": _BuiltIn("Claude", "claude", "https://api.anthropic.com/v1", model="claude-opus-4-0"),
    "deepseek": _BuiltIn(
        "DeepSeek", "openai", "https://api.deepseek.com/v1", fixed=True, model="deepseek-chat"
    ),
    "siliconflow": _BuiltIn(
        "SiliconFlow",
        "openai",
        "https://api.siliconflow.cn/v1",
        fixed=True,
        model="deepseek-ai/DeepSeek-V3.1",
    ),
    "openrouter": _BuiltIn(
        "OpenRouter",
        "openai",
        "https://openrouter.ai/api/v1",
        fixed=True,
        model="deepseek/deepseek-chat-v3.1:free",
    ),
    "groq": _BuiltIn(
        "Groq",
        "openai",
        "https://api.groq.com/openai/v1",
        fixed=True,
        model="llama-3.3-70b-versatile",
    ),
    "xAI": _BuiltIn("xAI", "openai", "https://api.x.ai/v1", fixed=True, model="grok-4-0709"),
    "perplexity": _BuiltIn(
        "Perplexity", "openai", "https://api.perplexity.ai", fixed=True, model="sonar"
    ),
    "volcengine": _BuiltIn(
        "VolcEngine",
        "openai",
        "https://ark.cn-beijing.volces.com/api/v3",
        fixed=True,
        model="deepseek-v3-250324",
    ),
    "chatglm-6b": _BuiltIn(
        "ChatGLM", "openai", "https://open.bigmodel.cn/api/paas/v4", fixed=True, model="glm-4.5"
    ),
    "mistral-ai": _BuiltIn(
        "Mistral AI", "openai", "https://api.mistral.ai/v1", model="pixtral-large-latest"
    ),
    "qwen": _BuiltIn(
        "Qwen", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1", model="qwen3.5-plus"
    ),
    "moonshot": _BuiltIn("Moonshot AI", "openai", "https://api.moonshot.ai/v1", model="kimi-k2.6"),
    "moonshot-cn": _BuiltIn(
        "Moonshot CN", "openai", "https://api.moonshot.cn/v1", model="kimi-k2.6"
    ),
    "minimax": _BuiltIn(
        "MiniMax Global", "openai", "https://api.minimax.io/v1", model="MiniMax-M3"
    ),
    "minimax-cn": _BuiltIn(
        "MiniMax CN", "openai", "https://api.minimaxi.com/v1", model="MiniMax-M3"
    ),
    "ollama": _BuiltIn("Ollama", "openai", "http://127.0.0.1:11434", local=True),
    "lm-studio": _BuiltIn("LM Studio", "openai", "http://127.0.0.1:1234", local=True),
}
# Built-in providers that are not brought: their name, the catalogue key of why, and the
# interface named in it (for foreign.reason.unsupportedProtocol).
_NOT_BROUGHT: dict[str, tuple[str, str, str]] = {
    "gemini": ("Gemini", "foreign.reason.unsupportedProtocol", "Google Gemini"),
    "openai-responses": ("OpenAI Responses", "foreign.reason.unsupportedProtocol", _RESPONSES),
    "bedrock": ("AWS Bedrock", "foreign.reason.unsupportedProtocol", "AWS Bedrock"),
    "azure": ("Azure OpenAI", "foreign.reason.azure", ""),
    "chatbox-ai": ("Chatbox AI", "foreign.chatbox.chatboxAi", ""),
    "github-copilot": ("GitHub Copilot", "foreign.reason.signIn", ""),
    "qwen-portal": ("Qwen Portal", "foreign.reason.signIn", ""),
}
# A custom provider's `type` whose interface we do not speak; any other is sent the OpenAI way.
_CUSTOM_NOT_BROUGHT = {"gemini": "Google Gemini", "openai-responses": _RESPONSES}

# The flat settings' providers as migrate_9_to_10 carries them over (chatboxai/chatbox
# src/renderer/stores/migration.ts): id, key field, host field, model field. An entry is made
# when its key (or, without a key field, its host) is set; OpenAI and Claude and Gemini also
# when only the host is.
_FLAT: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("openai", "openaiKey", "apiHost", "model"),
    ("claude", "claudeApiKey", "claudeApiHost", "claudeModel"),
    ("gemini", "geminiAPIKey", "geminiAPIHost", "geminiModel"),
    ("deepseek", "deepseekAPIKey", None, "deepseekModel"),
    ("siliconflow", "siliconCloudKey", None, "siliconCloudModel"),
    ("xAI", "xAIKey", None, "xAIModel"),
    ("ollama", None, "ollamaHost", "ollamaModel"),
    ("lm-studio", None, "lmStudioHost", "lmStudioModel"),
    ("perplexity", "perplexityApiKey", None, "perplexityModel"),
    ("groq", "groqAPIKey", None, "groqModel"),
    ("chatglm-6b", "chatglmApiKey", None, "chatglmModel"),
)
_FLAT_AZURE = ("azureEndpoint", "azureDeploymentNameOptions", "azureApikey", "azureApiVersion")
_FLAT_MARKERS = ("aiProvider", "openaiKey", "apiHost", "claudeApiKey", "ollamaHost")


def recognizes(document: Any) -> bool:
    """A Chatbox export (`__exported_at`/`__exported_items`) or its stored config file
    (`settings` beside a `configVersion`); never a file that names its own `format`."""
    if not isinstance(document, dict) or "format" in document:
        return False
    exported = "__exported_at" in document or "__exported_items" in document
    return exported or ("configVersion" in document and "settings" in document)


def read(document: Any) -> ForeignImport:
    """The providers and keys of a Chatbox export; every other entry with its reason."""
    if not recognizes(document):
        raise ImportInvalid(tr("foreign.file.unknown"))
    version = _version(document)
    check = _Check(str(version) if version is not None else tr("foreign.chatbox.versionUnknown"))
    settings = _settings(document, check)
    flat = version < FLAT_BEFORE if version is not None else _looks_flat(settings)
    chosen: dict[str, str] = {}
    if flat:
        providers, customs = _from_flat(settings, chosen, check)
    else:
        providers = dict(check.obj(settings.get("providers"), _where("providers")))
        customs = check.items(settings.get("customProviders"), _where("customProviders"))
    reading = _Reading(check, chosen, providers)
    reading.note_use(settings)
    reading.keys_left_out = not flat and _keys_left_out(document, providers)
    custom_ids = {custom["id"] for custom in customs}
    for pid in list(providers):
        if pid not in custom_ids:
            reading.built_in(pid)
    for custom in customs:
        reading.custom(custom)
    return reading.result(str(version) if version is not None else None)


# --- Chatbox's URL rules, rewritten ---------------------------------------------------------


def resolve_openai(api_host: str, api_path: str = "") -> tuple[str, dict[str, str]]:
    """Our baseURL and endpoints for Chatbox's OpenAI-style `apiHost` + `apiPath`.

    Chatbox (`normalizeOpenAIApiHostAndPath`) trims both, drops one trailing `/` from the
    host, adds `https://` when there is no scheme, takes a `…/chat/completions` host apart,
    maps api.openai.com, openrouter.ai and api.x.com to their `/v1` bases, and adds `/v1` to a
    host without one unless a path is given; it then POSTs to host + path. A path that ends in
    `/chat/completions` goes into our baseURL (the request URL is the same); any other path
    becomes our `endpoints.chat`.
    """
    host, path = api_host.strip(), api_path.strip()
    if not host:
        return _OPENAI_V1, {}
    host = host.removesuffix("/")
    if path and not path.startswith("/"):
        path = "/" + path
    scheme = _SCHEME.match(host)
    host = scheme.group(0).lower() + host[scheme.end() :] if scheme else "https://" + host
    if host.endswith(_CHAT):
        host, path = host.replace(_CHAT, "", 1), _CHAT
    if host.endswith(("://api.openai.com", "://api.openai.com/v1")):
        return _OPENAI_V1, {}
    if host.endswith(("://openrouter.ai", "://openrouter.ai/api")):
        return "https://openrouter.ai/api/v1", {}
    if host.endswith(("://api.x.com", "://api.x.com/v1")):
        return "https://api.x.com/v1", {}
    if not path:
        return (host if host.endswith("/v1") else host + "/v1"), {}
    if path.endswith(_CHAT):
        return host + path.removesuffix(_CHAT), {}
    return host, {"chat": path}


def resolve_claude(api_host: str) -> tuple[str, dict[str, str]]:
    """Our baseURL and endpoints for Chatbox's Claude `apiHost` (`normalizeClaudeHost`).

    Chatbox trims it, turns exactly `https://api.anthropic.com` into `…/v1`, drops one trailing
    `/`, and POSTs to host + `/messages` (models at host + `/models`). Ours adds `/v1` unless
    the base ends in it, so a host without `/v1` keeps Chatbox's paths as endpoints.
    """
    host = api_host.strip()
    if host == "https://api.anthropic.com":
        host += "/v1"
    host = host.removesuffix("/")
    if host.endswith("/v1"):
        return host, {}
    return host, {"chat": "/messages", "models": "/models"}


# --- reading --------------------------------------------------------------------------------


class _Check:
    """Type checks that name the place in the file a wrong value is at."""

    def __init__(self, version: str) -> None:
        self.version = version

    def broken(self, path: str, problem_key: str) -> ImportInvalid:
        return ImportInvalid(
            tr("foreign.chatbox.broken", version=self.version, field=path),
            fields={path: [tr(problem_key)]},
        )

    def obj(self, value: object, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.broken(path, "foreign.chatbox.field.object")
        for key, entry in value.items():
            if not isinstance(entry, dict):
                raise self.broken(f"{path}.{key}", "foreign.chatbox.field.object")
        return value

    def items(self, value: object, path: str) -> list[dict[str, Any]]:
        """A list of objects, each with a text `id` and `name` (Chatbox's custom providers)."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.broken(path, "foreign.chatbox.field.list")
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise self.broken(f"{path}[{index}]", "foreign.chatbox.field.object")
            for key in ("id", "name"):
                if not _filled(entry.get(key)):
                    raise self.broken(f"{path}[{index}].{key}", "foreign.chatbox.field.text")
        return value

    def text(self, value: object, path: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.broken(path, "foreign.chatbox.field.text")
        return value.strip()

    def models(self, value: object, path: str) -> list[str]:
        """The chat model ids of a `models` list (embedding, rerank and image models left out)."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.broken(path, "foreign.chatbox.field.list")
        found = []
        for index, entry in enumerate(value):
            if not isinstance(entry, dict) or not isinstance(entry.get("modelId"), str):
                raise self.broken(f"{path}[{index}].modelId", "foreign.chatbox.field.text")
            if entry.get("type") in (None, "chat") and entry["modelId"].strip():
                found.append(entry["modelId"].strip())
        return found


class _Reading:
    """One file's providers being brought over, in the file's order."""

    def __init__(self, check: _Check, chosen: dict[str, str], providers: dict[str, Any]) -> None:
        self.check = check
        self.chosen = chosen
        self.settings_of: dict[str, dict[str, Any]] = providers
        self.keys_left_out = False
        self.in_use: set[str] = set()  # providers Chatbox's settings point at
        self.providers: list[dict[str, Any]] = []
        self.secrets: dict[str, ProviderSecrets] = {}
        self.unsupported: list[Unsupported] = []
        self.not_set_up: list[str] = []

    def note_use(self, settings: Mapping[str, Any]) -> None:
        """Providers the settings point at count as set up: the default chat model's (whose
        model is then the one brought), and Chatbox AI when a licence key is there."""
        default = settings.get("defaultChatModel")
        if isinstance(default, dict) and all(
            _filled(default.get(k)) for k in ("provider", "model")
        ):
            self.chosen[default["provider"]] = default["model"]
            self.in_use.add(default["provider"])
        if _filled(settings.get("licenseKey")):
            self.in_use.add("chatbox-ai")
            self.settings_of.setdefault("chatbox-ai", {})

    def built_in(self, pid: str) -> None:
        settings, path = self.settings_of[pid], f"settings.providers.{pid}"
        key = self.check.text(settings.get("apiKey"), f"{path}.apiKey")
        host = self.check.text(settings.get("apiHost"), f"{path}.apiHost")
        models = self.check.models(settings.get("models"), f"{path}.models")
        known = _BUILT_INS.get(pid)
        if known is None:
            shown, why, protocol = _NOT_BROUGHT.get(pid, (pid, "", ""))
            if not (pid in self.in_use or any(_filled(v) for v in settings.values())):
                self.not_set_up.append(shown)
            elif pid.startswith("custom-provider-"):
                self.unsupported.append(Unsupported(pid, tr("foreign.chatbox.orphan")))
            else:
                reason = tr(why or "foreign.chatbox.unknownBuiltIn", protocol=protocol)
                self.unsupported.append(Unsupported(shown, reason))
            return
        set_up = key or self.keys_left_out or pid in self.in_use
        # A local server counts once it has a model or a host of its own: Chatbox's defaults
        # (and so every flat settings file) hold the default host of each.
        moved = bool(host) and known.resolve(host) != known.resolve("")
        if not (set_up or (known.local and (models or moved or pid in self.chosen))):
            self.not_set_up.append(known.display)
            return
        if settings.get("activeAuthMode") == "oauth":
            self.unsupported.append(Unsupported(known.display, tr("foreign.reason.signIn")))
            return
        base, endpoints = known.resolve(host)
        shown = known.display
        self._bring(pid, shown, known.wire, base, endpoints, models, key, (pid,), known.model)

    def custom(self, custom: dict[str, Any]) -> None:
        pid, shown = custom["id"], display_name(custom["name"], fallback=custom["id"])
        settings = self.settings_of.get(pid, {})
        defaults = custom.get("defaultSettings")
        defaults = defaults if isinstance(defaults, dict) else {}
        path = f"settings.providers.{pid}"
        key = self.check.text(settings.get("apiKey"), f"{path}.apiKey")
        host = self.check.text(settings.get("apiHost"), f"{path}.apiHost")
        api_path = self.check.text(settings.get("apiPath"), f"{path}.apiPath")
        models = self.check.models(settings.get("models"), f"{path}.models")
        models += self.check.models(defaults.get("models"), f"{path}.defaultSettings.models")
        host = host or self.check.text(defaults.get("apiHost"), f"{path}.defaultSettings.apiHost")
        api_path = api_path or self.check.text(
            defaults.get("apiPath"), f"{path}.defaultSettings.apiPath"
        )
        kind = custom.get("type") if isinstance(custom.get("type"), str) else "openai"
        if kind in _CUSTOM_NOT_BROUGHT:
            protocol = _CUSTOM_NOT_BROUGHT[kind]
            reason = tr("foreign.reason.unsupportedProtocol", protocol=protocol)
            self.unsupported.append(Unsupported(shown, reason))
            return
        if not host:
            self.unsupported.append(Unsupported(shown, tr("foreign.reason.noUrl")))
            return
        if kind == "claude":
            base, endpoints = resolve_claude(host)
        else:
            base, endpoints = resolve_openai(host, api_path)
        wire = "claude" if kind == "claude" else "openai"
        self._bring(pid, shown, wire, base, endpoints, models, key, (custom["name"], pid), None)

    def _bring(
        self,
        pid: str,
        shown: str,
        wire: str,
        base: str,
        endpoints: dict[str, str],
        models: list[str],
        key: str,
        names: tuple[str, ...],
        fallback_model: str | None,
    ) -> None:
        model = self.chosen.get(pid) or (models[0] if models else fallback_model)
        if not model:
            self.unsupported.append(Unsupported(shown, tr("foreign.reason.noModel")))
            return
        name = provider_name(*names, taken=[p["name"] for p in self.providers])
        provider: dict[str, Any] = {
            "name": name,
            "displayName": shown,
            "type": "anthropic-compatible" if wire == "claude" else "openai-compatible",
            "baseURL": base,
            "model": model.strip(),
        }
        if endpoints:
            provider["endpoints"] = endpoints
        self.providers.append(provider)
        if key:
            self.secrets[name] = ProviderSecrets(api_keys=(key,))

    def result(self, version: str | None) -> ForeignImport:
        if self.not_set_up:
            names = self.not_set_up[:_NOT_SET_UP_SHOWN]
            more = len(self.not_set_up) - len(names)
            listed = ", ".join(names) + (f", … (+{more})" if more else "")
            self.unsupported.append(
                Unsupported(
                    tr("foreign.chatbox.builtIns", count=len(self.not_set_up)),
                    tr("foreign.reason.notSetUp", names=listed),
                )
            )
        if self.keys_left_out:
            self.unsupported.append(
                Unsupported(tr("foreign.chatbox.keysName"), tr("foreign.chatbox.keysLeftOut"))
            )
        return ForeignImport(
            source=SOURCE,
            app_name=APP_NAME,
            format_version=version,
            providers=self.providers,
            secrets=self.secrets,
            unsupported=self.unsupported,
        )


def _version(document: Mapping[str, Any]) -> int | None:
    value = document.get("configVersion")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Check(tr("foreign.chatbox.versionUnknown")).broken(
            "configVersion", "foreign.chatbox.field.version"
        )
    return value


def _settings(document: Mapping[str, Any], check: _Check) -> dict[str, Any]:
    if "settings" not in document:
        problem = tr("foreign.chatbox.field.noSettings")
        raise ImportInvalid(tr("foreign.chatbox.noSettings"), fields={"settings": [problem]})
    settings = document["settings"]
    if not isinstance(settings, dict):
        raise check.broken("settings", "foreign.chatbox.field.object")
    return settings


def _keys_left_out(document: Mapping[str, Any], providers: Mapping[str, Any]) -> bool:
    """Exported without "API KEY & License": Chatbox then deletes every provider's apiKey."""
    items = document.get("__exported_items")
    return (
        isinstance(items, list)
        and "setting" in items
        and "key" not in items
        and not any(_filled(entry.get("apiKey")) for entry in providers.values())
    )


def _looks_flat(settings: Mapping[str, Any]) -> bool:
    return "providers" not in settings and any(key in settings for key in _FLAT_MARKERS)


def _from_flat(
    settings: Mapping[str, Any], chosen: dict[str, str], check: _Check
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Flat settings in the shape migrate_9_to_10 gives them: providers, custom providers, and
    each provider's chosen model (from its own model field) into `chosen`."""
    field = {key: check.text(settings.get(key), f"settings.{key}") for key in _flat_fields()}
    # Chatbox 0.x wrote LM Studio's fields capitalised; the migration reads only lmStudioHost.
    field["lmStudioHost"] = field["lmStudioHost"] or check.text(
        settings.get("LMStudioHost"), _where("LMStudioHost")
    )
    field["lmStudioModel"] = field["lmStudioModel"] or check.text(
        settings.get("LMStudioModel"), _where("LMStudioModel")
    )
    if field["model"] == "custom-model":
        field["model"] = field["openaiCustomModel"]
    providers: dict[str, Any] = {}
    for pid, key_field, host_field, model_field in _FLAT:
        key = field[key_field] if key_field else ""
        host = field[host_field] if host_field else ""
        if key or host:
            providers[pid] = {"apiKey": key, "apiHost": host}
            if field[model_field]:
                chosen[pid] = field[model_field]
    if any(_filled(settings.get(name)) for name in _FLAT_AZURE):
        providers["azure"] = {"endpoint": field["azureEndpoint"]}
    customs: list[dict[str, Any]] = []
    old = settings.get("customProviders")
    if old is not None and not isinstance(old, list):
        raise check.broken(_where("customProviders"), "foreign.chatbox.field.list")
    for index, entry in enumerate(old or []):
        path = f"settings.customProviders[{index}]"
        if not isinstance(entry, dict):
            raise check.broken(path, "foreign.chatbox.field.object")
        pid = f"custom-provider-{index + 1}"
        name = check.text(entry.get("name"), f"{path}.name") or pid
        options = entry.get("modelOptions")
        if options is not None and not isinstance(options, list):
            raise check.broken(f"{path}.modelOptions", "foreign.chatbox.field.list")
        model = check.text(entry.get("model"), f"{path}.model")
        models = [m.strip() for m in (options or []) if isinstance(m, str) and m.strip()]
        customs.append({"id": pid, "name": name, "type": "openai"})
        providers[pid] = {
            "apiKey": check.text(entry.get("key"), f"{path}.key"),
            "apiHost": check.text(entry.get("host"), f"{path}.host"),
            "apiPath": check.text(entry.get("path"), f"{path}.path"),
            "models": [{"modelId": m} for m in dict.fromkeys([*models, model]) if m],
        }
        if model:
            chosen[pid] = model
    return providers, customs


def _flat_fields() -> tuple[str, ...]:
    named = {f for row in _FLAT for f in row[1:] if f}
    return tuple(sorted(named | {"openaiCustomModel", "azureEndpoint"}))


def _where(*parts: str) -> str:
    """A place in the settings as ImportInvalid's fields name it: the path of dotted keys."""
    return ".".join(("settings", *parts))


def _filled(value: object) -> bool:
    """A value Chatbox would count as set: non-blank text, a non-empty list or object."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, list | dict) and bool(value)
