"""detectProvider against real local servers: each kind of API on a port of its own, each
pasted form landing on the right base URL, the key never leaving the port that was typed, no
POST ever sent, and the canary key in no answer, error or log line."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backend.errors import MiaodaError
from backend.providers import ProviderService
from backend.providers.detect import detect
from backend.providers.transport import SharedClient
from tests.fakes.upstream import FakeUpstream, Reply
from tests.helpers import CANARY_KEY, run_async
from tests.integration.served import Call

OPENAI_LIST = Reply.json(
    {"object": "list", "data": [{"id": "gpt-x", "object": "model"}, {"id": "gpt-y"}]}
)
ANTHROPIC_LIST = Reply.json(
    {
        "data": [{"type": "model", "id": "claude-x", "display_name": "Claude X"}],
        "has_more": False,
        "first_id": "claude-x",
        "last_id": "claude-x",
    }
)
OLLAMA_TAGS = Reply.json({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest"}]})
WRONG_KEY = Reply.json(
    {
        "error": {
            "message": f"Incorrect API key provided: {CANARY_KEY}",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    },
    401,
)
ANTHROPIC_REFUSAL = Reply.json(
    {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
    401,
)
LOGIN_PAGE = Reply(302, {"location": "/login", "content-type": "text/html"}, b"<html></html>")


@dataclass(frozen=True)
class Kind:
    """One kind of server: where it answers what, and where detection should land."""

    scripts: dict[str, Reply]
    base: str  # the right baseURL, after the server's URL
    type: str = "openai-compatible"


KINDS = {
    "openai": Kind({"/v1/models": OPENAI_LIST}, "/v1"),
    "nested": Kind({"/api/openai/v1/models": OPENAI_LIST}, "/api/openai/v1"),
    "anthropic": Kind({"/v1/models": ANTHROPIC_LIST}, "", "anthropic-compatible"),
    "ollama": Kind({"/api/tags": OLLAMA_TAGS, "/v1/models": OPENAI_LIST}, "/v1"),
    # Refuses every model list before routing, as gateways do.
    "wrong-key": Kind({"/v1/models": WRONG_KEY, "/models": WRONG_KEY}, "/v1"),
    "no-v1": Kind({"/models": OPENAI_LIST}, ""),
}

# What a user pastes, written with {url} (http://127.0.0.1:port) and {host} (127.0.0.1:port).
FORMS = {
    "openai": ["{url}", "{url}/v1", "{url}/v1/", "{url}/v1/chat/completions", "{host}"],
    "nested": ["{url}/api/openai", "{url}/api/openai/v1", "{url}/api/openai/v1/chat/completions"],
    "anthropic": ["{url}", "{url}/v1", "{url}/v1/messages", "{host}", "{host}/v1/models"],
    "ollama": ["{url}", "{url}/v1", "{url}/v1/chat/completions", "{host}", "{url}/api/tags"],
    "wrong-key": ["{url}", "{url}/v1", "{url}/v1/chat/completions", "{host}"],
    "no-v1": ["{url}", "{url}/v1", "{url}/chat/completions", "{url}/v1/chat/completions", "{host}"],
}
CASES = [(kind, form) for kind, forms in FORMS.items() for form in forms]


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    """One running server per kind, each on its own port."""
    servers: dict[str, FakeUpstream] = {}
    try:
        for name, kind in KINDS.items():
            server = servers[name] = FakeUpstream().start()
            for path, reply in kind.scripts.items():
                server.script(path, reply)
        yield servers
    finally:
        for server in servers.values():
            server.close()


def closed_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for sock in held:
        sock.close()
    server.close()


def pasted(form: str, server: FakeUpstream) -> str:
    return form.format(url=server.url, host=server.url.removeprefix("http://"))


def carries_key(server: FakeUpstream) -> bool:
    return any(CANARY_KEY in str(seen.headers) + seen.path for seen in server.requests)


def assert_only_gets(servers: dict[str, FakeUpstream]) -> None:
    methods = {seen.method for server in servers.values() for seen in server.requests}
    assert methods <= {"GET"}


@pytest.mark.parametrize(("kind", "form"), CASES)
def test_each_pasted_form_lands_on_the_right_base_url(
    kind: str, form: str, fakes: dict[str, FakeUpstream], service: ProviderService
) -> None:
    server = fakes[kind]
    answer = service.detect_provider({"url": pasted(form, server), "apiKey": CANARY_KEY})

    best = answer["candidates"][0]
    assert (best["type"], best["baseURL"]) == (KINDS[kind].type, server.url + KINDS[kind].base)
    assert CANARY_KEY not in str(answer)
    assert carries_key(server)
    assert not [name for name, other in fakes.items() if other is not server and other.requests]
    assert_only_gets(fakes)


def test_the_request_url_follows_the_type_s_url_rules(
    fakes: dict[str, FakeUpstream], service: ProviderService
) -> None:
    anthropic = service.detect_provider({"url": fakes["anthropic"].url + "/v1"})["candidates"][0]
    ollama = service.detect_provider({"url": fakes["ollama"].url})["candidates"][0]

    assert anthropic["requestURL"] == fakes["anthropic"].url + "/v1/messages"
    assert ollama["requestURL"] == fakes["ollama"].url + "/v1/chat/completions"


def test_a_candidate_lists_the_models_and_the_evidence(
    fakes: dict[str, FakeUpstream], service: ProviderService
) -> None:
    answer = service.detect_provider({"url": fakes["ollama"].url})
    best = answer["candidates"][0]

    assert best["models"] == ["gpt-x", "gpt-y"]  # what the OpenAI-compatible API lists
    assert any("/api/tags answered 200" in text for text in best["evidence"])
    assert any("Ollama" in text for text in best["evidence"])
    tags = [a for a in answer["attempts"] if a["url"].endswith("/api/tags")]
    assert tags == [
        {
            "method": "GET",
            "url": fakes["ollama"].url + "/api/tags",
            "protocol": "ollama",
            "status": 200,
            "outcome": "ok",
            "elapsedMs": tags[0]["elapsedMs"],
            "keySent": False,
        }
    ]


def test_a_refused_key_still_gives_the_type_and_shows_the_refusal(
    fakes: dict[str, FakeUpstream], service: ProviderService
) -> None:
    answer = service.detect_provider({"url": fakes["wrong-key"].url, "apiKey": CANARY_KEY})
    best = answer["candidates"][0]

    assert best["type"] == "openai-compatible"
    assert best["authError"]["code"] == "AUTH_FAILED"
    assert "refused the key" in best["authError"]["message"]
    assert "Incorrect API key provided" in best["authError"]["message"]
    assert best["models"] == []
    assert {a["outcome"] for a in answer["attempts"] if a["protocol"] != "ollama"} == {"auth"}
    assert CANARY_KEY not in str(answer)


def test_an_anthropic_refusal_is_anthropic(
    upstream: FakeUpstream, service: ProviderService
) -> None:
    upstream.script("/v1/models", ANTHROPIC_REFUSAL)

    best = service.detect_provider({"url": upstream.url, "apiKey": "sk-ant-wrong-000000"})[
        "candidates"
    ][0]

    assert (best["type"], best["baseURL"]) == ("anthropic-compatible", upstream.url)
    assert "invalid x-api-key" in best["authError"]["message"]


def test_a_login_redirect_and_web_pages_are_not_evidence(
    upstream: FakeUpstream, service: ProviderService
) -> None:
    upstream.script("/v1/models", LOGIN_PAGE)
    upstream.script("/models", Reply(200, {"content-type": "text/html"}, b"<html>hi</html>"))

    with pytest.raises(MiaodaError) as caught:
        service.detect_provider({"url": upstream.url})

    error = caught.value.to_dict()
    assert error["code"] == "INVALID_RESPONSE"
    outcomes = {a["url"].removeprefix(upstream.url): a["outcome"] for a in error["attempts"]}
    assert outcomes == {
        "/models": "unrecognized",
        "/v1/models": "redirect",
        "/api/tags": "not-found",
    }


def test_a_refused_port_gives_connection_failed_with_the_attempts(service: ProviderService) -> None:
    port = closed_port()

    with pytest.raises(MiaodaError) as caught:
        service.detect_provider({"url": f"127.0.0.1:{port}", "apiKey": CANARY_KEY})

    error = caught.value.to_dict()
    assert error["code"] == "CONNECTION_FAILED"
    assert f"127.0.0.1:{port}" in error["message"]
    assert {a["outcome"] for a in error["attempts"]} == {"refused"}
    assert {a["status"] for a in error["attempts"]} == {None}
    assert CANARY_KEY not in str(error)


def test_a_host_that_never_answers_gives_timeout_with_the_attempts(
    silent_port: int, service: ProviderService
) -> None:
    with pytest.raises(MiaodaError) as caught:
        service.detect_provider({"url": f"http://127.0.0.1:{silent_port}/v1"})

    error = caught.value.to_dict()
    assert error["code"] == "TIMEOUT"
    assert {a["outcome"] for a in error["attempts"]} == {"timeout"}


def test_a_live_api_is_not_kept_waiting_by_a_path_that_hangs(
    upstream: FakeUpstream, service: ProviderService
) -> None:
    upstream.script("/v1/models", OPENAI_LIST)
    upstream.script("/api/tags", Reply(hang_before_headers=30.0))

    answer = service.detect_provider({"url": upstream.url + "/v1"})

    assert answer["candidates"][0]["baseURL"] == upstream.url + "/v1"
    tags = [a for a in answer["attempts"] if a["protocol"] == "ollama"]
    assert [a["outcome"] for a in tags] == ["stopped"]


def test_a_docs_url_probes_the_template_s_api_without_the_key(
    fakes: dict[str, FakeUpstream],
) -> None:
    docs, api = fakes["no-v1"], fakes["wrong-key"]  # docs: any server; api: refuses keys
    templates = [
        {
            "id": "acme",
            "displayName": "Acme AI",
            "type": "openai-compatible",
            "baseURL": api.url + "/v1",
            "docsURL": docs.url + "/docs/api",
        }
    ]

    async def scenario() -> dict[str, Any]:
        clients = SharedClient(httpx.Timeout(5.0))
        try:
            request = {"url": docs.url + "/docs/quickstart#keys", "apiKey": CANARY_KEY}
            return await detect(request, clients, templates=templates).run()
        finally:
            await clients.aclose()

    answer = run_async(scenario)
    best = answer["candidates"][0]

    assert (best["baseURL"], best.get("templateId")) == (api.url + "/v1", "acme")
    assert "only to the host you pasted" in best["authError"]["message"]
    assert any("documentation" in text for text in best["evidence"])
    assert not docs.requests  # a documentation page is not an API
    assert api.requests and not carries_key(api)
    assert {a["keySent"] for a in answer["attempts"]} == {False}


def test_the_key_is_never_logged(
    fakes: dict[str, FakeUpstream], service: ProviderService, logs: pytest.LogCaptureFixture
) -> None:
    service.detect_provider({"url": fakes["wrong-key"].url, "apiKey": CANARY_KEY})
    with pytest.raises(MiaodaError):
        service.detect_provider({"url": f"127.0.0.1:{closed_port()}", "apiKey": CANARY_KEY})

    assert logs.records
    assert not [r for r in logs.records if CANARY_KEY in r.getMessage()]


# --- through the bridge and /api/rpc ---------------------------------------------------------


def test_detect_provider_answers_candidates(call: Call, upstream: FakeUpstream) -> None:
    upstream.script("/v1/models", OPENAI_LIST)

    answer = call("detectProvider", {"url": upstream.url, "apiKey": CANARY_KEY})

    assert answer["success"] is True
    assert answer["candidates"][0]["baseURL"] == upstream.url + "/v1"
    assert answer["candidates"][0]["models"] == ["gpt-x", "gpt-y"]
    assert CANARY_KEY not in str(answer)


def test_detect_provider_refuses_a_bad_url_naming_the_field(call: Call) -> None:
    answer = call("detectProvider", {"url": f"https://user:{CANARY_KEY}@api.example.com/v1"})

    assert answer["success"] is False
    assert answer["error"]["code"] == "INVALID_CONFIG"
    assert list(answer["error"]["fields"]) == ["url"]
    assert CANARY_KEY not in str(answer)


def test_detect_provider_lists_the_attempts_of_a_failure(call: Call) -> None:
    answer = call("detectProvider", {"url": f"127.0.0.1:{closed_port()}"})

    assert answer["success"] is False
    assert answer["error"]["code"] == "CONNECTION_FAILED"
    assert answer["error"]["attempts"]
    assert all(a["method"] == "GET" for a in answer["error"]["attempts"])


def test_detect_provider_speaks_the_app_s_language(call: Call) -> None:
    assert call("updateSettings", {"language": "zh-CN"})["success"]

    answer = call("detectProvider", {"url": f"127.0.0.1:{closed_port()}"})

    assert "连接被拒绝" in answer["error"]["message"]
