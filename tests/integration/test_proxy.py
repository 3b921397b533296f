"""The proxy setting carries provider traffic: real HTTP and SOCKS5 proxies, the real app.

The proxies are pproxy's (a maintained pure-Python proxy server, a dev dependency), started by
each test on 127.0.0.1 in a thread of their own. Each one logs every connection it carries
("http 127.0.0.1:51234 -> fake-upstream.test:40123"), and the tests count those lines.

The fake upstream listens on 127.0.0.1, but the app never proxies a loopback host, so the
"remote" provider is named `http://fake-upstream.test:<port>/v1`: a name that resolves nowhere
for the app itself (so `none` fails to find it, which proves the request did not go through
the proxy) while the proxies' event loop resolves it to 127.0.0.1 (`MappedLoop` overrides
asyncio's `getaddrinfo`). Both proxy kinds look the name up on their side: an HTTP proxy
because the request names the host, SOCKS5 because httpx sends the name (remote DNS) for
`socks5://` and `socks5h://` alike. This works on any machine, with or without a network
interface besides loopback.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pproxy
import pytest

from backend.app import MiaodaApp
from backend.settings.proxy import ENTRY
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import files_containing
from tests.integration.served import TOKEN, rpc, serve
from tests.integration.test_chat_http import parse_events

REMOTE = "fake-upstream.test"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
USER = "miaoda"
PASSWORD = "p@ss:w0rd-9f3e71"  # typed into a URL as p%40ss%3Aw0rd-9f3e71
ENCODED_PASSWORD = "p%40ss%3Aw0rd-9f3e71"
CHAT = "/v1/chat/completions"
MODELS = "/v1/models"


class MappedLoop(asyncio.SelectorEventLoop):
    """An event loop on which `fake-upstream.test` is 127.0.0.1 (for the proxies' lookups)."""

    async def getaddrinfo(self, host: Any, port: Any, **options: Any) -> Any:  # type: ignore[override]
        if host in (REMOTE, REMOTE.encode()):
            host = "127.0.0.1"
        return await super().getaddrinfo(host, port, **options)


@dataclass
class Proxy:
    """One running proxy: the URL the settings take, and its log."""

    url: str
    lines: list[str] = field(default_factory=list)

    @property
    def carried(self) -> list[str]:
        """The connections it passed on (one line each)."""
        return [line for line in self.lines if " -> " in line]


class Proxies:
    """pproxy servers on one event loop thread; `start` one, `close` them all."""

    def __init__(self) -> None:
        self._loop = MappedLoop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="proxies", daemon=True)
        self._thread.start()
        self._servers: list[asyncio.Server] = []

    def start(self, kind: str, *, scheme: str | None = None, auth: bool = False) -> Proxy:
        """A `kind` ("http" or "socks5") proxy; `auth`: it wants USER and PASSWORD. The URL
        given to the settings uses `scheme` (default: `kind`) and, with `auth`, the password."""
        proxy = Proxy("")
        uri = f"{kind}://127.0.0.1:0" + (f"#{USER}:{PASSWORD}" if auth else "")
        # authtime -1: every connection shows its credentials (pproxy would trust the address
        # once it had authenticated).
        options = {"rserver": [], "verbose": proxy.lines.append, "authtime": -1}

        async def serve() -> asyncio.Server:
            server: asyncio.Server = await pproxy.Server(uri).start_server(options)
            return server

        server = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        self._servers.append(server)
        port = server.sockets[0].getsockname()[1]
        userinfo = f"{USER}:{ENCODED_PASSWORD}@" if auth else ""
        proxy.url = f"{scheme or kind}://{userinfo}127.0.0.1:{port}"
        return proxy

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's proxy variables play no part (the `system` setting would use them)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxies() -> Iterator[Proxies]:
    """Start proxies with `proxies.start(...)`; all are stopped after the test."""
    running = Proxies()
    yield running
    running.close()


def add_provider(app: MiaodaApp, base_url: str, name: str = "remote") -> str:
    """An OpenAI-compatible provider at `base_url` (saved untested); its id."""
    config = {
        "name": name,
        "displayName": name.title(),
        "baseURL": base_url,
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKey": "sk-proxy-test-0001",
    }
    result = rpc(app, "addCustomProvider", config, {"validate": False})
    assert result["success"], result
    return str(result["id"])


def remote_url(upstream: FakeUpstream) -> str:
    return f"http://{REMOTE}:{upstream.url.rsplit(':', 1)[1]}/v1"


@dataclass
class Answer:
    """What a chat through the app's HTTP API ended with."""

    text: str
    error: dict[str, Any] | None


def chat(app: MiaodaApp, provider_id: str, text: str = "Hello") -> Answer:
    """A streamed chat through the app's HTTP API: the reply's text, or its error."""
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": text}]}
    response = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json=body,
        headers={"X-MiaoDa-Token": TOKEN},
        timeout=30,
    )
    events = parse_events(response.text)
    error = next((data for kind, data in events if kind == "error"), None)
    return Answer("".join(data["text"] for kind, data in events if kind == "delta"), error)


def use_proxy(app: MiaodaApp, mode: str, url: str | None = None) -> dict[str, Any]:
    proxy: dict[str, Any] = {"mode": mode} if url is None else {"mode": mode, "url": url}
    result = rpc(app, "updateSettings", {"proxy": proxy})
    assert result["success"], result
    return result


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- traffic -------------------------------------------------------------------------------


def test_an_http_proxy_carries_provider_traffic_once_set(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    upstream.script(CHAT, Reply.stream(openai_stream(["via ", "proxy"])))
    proxy = proxies.start("http")
    provider_id = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url)
    answer = chat(app, provider_id)
    assert answer == Answer("via proxy", None)
    assert proxy.carried and all(f"-> {REMOTE}:" in line for line in proxy.carried)
    assert len(upstream.requests_to(CHAT)) == 1


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_a_socks5_proxy_carries_provider_traffic_once_set(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies, scheme: str
) -> None:
    upstream.script(CHAT, Reply.stream(openai_stream(["over ", "socks"])))
    proxy = proxies.start("socks5", scheme=scheme)
    provider_id = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url)
    answer = chat(app, provider_id)
    assert answer == Answer("over socks", None)
    assert len(proxy.carried) == 1 and proxy.carried[0].startswith("socks5 ")


def test_with_none_requests_go_direct_not_through_the_proxy(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    upstream.script(CHAT, Reply.stream(openai_stream(["ok"])))
    proxy = proxies.start("http")
    provider_id = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url)
    assert chat(app, provider_id) == Answer("ok", None)
    carried = len(proxy.carried)
    use_proxy(app, "none")  # no restart: the next request already goes direct
    error = chat(app, provider_id).error
    assert error is not None and error["code"] == "CONNECTION_FAILED"
    assert REMOTE in error["message"]  # the app's own lookup of the name failed
    assert len(proxy.carried) == carried
    assert len(upstream.requests_to(CHAT)) == 1


def test_a_loopback_provider_bypasses_the_proxy(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    upstream.script(CHAT, Reply.stream(openai_stream(["local"])))
    proxy = proxies.start("http")
    provider_id = add_provider(app, upstream.url + "/v1", name="local")
    use_proxy(app, "manual", proxy.url)
    assert chat(app, provider_id) == Answer("local", None)
    assert proxy.lines == []


def test_a_stream_in_flight_ends_where_it_started_when_the_proxy_changes(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    pieces = ["one ", "two ", "three ", "four"]
    upstream.script(CHAT, Reply.stream(openai_stream(pieces), delay=0.2))
    proxy = proxies.start("http")
    provider_id = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url)
    body = {"providerId": provider_id, "messages": [{"role": "user", "content": "Count"}]}
    with ThreadPoolExecutor(1) as pool:
        streaming = pool.submit(
            httpx.post,
            f"{app.server_url}/api/chat/stream",
            json=body,
            headers={"X-MiaoDa-Token": TOKEN},
            timeout=30,
        )
        assert upstream.wait_for_requests(1, timeout=10)
        use_proxy(app, "none")
        events = parse_events(streaming.result(timeout=30).text)
    assert "".join(data["text"] for kind, data in events if kind == "delta") == "".join(pieces)
    assert events[-1][0] == "done"
    later = chat(app, provider_id).error  # a later request goes direct, and fails
    assert later is not None and later["code"] == "CONNECTION_FAILED"


# --- the password --------------------------------------------------------------------------


def test_a_proxy_password_is_used_and_never_shown_saved_or_logged(
    app: MiaodaApp,
    upstream: FakeUpstream,
    proxies: Proxies,
    data_dir: Path,
    logs: pytest.LogCaptureFixture,
) -> None:
    upstream.script(CHAT, Reply.stream(openai_stream(["secret ", "kept"])))
    upstream.script(MODELS, Reply.json({"data": [{"id": "fake-model"}]}))
    proxy = proxies.start("http", auth=True)
    provider_id = add_provider(app, remote_url(upstream))
    answers = [use_proxy(app, "manual", proxy.url), rpc(app, "getSettings")]
    reply = chat(app, provider_id)
    answers.append(rpc(app, "testProxy", {}))
    assert reply == Answer("secret kept", None)
    assert answers[2]["success"], answers
    shown = answers[1]["settings"]["proxy"]
    assert shown == {
        "mode": "manual",
        "url": proxy.url.replace(f":{ENCODED_PASSWORD}", ""),
        "hasPassword": True,
    }
    assert app.secrets.get(ENTRY) is not None
    texts = [str(answer) for answer in answers] + [logs.text, app.log_file.read_text("utf-8")]
    for secret in (PASSWORD, ENCODED_PASSWORD):
        assert not any(secret in text for text in texts)
        assert files_containing(data_dir, secret) == []


def test_a_wrong_proxy_password_fails_naming_the_proxy_not_the_password(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    proxy = proxies.start("http", auth=True)
    provider_id = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url.replace(ENCODED_PASSWORD, "wrong-password-1"))
    error = chat(app, provider_id).error
    assert error is not None and error["code"] == "CONNECTION_FAILED"
    assert proxy.url.replace(f":{ENCODED_PASSWORD}", "") in error["message"]
    assert "wrong-password-1" not in error["message"]
    assert upstream.requests_to(CHAT) == []


def test_the_password_survives_a_restart_and_still_opens_the_proxy(
    upstream: FakeUpstream, proxies: Proxies, data_dir: Path
) -> None:
    upstream.script(MODELS, Reply.json({"data": [{"id": "fake-model"}]}))
    proxy = proxies.start("socks5", auth=True)
    first = serve(data_dir)
    try:
        add_provider(first, remote_url(upstream))
        use_proxy(first, "manual", proxy.url)
    finally:
        first.close()
    restarted = serve(data_dir)
    try:
        assert rpc(restarted, "getSettings")["settings"]["proxy"]["hasPassword"] is True
        result = rpc(restarted, "testProxy", {})
    finally:
        restarted.close()
    assert result["success"], result
    assert len(proxy.carried) == 1


# --- testProxy -----------------------------------------------------------------------------


def test_test_proxy_reaches_a_provider_through_the_saved_proxy(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    upstream.script(MODELS, Reply.json({"data": [{"id": "fake-model"}]}))
    proxy = proxies.start("http")
    add_provider(app, upstream.url + "/v1", name="local")  # on this computer: never tested
    remote = add_provider(app, remote_url(upstream))
    use_proxy(app, "manual", proxy.url)
    result = rpc(app, "testProxy")
    assert result["success"], result
    assert (result["providerId"], result["providerName"], result["via"]) == (
        remote,
        "remote",
        proxy.url,
    )
    assert result["displayName"] == "Remote"
    assert isinstance(result["latencyMs"], int) and result["latencyMs"] >= 0
    assert len(proxy.carried) == 1
    assert upstream.requests_to(MODELS)[0].headers["authorization"] == "Bearer sk-proxy-test-0001"


def test_test_proxy_tries_a_proxy_given_without_saving_it(
    app: MiaodaApp, upstream: FakeUpstream, proxies: Proxies
) -> None:
    upstream.script(MODELS, Reply.json({"data": [{"id": "fake-model"}]}))
    proxy = proxies.start("socks5")
    remote = add_provider(app, remote_url(upstream))
    given = {"mode": "manual", "url": proxy.url}
    result = rpc(app, "testProxy", {"proxy": given, "providerId": remote})
    assert result["success"], result
    assert result["via"] == proxy.url
    assert rpc(app, "getSettings")["settings"]["proxy"]["mode"] == "system"
    assert len(proxy.carried) == 1


def test_test_proxy_through_a_proxy_that_is_down_names_the_proxy(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    add_provider(app, remote_url(upstream))
    down = f"http://127.0.0.1:{closed_port()}"
    result = rpc(app, "testProxy", {"proxy": {"mode": "manual", "url": down}})
    assert result["error"]["code"] == "CONNECTION_FAILED"
    assert down in result["error"]["message"]
    assert upstream.requests == []


def test_test_proxy_without_a_remote_provider_says_what_to_add(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    add_provider(app, upstream.url + "/v1", name="local")
    result = rpc(app, "testProxy")
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert list(result["error"]["fields"]) == ["providerId"]
