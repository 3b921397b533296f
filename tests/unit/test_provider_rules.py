"""Every provider rule (docs/API.md, "Providers"): a bad value gets INVALID_CONFIG naming the field.

And nothing is written: not the provider, not its key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers import CANARY_KEY, provider_config

LONG = "x" * 5000

BAD_VALUES: list[tuple[str, Any, str]] = [
    # (field, bad value, the field name the error must carry)
    ("name", "", "name"),
    ("name", "a" * 65, "name"),
    ("name", "-starts-with-dash", "name"),
    ("name", "has space", "name"),
    ("name", "ünïcode", "name"),
    ("name", "a/b", "name"),
    ("name", 123, "name"),
    ("displayName", "", "displayName"),
    ("displayName", "   ", "displayName"),
    ("displayName", "d" * 81, "displayName"),
    ("displayName", "two\nlines", "displayName"),
    ("displayName", ["list"], "displayName"),
    ("baseURL", "ftp://example.com/v1", "baseURL"),
    ("baseURL", "/v1/relative", "baseURL"),
    ("baseURL", "https://", "baseURL"),
    ("baseURL", "https://user:pass@example.com/v1", "baseURL"),
    ("baseURL", "https://example.com/v1#frag", "baseURL"),
    ("baseURL", "https://example.com/v1?x=1", "baseURL"),
    ("baseURL", "https://example.com/" + "p" * 2040, "baseURL"),
    ("baseURL", "https://example.com:99999/v1", "baseURL"),
    ("baseURL", "javascript:alert(1)", "baseURL"),
    ("baseURL", "https://exa mple.com", "baseURL"),
    ("model", "", "model"),
    ("model", "m" * 201, "model"),
    ("model", "bad\x00model", "model"),
    ("type", "openai", "type"),
    ("type", None, "type"),
    ("headers", "not-an-object", "headers"),
    ("headers", {f"X-H{i}": "v" for i in range(33)}, "headers"),
    ("headers", {"bad name": "v"}, "headers"),
    ("headers", {"X-Inject": "a\r\nEvil: 1"}, "headers"),
    ("headers", {"Host": "evil.example"}, "headers"),
    ("headers", {"content-length": "5"}, "headers"),
    ("headers", {"Transfer-Encoding": "chunked"}, "headers"),
    ("headers", {"X-Num": 5}, "headers.X-Num"),
    ("headers", {"X-A": "1", "x-a": "2"}, "headers"),
    ("parameters", {"temperature": -0.1}, "parameters.temperature"),
    ("parameters", {"temperature": 2.01}, "parameters.temperature"),
    ("parameters", {"temperature": "1"}, "parameters.temperature"),
    ("parameters", {"temperature": True}, "parameters.temperature"),
    ("parameters", {"maxTokens": 0}, "parameters.maxTokens"),
    ("parameters", {"maxTokens": 1_000_001}, "parameters.maxTokens"),
    ("parameters", {"maxTokens": 1.5}, "parameters.maxTokens"),
    ("parameters", {"topP": 1.01}, "parameters.topP"),
    ("parameters", {"topP": -0.5}, "parameters.topP"),
    ("parameters", {"frequencyPenalty": -2.5}, "parameters.frequencyPenalty"),
    ("parameters", {"frequencyPenalty": 2.5}, "parameters.frequencyPenalty"),
    ("parameters", {"presencePenalty": 3}, "parameters.presencePenalty"),
    ("parameters", {"seed": 1}, "parameters.seed"),
    ("parameters", [], "parameters"),
    ("auth", {"scheme": "basic"}, "auth.scheme"),
    ("auth", {"scheme": "header"}, "auth.name"),
    ("auth", {"scheme": "query"}, "auth.name"),
    ("auth", {"scheme": "bearer", "name": "X"}, "auth.name"),
    ("auth", {"scheme": "header", "name": "bad header"}, "auth.name"),
    ("auth", {"scheme": "none", "extra": 1}, "auth.extra"),
    ("auth", "bearer", "auth"),
    ("endpoints", {"chat": "chat/completions"}, "endpoints.chat"),
    ("endpoints", {"chat": "//evil.example/x"}, "endpoints.chat"),
    ("endpoints", {"models": "/models list"}, "endpoints.models"),
    ("endpoints", {"other": "/x"}, "endpoints.other"),
    ("apiKey", "k" * 4097, "apiKey"),
    ("apiKey", "bell\x07key", "apiKey"),
    ("apiKey", " padded-key ", "apiKey"),
    ("apiKey", 42, "apiKey"),
    ("id", "chosen-id", "id"),
    ("requestURL", "https://x", "requestURL"),
    ("hasApiKey", True, "hasApiKey"),
    ("apiKeyHint", "sk-…", "apiKeyHint"),
    ("createdAt", "2026-01-01T00:00:00Z", "createdAt"),
    ("updatedAt", "2026-01-01T00:00:00Z", "updatedAt"),
    ("unknownField", 1, "unknownField"),
    # Half of a UTF-16 surrogate pair (a JS string can hold one): refused, not a storage error.
    ("displayName", "Smile \ud83d", "displayName"),
    ("model", "m\udfff", "model"),
    ("headers", {"X-Team": "a\udc00"}, "headers"),
    ("parameters", {"stop": ["\ud800"]}, "parameters"),
]
IDS = [f"{field}={str(value)[:24]!r}" for field, value, _ in BAD_VALUES]


@pytest.fixture
def secret_store(file_secret_store: Any) -> Any:
    """The rules do not depend on the secret backend: only the file store."""
    return file_secret_store


def _assert_invalid(result: dict[str, Any], field: str) -> None:
    assert result["success"] is False
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert field in result["error"]["fields"], result["error"]
    assert result["error"]["message"]
    assert CANARY_KEY not in str(result)


@pytest.mark.parametrize(("field", "value", "reported"), BAD_VALUES, ids=IDS)
def test_add_with_a_bad_value_is_refused_naming_the_field_and_saves_nothing(
    bridge: Any,
    storage: Any,
    secret_store: Any,
    data_dir: Path,
    field: str,
    value: Any,
    reported: str,
) -> None:
    config = provider_config()
    config[field] = value
    result = bridge.addCustomProvider(config, {"validate": False})
    _assert_invalid(result, reported)
    assert storage.count_providers() == 0
    assert not (data_dir / "secrets.enc").exists()


@pytest.mark.parametrize("field", ["name", "displayName", "baseURL", "model", "type"])
def test_add_without_a_required_field_is_refused_naming_it(
    bridge: Any, storage: Any, field: str
) -> None:
    result = bridge.addCustomProvider(provider_config(**{field: None}), {"validate": False})
    _assert_invalid(result, field)
    assert storage.count_providers() == 0


@pytest.mark.parametrize(("field", "value", "reported"), BAD_VALUES, ids=IDS)
def test_update_with_a_bad_value_is_refused_and_leaves_the_provider_and_key_as_they_were(
    bridge: Any, secret_store: Any, field: str, value: Any, reported: str
) -> None:
    added = bridge.addCustomProvider(provider_config(), {"validate": False})
    assert added["success"], added
    before = bridge.getCustomProvider(added["id"])["provider"]
    result = bridge.updateCustomProvider(added["id"], {field: value}, {"validate": False})
    _assert_invalid(result, reported)
    assert bridge.getCustomProvider(added["id"])["provider"] == before
    entries = [f"{added['id']}:key:{key['id']}" for key in before["keys"]]
    assert [secret_store.get(entry) for entry in entries] == [CANARY_KEY]


def test_a_config_that_is_not_an_object_is_refused(bridge: Any, storage: Any) -> None:
    for config in (None, "text", 5, [provider_config()]):
        result = bridge.addCustomProvider(config, {"validate": False})
        assert result["error"]["code"] == "INVALID_CONFIG"
    assert storage.count_providers() == 0


def test_bad_options_are_refused_naming_the_option(bridge: Any, storage: Any) -> None:
    result = bridge.addCustomProvider(provider_config(), {"validate": "yes"})
    _assert_invalid(result, "validate")
    result = bridge.addCustomProvider(provider_config(), {"dryRun": True})
    _assert_invalid(result, "dryRun")
    assert storage.count_providers() == 0


def test_trailing_slashes_are_removed_from_the_base_url(bridge: Any) -> None:
    result = bridge.addCustomProvider(
        provider_config(baseURL="https://api.groq.com/openai/v1///"), {"validate": False}
    )
    assert result["provider"]["baseURL"] == "https://api.groq.com/openai/v1"
    assert result["provider"]["requestURL"] == "https://api.groq.com/openai/v1/chat/completions"


@pytest.mark.parametrize(
    ("ptype", "base", "endpoints", "expected"),
    [
        (
            "openai-compatible",
            "https://api.groq.com/openai/v1",
            {},
            "https://api.groq.com/openai/v1/chat/completions",
        ),
        (
            "anthropic-compatible",
            "https://api.anthropic.com",
            {},
            "https://api.anthropic.com/v1/messages",
        ),
        (
            "anthropic-compatible",
            "https://proxy.example/v1",
            {},
            "https://proxy.example/v1/messages",
        ),
        (
            "custom",
            "https://res.openai.azure.com/openai/deployments/gpt4o",
            {"chat": "/chat/completions?api-version=2024-10-21"},
            "https://res.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
        ),
    ],
)
def test_request_url_follows_the_contract_url_rules(
    bridge: Any, ptype: str, base: str, endpoints: dict[str, str], expected: str
) -> None:
    result = bridge.addCustomProvider(
        provider_config(type=ptype, baseURL=base, endpoints=endpoints or None), {"validate": False}
    )
    assert result["success"], result
    assert result["provider"]["requestURL"] == expected


def test_auth_defaults_follow_the_type(bridge: Any) -> None:
    openai = bridge.addCustomProvider(provider_config(name="a"), {"validate": False})["provider"]
    anthropic = bridge.addCustomProvider(
        provider_config(name="b", type="anthropic-compatible"), {"validate": False}
    )["provider"]
    assert openai["auth"] == {"scheme": "bearer"}
    assert anthropic["auth"] == {"scheme": "header", "name": "x-api-key"}
