"""Cherry Studio backups as the app writes them (CherryHQ/cherry-studio, BackupService.ts and
BackupManager.ts), and what reading them must give.

`backup()` is the zip of Settings → Data → Backup (formats 3–5): `data.json` holding
`{time, version: 5, localStorage, indexedDB}` beside an empty `Data/` folder. The providers are
in `localStorage["persist:cherry-studio"]`, redux-persist's JSON text whose slices are JSON text
again. `document()` is that JSON as a dict, for tests that edit it; `direct_backup()` is format
6, which copies the browser's database folders and is refused.

The providers cover Cherry Studio's URL quirks (a `#` full URL, a host ending in `/`, hosts with
and without a version), several keys in one field, a credential header, built-ins never set up,
and types we cannot express. `EXPECTED` is what the import must make of `backup()` (Cherry
Studio 1.7's URL rules, store version 174); `EXPECTED_LEGACY` what changes when the same
providers come from a 1.6 store (`document(store_version=160)`).
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import Any

from tests.helpers import CANARY_KEY

SECOND_KEY = "sk-second-0a1b2c3d4e5f60718293a4b5"
RELAY_KEY = "sk-relay-5d4c3b2a19087f6e5d4c"
RELAY_TOKEN = "relay-token-9f8e7d6c5b4a39281706"
PERSIST_KEY = "persist:cherry-studio"
STORE_VERSION = 174
BACKUP_TIME = 1_767_225_600_000  # 2026-01-01T00:00:00Z, in milliseconds as the app writes it
RELAY_ID = "4f0c2b9e-8d1a-4c7e-9b55-2f6d1e3a7c90"
VLLM_ID = "b8e1d6f2-3c4a-4e59-a0b7-6c9d2e1f4a38"
GATEWAY_ID = "0d7e5a3c-1b2f-4a68-9c4d-e5f6a7b8c9d0"
EMPTY_ID = "9a8b7c6d-5e4f-4321-8765-0fedcba98765"


def _model(model_id: str, provider: str, group: str) -> dict[str, Any]:
    return {"id": model_id, "provider": provider, "name": model_id, "group": group}


def providers(canary_key: str = CANARY_KEY) -> list[dict[str, Any]]:
    """The `llm.providers` list: what the user set up, and built-ins never touched."""

    def system(pid: str, name: str, host: str, *models: str, **extra: Any) -> dict[str, Any]:
        entry = {
            "id": pid,
            "name": name,
            "type": "openai",
            "apiKey": "",
            "apiHost": host,
            "models": [_model(m, pid, m.split("-")[0]) for m in models],
            "isSystem": True,
            "enabled": False,
        }
        entry.update(extra)
        return entry

    def custom(pid: str, name: str, host: str, *models: str, **extra: Any) -> dict[str, Any]:
        entry = system(pid, name, host, *models, isSystem=False, enabled=True)
        entry.update(extra)
        return entry

    return [
        custom(
            RELAY_ID,
            "My Relay 中转",
            "https://relay.example.com/openai/chat/completions#",
            "gpt-4o-mini",
            apiKey=RELAY_KEY,
            extra_headers={"X-Team": "research", "X-Relay-Token": RELAY_TOKEN},
        ),
        custom(VLLM_ID, "Local vLLM", "http://localhost:8000/", "Qwen/Qwen2.5-7B-Instruct"),
        custom(GATEWAY_ID, "Gateway", "https://gw.example.com/api/generate#", "llama3"),
        custom(EMPTY_ID, "Empty", "https://empty.example.com", enabled=True),
        system("silicon", "Silicon", "https://api.siliconflow.cn", "Qwen/Qwen2.5-7B-Instruct"),
        system(
            "deepseek",
            "deepseek",
            "https://api.deepseek.com",
            "deepseek-chat",
            "deepseek-reasoner",
            apiKey=f"{canary_key}, {SECOND_KEY},{canary_key}",
            enabled=True,
        ),
        system("ppio", "PPIO", "https://api.ppinfra.com/v3/openai", "deepseek/deepseek-r1"),
        system(
            "openrouter",
            "OpenRouter",
            "https://openrouter.ai/api/v1/",
            "openai/gpt-4o",
            apiKey="sk-or-v1-3e2d1c0b9a8f7e6d5c4b3a29",
            enabled=True,
        ),
        system("ollama", "Ollama", "http://localhost:11434", "qwen2.5:7b", enabled=True),
        system(
            "anthropic",
            "Anthropic",
            "https://api.anthropic.com",
            "claude-sonnet-4-5",
            type="anthropic",
            apiKey="sk-ant-api03-7b6a5c4d3e2f1a0b9c8d",
            enabled=True,
        ),
        system(
            "azure-openai",
            "Azure OpenAI",
            "https://myres.openai.azure.com",
            "gpt-4o",
            type="azure-openai",
            apiVersion="2024-10-21",
            apiKey="0123456789abcdef0123456789abcdef",
            enabled=True,
        ),
        system(
            "gemini",
            "Gemini",
            "https://generativelanguage.googleapis.com",
            "gemini-2.5-flash",
            type="gemini",
            apiKey="AIzaSyD-example-key-000000000000000",
            enabled=True,
            isVertex=False,
        ),
        system(
            "zhipu",
            "ZhiPu",
            "https://open.bigmodel.cn/api/paas/v4/",
            "glm-4.5-flash",
            apiKey="0f1e2d3c4b5a69788796a5b4c3d2e1f0.AbCdEfGh",
        ),
        system(
            "copilot",
            "Github Copilot",
            "https://api.githubcopilot.com/",
            "gpt-4o",
            enabled=True,
            isAuthed=True,
        ),
        system("groq", "Groq", "https://api.groq.com/openai", "llama-3.3-70b-versatile"),
        system("moonshot", "Moonshot AI", "https://api.moonshot.cn", "moonshot-v1-8k"),
        system("vertexai", "VertexAI", "https://aiplatform.googleapis.com", type="vertexai"),
    ]


def llm_slice(canary_key: str = CANARY_KEY) -> dict[str, Any]:
    """The `llm` slice: providers, the default model (DeepSeek's second) and the settings."""
    return {
        "providers": providers(canary_key),
        "defaultModel": _model("deepseek-reasoner", "deepseek", "deepseek"),
        "topicNamingModel": _model("deepseek-chat", "deepseek", "deepseek"),
        "translateModel": _model("deepseek-chat", "deepseek", "deepseek"),
        "quickAssistantModel": _model("deepseek-chat", "deepseek", "deepseek"),
        "settings": {"ollama": {"keepAliveTime": 0}, "lmstudio": {"keepAliveTime": 0}},
    }


def persisted(llm: Any, store_version: int = STORE_VERSION) -> str:
    """`localStorage["persist:cherry-studio"]`: redux-persist's text, every slice JSON text."""
    slices = {
        "assistants": {"defaultAssistant": {"id": "default", "name": "默认助手"}, "assistants": []},
        "llm": llm,
        "settings": {"language": "zh-CN", "theme": "auto"},
        "_persist": {"version": store_version, "rehydrated": True},
    }
    return json.dumps({name: json.dumps(value) for name, value in slices.items()})


def document(
    canary_key: str = CANARY_KEY, *, store_version: int = STORE_VERSION, version: int = 5
) -> dict[str, Any]:
    """The backup's JSON as a dict (BackupService.getBackupData)."""
    return {
        "time": BACKUP_TIME,
        "version": version,
        "localStorage": {
            PERSIST_KEY: persisted(llm_slice(canary_key), store_version),
            "i18nextLng": "zh-CN",
        },
        "indexedDB": {"topics": [], "settings": [], "message_blocks": [], "files": []},
    }


def backup_json(canary_key: str = CANARY_KEY, *, store_version: int = STORE_VERSION) -> bytes:
    """`data.json`'s bytes, compact as JSON.stringify writes them."""
    text = json.dumps(document(canary_key, store_version=store_version), separators=(",", ":"))
    return text.encode("utf-8")


def backup(canary_key: str = CANARY_KEY, *, store_version: int = STORE_VERSION) -> bytes:
    """The zip a backup writes: `data.json` and the `Data/` folder (empty: "skip files")."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("data.json", backup_json(canary_key, store_version=store_version))
        archive.writestr("Data/", b"")
    return out.getvalue()


def bak(canary_key: str = CANARY_KEY, *, store_version: int = STORE_VERSION) -> bytes:
    """A backup of format 1-2: the JSON document gzip-compressed (`.bak`)."""
    text = json.dumps(
        document(canary_key, store_version=store_version, version=2), separators=(",", ":")
    )
    return gzip.compress(text.encode("utf-8"), compresslevel=6)


def direct_backup() -> bytes:
    """Backup format 6: the browser's database folders as they are, and `metadata.json`."""
    metadata = {
        "version": 6,
        "timestamp": BACKUP_TIME,
        "appName": "Cherry Studio",
        "appVersion": "1.8.2",
        "platform": "linux",
        "arch": "x64",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("IndexedDB/file__0.indexeddb.leveldb/000003.log", b"\x00\x01leveldb")
        archive.writestr("Local Storage/leveldb/000003.log", b"\x00\x01leveldb")
        archive.writestr("metadata.json", json.dumps(metadata, indent=2))
        archive.writestr("Data/", b"")
    return out.getvalue()


def expected_keys(canary_key: str = CANARY_KEY) -> dict[str, tuple[str, ...]]:
    """Each imported provider's keys, in order (deduplicated)."""
    return {
        "my-relay": (RELAY_KEY,),
        "deepseek": (canary_key, SECOND_KEY),
        "openrouter": ("sk-or-v1-3e2d1c0b9a8f7e6d5c4b3a29",),
        "anthropic": ("sk-ant-api03-7b6a5c4d3e2f1a0b9c8d",),
        "azure-openai": ("0123456789abcdef0123456789abcdef",),
        "zhipu": ("0f1e2d3c4b5a69788796a5b4c3d2e1f0.AbCdEfGh",),
    }


EXPECTED: dict[str, dict[str, Any]] = {
    "my-relay": {
        "displayName": "My Relay 中转",
        "type": "openai-compatible",
        "baseURL": "https://relay.example.com/openai",
        "model": "gpt-4o-mini",
        "headers": {"X-Team": "research", "X-Relay-Token": None},
    },
    "local-vllm": {
        "displayName": "Local vLLM",
        "type": "openai-compatible",
        "baseURL": "http://localhost:8000/v1",
        "model": "Qwen/Qwen2.5-7B-Instruct",
    },
    "gateway": {
        "displayName": "Gateway",
        "type": "openai-compatible",
        "baseURL": "https://gw.example.com/api/generate",
        "model": "llama3",
    },
    "deepseek": {
        "displayName": "deepseek",
        "type": "openai-compatible",
        "baseURL": "https://api.deepseek.com/v1",
        "model": "deepseek-reasoner",
    },
    "openrouter": {
        "displayName": "OpenRouter",
        "type": "openai-compatible",
        "baseURL": "https://openrouter.ai/api/v1",
        "model": "openai/gpt-4o",
    },
    "ollama": {
        "displayName": "Ollama",
        "type": "openai-compatible",
        "baseURL": "http://localhost:11434/v1",
        "model": "qwen2.5:7b",
    },
    "anthropic": {
        "displayName": "Anthropic",
        "type": "anthropic-compatible",
        "baseURL": "https://api.anthropic.com/v1",
        "model": "claude-sonnet-4-5",
    },
    "azure-openai": {
        "displayName": "Azure OpenAI",
        "type": "custom",
        "baseURL": "https://myres.openai.azure.com/openai",
        "model": "gpt-4o",
        "auth": {"scheme": "header", "name": "api-key"},
        "endpoints": {
            "chat": "/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
            "models": "/models?api-version=2024-10-21",
        },
    },
    "zhipu": {
        "displayName": "ZhiPu",
        "type": "openai-compatible",
        "baseURL": "https://open.bigmodel.cn/api/paas/v4",
        "model": "glm-4.5-flash",
    },
}
"""Every provider `backup()` brings, by name, with the fields the import sets."""

EXPECTED_LEGACY: dict[str, dict[str, Any]] = {
    # Before 1.7 a trailing `/` kept `/v1` off, and `#` ended a full request URL.
    "local-vllm": {"type": "openai-compatible", "baseURL": "http://localhost:8000"},
    "gateway": {
        "type": "custom",
        "baseURL": "https://gw.example.com/api",
        "endpoints": {"chat": "/generate"},
        "checkKind": "chat",
    },
    "anthropic": {"type": "anthropic-compatible", "baseURL": "https://api.anthropic.com"},
}
"""What differs when the same providers come from a Cherry Studio 1.6 store."""

EXPECTED_UNSUPPORTED = ("Empty", "Gemini", "Github Copilot", "5 built-in providers")
"""The names of the lines listed as not brought over, in file order (the group comes last)."""
NOT_SET_UP = ("Silicon", "PPIO", "Groq", "Moonshot AI", "VertexAI")
