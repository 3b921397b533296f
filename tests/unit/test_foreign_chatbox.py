"""Chatbox's exported data read into our providers (backend/foreign/chatbox.py): the mapping,
Chatbox's URL rules, what is not brought and why, broken files, and which files are Chatbox's."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from backend import i18n
from backend.errors import ImportInvalid
from backend.foreign import chatbox
from backend.foreign.model import ForeignImport
from backend.models import default_path
from backend.schemas import load_provider
from backend.transfer import ProviderSecrets, build_export
from tests.foreign import chatbox_files as files


def read(settings: dict[str, Any], **export: Any) -> ForeignImport:
    return chatbox.read(json.loads(files.to_bytes(files.export(settings, **export))))


def keys(found: ForeignImport) -> dict[str, tuple[str, ...]]:
    return {name: secrets.api_keys for name, secrets in found.secrets.items()}


def unsupported(found: ForeignImport) -> dict[str, str]:
    return {entry.name: entry.reason for entry in found.unsupported}


def chat_url(provider: dict[str, Any]) -> str:
    path = provider.get("endpoints", {}).get("chat") or default_path(
        provider["type"], provider["baseURL"], "chat"
    )
    return str(provider["baseURL"]) + path


def custom(kind: str, settings: dict[str, Any], name: str = "Relay") -> dict[str, Any]:
    """Settings holding one custom provider of `kind` with these provider settings."""
    pid = "custom-provider-0001"
    return {
        "providers": {pid: settings},
        "customProviders": [{"id": pid, "name": name, "type": kind, "isCustom": True}],
    }


# --- the whole file -------------------------------------------------------------------------


def test_an_export_brings_its_set_up_providers_in_our_shape() -> None:
    found = chatbox.read(json.loads(files.backup()))

    assert (found.source, found.app_name, found.format_version) == ("chatbox", "Chatbox", "13")
    assert found.providers == files.BACKUP_PROVIDERS
    assert keys(found) == files.backup_keys()


def test_keys_are_only_in_the_secrets_never_in_providers_or_reasons() -> None:
    found = chatbox.read(json.loads(files.backup()))

    visible = json.dumps([found.providers, [e.to_wire() for e in found.unsupported]])
    assert files.CANARY not in visible
    assert all(isinstance(s, ProviderSecrets) for s in found.secrets.values())
    assert not any(files.CANARY + "-license" in k for ks in keys(found).values() for k in ks)


def test_every_provider_brought_passes_our_provider_rules() -> None:
    found = chatbox.read(json.loads(files.backup()))

    for provider in found.providers:
        loaded = load_provider(provider)
        assert loaded["baseURL"] == provider["baseURL"]


def test_our_request_urls_are_the_ones_chatbox_posts_to() -> None:
    found = chatbox.read(json.loads(files.backup()))

    assert {p["name"]: chat_url(p) for p in found.providers} == {
        "openai": "https://relay.example.com/v1/chat/completions",
        "claude": "https://api.anthropic.com/v1/messages",
        "deepseek": "https://api.deepseek.com/v1/chat/completions",
        "ollama": "http://localhost:11434/v1/chat/completions",
        "my-relay": "https://api.relay.example.net/v1/chat/completions",
        files.ARK_ID: "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
        "claude-relay": "https://claude-relay.example.org/messages",
        "lan-vllm": "https://192.168.1.20:8000/v1/chat/completions",
    }


def test_what_is_not_brought_is_listed_with_why() -> None:
    found = chatbox.read(json.loads(files.backup()))

    reasons = unsupported(found)
    assert list(reasons) == files.BACKUP_UNSUPPORTED
    assert "Google Gemini" in reasons["Gemini"] and "Google Gemini" in reasons["Gemini Proxy"]
    assert "Azure OpenAI template" in reasons["Azure OpenAI"]
    assert "only in Chatbox" in reasons["Chatbox AI"]
    assert reasons["2 built-in providers"].endswith(": Groq, Perplexity")


def test_the_document_is_not_changed_by_reading_it() -> None:
    document = json.loads(files.backup())
    before = copy.deepcopy(document)

    chatbox.read(document)

    assert document == before


def test_an_old_flat_export_is_read_as_chatbox_migrates_it() -> None:
    found = chatbox.read(json.loads(files.flat_backup()))

    assert found.format_version == "9"
    assert found.providers == files.FLAT_PROVIDERS
    assert keys(found) == files.flat_keys()
    assert found.unsupported == []


def test_chatboxs_stored_config_file_is_read_too() -> None:
    document = {
        "settings": files.current_settings(),
        "configs": {"uuid": "u-1"},
        "configVersion": 13,
    }

    assert chatbox.recognizes(document)
    assert chatbox.read(document).providers == files.BACKUP_PROVIDERS


def test_without_a_config_version_the_settings_shape_decides() -> None:
    current = files.export(files.current_settings(), config_version=None)
    flat = files.export(files.flat_settings(), config_version=None)

    assert chatbox.read(current).providers == files.BACKUP_PROVIDERS
    assert chatbox.read(flat).providers == files.FLAT_PROVIDERS
    assert chatbox.read(current).format_version is None


# --- Chatbox's URL rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_host", "api_path", "base", "endpoints"),
    [
        ("https://my-proxy.com", "", "https://my-proxy.com/v1", {}),
        ("https://my-proxy.com/v1/", "", "https://my-proxy.com/v1", {}),
        ("https://my-proxy.com/v1/chat/completions", "", "https://my-proxy.com/v1", {}),
        ("my-proxy.com/v1", "", "https://my-proxy.com/v1", {}),
        ("HTTP://localhost:8080", "", "http://localhost:8080/v1", {}),
        ("  https://api.openai.com  ", "", "https://api.openai.com/v1", {}),
        ("https://api.openai.com/v1", "/anything", "https://api.openai.com/v1", {}),
        ("https://openrouter.ai", "", "https://openrouter.ai/api/v1", {}),
        ("https://openrouter.ai/api", "", "https://openrouter.ai/api/v1", {}),
        ("https://api.x.com", "", "https://api.x.com/v1", {}),
        (
            "https://relay.example.com",
            "/api/v3/chat/completions",
            "https://relay.example.com/api/v3",
            {},
        ),
        ("https://relay.example.com", "chat/completions", "https://relay.example.com", {}),
        (
            "https://relay.example.com/v2",
            "/chat",
            "https://relay.example.com/v2",
            {"chat": "/chat"},
        ),
        (
            "https://relay.example.com",
            "/chat/completions?api-version=1",
            "https://relay.example.com",
            {"chat": "/chat/completions?api-version=1"},
        ),
        ("", "", "https://api.openai.com/v1", {}),
    ],
)
def test_openai_style_hosts_resolve_as_chatbox_resolves_them(
    api_host: str, api_path: str, base: str, endpoints: dict[str, str]
) -> None:
    assert chatbox.resolve_openai(api_host, api_path) == (base, endpoints)


@pytest.mark.parametrize(
    ("api_host", "base", "endpoints"),
    [
        ("https://api.anthropic.com", "https://api.anthropic.com/v1", {}),
        ("https://api.anthropic.com/v1", "https://api.anthropic.com/v1", {}),
        ("https://claude.example.org/v1/", "https://claude.example.org/v1", {}),
        (
            "https://claude.example.org/",
            "https://claude.example.org",
            {"chat": "/messages", "models": "/models"},
        ),
        # Chatbox compares before dropping the slash: it then posts to api.anthropic.com/messages.
        (
            "https://api.anthropic.com/",
            "https://api.anthropic.com",
            {"chat": "/messages", "models": "/models"},
        ),
    ],
)
def test_claude_hosts_resolve_as_chatbox_resolves_them(
    api_host: str, base: str, endpoints: dict[str, str]
) -> None:
    assert chatbox.resolve_claude(api_host) == (base, endpoints)


def test_a_built_in_with_a_hard_coded_url_ignores_the_api_host_as_chatbox_does() -> None:
    found = read(
        {"providers": {"deepseek": {"apiKey": "k", "apiHost": "https://elsewhere.example"}}}
    )

    assert found.providers[0]["baseURL"] == "https://api.deepseek.com/v1"


def test_a_built_in_with_an_api_host_setting_uses_it() -> None:
    found = read(
        {
            "providers": {
                "qwen": {
                    "apiKey": "k",
                    "apiHost": "https://dashscope-intl.aliyuncs.com/compatible-mode",
                }
            }
        }
    )

    assert found.providers[0]["baseURL"] == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"


# --- models ---------------------------------------------------------------------------------


def test_the_default_chat_model_wins_over_the_model_list() -> None:
    found = read(
        {
            "providers": {"openai": {"apiKey": "k", "models": [{"modelId": "gpt-4o"}]}},
            "defaultChatModel": {"provider": "openai", "model": "o3"},
        }
    )

    assert found.providers[0]["model"] == "o3"


def test_without_a_chosen_model_the_first_chat_model_then_chatboxs_default_is_used() -> None:
    listed = read(
        {
            "providers": {
                "groq": {
                    "apiKey": "k",
                    "models": [
                        {"modelId": "bge", "type": "rerank"},
                        {"modelId": "llama-3.1-8b-instant"},
                    ],
                }
            }
        }
    )
    unlisted = read({"providers": {"groq": {"apiKey": "k"}}})

    assert listed.providers[0]["model"] == "llama-3.1-8b-instant"
    assert unlisted.providers[0]["model"] == "llama-3.3-70b-versatile"


def test_a_provider_without_any_model_is_listed_not_brought() -> None:
    found = read({"providers": {"lm-studio": {"apiHost": "http://192.168.1.5:1234"}}})

    assert found.providers == []
    assert unsupported(found) == {"LM Studio": i18n.tr("foreign.reason.noModel")}


def test_flat_defaults_alone_are_not_taken_for_providers_set_up() -> None:
    defaults = {
        "aiProvider": "chatbox-ai",
        "apiHost": "https://api.openai.com",
        "model": "gpt-4o",
        "claudeApiHost": "https://api.anthropic.com",
        "claudeModel": "claude-3-5-sonnet-20241022",
        "ollamaHost": "http://127.0.0.1:11434",
        "ollamaModel": "",
        "lmStudioHost": "http://127.0.0.1:1234/v1",
    }
    found = read(defaults, config_version=9)

    assert found.providers == []
    assert unsupported(found) == {
        "4 built-in providers": i18n.tr(
            "foreign.reason.notSetUp", names="OpenAI, Claude, Ollama, LM Studio"
        )
    }


# --- entries not brought --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "settings", "reason_key", "params"),
    [
        (
            "gemini",
            {"apiHost": "https://g.example"},
            "foreign.reason.unsupportedProtocol",
            {"protocol": "Google Gemini"},
        ),
        (
            "openai-responses",
            {"apiHost": "https://r.example"},
            "foreign.reason.unsupportedProtocol",
            {"protocol": "OpenAI Responses API"},
        ),
        ("openai", {"apiKey": "k", "models": [{"modelId": "m"}]}, "foreign.reason.noUrl", {}),
    ],
)
def test_custom_providers_that_cannot_come_say_why(
    kind: str, settings: dict[str, Any], reason_key: str, params: dict[str, str]
) -> None:
    found = read(custom(kind, settings))

    assert found.providers == []
    assert unsupported(found) == {"Relay": i18n.tr(reason_key, **params)}


def test_a_built_in_signed_in_with_an_account_is_listed() -> None:
    oauth = {"apiKey": "k", "activeAuthMode": "oauth", "oauth": {"accessToken": "t"}}
    found = read({"providers": {"claude": oauth}})

    assert found.providers == []
    assert unsupported(found) == {"Claude": i18n.tr("foreign.reason.signIn")}


def test_unknown_built_ins_and_left_over_custom_settings_are_listed() -> None:
    found = read(
        {
            "providers": {
                "vercel-ai-gateway": {"apiKey": "k"},
                "tencent-hunyuan": {},
                "custom-provider-gone": {"apiKey": "k", "apiHost": "https://gone.example"},
            }
        }
    )

    assert found.providers == []
    assert unsupported(found) == {
        "vercel-ai-gateway": i18n.tr("foreign.chatbox.unknownBuiltIn"),
        "custom-provider-gone": i18n.tr("foreign.chatbox.orphan"),
        "1 built-in provider": i18n.tr("foreign.reason.notSetUp", names="tencent-hunyuan"),
    }


def test_many_built_ins_not_set_up_are_one_line_that_counts_the_rest() -> None:
    ids = ["openai", "claude", "deepseek", "siliconflow", "openrouter", "groq", "xAI", "perplexity"]
    ids += ["volcengine", "chatglm-6b", "mistral-ai", "qwen", "moonshot", "minimax"]
    found = read({"providers": {pid: {"apiKey": ""} for pid in ids}})

    assert found.providers == []
    [line] = found.unsupported
    assert line.name == "14 built-in providers"
    assert line.reason.endswith("Mistral AI, Qwen, … (+2)")


def test_an_export_without_keys_brings_its_built_ins_keyless_and_says_so() -> None:
    settings = {"providers": {"openai": {"apiHost": "https://relay.example.com"}, "deepseek": {}}}
    found = read(settings, items=("setting", "conversations", "copilot"))

    assert [p["name"] for p in found.providers] == ["openai", "deepseek"]
    assert found.secrets == {}
    assert unsupported(found) == {
        i18n.tr("foreign.chatbox.keysName"): i18n.tr("foreign.chatbox.keysLeftOut")
    }


def test_names_are_unique_within_the_file() -> None:
    pids = ["custom-provider-a", "custom-provider-b", "custom-provider-c"]
    found = read(
        {
            "providers": {
                "openai": {"apiKey": "k"},
                **{
                    pid: {"apiHost": "https://r.example", "models": [{"modelId": "m"}]}
                    for pid in pids
                },
            },
            "customProviders": [
                {"id": pids[0], "name": "Relay", "type": "openai", "isCustom": True},
                {"id": pids[1], "name": "relay", "type": "openai", "isCustom": True},
                {"id": pids[2], "name": "OpenAI", "type": "openai", "isCustom": True},
            ],
        }
    )

    assert [p["name"] for p in found.providers] == ["openai", "relay", "relay-2", "openai-2"]


def test_old_flat_fields_for_lm_studio_azure_and_gemini() -> None:
    flat = {
        "aiProvider": "lm-studio",
        "LMStudioHost": "http://127.0.0.1:1234",
        "LMStudioModel": "qwen2.5-7b",
        "azureApikey": "k",
        "azureEndpoint": "https://contoso.openai.azure.com",
        "geminiAPIKey": "g",
    }
    found = read(flat, config_version=7)

    assert found.providers == [
        {
            "name": "lm-studio",
            "displayName": "LM Studio",
            "type": "openai-compatible",
            "baseURL": "http://127.0.0.1:1234/v1",
            "model": "qwen2.5-7b",
        }
    ]
    assert list(unsupported(found)) == ["Gemini", "Azure OpenAI"]


def test_reasons_are_in_the_apps_language() -> None:
    i18n.set_language("zh-CN")

    found = chatbox.read(json.loads(files.backup()))

    reasons = unsupported(found)
    assert "2 个内置服务商" in reasons
    assert reasons["2 个内置服务商"].endswith("Groq, Perplexity")
    assert "Chatbox AI" in reasons and "许可证" in reasons["Chatbox AI"]


# --- broken files ---------------------------------------------------------------------------


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for step in path[:-1]:
            target = target[step]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()
_R = files.RELAY_ID


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_set(["settings"], "{}"), "settings"),
        (_set(["settings", "providers"], []), "settings.providers"),
        (_set(["settings", "providers", "openai"], "sk-x"), "settings.providers.openai"),
        (
            _set(["settings", "providers", "openai", "apiKey"], 12),
            "settings.providers.openai.apiKey",
        ),
        (_set(["settings", "providers", _R, "apiHost"], ["x"]), f"settings.providers.{_R}.apiHost"),
        (
            _set(["settings", "providers", _R, "models"], "gpt-4.1"),
            f"settings.providers.{_R}.models",
        ),
        (
            _set(["settings", "providers", _R, "models", 0], {"id": "x"}),
            f"settings.providers.{_R}.models[0].modelId",
        ),
        (_set(["settings", "customProviders"], {}), "settings.customProviders"),
        (_set(["settings", "customProviders", 0], "My Relay"), "settings.customProviders[0]"),
        (_set(["settings", "customProviders", 1, "id"], _DELETE), "settings.customProviders[1].id"),
        (_set(["configVersion"], "13"), "configVersion"),
        (_set(["configVersion"], -1), "configVersion"),
        (_set(["configVersion"], True), "configVersion"),
    ],
)
def test_a_broken_export_names_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    document = json.loads(files.backup())
    change(document)

    with pytest.raises(ImportInvalid) as caught:
        chatbox.read(document)

    assert list(caught.value.fields) == [field]
    assert field in caught.value.message
    assert files.CANARY not in caught.value.message + json.dumps(caught.value.fields)


def test_a_broken_flat_export_names_the_field_and_the_version() -> None:
    document = json.loads(files.flat_backup())
    document["settings"]["customProviders"][0]["key"] = 5

    with pytest.raises(ImportInvalid) as caught:
        chatbox.read(document)

    assert caught.value.fields == {
        "settings.customProviders[0].key": [i18n.tr("foreign.chatbox.field.text")]
    }
    assert "version 9" in caught.value.message


def test_an_export_without_settings_asks_to_export_them() -> None:
    document = files.export(None)

    assert chatbox.recognizes(document)
    with pytest.raises(ImportInvalid) as caught:
        chatbox.read(document)
    assert caught.value.message == i18n.tr("foreign.chatbox.noSettings")
    assert list(caught.value.fields) == ["settings"]


# --- which files are Chatbox's --------------------------------------------------------------


def test_chatbox_files_are_recognized() -> None:
    assert chatbox.recognizes(json.loads(files.backup()))
    assert chatbox.recognizes(json.loads(files.flat_backup()))


@pytest.mark.parametrize(
    "document",
    [
        json.loads(build_export([])),  # our own export
        {
            "time": 1760000000000,
            "version": 5,
            "localStorage": {"persist:cherry-studio": "{}"},
            "indexedDB": {},
        },
        {"exportType": "settings", "state": {"settings": {"keyVaults": {}}}, "version": 7},
        {"format": "other-app", "__exported_at": "2026-01-01T00:00:00Z", "settings": {}},
        {"settings": {"providers": {}}},  # settings alone say nothing about whose they are
        {"configVersion": 13},
        {},
        [],
        "chatbox",
        None,
    ],
    ids=[
        "ours",
        "cherry",
        "lobechat",
        "named-format",
        "bare-settings",
        "bare-version",
        "empty",
        "list",
        "text",
        "null",
    ],
)
def test_other_files_are_not_taken_for_chatbox(document: Any) -> None:
    assert not chatbox.recognizes(document)
