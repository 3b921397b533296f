"""LobeChat files as LobeChat writes them, for the import tests (docs/IMPORT-FROM-OTHER-APPS.md).

`settings_export()` is Settings → Data → Export settings of a LobeChat that used several
providers: `JSON.stringify` of `{exportType, state: {settings}, version}` (lobehub/lobe-chat
src/utils/config.ts `exportConfigFile`, saved as `LobeChat-settings-v8.json`), with the
settings merged over LobeChat's defaults the way its store exports them, so every built-in
provider is in `languageModel` whether it was set up or not. `SETTINGS_EXPECTED` is what our
import makes of it. `all_export()`, `v6_settings_export()`, `v3_settings_export()` and
`pglite_export()` / `postgres_export()` are the other shapes the reader understands.
"""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import CANARY_KEY

SETTINGS_FILENAME = "LobeChat-settings-v8.json"
SECOND_KEY = "sk-lobe-second-5e8a1c2f9b7d3e4a"
ANTHROPIC_KEY = "sk-ant-api03-lobe-7c1e9a3f5b2d8e6c"
DEEPSEEK_KEY = "sk-deepseek-lobe-2b9f4e7a1c6d3e8f"
GOOGLE_KEY = "AIzaSyLobeChat-google-0f3e8d1c"
AZURE_KEY = "3f9e1c7a5b2d8e4f6a0c9b1d7e3f5a2c"
ZHIPU_KEY = "zhipu-lobe-4e8f2a9c1b7d.x3k9QwErTy"
VLLM_KEY = "vllm-lobe-token-8d2c"
CUSTOM_KEY = "sk-custom-relay-6a1f3e9c"

# What `settings_export()` gives: our providers (name → fields) and their keys, then the
# names of the entries listed as not brought over.
SETTINGS_EXPECTED: dict[str, dict[str, Any]] = {
    "openai": {
        "displayName": "OpenAI",
        "type": "openai-compatible",
        "baseURL": "https://relay.example.com/v1",
        "model": "gpt-4o",
    },
    "anthropic": {
        "displayName": "Anthropic",
        "type": "anthropic-compatible",
        "baseURL": "https://claude-relay.example.com/v1",
        "model": "claude-3-5-sonnet-20241022",
        "endpoints": {"chat": "/v1/messages", "models": "/v1/models"},
    },
    "deepseek": {
        "displayName": "DeepSeek",
        "type": "openai-compatible",
        "baseURL": "https://api.deepseek.com/v1",
        "model": "deepseek-chat",
    },
    "ollama": {
        "displayName": "Ollama",
        "type": "openai-compatible",
        "baseURL": "http://192.168.1.20:11434/v1",
        "model": "llama3.1",
    },
    "moonshot": {
        "displayName": "Moonshot",
        "type": "openai-compatible",
        "baseURL": "https://api.moonshot.cn/v1",
        "model": "moonshot-v1-8k",
    },
}
SETTINGS_UNSUPPORTED = ["Google Gemini", "Azure OpenAI", "ZhiPu", "vllm"]
SETTINGS_NOT_SET_UP = ["Groq", "Amazon Bedrock", "OpenRouter", "Qwen", "SiliconCloud", "Mistral"]


def settings_keys(canary_key: str = CANARY_KEY) -> dict[str, tuple[str, ...]]:
    """The keys `settings_export(canary_key)` brings, by our provider name."""
    return {
        "openai": (canary_key, SECOND_KEY),
        "anthropic": (ANTHROPIC_KEY,),
        "deepseek": (DEEPSEEK_KEY,),
    }


def settings(canary_key: str = CANARY_KEY) -> dict[str, Any]:
    """The `settings` object of a LobeChat that used several providers (version 7 and 8 shape)."""
    return {
        "defaultAgent": {
            "config": {
                "autoCreateTopicThreshold": 2,
                "displayMode": "chat",
                "enableAutoCreateTopic": True,
                "historyCount": 8,
                "model": "gpt-4o",
                "params": {"frequency_penalty": 0, "presence_penalty": 0, "temperature": 1},
                "plugins": [],
                "provider": "openai",
                "systemRole": "",
                "tts": {"showAllLocaleVoice": False, "sttLocale": "auto", "ttsService": "openai"},
            },
            "meta": {},
        },
        "general": {"fontSize": 14, "language": "zh-CN", "themeMode": "auto"},
        "keyVaults": {
            "password": "team-access-code",
            # Two keys in one field, a stray space and the trailing slash LobeChat allows.
            "openai": {
                "apiKey": f"{canary_key}, {SECOND_KEY}",
                "baseURL": "https://relay.example.com/v1/",
            },
            # A relay given with /v1: LobeChat's Anthropic SDK still adds /v1/messages.
            "anthropic": {
                "apiKey": ANTHROPIC_KEY,
                "baseURL": "https://claude-relay.example.com/v1",
            },
            "deepseek": {"apiKey": DEEPSEEK_KEY},
            # An Ollama host without /v1, as LobeChat's Ollama client wants it.
            "ollama": {"baseURL": "http://192.168.1.20:11434"},
            "groq": {"apiKey": "", "baseURL": ""},
            "google": {"apiKey": GOOGLE_KEY},
            "azure": {
                "apiKey": AZURE_KEY,
                "apiVersion": "2024-06-01",
                "baseURL": "https://contoso.openai.azure.com",
            },
            "bedrock": {"apiKey": "", "baseURL": "", "region": "us-east-1"},
            "zhipu": {"apiKey": ZHIPU_KEY},
            "vllm": {"apiKey": VLLM_KEY},
        },
        "languageModel": {
            "openai": {"enabled": True, "enabledModels": ["gpt-4o-mini", "gpt-4o", "o3-mini"]},
            "anthropic": {
                "enabled": True,
                "enabledModels": ["claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022"],
            },
            "deepseek": {"enabled": True, "enabledModels": ["deepseek-chat", "deepseek-reasoner"]},
            "ollama": {
                "enabled": True,
                "fetchOnClient": True,
                "enabledModels": ["llama3.1", "qwen2.5"],
            },
            "moonshot": {"enabled": True, "enabledModels": ["moonshot-v1-8k", "moonshot-v1-32k"]},
            "groq": {"enabled": False, "enabledModels": ["llama-3.3-70b-versatile"]},
            "google": {"enabled": True, "enabledModels": ["gemini-1.5-pro-latest"]},
            "azure": {
                "enabled": True,
                "enabledModels": [],
                "customModelCards": [
                    {
                        "deploymentName": "gpt4o-prod",
                        "displayName": "GPT-4o",
                        "enabled": True,
                        "id": "gpt-4o",
                    }
                ],
            },
            "bedrock": {
                "enabled": False,
                "enabledModels": ["anthropic.claude-3-5-sonnet-20240620-v1:0"],
            },
            "zhipu": {"enabled": True, "enabledModels": []},
            "vllm": {"enabled": True, "enabledModels": ["Qwen/Qwen2.5-7B-Instruct"]},
            "openrouter": {
                "enabled": False,
                "enabledModels": None,
                "customModelCards": [
                    {"displayName": "Auto", "enabled": True, "id": "openrouter/auto"}
                ],
            },
            "qwen": {"enabled": False, "enabledModels": ["qwen-turbo"]},
            "siliconcloud": {"enabled": False, "enabledModels": ["deepseek-ai/DeepSeek-V3"]},
            "mistral": {"enabled": False, "enabledModels": ["mistral-large-latest"]},
        },
        "sync": {"webrtc": {"enabled": False}},
        "systemAgent": {"topic": {"model": "gpt-4o-mini", "provider": "openai"}},
        "tool": {"dalle": {"autoGenerate": False}},
        "tts": {"openAI": {"sttModel": "whisper-1", "ttsModel": "tts-1"}, "sttServer": "openai"},
    }


def settings_export(canary_key: str = CANARY_KEY) -> bytes:
    """Settings → Data → Export settings, as LobeChat writes the file (version 8)."""
    return _write(
        {"exportType": "settings", "state": {"settings": settings(canary_key)}, "version": 8}
    )


def all_export(canary_key: str = CANARY_KEY) -> bytes:
    """Export all data (`exportType: "all"`): the same settings beside sessions and messages."""
    state = {
        "messages": [
            {
                "content": "你好",
                "createdAt": 1717000000000,
                "id": "msg_1",
                "role": "user",
                "sessionId": "inbox",
            }
        ],
        "sessionGroups": [],
        "sessions": [],
        "settings": settings(canary_key),
        "topics": [],
    }
    return _write({"exportType": "all", "state": state, "version": 7})


def v6_settings_export(canary_key: str = CANARY_KEY) -> bytes:
    """A version 6 file: `apiKey` and `endpoint` still inside `languageModel` (before keyVaults)."""
    language_model = {
        "openai": {
            "apiKey": canary_key,
            "enabled": True,
            "endpoint": "https://relay.example.com/v1",
        },
        "anthropic": {
            "apiKey": ANTHROPIC_KEY,
            "enabled": True,
            "enabledModels": ["claude-3-opus-20240229"],
        },
        "azure": {
            "apiKey": AZURE_KEY,
            "enabled": False,
            "endpoint": "https://contoso.openai.azure.com",
        },
        "ollama": {"enabled": True, "endpoint": "localhost:11434", "enabledModels": ["llama3"]},
    }
    settings_v6 = {
        "defaultAgent": {"config": {"model": "gpt-4-turbo", "provider": "openai"}, "meta": {}},
        "fontSize": 14,
        "language": "auto",
        "languageModel": language_model,
        "password": "",
        "themeMode": "auto",
    }
    return _write({"exportType": "settings", "state": {"settings": settings_v6}, "version": 6})


def v3_settings_export(canary_key: str = CANARY_KEY, *, use_azure: bool = False) -> bytes:
    """A version 3 file: OpenAI's settings under `languageModel.openAI`."""
    language_model = {
        "openAI": {
            "OPENAI_API_KEY": canary_key,
            "azureApiVersion": "2024-02-15-preview",
            "customModelName": "-all,+gpt-4-turbo=GPT-4 Turbo<128000:vision:fc>,gpt-3.5-turbo",
            "enabled": True,
            "endpoint": "https://relay.example.com/v1",
            "useAzure": use_azure,
        },
        "zhipu": {"apiKey": "", "enabled": False},
    }
    settings_v3 = {
        "defaultAgent": {"config": {"model": "gpt-4-turbo"}},
        "languageModel": language_model,
    }
    return _write({"exportType": "settings", "state": {"settings": settings_v3}, "version": 3})


def pglite_rows(canary_key: str = CANARY_KEY) -> dict[str, list[dict[str, Any]]]:
    """The tables of a client (PGlite) database export that matter here, plus some that don't."""
    return {
        "aiProviders": [
            _provider_row(
                "openai", None, "builtin", True, {"apiKey": canary_key}, check="gpt-4o-mini"
            ),
            _provider_row(
                "my-relay",
                "我的中转",
                "custom",
                True,
                {"apiKey": CUSTOM_KEY, "baseURL": "https://relay.example.cn/v1"},
                settings={"sdkType": "openai", "showModelFetcher": True},
            ),
            _provider_row(
                "claude-proxy",
                "Claude Proxy",
                "custom",
                True,
                {"apiKey": ANTHROPIC_KEY, "baseURL": "https://claude.example.com"},
                settings={"sdkType": "anthropic"},
            ),
            _provider_row("groq", None, "builtin", False, {}),
            _provider_row("google", None, "builtin", True, {"apiKey": GOOGLE_KEY}),
        ],
        "aiModels": [
            _model_row("qwen-max", "my-relay", sort=1),
            _model_row("deepseek-v3", "my-relay", sort=0),
            _model_row("text-embedding-3-small", "my-relay", kind="embedding"),
            _model_row("claude-3-7-sonnet-latest", "claude-proxy"),
        ],
        "messages": [],
        "sessions": [],
        "userSettings": [
            {"defaultAgent": {"config": {"model": "gpt-4o", "provider": "openai"}}, "id": "user_1"}
        ],
        "users": [{"avatar": None, "id": "user_1", "preference": {}}],
    }


def pglite_export(canary_key: str = CANARY_KEY) -> bytes:
    """Export all data of LobeChat's client database edition (`mode: "pglite"`)."""
    document = {"data": pglite_rows(canary_key), "mode": "pglite", "schemaHash": "8a2b1c9d"}
    return _write(document)


def postgres_export() -> bytes:
    """The same from a server database: every vault encrypted with the server's secret."""
    encrypted = "0a1b2c3d4e5f60718293a4b5:" + "c" * 32 + ":9f8e7d6c5b4a"
    row = _provider_row("openai", None, "builtin", True, {})
    row["keyVaults"] = encrypted
    document = {
        "appVersion": "1.99.0",
        "data": {"aiModels": [], "aiProviders": [row], "userSettings": []},
        "exportedAt": "2026-01-02T03:04:05.000Z",
        "formatVersion": 2,
        "mode": "postgres",
        "schemaHash": "8a2b1c9d",
        "secretStrategy": "deployment-keyed",
    }
    return _write(document)


def _provider_row(
    pid: str,
    name: str | None,
    source: str,
    enabled: bool,
    vault: dict[str, str],
    *,
    settings: dict[str, Any] | None = None,
    check: str | None = None,
) -> dict[str, Any]:
    """An `ai_providers` row as the export writes it (user id removed, vault as JSON text)."""
    return {
        "checkModel": check,
        "config": {},
        "createdAt": "2025-03-01T08:00:00.000Z",
        "description": None,
        "enabled": enabled,
        "fetchOnClient": None,
        "id": pid,
        "keyVaults": json.dumps(vault, separators=(",", ":")),
        "logo": None,
        "name": name,
        "settings": settings or {},
        "sort": None,
        "source": source,
        "updatedAt": "2025-03-02T08:00:00.000Z",
    }


def _model_row(
    model: str, provider: str, *, sort: int | None = None, kind: str = "chat"
) -> dict[str, Any]:
    return {
        "abilities": {},
        "enabled": True,
        "id": model,
        "providerId": provider,
        "sort": sort,
        "source": "custom",
        "type": kind,
    }


def _write(document: dict[str, Any]) -> bytes:
    """`JSON.stringify(config)`: compact, non-ASCII as is, UTF-8."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
