"""The proxy setting's pieces without a network: the password kept out of URLs, which proxy a
request goes through (httpx's mounts), and the shared client replaced while requests run."""

from __future__ import annotations

import httpx
import pytest

from backend.providers.proxies import (
    VIA,
    ProxiedTransport,
    ProxyChoice,
    is_loopback,
    manual_mounts,
    without_password,
)
from backend.providers.transport import ProviderClient, SharedClient, tls_context
from backend.settings.proxy import StoredProxy, merge, same_proxy, split_password, with_password
from tests.helpers import run_async


@pytest.mark.parametrize(
    ("url", "bare", "password"),
    [
        ("http://u:pw@h:3128", "http://u@h:3128", "pw"),
        ("socks5h://u:p%40ss@h", "socks5h://u@h", "p%40ss"),
        ("HTTPS://:pw@h:443/", "https://h:443", "pw"),
        ("http://u@h:3128", "http://u@h:3128", None),
        ("http://u:@h:3128", "http://u@h:3128", None),
        ("http://h", "http://h", None),
    ],
)
def test_a_password_is_split_off_a_proxy_url_and_put_back(
    url: str, bare: str, password: str | None
) -> None:
    assert split_password(url) == (bare, password)
    if password is not None and bare.startswith("http://u"):
        assert with_password(bare, password) == url


def test_a_proxy_shown_keeps_its_user_but_never_its_password() -> None:
    assert (
        without_password("socks5://alice:s3cret@p.example:1080") == "socks5://alice@p.example:1080"
    )
    assert without_password("http://p.example:3128") == "http://p.example:3128"


def test_the_same_proxy_is_the_same_host_port_and_user() -> None:
    assert same_proxy("http://u@P.example:80", "http://u@p.example")
    assert not same_proxy("http://u@p.example:3128", "http://v@p.example:3128")
    assert not same_proxy("http://u@p.example:3128", "http://u@p.example:3129")


def test_merge_follows_the_rules_of_an_update() -> None:
    saved = StoredProxy("manual", "http://u@p:1", "pw")
    assert merge(saved, {"mode": "none"}) == StoredProxy("none", "http://u@p:1", "pw")
    assert merge(saved, {"url": "http://u:new@p:1"}).password == "new"
    assert merge(saved, {"url": "http://u@q:1"}).password is None
    assert merge(saved, {"hasPassword": False, "url": "http://u:typed@p:1"}).password == "typed"
    assert merge(saved, {"url": None}) == StoredProxy("manual", None, None)
    assert merge(saved, {"hasPassword": True}) == saved


def test_the_choice_carries_the_password_only_for_manual() -> None:
    assert StoredProxy("manual", "http://u@p:1", "pw").choice() == ProxyChoice(
        "manual", "http://u:pw@p:1"
    )
    assert StoredProxy("none", "http://u@p:1", "pw").choice() == ProxyChoice("none")
    assert "pw" not in repr(ProxyChoice("manual", "http://u:pw@p:1"))


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://localhost:11434/v1", True),
        ("http://127.0.0.1:8000", True),
        ("http://[::1]:8000", True),
        ("http://LOCALHOST", True),
        ("https://api.deepseek.com", False),
        ("http://192.168.1.5:11434", False),
    ],
)
def test_loopback_providers_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_a_manual_proxy_takes_http_and_https_but_never_loopback() -> None:
    mounts = manual_mounts("socks5://u:pw@p.example:1080", tls_context(), httpx.Limits())
    proxied = mounts.pop("http://")
    assert mounts.pop("https://") is proxied
    assert isinstance(proxied, ProxiedTransport) and proxied.via == "socks5://u@p.example:1080"
    assert mounts == dict.fromkeys(["all://localhost", "all://127.0.0.1", "all://[::1]"])


# --- the shared client -----------------------------------------------------------------------


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"data": []})


def test_a_replaced_client_closes_after_its_last_exchange() -> None:
    async def scenario() -> None:
        shared = SharedClient(httpx.Timeout(5), transport=httpx.MockTransport(answer))
        first = shared.lease()
        second_proxy = ProxyChoice("none")
        await shared.replace(second_proxy, shared.build(second_proxy))
        assert not first.is_closed  # an exchange still runs on it
        newer = shared.lease()
        assert newer is not first and shared.proxy == second_proxy
        await shared.release(first)
        assert first.is_closed
        await shared.release(newer)
        assert not newer.is_closed
        await shared.aclose()
        assert newer.is_closed

    run_async(scenario)


def test_an_idle_client_is_closed_when_replaced() -> None:
    async def scenario() -> ProviderClient:
        shared = SharedClient(httpx.Timeout(5), transport=httpx.MockTransport(answer))
        old = shared.lease()
        await shared.release(old)
        await shared.replace(ProxyChoice("none"), shared.build(ProxyChoice("none")))
        await shared.aclose()
        return old

    assert run_async(scenario).is_closed


def test_a_proxied_request_is_marked_with_its_proxy() -> None:
    async def scenario() -> str | None:
        transport = ProxiedTransport("http://u:pw@127.0.0.1:1", tls_context(), httpx.Limits())
        request = httpx.Request("GET", "http://example.test/")
        try:
            await transport.handle_async_request(request)
        except httpx.ConnectError:
            pass  # nothing listens there; the mark is made before connecting
        finally:
            await transport.aclose()
        via: str | None = request.extensions.get(VIA)
        return via

    assert run_async(scenario) == "http://u@127.0.0.1:1"
