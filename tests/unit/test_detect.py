"""Detection's rules without a network: reading what was pasted, which probes it makes and
with whose key, and how answers rank (httpx.MockTransport stands in for the servers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from backend.errors import ConnectionFailed, InvalidConfig
from backend.providers.detect import detect
from backend.providers.detect_plan import plan, read_request, read_url
from backend.providers.templates import get_templates
from backend.providers.transport import SharedClient
from tests.helpers import CANARY_KEY, run_async

Handler = Callable[[httpx.Request], httpx.Response]
OPENAI_LIST = {"object": "list", "data": [{"id": "gpt-x", "object": "model"}]}
ANTHROPIC_LIST = {"data": [{"type": "model", "id": "claude-x"}], "has_more": False}


def urls(pasted: str, key: str | None = None) -> list[tuple[str, str, bool]]:
    """(protocol, URL, key sent) of each probe planned for `pasted`."""
    found = plan(read_url(pasted), key, get_templates())
    return [(p.kind, p.shown, p.key_sent) for p in found.probes]


def run(request: dict[str, Any], handler: Handler) -> dict[str, Any]:
    """Detection of `request` against `handler` instead of the network."""

    async def scenario() -> dict[str, Any]:
        clients = SharedClient(httpx.Timeout(5.0), transport=httpx.MockTransport(handler))
        try:
            return await detect(request, clients).run()
        finally:
            await clients.aclose()

    return run_async(scenario)


def answering(routes: dict[tuple[str, str], tuple[int, Any]]) -> Handler:
    """A server answering (path, protocol) with (status, JSON); the protocol is told by the
    headers: `anthropic-version` for Anthropic's probe, none for Ollama's, else OpenAI's."""

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        protocol = "anthropic" if "anthropic-version" in request.headers else "openai"
        status, body = routes.get((path, protocol), routes.get((path, "*"), (404, {})))
        return httpx.Response(status, json=body)

    return handle


# --- reading what was pasted -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "origin", "path"),
    [
        ("api.deepseek.com", "https://api.deepseek.com", ""),
        ("localhost:11434", "http://localhost:11434", ""),
        ("127.0.0.1:8080/v1", "http://127.0.0.1:8080", "/v1"),
        ("192.168.1.20:8000/v1/", "http://192.168.1.20:8000", "/v1"),
        ("nas.local:1234", "http://nas.local:1234", ""),
        ("[::1]:11434", "http://[::1]:11434", ""),
        ("http://api.example.com/v1", "http://api.example.com", "/v1"),
        ("HTTPS://API.Example.com//v1//", "https://api.example.com", "/v1"),
        ("https://api.example.com/v1/chat/completions?x=1#frag", "https://api.example.com", "/v1"),
        ("https://api.anthropic.com/v1/messages", "https://api.anthropic.com", "/v1"),
        ("  https://api.groq.com/openai/v1/models  ", "https://api.groq.com", "/openai/v1"),
    ],
)
def test_a_pasted_address_is_read_with_a_scheme_and_without_its_endpoint(
    text: str, origin: str, path: str
) -> None:
    pasted = read_url(text)

    assert (pasted.origin, pasted.path) == (origin, path)


def test_the_pasted_endpoint_tells_the_type() -> None:
    assert read_url("h.example.com/v1/messages").typed_type == "anthropic-compatible"
    assert read_url("h.example.com/v1/chat/completions").typed_type == "openai-compatible"
    assert read_url("h.example.com/v1").typed_type is None


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"url": ""}, "url"),
        ({"url": "   "}, "url"),
        ({}, "url"),
        ({"url": 42}, "url"),
        ({"url": "https://api.example.com/" + "a" * 2048}, "url"),
        ({"url": "https://api.example.com/v 1"}, "url"),
        ({"url": f"https://user:{CANARY_KEY}@api.example.com/v1"}, "url"),
        ({"url": "ftp://api.example.com"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "localhost:99999"}, "url"),
        ({"url": "https://exa mple.com"}, "url"),
        ({"url": "api.example.com", "apiKey": 7}, "apiKey"),
        ({"url": "api.example.com", "apiKey": " sk-padded "}, "apiKey"),
        ({"url": "api.example.com", "apiKey": "x" * 4097}, "apiKey"),
        ({"url": "api.example.com", "model": "x"}, "model"),
    ],
)
def test_bad_input_names_the_field_and_never_repeats_it(
    request_: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidConfig) as caught:
        read_request(request_)

    assert list(caught.value.fields) == [field]
    assert CANARY_KEY not in str(caught.value.to_dict())


def test_a_request_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidConfig) as caught:
        read_request("https://api.example.com")

    assert list(caught.value.fields) == ["_schema"]


def test_an_empty_key_is_no_key() -> None:
    assert read_request({"url": "api.example.com", "apiKey": ""})[1] is None


# --- the probes ------------------------------------------------------------------------------


def test_a_full_chat_url_tries_its_base_and_the_base_without_v1() -> None:
    assert urls("https://relay.example.com/v1/chat/completions", "sk-1") == [
        ("openai", "https://relay.example.com/v1/models", True),
        ("anthropic", "https://relay.example.com/v1/models", True),
        ("ollama", "https://relay.example.com/api/tags", False),
        ("openai", "https://relay.example.com/models", True),
    ]


def test_a_path_without_a_version_is_also_tried_with_v1() -> None:
    assert urls("https://relay.example.com/api/openai") == [
        ("openai", "https://relay.example.com/api/openai/models", False),
        ("anthropic", "https://relay.example.com/api/openai/v1/models", False),
        ("ollama", "https://relay.example.com/api/openai/api/tags", False),
        ("openai", "https://relay.example.com/api/openai/v1/models", False),
    ]


def test_a_path_past_its_version_is_cut_back_to_it() -> None:
    assert "https://relay.example.com/v1/models" in [
        u for _, u, _ in urls("https://relay.example.com/v1/engines/x/completions")
    ]


def test_a_known_host_adds_its_template_s_base_url_with_the_key() -> None:
    probes = urls("api.groq.com", "gsk_abcdef123456")

    assert ("openai", "https://api.groq.com/openai/v1/models", True) in probes


def test_a_docs_url_probes_only_the_template_s_api_and_without_the_key() -> None:
    probes = urls("https://platform.openai.com/docs/models", "sk-proj-abc123456")

    assert probes == [("openai", "https://api.openai.com/v1/models", False)]


def test_a_docs_site_of_a_vendor_maps_on_any_page() -> None:
    assert urls("https://api-docs.deepseek.com/quick_start/pricing", "sk-1") == [
        ("openai", "https://api.deepseek.com/models", False)
    ]


def test_a_page_of_a_shared_site_maps_only_under_the_project_s_path() -> None:
    llama = urls("https://github.com/ggml-org/llama.cpp/tree/master/tools/server")
    other = urls("https://github.com/someone/else")

    assert llama == [("openai", "http://localhost:8080/v1/models", False)]
    assert other[0][1] == "https://github.com/someone/else/models"


def test_the_key_goes_only_to_the_origin_that_was_typed() -> None:
    probes = urls("http://api.groq.com", "gsk_abcdef123456")  # the template's API is https

    assert ("openai", "https://api.groq.com/openai/v1/models", False) in probes
    assert all(sent for kind, url, sent in probes if url.startswith("http://") and kind != "ollama")


def test_every_probe_is_a_get_without_a_body() -> None:
    found = plan(read_url("https://api.example.com/v1/messages"), "sk-1", get_templates())

    assert {(p.call.method, p.call.body) for p in found.probes} == {("GET", None)}


# --- ranking ---------------------------------------------------------------------------------


def test_a_model_list_beats_a_refusal() -> None:
    handler = answering(
        {
            ("/v1/models", "openai"): (200, OPENAI_LIST),
            ("/v1/models", "anthropic"): (401, {"error": {"message": "no bearer"}}),
        }
    )

    answer = run({"url": "https://gw.example.com/v1"}, handler)

    assert [(c["type"], c["baseURL"]) for c in answer["candidates"]] == [
        ("openai-compatible", "https://gw.example.com/v1")
    ]
    assert "authError" not in answer["candidates"][0]


def test_a_gateway_speaking_both_protocols_ranks_by_the_pasted_endpoint() -> None:
    both = answering(
        {
            ("/v1/models", "openai"): (200, OPENAI_LIST),
            ("/v1/models", "anthropic"): (200, ANTHROPIC_LIST),
        }
    )

    messages = run({"url": "https://gw.example.com/v1/messages"}, both)["candidates"]
    chat = run({"url": "https://gw.example.com/v1/chat/completions"}, both)["candidates"]

    assert [c["type"] for c in messages] == ["anthropic-compatible", "openai-compatible"]
    assert [c["type"] for c in chat] == ["openai-compatible", "anthropic-compatible"]


def test_a_known_key_prefix_breaks_a_tie() -> None:
    both = answering(
        {
            ("/v1/models", "openai"): (200, OPENAI_LIST),
            ("/v1/models", "anthropic"): (200, ANTHROPIC_LIST),
        }
    )

    plain = run({"url": "https://gw.example.com/v1", "apiKey": "sk-abc123456"}, both)
    claude = run({"url": "https://gw.example.com/v1", "apiKey": "sk-ant-abc123456"}, both)

    assert plain["candidates"][0]["type"] == "openai-compatible"
    assert claude["candidates"][0]["type"] == "anthropic-compatible"
    assert any("Anthropic key" in text for text in claude["candidates"][0]["evidence"])


def test_the_address_as_typed_wins_when_both_answer() -> None:
    handler = answering(
        {("/models", "*"): (200, OPENAI_LIST), ("/v1/models", "*"): (200, OPENAI_LIST)}
    )

    bare = run({"url": "https://api.example.com"}, handler)["candidates"]
    with_v1 = run({"url": "https://api.example.com/v1"}, handler)["candidates"]

    assert bare[0]["baseURL"] == "https://api.example.com"
    assert with_v1[0]["baseURL"] == "https://api.example.com/v1"


def test_a_template_on_the_host_names_the_candidate() -> None:
    handler = answering({("/openai/v1/models", "openai"): (200, OPENAI_LIST)})

    best = run({"url": "api.groq.com", "apiKey": "gsk_abcdef123456"}, handler)["candidates"][0]

    assert (best["baseURL"], best["templateId"]) == ("https://api.groq.com/openai/v1", "groq")
    assert any("Groq key" in text for text in best["evidence"])


def test_at_most_500_models_are_listed() -> None:
    many = {"object": "list", "data": [{"id": f"m-{i}"} for i in range(1200)]}
    handler = answering({("/v1/models", "*"): (200, many)})

    best = run({"url": "https://api.example.com/v1"}, handler)["candidates"][0]

    assert len(best["models"]) == 500
    assert any("1,200 models" in text for text in best["evidence"])
    assert any("first 500" in text for text in best["evidence"])


def test_model_ids_that_echo_the_key_are_left_out() -> None:
    leaky = {"object": "list", "data": [{"id": "gpt-x"}, {"id": CANARY_KEY}]}
    handler = answering({("/v1/models", "*"): (200, leaky)})

    answer = run({"url": "https://api.example.com/v1", "apiKey": CANARY_KEY}, handler)

    assert answer["candidates"][0]["models"] == ["gpt-x"]
    assert CANARY_KEY not in json.dumps(answer)


def test_an_error_lists_its_attempts_in_its_envelope() -> None:
    error = ConnectionFailed("down").with_attempts([{"method": "GET", "url": "u", "status": None}])

    assert error.to_dict() == {
        "code": "CONNECTION_FAILED",
        "message": "down",
        "attempts": [{"method": "GET", "url": "u", "status": None}],
    }
