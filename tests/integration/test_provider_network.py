"""Network failures through the provider layer's real transport (httpx's own, on the provider
loop), direct and through a real local proxy: each becomes the error code a user can act on."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from backend.errors import MiaodaError
from backend.providers import ProviderService, ProviderTimeouts, RetryPolicy
from backend.providers.transport import new_client, proxy_mounts, tls_context
from tests.fakes.proxy import FakeProxy
from tests.fakes.upstream import FakeUpstream, Reply, fake_config

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
QUICK = ProviderTimeouts(connect=2.0, read=1.0, write=2.0, pool=2.0)


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets the proxy variables it means; none leaks in from the machine."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def failure_code(base_url: str, *, timeouts: ProviderTimeouts = QUICK) -> tuple[str, str]:
    """(code, message) of listing the models of a provider at `base_url` (which must fail)."""
    service = ProviderService(timeouts=timeouts, retry=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(MiaodaError) as caught:
            service.list_models(fake_config(base_url), "sk-test")
    finally:
        service.close()
    return caught.value.code, caught.value.message


def closed_port() -> int:
    """A port nothing listens on: bound, never listening, so connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
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


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """An HTTPS server with a self-signed certificate no trust store knows: its port."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.DNSName("upstream.test")]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    pem = serialization.Encoding.PEM
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn = server.accept()[0]
            except OSError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1024)
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    server.close()


# --- direct ----------------------------------------------------------------------------


def test_a_refused_connection_is_connection_failed() -> None:
    code, message = failure_code(f"http://127.0.0.1:{closed_port()}/v1")
    assert code == "CONNECTION_FAILED"
    assert "refused" in message


def test_a_host_name_that_does_not_resolve_is_connection_failed() -> None:
    code, message = failure_code("http://no-such-host.invalid/v1")
    assert code == "CONNECTION_FAILED"
    assert "could not be found" in message


def test_an_untrusted_certificate_is_connection_failed(tls_server: int) -> None:
    code, message = failure_code(f"https://localhost:{tls_server}/v1")
    assert code == "CONNECTION_FAILED"
    assert "secure connection" in message


def test_a_server_that_never_answers_is_a_timeout(silent_server: int) -> None:
    code, _ = failure_code(f"http://127.0.0.1:{silent_server}/v1")
    assert code == "TIMEOUT"


# --- through a proxy -------------------------------------------------------------------


def test_a_proxy_that_refuses_is_connection_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{closed_port()}")
    code, _ = failure_code("https://api.example.test/v1")
    assert code == "CONNECTION_FAILED"


def test_a_proxy_whose_name_does_not_resolve_is_connection_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://no-such-proxy.invalid:3128")
    code, message = failure_code("http://api.example.test/v1")
    assert code == "CONNECTION_FAILED"
    assert "could not be found" in message


def test_a_host_the_proxy_cannot_reach_is_connection_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeProxy({"upstream.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, _ = failure_code(f"https://upstream.test:{closed_port()}/v1")
    assert code == "CONNECTION_FAILED"
    assert proxy.seen and proxy.seen[0].startswith("CONNECT upstream.test:")


def test_an_untrusted_certificate_through_a_proxy_is_connection_failed(
    monkeypatch: pytest.MonkeyPatch, tls_server: int
) -> None:
    with FakeProxy({"upstream.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, message = failure_code(f"https://upstream.test:{tls_server}/v1")
    assert code == "CONNECTION_FAILED"
    assert "secure connection" in message
    assert proxy.seen == [f"CONNECT upstream.test:{tls_server} HTTP/1.1"]


def test_a_proxy_that_never_answers_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProxy(silent=True) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        code, _ = failure_code("http://api.example.test/v1")
    assert code == "TIMEOUT"


def test_a_proxied_request_reaches_the_upstream_and_loopback_goes_direct(
    monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream
) -> None:
    port = upstream.url.rsplit(":", 1)[1]
    upstream.script(
        "/v1/models", Reply.json({"data": [{"id": "m-1"}]}), Reply.json({"data": [{"id": "m-2"}]})
    )
    with FakeProxy({"upstream.test": "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        service = ProviderService(timeouts=QUICK)
        try:
            proxied = service.list_models(fake_config(f"http://upstream.test:{port}/v1"), "k")
            direct = service.list_models(fake_config(f"{upstream.url}/v1"), "k")
        finally:
            service.close()
    assert (proxied, direct) == (["m-1"], ["m-2"])
    assert proxy.seen == [f"GET http://upstream.test:{port}/v1/models HTTP/1.1"]


# --- how the client is made --------------------------------------------------------------


def test_proxy_mounts_follow_the_environment_given() -> None:
    limits = httpx.Limits()
    environment = {"HTTPS_PROXY": "proxy.example:3128", "NO_PROXY": "internal.example,10.0.0.1"}
    mounts = proxy_mounts(tls_context(), limits, environment)
    assert isinstance(mounts.pop("https://"), httpx.AsyncHTTPTransport)
    assert mounts == dict.fromkeys(
        [
            "all://*internal.example",
            "all://10.0.0.1",
            "all://localhost",
            "all://127.0.0.1",
            "all://[::1]",
        ]
    )


def test_a_socks5_proxy_from_the_environment_is_mounted() -> None:
    mounts = proxy_mounts(tls_context(), httpx.Limits(), {"ALL_PROXY": "socks5://127.0.0.1:1080"})
    assert isinstance(mounts["all://"], httpx.AsyncHTTPTransport)


@pytest.mark.parametrize(
    "environment", [{"HTTP_PROXY": "proxy.example:3128", "NO_PROXY": "*"}, {}, {"PATH": "/bin"}]
)
def test_no_proxy_at_all_gives_no_mounts(environment: dict[str, str]) -> None:
    assert proxy_mounts(tls_context(), httpx.Limits(), environment) == {}


def test_tls_uses_the_system_trust_store() -> None:
    assert type(tls_context()).__module__.startswith("truststore")


def test_without_the_system_trust_store_certifi_roots_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "truststore", None)  # as if it could not be imported
    context = tls_context()
    assert type(context) is ssl.SSLContext
    assert context.verify_mode == ssl.CERT_REQUIRED and context.cert_store_stats()["x509_ca"] > 0


def test_the_client_keeps_no_cookies() -> None:
    client = new_client(httpx.Timeout(5))
    assert len(client.cookies) == 0
    with pytest.raises(TypeError):
        client.cookies = httpx.Cookies({"a": "b"})
