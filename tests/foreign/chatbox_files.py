"""Chatbox's exported data (Settings → Data Backup), written the way Chatbox writes it.

Chatbox's exporter (chatboxai/chatbox src/renderer/routes/settings/general.tsx) streams its
storage as one compact JSON object (`JSON.stringify`, no spaces): `__exported_items`,
`__exported_at`, then each stored key (`settings`, `configVersion`, `chat-sessions-list`,
`session:<id>`, `myCopilots`). Chatbox 0.x wrote `JSON.stringify(storage.getAll())` with the two
`__exported_*` keys last. Keys are in plain text when "API KEY & License" is ticked.

`backup()` is a configVersion 13 file with built-in and custom providers, keys and URL quirks;
`flat_backup()` a configVersion 9 one (the flat settings before Chatbox's migrate_9_to_10).
`BACKUP_PROVIDERS` / `backup_keys()` and `FLAT_PROVIDERS` / `flat_keys()` are what MiaoDa Chat
brings from them. Every key starts with the canary, so one search finds any that leaked.
"""

from __future__ import annotations

import json
from typing import Any

CANARY = "sk-chatbox-canary-7d41c2e9"
EXPORTED_AT = "2026-03-02T08:15:30.123Z"

RELAY_ID = "custom-provider-4c1d9a70-5b8e-4a51-9d3c-2f6e8b0a1c11"
ARK_ID = "custom-provider-9e2b6f44-08d1-4c7a-b5e3-71a0c4d9e252"
CLAUDE_RELAY_ID = "custom-provider-1a7c3e58-6d2f-4b90-8e41-c5b2d7f0a393"
GEMINI_PROXY_ID = "custom-provider-5f80b1d2-3c9e-47a6-a0d4-98e1f6c2b474"
LAN_ID = "custom-provider-c3d5e7f9-1b2a-4c6d-8e0f-a1b2c3d4e505"


def to_bytes(document: dict[str, Any]) -> bytes:
    """A document as Chatbox saves it: compact JSON, UTF-8, no byte-order mark."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def export(
    settings: dict[str, Any] | None,
    *,
    config_version: int | None = 13,
    items: tuple[str, ...] = ("setting", "key", "conversations", "copilot"),
) -> dict[str, Any]:
    """A current exporter's document around `settings` (left out when None)."""
    document: dict[str, Any] = {"__exported_items": list(items), "__exported_at": EXPORTED_AT}
    if settings is not None:
        document["settings"] = settings
    if config_version is not None:
        document["configVersion"] = config_version
    document["chat-sessions-list"] = [{"id": "b6a0f1c2", "name": "Hello", "type": "chat"}]
    document["session:b6a0f1c2"] = {
        "id": "b6a0f1c2",
        "name": "Hello",
        "type": "chat",
        "settings": {"provider": "deepseek", "modelId": "deepseek-chat"},
        "messages": [
            {"id": "m1", "role": "user", "contentParts": [{"type": "text", "text": "hi"}]}
        ],
    }
    document["myCopilots"] = []
    return document


def _general_settings() -> dict[str, Any]:
    """Settings that are not about providers (a part of what Chatbox keeps)."""
    return {
        "showWordCount": False,
        "showTokenUsed": True,
        "theme": 2,
        "language": "zh-Hans",
        "fontSize": 14,
        "defaultPrompt": "You are a helpful assistant.",
        "allowReportingAndTracking": True,
        "shortcuts": {"quickToggle": "Alt+`", "inputBoxSendMessage": "Enter"},
        "extension": {"webSearch": {"provider": "build-in"}},
        "mcp": {"servers": [], "enabledBuiltinServers": []},
    }


def current_settings(canary_key: str = CANARY) -> dict[str, Any]:
    """configVersion ≥ 10 settings: built-ins set up, not set up and unsupported; custom
    providers with a full chat URL, an apiPath, a Claude relay, a Gemini one and a bare host."""
    return {
        **_general_settings(),
        "providers": {
            "openai": {
                "apiKey": canary_key,
                "apiHost": "https://relay.example.com",
                "models": [
                    {"modelId": "text-embedding-3-small", "type": "embedding"},
                    {"modelId": "gpt-4o-mini", "capabilities": ["vision", "tool_use"]},
                ],
            },
            "claude": {"apiKey": f"{canary_key}-claude"},
            "deepseek": {"apiKey": f"{canary_key}-deepseek"},
            "ollama": {"apiHost": "http://localhost:11434", "models": [{"modelId": "llama3.2"}]},
            "gemini": {"apiKey": f"{canary_key}-gemini"},
            "groq": {"apiKey": ""},
            "perplexity": {},
            "azure": {
                "apiKey": f"{canary_key}-azure",
                "endpoint": "https://contoso.openai.azure.com",
                "apiVersion": "2024-05-01-preview",
            },
            RELAY_ID: {
                "apiKey": f"{canary_key}-relay",
                "apiHost": "https://api.relay.example.net/v1/chat/completions",
                "models": [{"modelId": "gpt-4.1"}],
            },
            ARK_ID: {
                "apiKey": f"{canary_key}-ark",
                "apiHost": "https://ark.cn-beijing.volces.com",
                "apiPath": "/api/v3/chat/completions",
                "models": [{"modelId": "doubao-seed-1-6-250615"}],
            },
            CLAUDE_RELAY_ID: {
                "apiKey": f"{canary_key}-claude-relay",
                "apiHost": "https://claude-relay.example.org/",
                "models": [{"modelId": "claude-sonnet-4-5"}],
            },
            GEMINI_PROXY_ID: {
                "apiKey": f"{canary_key}-gemini-proxy",
                "apiHost": "https://gemini-proxy.example.org",
                "models": [{"modelId": "gemini-2.5-pro"}],
            },
            LAN_ID: {
                "apiHost": "192.168.1.20:8000",
                "models": [{"modelId": "qwen2.5-7b-instruct"}],
            },
        },
        "customProviders": [
            {"id": RELAY_ID, "name": "My Relay", "type": "openai", "isCustom": True},
            {"id": ARK_ID, "name": "火山方舟", "type": "openai", "isCustom": True},
            {"id": CLAUDE_RELAY_ID, "name": "Claude Relay", "type": "claude", "isCustom": True},
            {"id": GEMINI_PROXY_ID, "name": "Gemini Proxy", "type": "gemini", "isCustom": True},
            {"id": LAN_ID, "name": "LAN vLLM", "type": "openai", "isCustom": True},
        ],
        "defaultChatModel": {"provider": "deepseek", "model": "deepseek-reasoner"},
        "licenseKey": f"{canary_key}-license",
    }


def backup(canary_key: str = CANARY) -> bytes:
    """A Chatbox export of configVersion 13 with keys, exactly as Chatbox writes it."""
    return to_bytes(export(current_settings(canary_key)))


BACKUP_PROVIDERS: list[dict[str, Any]] = [
    {
        "name": "openai",
        "displayName": "OpenAI",
        "type": "openai-compatible",
        "baseURL": "https://relay.example.com/v1",  # Chatbox adds /v1 to a host without one
        "model": "gpt-4o-mini",  # the first chat model of its list
    },
    {
        "name": "claude",
        "displayName": "Claude",
        "type": "anthropic-compatible",
        "baseURL": "https://api.anthropic.com/v1",  # Chatbox's default Claude host
        "model": "claude-opus-4-0",  # first of Chatbox's default Claude models
    },
    {
        "name": "deepseek",
        "displayName": "DeepSeek",
        "type": "openai-compatible",
        "baseURL": "https://api.deepseek.com/v1",
        "model": "deepseek-reasoner",  # the default chat model of the settings
    },
    {
        "name": "ollama",
        "displayName": "Ollama",
        "type": "openai-compatible",
        "baseURL": "http://localhost:11434/v1",
        "model": "llama3.2",
    },
    {
        "name": "my-relay",
        "displayName": "My Relay",
        "type": "openai-compatible",
        "baseURL": "https://api.relay.example.net/v1",  # a full chat URL taken apart
        "model": "gpt-4.1",
    },
    {
        "name": ARK_ID,  # the name in Chinese gives no ASCII name, so the id does
        "displayName": "火山方舟",
        "type": "openai-compatible",
        "baseURL": "https://ark.cn-beijing.volces.com/api/v3",  # host + apiPath
        "model": "doubao-seed-1-6-250615",
    },
    {
        "name": "claude-relay",
        "displayName": "Claude Relay",
        "type": "anthropic-compatible",
        "baseURL": "https://claude-relay.example.org",  # Chatbox posts to {host}/messages
        "model": "claude-sonnet-4-5",
        "endpoints": {"chat": "/messages", "models": "/models"},
    },
    {
        "name": "lan-vllm",
        "displayName": "LAN vLLM",
        "type": "openai-compatible",
        "baseURL": "https://192.168.1.20:8000/v1",  # Chatbox assumes https:// without a scheme
        "model": "qwen2.5-7b-instruct",
    },
]
BACKUP_UNSUPPORTED = [
    "Gemini",
    "Azure OpenAI",
    "Chatbox AI",
    "Gemini Proxy",
    "2 built-in providers",
]


def backup_keys(canary_key: str = CANARY) -> dict[str, tuple[str, ...]]:
    """Provider name → the keys `backup(canary_key)` brings for it."""
    return {
        "openai": (canary_key,),
        "claude": (f"{canary_key}-claude",),
        "deepseek": (f"{canary_key}-deepseek",),
        "my-relay": (f"{canary_key}-relay",),
        ARK_ID: (f"{canary_key}-ark",),
        "claude-relay": (f"{canary_key}-claude-relay",),
    }


def flat_settings(canary_key: str = CANARY) -> dict[str, Any]:
    """configVersion < 10 settings: one flat field per provider setting."""
    return {
        **_general_settings(),
        "aiProvider": "openai",
        "openaiKey": canary_key,
        "apiHost": "https://api.openai-proxy.example.com",
        "model": "custom-model",
        "openaiCustomModel": "gpt-4o-2024-08-06",
        "temperature": 0.7,
        "topP": 1,
        "openaiMaxContextMessageCount": 20,
        "azureEndpoint": "",
        "azureDeploymentName": "",
        "azureApikey": "",
        "chatglm6bUrl": "",
        "claudeApiKey": f"{canary_key}-claude",
        "claudeApiHost": "https://api.anthropic.com",
        "claudeModel": "claude-3-5-sonnet-20241022",
        "geminiAPIKey": "",
        "geminiAPIHost": "",
        "ollamaHost": "http://127.0.0.1:11434",
        "ollamaModel": "qwen2.5:7b",
        "deepseekAPIKey": "",
        "deepseekModel": "deepseek-chat",
        "siliconCloudKey": "",
        "groqAPIKey": "",
        "selectedCustomProviderId": "",
        "customProviders": [
            {
                "id": "6a2f",
                "name": "OneAPI",
                "key": f"{canary_key}-oneapi",
                "host": "https://oneapi.example.com",
                "path": "/v1/chat/completions",
                "useProxy": False,
                "model": "gpt-4o-mini",
                "modelOptions": ["gpt-4o-mini", "glm-4"],
            }
        ],
    }


def flat_backup(canary_key: str = CANARY) -> bytes:
    """A Chatbox 0.x-era export (configVersion 9): storage first, `__exported_*` last."""
    document = {
        "settings": flat_settings(canary_key),
        "configVersion": 9,
        "chat-sessions": [],
        "myCopilots": [],
        "__exported_items": ["setting", "conversations", "copilot"],
        "__exported_at": EXPORTED_AT,
    }
    return to_bytes(document)


FLAT_PROVIDERS: list[dict[str, Any]] = [
    {
        "name": "openai",
        "displayName": "OpenAI",
        "type": "openai-compatible",
        "baseURL": "https://api.openai-proxy.example.com/v1",
        "model": "gpt-4o-2024-08-06",  # model "custom-model" means openaiCustomModel
    },
    {
        "name": "claude",
        "displayName": "Claude",
        "type": "anthropic-compatible",
        "baseURL": "https://api.anthropic.com/v1",
        "model": "claude-3-5-sonnet-20241022",
    },
    {
        "name": "ollama",
        "displayName": "Ollama",
        "type": "openai-compatible",
        "baseURL": "http://127.0.0.1:11434/v1",
        "model": "qwen2.5:7b",
    },
    {
        "name": "oneapi",
        "displayName": "OneAPI",
        "type": "openai-compatible",
        "baseURL": "https://oneapi.example.com/v1",
        "model": "gpt-4o-mini",
    },
]


def flat_keys(canary_key: str = CANARY) -> dict[str, tuple[str, ...]]:
    """Provider name → the keys `flat_backup(canary_key)` brings for it."""
    return {
        "openai": (canary_key,),
        "claude": (f"{canary_key}-claude",),
        "oneapi": (f"{canary_key}-oneapi",),
    }
