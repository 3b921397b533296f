"""Reading LobeChat's files (backend/foreign/lobechat.py): which providers come over, where
their requests go, which keys they bring, what is listed as not brought over, and which files
are refused as broken."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend import i18n
from backend.errors import ImportInvalid
from backend.foreign import lobechat
from backend.foreign.model import ForeignImport
from backend.schemas import load_provider
from tests.foreign import lobechat_files as files
from tests.helpers import CANARY_KEY


def settings_doc(
    vaults: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    *,
    default: tuple[str, str] | None = None,
    version: int = 8,
    export_type: str = "settings",
) -> dict[str, Any]:
    """A settings export holding only what a test is about."""
    settings: dict[str, Any] = {"keyVaults": vaults or {}, "languageModel": models or {}}
    if default:
        settings["defaultAgent"] = {"config": {"provider": default[0], "model": default[1]}}
    return {"exportType": export_type, "state": {"settings": settings}, "version": version}


def backup_doc(*rows: dict[str, Any], models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "data": {"aiProviders": list(rows), "aiModels": models or []},
        "mode": "pglite",
        "schemaHash": "8a2b1c9d",
    }


def row(pid: str, vault: Any, *, source: str = "builtin", **more: Any) -> dict[str, Any]:
    text = json.dumps(vault) if isinstance(vault, dict) else vault
    return {"id": pid, "source": source, "enabled": True, "keyVaults": text, **more}


def read_bytes(content: bytes) -> ForeignImport:
    return lobechat.read(json.loads(content))


def one(result: ForeignImport) -> dict[str, Any]:
    assert len(result.providers) == 1, result
    return result.providers[0]


def problem(document: Any) -> dict[str, list[str]]:
    with pytest.raises(ImportInvalid) as caught:
        lobechat.read(document)
    return caught.value.fields


# --- a whole settings export ---------------------------------------------------------------


def test_a_settings_export_brings_each_provider_the_user_set_up() -> None:
    result = read_bytes(files.settings_export())

    got = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in result.providers}
    assert got == files.SETTINGS_EXPECTED
    assert result.source == "lobechat" and result.app_name == "LobeChat"
    assert result.format_version == "settings v8"


def test_a_settings_export_brings_every_key_in_order() -> None:
    result = read_bytes(files.settings_export())

    assert {n: s.api_keys for n, s in result.secrets.items()} == files.settings_keys()


def test_a_settings_export_lists_what_it_does_not_bring() -> None:
    result = read_bytes(files.settings_export())

    names = [u.name for u in result.unsupported]
    assert names[:-1] == files.SETTINGS_UNSUPPORTED
    assert names[-1] == ", ".join(files.SETTINGS_NOT_SET_UP)
    assert result.unsupported[-1].reason.startswith("6 built-in LobeChat providers")


def test_every_brought_provider_passes_our_provider_rules() -> None:
    result = read_bytes(files.settings_export())

    for provider in result.providers:
        load_provider(provider)


def test_an_all_data_export_reads_its_settings() -> None:
    result = read_bytes(files.all_export())

    assert [p["name"] for p in result.providers] == list(files.SETTINGS_EXPECTED)
    assert result.format_version == "all v7"


def test_the_canary_key_is_only_in_the_secrets() -> None:
    result = read_bytes(files.settings_export(CANARY_KEY))

    assert CANARY_KEY not in json.dumps(result.providers)
    assert CANARY_KEY not in json.dumps([u.to_wire() for u in result.unsupported])
    assert CANARY_KEY in result.secrets["openai"].api_keys


# --- where requests go ---------------------------------------------------------------------


def test_an_openai_compatible_base_url_is_kept_as_given_without_adding_v1() -> None:
    # LobeChat's OpenAI SDK posts to {baseURL}/chat/completions: a base without /v1 (the
    # mistake LobeHub's FAQ is about) goes there without /v1 in LobeChat too.
    vaults = {"openai": {"apiKey": "sk-a", "baseURL": "https://relay.example.com/"}}
    doc = settings_doc(vaults, {"openai": {"enabledModels": ["gpt-4o"]}})

    assert one(lobechat.read(doc))["baseURL"] == "https://relay.example.com"


def test_a_built_in_provider_without_a_base_url_uses_lobechats_default_host() -> None:
    doc = settings_doc({"deepseek": {"apiKey": "sk-a"}}, {"deepseek": {"enabledModels": ["x"]}})

    assert one(lobechat.read(doc))["baseURL"] == "https://api.deepseek.com/v1"


def test_anthropic_without_a_base_url_goes_to_anthropic() -> None:
    doc = settings_doc({"anthropic": {"apiKey": "sk-ant"}}, {"anthropic": {"enabledModels": ["c"]}})

    provider = one(lobechat.read(doc))
    assert provider["type"] == "anthropic-compatible"
    assert provider["baseURL"] == "https://api.anthropic.com"
    assert "endpoints" not in provider


def test_an_anthropic_base_ending_in_v1_still_gets_v1_messages_like_in_lobechat() -> None:
    vaults = {"anthropic": {"apiKey": "sk-ant", "baseURL": "https://relay.example.com/v1/"}}
    doc = settings_doc(vaults, {"anthropic": {"enabledModels": ["c"]}})

    provider = one(lobechat.read(doc))
    assert provider["baseURL"] == "https://relay.example.com/v1"
    assert provider["endpoints"] == {"chat": "/v1/messages", "models": "/v1/models"}


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("http://192.168.1.20:11434", "http://192.168.1.20:11434/v1"),
        ("http://192.168.1.20:11434/", "http://192.168.1.20:11434/v1"),
        ("localhost:11434", "http://localhost:11434/v1"),
        ("ollama.lan", "http://ollama.lan:11434/v1"),
        (":8080", "http://127.0.0.1:8080/v1"),
        ("https://ollama.example.com", "https://ollama.example.com/v1"),
        ("http://[::1]:11434", "http://[::1]:11434/v1"),
        ("http://gpu-box:11434/ollama?x=1#top", "http://gpu-box:11434/ollama/v1"),
        ("http://gpu-box:11434/v1", "http://gpu-box:11434/v1"),
    ],
)
def test_an_ollama_host_becomes_its_openai_compatible_v1_base(host: str, base: str) -> None:
    doc = settings_doc({"ollama": {"baseURL": host}}, {"ollama": {"enabledModels": ["llama3"]}})

    provider = one(lobechat.read(doc))
    assert provider["baseURL"] == base
    assert provider["type"] == "openai-compatible"


@pytest.mark.parametrize(
    "url", ["ftp://relay.example.com/v1", "relay.example.com/v1", "https://u:p@relay.example.com"]
)
def test_an_unusable_base_url_is_listed_with_the_reason(url: str) -> None:
    doc = settings_doc({"openai": {"apiKey": "sk-a", "baseURL": url}})

    result = lobechat.read(doc)
    assert result.providers == [] and result.secrets == {}
    assert result.unsupported[0].name == "OpenAI"
    assert "http:// or https://" in result.unsupported[0].reason


# --- keys ----------------------------------------------------------------------------------


def test_comma_separated_keys_become_a_pool_trimmed_and_without_repeats() -> None:
    vaults = {"deepseek": {"apiKey": f" {CANARY_KEY}, sk-b,,{CANARY_KEY} ,sk-c"}}
    doc = settings_doc(vaults, {"deepseek": {"enabledModels": ["deepseek-chat"]}})

    result = lobechat.read(doc)
    assert result.secrets["deepseek"].api_keys == (CANARY_KEY, "sk-b", "sk-c")


def test_a_provider_without_a_key_comes_over_without_secrets() -> None:
    vaults = {"ollama": {"baseURL": "http://127.0.0.1:11434"}}
    doc = settings_doc(vaults, {"ollama": {"enabledModels": ["llama3.1"]}})

    result = lobechat.read(doc)
    assert result.providers[0]["name"] == "ollama"
    assert result.secrets == {}


# --- which model ---------------------------------------------------------------------------


def test_the_default_assistants_model_is_its_providers_model() -> None:
    models = {"openai": {"enabledModels": ["gpt-4o-mini", "gpt-4o"]}}
    doc = settings_doc({"openai": {"apiKey": "sk-a"}}, models, default=("openai", "gpt-4o"))

    assert one(lobechat.read(doc))["model"] == "gpt-4o"


def test_an_older_default_assistant_without_a_provider_is_openais() -> None:
    doc = settings_doc({"openai": {"apiKey": "sk-a"}}, {"openai": {"enabledModels": ["a"]}})
    doc["state"]["settings"]["defaultAgent"] = {"config": {"model": "gpt-4"}}

    assert one(lobechat.read(doc))["model"] == "gpt-4"


def test_another_provider_takes_its_first_enabled_model() -> None:
    models = {"groq": {"enabledModels": ["llama-3.3-70b", "gemma2"]}}
    doc = settings_doc({"groq": {"apiKey": "gsk_a"}}, models, default=("openai", "gpt-4o"))

    assert one(lobechat.read(doc))["model"] == "llama-3.3-70b"


def test_the_users_own_model_cards_count_when_no_list_is_enabled() -> None:
    cards = [{"id": "off", "enabled": False}, {"id": "openrouter/auto", "displayName": "Auto"}]
    models = {"openrouter": {"enabledModels": None, "customModelCards": cards}}
    doc = settings_doc({"openrouter": {"apiKey": "sk-or-a"}}, models)

    assert one(lobechat.read(doc))["model"] == "openrouter/auto"


def test_a_provider_without_any_model_is_listed_with_the_reason() -> None:
    doc = settings_doc(
        {"zhipu": {"apiKey": "z"}}, {"zhipu": {"enabled": True, "enabledModels": []}}
    )

    result = lobechat.read(doc)
    assert result.providers == [] and result.secrets == {}
    assert [u.name for u in result.unsupported] == ["ZhiPu"]
    assert "model" in result.unsupported[0].reason


# --- what counts as set up -----------------------------------------------------------------


def test_a_provider_switched_on_without_a_key_comes_over_to_its_default_host() -> None:
    doc = settings_doc({}, {"groq": {"enabled": True, "enabledModels": ["llama-3.3-70b"]}})

    provider = one(lobechat.read(doc))
    assert provider["baseURL"] == "https://api.groq.com/openai/v1"


def test_openai_and_ollama_switched_on_by_default_are_not_set_up() -> None:
    models = {
        "openai": {"enabled": True, "enabledModels": ["gpt-4o-mini"]},
        "ollama": {"enabled": True, "enabledModels": ["llama3.1"]},
        "groq": {"enabled": False, "enabledModels": ["llama-3.3-70b"]},
    }
    result = lobechat.read(settings_doc({"groq": {"apiKey": ""}}, models))

    assert result.providers == []
    [summary] = result.unsupported
    assert summary.name == "OpenAI, Ollama, Groq"
    assert summary.reason.startswith("3 built-in LobeChat providers")


def test_the_access_code_in_the_vaults_is_not_a_provider() -> None:
    result = lobechat.read(settings_doc({"password": "team-code"}))

    assert result.providers == [] and result.unsupported == []


# --- what cannot come over -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pid", "vault", "protocol"),
    [
        ("google", {"apiKey": "AIza-a"}, "Google Gemini"),
        (
            "azure",
            {"apiKey": "k", "apiVersion": "2024-06-01", "baseURL": "https://x.openai.azure.com"},
            "Azure OpenAI",
        ),
        ("bedrock", {"apiKey": "k", "region": "us-east-1"}, "Amazon Bedrock"),
        ("vertexai", {"apiKey": "{}"}, "Google Vertex AI"),
    ],
)
def test_a_provider_with_its_own_protocol_is_listed_with_the_reason(
    pid: str, vault: dict[str, str], protocol: str
) -> None:
    result = lobechat.read(settings_doc({pid: vault}, {pid: {"enabledModels": ["m"]}}))

    assert result.providers == [] and result.secrets == {}
    assert [u.name for u in result.unsupported] == [protocol]
    assert protocol in result.unsupported[0].reason


def test_an_unknown_provider_without_a_base_url_is_listed_with_the_reason() -> None:
    result = lobechat.read(
        settings_doc({"vllm": {"apiKey": "t"}}, {"vllm": {"enabledModels": ["m"]}})
    )

    assert result.providers == []
    assert result.unsupported[0].name == "vllm"
    assert "no address" in result.unsupported[0].reason


def test_an_unknown_provider_with_a_base_url_comes_over_as_openai_compatible() -> None:
    vaults = {"vllm": {"apiKey": "t", "baseURL": "http://gpu-box:8000/v1"}}
    provider = one(lobechat.read(settings_doc(vaults, {"vllm": {"enabledModels": ["qwen"]}})))

    assert (provider["type"], provider["baseURL"]) == (
        "openai-compatible",
        "http://gpu-box:8000/v1",
    )


def test_reasons_follow_the_apps_language() -> None:
    i18n.set_language("zh-CN")
    try:
        result = lobechat.read(settings_doc({"google": {"apiKey": "AIza-a"}}))
    finally:
        i18n.set_language("en")

    assert "妙答" in result.unsupported[0].reason


# --- older settings files ------------------------------------------------------------------


def test_a_version_6_file_reads_keys_and_endpoints_from_the_model_settings() -> None:
    result = read_bytes(files.v6_settings_export())

    got = {p["name"]: (p["baseURL"], p["model"]) for p in result.providers}
    assert got == {
        "openai": ("https://relay.example.com/v1", "gpt-4-turbo"),
        "anthropic": ("https://api.anthropic.com", "claude-3-opus-20240229"),
        "ollama": ("http://localhost:11434/v1", "llama3"),
    }
    assert result.secrets["openai"].api_keys == (CANARY_KEY,)
    assert [u.name for u in result.unsupported] == ["Azure OpenAI"]


def test_a_version_3_file_reads_openais_legacy_settings_and_model_names() -> None:
    result = read_bytes(files.v3_settings_export())

    provider = one(result)
    assert (provider["name"], provider["baseURL"]) == ("openai", "https://relay.example.com/v1")
    assert provider["model"] == "gpt-4-turbo"
    assert result.secrets["openai"].api_keys == (CANARY_KEY,)


def test_a_version_3_custom_model_list_gives_the_first_added_model() -> None:
    openai = {"OPENAI_API_KEY": "sk-a", "customModelName": "-all,+my-model=Mine<32000:fc>,other"}
    doc = settings_doc({}, {"openAI": openai}, version=3)

    assert one(lobechat.read(doc))["model"] == "my-model"


def test_a_version_3_file_using_azure_lists_azure() -> None:
    result = read_bytes(files.v3_settings_export(use_azure=True))

    assert result.providers == []
    assert result.unsupported[0].name == "Azure OpenAI"


# --- the data export of the database editions ----------------------------------------------


def test_a_pglite_export_brings_built_in_and_custom_providers() -> None:
    result = read_bytes(files.pglite_export())

    got = {
        p["name"]: (p["displayName"], p["type"], p["baseURL"], p["model"]) for p in result.providers
    }
    assert got == {
        "openai": ("OpenAI", "openai-compatible", "https://api.openai.com/v1", "gpt-4o"),
        "my-relay": ("我的中转", "openai-compatible", "https://relay.example.cn/v1", "deepseek-v3"),
        "claude-proxy": (
            "Claude Proxy",
            "anthropic-compatible",
            "https://claude.example.com",
            "claude-3-7-sonnet-latest",
        ),
    }
    assert result.secrets["openai"].api_keys == (CANARY_KEY,)
    assert result.secrets["my-relay"].api_keys == (files.CUSTOM_KEY,)
    assert [u.name for u in result.unsupported] == ["Google Gemini", "Groq"]
    assert result.format_version == "pglite data v1"


def test_a_providers_check_model_is_its_model_when_nothing_else_names_one() -> None:
    doc = backup_doc(row("groq", {"apiKey": "gsk_a"}, checkModel="llama-3.1-8b-instant"))

    assert one(lobechat.read(doc))["model"] == "llama-3.1-8b-instant"


def test_a_custom_provider_without_a_base_url_is_listed_with_the_reason() -> None:
    doc = backup_doc(row("mine", {"apiKey": "k"}, source="custom", checkModel="m"))

    result = lobechat.read(doc)
    assert result.providers == []
    assert result.unsupported[0].name == "mine"
    assert "no address" in result.unsupported[0].reason


def test_a_custom_provider_of_another_sdk_type_is_listed_with_the_reason() -> None:
    vault = {"apiKey": "k", "baseURL": "https://r.example.com/v1"}
    custom = row("r", vault, source="custom", checkModel="m", settings={"sdkType": "router"})

    result = lobechat.read(backup_doc(custom))
    assert result.providers == []
    assert "“router”" in result.unsupported[0].reason


def test_a_custom_ollama_provider_gets_its_v1_base() -> None:
    vault = {"baseURL": "http://box:11434"}
    custom = row("box", vault, source="custom", checkModel="qwen", settings={"sdkType": "ollama"})

    assert one(lobechat.read(backup_doc(custom)))["baseURL"] == "http://box:11434/v1"


def test_a_server_export_lists_its_encrypted_providers() -> None:
    result = read_bytes(files.postgres_export())

    assert result.providers == [] and result.secrets == {}
    assert [u.name for u in result.unsupported] == ["OpenAI"]
    assert "encrypted" in result.unsupported[0].reason
    assert result.format_version == "postgres data v2"


def test_an_empty_vault_is_nothing_typed() -> None:
    result = lobechat.read(backup_doc({**row("groq", None), "enabled": False}))

    assert result.providers == []
    assert result.unsupported[0].name == "Groq"


# --- files refused -------------------------------------------------------------------------


@pytest.mark.parametrize("export_type", ["sessions", "agents"])
def test_an_export_without_settings_is_refused_naming_its_type(export_type: str) -> None:
    assert "exportType" in problem(settings_doc(export_type=export_type))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(version="8"), "version"),
        (lambda d: d.pop("state"), "state"),
        (lambda d: d["state"].update(settings=[]), "state.settings"),
        (lambda d: d["state"]["settings"].update(keyVaults=[]), "state.settings.keyVaults"),
        (
            lambda d: d["state"]["settings"]["keyVaults"].update(openai="sk-a"),
            "state.settings.keyVaults.openai",
        ),
        (
            lambda d: d["state"]["settings"]["keyVaults"].update(openai={"apiKey": 42}),
            "state.settings.keyVaults.openai.apiKey",
        ),
        (
            lambda d: d["state"]["settings"]["languageModel"].update(
                openai={"enabledModels": "gpt"}
            ),
            "state.settings.languageModel.openai.enabledModels",
        ),
    ],
)
def test_a_broken_settings_export_is_refused_naming_the_field(change: Any, field: str) -> None:
    doc = settings_doc({"openai": {"apiKey": CANARY_KEY}}, {"openai": {"enabledModels": ["m"]}})
    change(doc)

    with pytest.raises(ImportInvalid) as caught:
        lobechat.read(doc)
    assert list(caught.value.fields) == [field]
    assert CANARY_KEY not in json.dumps(caught.value.to_dict())


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"data": [], "mode": "pglite", "schemaHash": "h"}, "data"),
        ({"data": {"aiProviders": {}}, "mode": "pglite", "schemaHash": "h"}, "data.aiProviders"),
        (backup_doc("openai"), "data.aiProviders[0]"),
        (backup_doc({"source": "builtin", "keyVaults": "{}"}), "data.aiProviders[0].id"),
        (backup_doc(row("openai", "{apiKey: sk-a")), "data.aiProviders[0].keyVaults"),
        (backup_doc(row("openai", '["sk-a"]')), "data.aiProviders[0].keyVaults"),
        (backup_doc(row("openai", {"baseURL": 1})), "data.aiProviders[0].keyVaults.baseURL"),
    ],
)
def test_a_broken_data_export_is_refused_naming_the_field(doc: Any, field: str) -> None:
    assert list(problem(doc)) == [field]


# --- recognizing the file ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        files.settings_export(),
        files.all_export(),
        files.v3_settings_export(),
        files.pglite_export(),
        files.postgres_export(),
        json.dumps(settings_doc(export_type="sessions")).encode(),
    ],
)
def test_lobechats_files_are_recognized(content: bytes) -> None:
    assert lobechat.recognizes(json.loads(content))


@pytest.mark.parametrize(
    "document",
    [
        # Our own export file.
        {"format": "miaoda-chat/custom-providers", "version": 2, "providers": [], "secrets": None},
        # Cherry Studio's data.json: a persisted redux store and its IndexedDB tables.
        {
            "time": 1717000000000,
            "version": 5,
            "localStorage": {"persist:cherry-studio": "{}"},
            "indexedDB": {},
        },
        # Chatbox's exported data.
        {
            "settings": {"aiProvider": "openai"},
            "configVersion": 10,
            "__exported_items": ["setting"],
            "__exported_at": "2025-01-01",
        },
        # LobeChat's 2023 config file, from before exportType.
        {"state": {"settings": {"token": "sk-a"}}, "version": 1},
        {"exportType": "settings"},
        {"mode": "pglite", "data": {}},
        [],
        "LobeChat",
        None,
    ],
)
def test_other_files_are_not_claimed(document: Any) -> None:
    assert not lobechat.recognizes(document)


def test_reading_a_file_that_is_not_lobechats_is_refused() -> None:
    with pytest.raises(ImportInvalid):
        lobechat.read({"format": "miaoda-chat/custom-providers"})
