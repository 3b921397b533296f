"""Hardening of provider input: endpoint paths that would leave the base URL's path, and text
that could spoof what the user reads (Unicode bidi controls in names, and link text in model
output that could reorder the words around it).

Endpoint overrides are refused by the schema (add, update and import all go through it) and,
for a provider that reached the store some other way, by the URL-building code before a
request is sent. The frontend's form hints (provider-rules.js) mirror the schema, and model
output links are bidi-isolated by the chat CSS; both are checked in Debian's Chromium.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.errors import InvalidConfig
from backend.models import (
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderType,
    default_auth,
)
from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.openai import OpenAIAdapter
from tests.e2e.helpers import chat_reply
from tests.fakes.upstream import FakeUpstream, Reply
from tests.helpers import CANARY_KEY, provider_config
from tests.stress.helpers import (
    add_provider,
    api_headers,
    chat_body,
    parse_events,
)

# --- endpoint paths ------------------------------------------------------------------------

# Each would make the request leave the base URL's path, for httpx (which removes `..`
# segments) or for a server that decodes %2e / %2f / %5c or reads `\` as `/`.
ESCAPING_ENDPOINTS = [
    "/../secret",
    "/chat/../../admin",
    "/..",
    "/..?api-version=1",
    "/%2e%2e/admin",
    "/%2E%2E/admin",
    "/%2e%2E/admin",
    "/.%2e/admin",
    "/%2e./admin",
    "/..%2fadmin",
    "/..%2Fadmin",
    "/a%2f..%2f..%2fadmin",
    "/..%5cadmin",
    "/..%5Cadmin",
    "/..\\admin",
    "/a\\..\\..\\admin",
    "/..;/admin",
    "/..;x/admin",
]
# Refused as well, though each of these stays under the base path however it is read: no
# provider needs them, and the rule stays one a user can remember.
BAD_ENDPOINTS = [
    *ESCAPING_ENDPOINTS,
    "/a//b",
    "/chat//completions",
    "/a/%2e/b",
    "/a\\b",
    "/a/..%2fchat",
    "/a/../chat",
]

GOOD_ENDPOINTS = [
    ("/chat/completions", "/chat/completions"),
    ("/v2/models", "/v2/models"),
    ("/chat/completions?api-version=2024-10-21", "/chat/completions?api-version=2024-10-21"),
    ("/v1/chat.completions", "/v1/chat.completions"),
    ("/models..list", "/models..list"),
    ("/a.b/c..d/%20e", "/a.b/c..d/%20e"),
    # The query is not part of the path: it may hold anything else an endpoint allows.
    ("/chat?next=../x&to=a//b&enc=%2F%2e%2e", "/chat?next=../x&to=a//b&enc=%2F%2e%2e"),
]

EXPORT_HEAD = {
    "format": "miaoda-chat/custom-providers",
    "version": 1,
    "exportedAt": "2026-11-26T00:00:00Z",
    "secrets": None,
}


@pytest.fixture
def secret_store(file_secret_store: Any) -> Any:
    """The rules do not depend on the secret backend: only the file store."""
    return file_secret_store


def _assert_refused(result: dict[str, Any], field: str) -> None:
    assert result["success"] is False, result
    assert result["error"]["code"] == "INVALID_CONFIG", result
    assert field in result["error"]["fields"], result["error"]
    assert CANARY_KEY not in json.dumps(result)


def _import(bridge: Any, **fields: Any) -> dict[str, Any]:
    provider = {k: v for k, v in provider_config(**fields).items() if k != "apiKey"}
    doc = {**EXPORT_HEAD, "providers": [provider]}
    report: dict[str, Any] = bridge.importCustomProviders({"content": json.dumps(doc)})
    assert report["success"], report
    return report


def _import_refused(report: dict[str, Any], field: str) -> None:
    assert report["added"] == [] and report["updated"] == [], report
    [error] = report["errors"]
    assert error["error"]["code"] == "INVALID_CONFIG", error
    assert field in error["error"]["fields"], error


@pytest.mark.parametrize("kind", ["chat", "models"])
@pytest.mark.parametrize("path", BAD_ENDPOINTS)
def test_an_endpoint_leaving_the_base_path_is_refused_on_add_update_and_import(
    bridge: Any, storage: Any, kind: str, path: str
) -> None:
    field = f"endpoints.{kind}"
    added = bridge.addCustomProvider(provider_config(endpoints={kind: path}), {"validate": False})
    _assert_refused(added, field)
    assert storage.count_providers() == 0

    _import_refused(_import(bridge, endpoints={kind: path}), field)
    assert storage.count_providers() == 0

    saved = bridge.addCustomProvider(provider_config(), {"validate": False})
    assert saved["success"], saved
    updated = bridge.updateCustomProvider(
        saved["id"], {"endpoints": {kind: path}}, {"validate": False}
    )
    _assert_refused(updated, field)
    assert bridge.getCustomProvider(saved["id"])["provider"]["endpoints"] == {}


@pytest.mark.parametrize(("path", "suffix"), GOOD_ENDPOINTS)
def test_a_legitimate_custom_endpoint_is_kept(bridge: Any, path: str, suffix: str) -> None:
    base = "https://res.example.com/openai/deployments/gpt4o"
    added = bridge.addCustomProvider(
        provider_config(type="custom", baseURL=base, endpoints={"chat": path, "models": path}),
        {"validate": False},
    )
    assert added["success"], added
    assert added["provider"]["requestURL"] == base + suffix
    report = _import(bridge, name="imported", endpoints={"chat": path})
    assert report["added"] == ["imported"], report


def test_custom_chat_and_models_endpoints_still_reach_the_provider(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    upstream.script("/api/v2/models", Reply.json({"data": [{"id": "fake-model"}]}))
    upstream.script("/api/chat/completions", chat_reply(["Hello", " there"], usage=(3, 2)))
    provider_id = add_provider(
        app,
        upstream.url + "/api",
        endpoints={"chat": "/chat/completions?api-version=2024-10-21", "models": "/v2/models"},
    )
    bridge = app.bridge()
    listed = bridge.listProviderModels(provider_id)
    assert listed["success"] and listed["models"] == ["fake-model"], listed

    response = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json=chat_body(provider_id),
        headers=api_headers(),
        timeout=20,
    )
    assert response.status_code == 200, response.text
    text = "".join(data["text"] for kind, data in parse_events(response.text) if kind == "delta")
    assert text == "Hello there"
    [seen] = upstream.requests_to("/api/chat/completions")
    assert seen.query == {"api-version": "2024-10-21"}


# --- defence in depth: the URL builder ---------------------------------------------------


def _stored(
    base: str, endpoints: dict[str, str], type_: ProviderType = "openai-compatible"
) -> ProviderConfig:
    """A provider as the store could hold it from before the endpoint rule (never validated)."""
    return ProviderConfig(
        id="p1",
        name="old",
        display_name="Old",
        base_url=base,
        model="m",
        type=type_,
        auth=default_auth(type_),
        endpoints=endpoints,
    )


REQUEST = ChatRequest("p1", (ChatMessage("user", "hi"),))


@pytest.mark.parametrize("path", ESCAPING_ENDPOINTS)
def test_the_url_builder_refuses_a_chat_url_outside_the_base_path(path: str) -> None:
    config = _stored("https://gw.example.com/team-a/v1", {"chat": path})
    with pytest.raises(InvalidConfig) as caught:
        OpenAIAdapter().chat_call(config, CANARY_KEY, REQUEST, stream=True)
    assert list(caught.value.fields) == ["endpoints.chat"]
    assert CANARY_KEY not in caught.value.message
    assert path not in caught.value.message


@pytest.mark.parametrize("path", ESCAPING_ENDPOINTS)
def test_the_url_builder_refuses_a_models_url_outside_the_base_path(path: str) -> None:
    openai = _stored("https://gw.example.com/team-a/v1", {"models": path})
    with pytest.raises(InvalidConfig) as caught:
        OpenAIAdapter().models_call(openai, CANARY_KEY)
    assert list(caught.value.fields) == ["endpoints.models"]
    anthropic = _stored("https://gw.example.com/team-a", {"models": path}, "anthropic-compatible")
    with pytest.raises(InvalidConfig) as caught:
        AnthropicAdapter().models_call(anthropic, CANARY_KEY)
    assert list(caught.value.fields) == ["endpoints.models"]


@pytest.mark.parametrize("path", ["@evil.example/v1/chat", ".evil.example/chat", ":8443/x"])
def test_the_url_builder_refuses_an_endpoint_that_changes_the_host(path: str) -> None:
    config = _stored("https://gw.example.com", {"chat": path})
    with pytest.raises(InvalidConfig) as caught:
        OpenAIAdapter().chat_call(config, CANARY_KEY, REQUEST, stream=True)
    assert list(caught.value.fields) == ["endpoints.chat"]


@pytest.mark.parametrize(
    ("base", "endpoints", "url"),
    [
        (
            "https://gw.example.com/team-a/v1",
            {},
            "https://gw.example.com/team-a/v1/chat/completions",
        ),
        ("https://gw.example.com", {"chat": "/v1/chat"}, "https://gw.example.com/v1/chat"),
        ("https://gw.example.com/v1", {"chat": "/a//b"}, "https://gw.example.com/v1/a//b"),
        ("http://[::1]:8080/v1", {"chat": "/x?next=../y"}, "http://[::1]:8080/v1/x?next=../y"),
    ],
)
def test_the_url_builder_passes_urls_under_the_base_path(
    base: str, endpoints: dict[str, str], url: str
) -> None:
    call = OpenAIAdapter().chat_call(_stored(base, endpoints), None, REQUEST, stream=True)
    assert call.url == url


def test_a_stored_escaping_endpoint_sends_nothing_and_names_the_field(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    upstream.script("/admin/chat", chat_reply(["leaked"]))
    provider_id = add_provider(app, upstream.url + "/v1/team")
    stored = app.storage.get_provider(provider_id)
    assert stored is not None
    app.storage.update_provider(
        dataclasses.replace(stored, endpoints={"chat": "/../../admin/chat"})
    )

    response = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json=chat_body(provider_id),
        headers=api_headers(),
        timeout=20,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONFIG"
    assert "endpoints.chat" in error["fields"]
    assert upstream.requests == []
    assert CANARY_KEY not in response.text


# --- spoofing text: bidi controls ---------------------------------------------------------

BIDI_CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
BIDI_IDS = [f"U+{ord(c):04X}" for c in BIDI_CONTROLS]


@pytest.mark.parametrize("control", BIDI_CONTROLS, ids=BIDI_IDS)
@pytest.mark.parametrize("field", ["name", "displayName"])
def test_bidi_controls_are_refused_in_names(
    bridge: Any, storage: Any, field: str, control: str
) -> None:
    value = f"pay{control}lapyap" if field == "name" else f"Groq {control}txt.exe"
    _assert_refused(
        bridge.addCustomProvider(provider_config(**{field: value}), {"validate": False}), field
    )
    _import_refused(_import(bridge, **{field: value}), field)
    assert storage.count_providers() == 0


@pytest.mark.parametrize(
    "display", ["Groq \u200eLRM", "\u200fمرحبا", "مرحبا بالعالم", "שלום (Groq)", "Groq\u061c"]
)
def test_direction_marks_and_right_to_left_names_are_allowed(bridge: Any, display: str) -> None:
    added = bridge.addCustomProvider(provider_config(displayName=display), {"validate": False})
    assert added["success"], added
    assert added["provider"]["displayName"] == display
