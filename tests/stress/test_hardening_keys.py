"""Security review findings about where a stored key may go, and what an import may cost.

1. A stored key is only sent where, and how, it was saved for. An import that replaces a
   provider keeps its key only when type, base URL, auth and endpoints are all unchanged; a
   connection test of edits to a saved provider uses the stored key only on the same origin
   (scheme, host, port) with the same auth placement.
2. Decrypting an import's keys is bounded: scrypt parameters needing more than 64 MiB are
   refused before any derivation, and one derivation runs at a time.

Everything runs against the real app (file secret store, real provider layer) and real local
fake upstreams, whose request logs show what each one received.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backend import transfer
from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, Seen, openai_stream
from tests.helpers import CANARY_KEY
from tests.stress.helpers import CHAT_PATH, add_provider

PASS = "correct horse battery"
MODELS_PATH = "/v1/models"
MODELS = Reply.json({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
CAP = 64 * 1024 * 1024


def carries_key(seen: Seen, key: str = CANARY_KEY) -> bool:
    """Whether a recorded request holds the key anywhere: path, query, headers or body."""
    return (
        key in seen.path
        or any(key in name or key in value for name, value in seen.query.items())
        or any(key in value for value in seen.headers.values())
        or key.encode() in seen.body
    )


def saved(app: MiaodaApp, provider_id: str) -> dict[str, Any]:
    result = app.bridge().getCustomProvider(provider_id)
    assert result["success"], result
    provider: dict[str, Any] = result["provider"]
    return provider


def exported(app: MiaodaApp, **options: Any) -> dict[str, Any]:
    result = app.bridge().exportCustomProviders(options)
    assert result["success"], result
    document: dict[str, Any] = json.loads(result["content"])
    return document


def import_replace(app: MiaodaApp, document: dict[str, Any], **options: Any) -> dict[str, Any]:
    report = app.bridge().importCustomProviders(
        {"content": json.dumps(document), "onConflict": "replace", **options}
    )
    assert report["success"], report
    assert report["updated"] == ["fake"] and report["errors"] == [], report
    return report


# --- 1. an import that changes where or how a key is sent drops the stored key ------------

ROUTING_CHANGES: dict[str, dict[str, Any]] = {
    "auth moved into the query": {"auth": {"scheme": "query", "name": "leakme"}},
    "auth moved to another header": {"auth": {"scheme": "header", "name": "X-Collect"}},
    # Dot segments are refused by validation; a plain path on the same host is not.
    "models endpoint points at another tenant": {"endpoints": {"models": "/tenant-b/collect"}},
    "chat endpoint changed": {"endpoints": {"chat": "/collect"}},
    "type changed": {"type": "anthropic-compatible"},
    "type changed, auth kept": {"type": "custom"},
}


@pytest.mark.parametrize("change", list(ROUTING_CHANGES.values()), ids=list(ROUTING_CHANGES))
def test_import_replace_that_reroutes_a_provider_drops_its_stored_key(
    app: MiaodaApp, upstream: FakeUpstream, change: dict[str, Any]
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1")
    entries = [f"{provider_id}:key:{key['id']}" for key in saved(app, provider_id)["keys"]]
    document = exported(app)
    document["providers"][0].update(change)

    import_replace(app, document)

    provider = saved(app, provider_id)
    assert provider["hasApiKey"] is False and provider["apiKeyHint"] is None
    assert entries and [app.secrets.get(entry) for entry in entries] == [None] * len(entries)
    # Whatever the provider now asks for, the upstream never sees the old key.
    upstream.script(MODELS_PATH, MODELS)
    app.bridge().listProviderModels(provider_id)
    assert upstream.wait_for_requests(1, timeout=5)
    assert [seen.path for seen in upstream.requests if carries_key(seen)] == []
    assert "leakme" not in {name for seen in upstream.requests for name in seen.query}


def test_a_dry_run_reports_the_reroute_and_keeps_the_key(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1")
    document = exported(app)
    document["providers"][0]["auth"] = {"scheme": "query", "name": "leakme"}

    import_replace(app, document, dryRun=True)

    assert saved(app, provider_id)["hasApiKey"] is True
    assert app.manager.api_keys(provider_id) == [CANARY_KEY]


def test_import_replace_with_unchanged_routing_keeps_the_key(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1")
    hint = saved(app, provider_id)["apiKeyHint"]
    document = exported(app)
    # Everything but type, base URL, auth and endpoints may change.
    document["providers"][0].update(
        displayName="Renamed",
        model="other-model",
        headers={"X-Org": "o"},
        parameters={"temperature": 0.2},
    )

    import_replace(app, document)

    provider = saved(app, provider_id)
    assert provider["hasApiKey"] is True and provider["apiKeyHint"] == hint
    assert provider["displayName"] == "Renamed" and provider["model"] == "other-model"
    upstream.script(MODELS_PATH, MODELS)
    assert app.bridge().listProviderModels(provider_id)["success"]
    [seen] = upstream.requests_to(MODELS_PATH)
    assert seen.headers["authorization"] == f"Bearer {CANARY_KEY}"


def test_a_rerouted_provider_takes_the_key_its_file_brings(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1")
    document = exported(app, includeKeys=True, passphrase=PASS)
    document["providers"][0]["auth"] = {"scheme": "query", "name": "api_key"}
    app.bridge().updateCustomProvider(
        provider_id, {"apiKey": "sk-local-only-000000"}, {"validate": False}
    )

    import_replace(app, document, passphrase=PASS)

    provider = saved(app, provider_id)
    assert provider["hasApiKey"] is True
    assert app.manager.api_keys(provider_id) == [CANARY_KEY]
    upstream.script(MODELS_PATH, MODELS)
    assert app.bridge().listProviderModels(provider_id)["success"]
    [seen] = upstream.requests_to(MODELS_PATH)
    assert seen.query == {"api_key": CANARY_KEY}


# --- 1. a connection test of edits never takes the stored key to another origin ----------


@pytest.fixture
def other() -> Iterator[FakeUpstream]:
    """A second fake upstream: another origin on this machine."""
    with FakeUpstream() as server:
        server.script(CHAT_PATH, Reply.stream(openai_stream(["hi"])))
        yield server


def port_of(server: FakeUpstream) -> int:
    return int(server.url.rsplit(":", 1)[1])


ORIGINS: dict[str, Callable[[FakeUpstream, FakeUpstream], str]] = {
    "another port": lambda mine, theirs: theirs.url + "/v1",
    "another host name": lambda mine, theirs: f"http://localhost:{port_of(mine)}/v1",
    "another scheme": lambda mine, theirs: f"https://127.0.0.1:{port_of(mine)}/v1",
}


@pytest.mark.parametrize("origin", list(ORIGINS.values()), ids=list(ORIGINS))
def test_testing_edits_on_another_origin_asks_for_the_key_and_sends_nothing(
    app: MiaodaApp,
    upstream: FakeUpstream,
    other: FakeUpstream,
    origin: Callable[[FakeUpstream, FakeUpstream], str],
) -> None:
    upstream.script(CHAT_PATH, Reply.stream(openai_stream(["hi"])))
    provider_id = add_provider(app, upstream.url + "/v1")

    result = app.bridge().testProviderConnection(
        {"id": provider_id, "baseURL": origin(upstream, other)}
    )

    assert result["success"] is False
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert list(result["error"]["fields"]) == ["apiKey"]
    time.sleep(0.2)  # a request would have arrived by now
    assert other.requests == [] and upstream.requests == []


@pytest.mark.parametrize(
    "auth",
    [{"scheme": "query", "name": "leakme"}, {"scheme": "header", "name": "X-Collect"}],
    ids=["query", "header"],
)
def test_testing_edits_that_move_the_auth_asks_for_the_key(
    app: MiaodaApp, upstream: FakeUpstream, auth: dict[str, Any]
) -> None:
    upstream.script(CHAT_PATH, Reply.stream(openai_stream(["hi"])))
    provider_id = add_provider(app, upstream.url + "/v1")

    result = app.bridge().testProviderConnection({"id": provider_id, "auth": auth})

    assert result["error"]["code"] == "INVALID_CONFIG"
    assert list(result["error"]["fields"]) == ["apiKey"]
    time.sleep(0.2)
    assert upstream.requests == []


def test_testing_edits_on_another_origin_with_a_typed_key_uses_that_key(
    app: MiaodaApp, upstream: FakeUpstream, other: FakeUpstream
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1")
    typed = "sk-typed-for-the-new-host-0001"

    result = app.bridge().testProviderConnection(
        {"id": provider_id, "baseURL": other.url + "/v1", "apiKey": typed}
    )

    assert result["success"], result
    [seen] = other.requests_to(CHAT_PATH)
    assert seen.headers["authorization"] == f"Bearer {typed}"
    assert not carries_key(seen)


def test_testing_edits_on_the_same_origin_uses_the_stored_key(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    upstream.script("/v2/chat/completions", Reply.stream(openai_stream(["hi"])))
    provider_id = add_provider(app, upstream.url + "/v1")

    result = app.bridge().testProviderConnection(
        {"id": provider_id, "baseURL": upstream.url + "/v2", "model": "other-model"}
    )

    assert result["success"], result
    [seen] = upstream.requests_to("/v2/chat/completions")
    assert seen.headers["authorization"] == f"Bearer {CANARY_KEY}"


# --- 2. decrypting an import is bounded in memory and runs one at a time ---------------------


class DeriveRecorder:
    """Stands in for `transfer._derive`: records each call and how many ran at once."""

    def __init__(self, real: Callable[..., bytes] | None, hold: float = 0.0) -> None:
        self.real = real
        self.hold = hold
        self.calls: list[tuple[int, int, int]] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, secret: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
        with self._lock:
            self.calls.append((n, r, p))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            key = self.real(secret, salt, n, r, p) if self.real else bytes(32)
            time.sleep(self.hold)  # widen the window in which a second one could start
            return key
        finally:
            with self._lock:
                self.running -= 1


def keyed_export(app: MiaodaApp, upstream: FakeUpstream) -> dict[str, Any]:
    add_provider(app, upstream.url + "/v1")
    return exported(app, includeKeys=True, passphrase=PASS)


@pytest.mark.parametrize(
    ("n", "r"),
    [(2**17, 8), (2**16, 16), (2**18, 4), (2**20, 2), (2**18, 8)],
    ids=["128MiB", "128MiB-r16", "128MiB-r4", "256MiB-r2", "256MiB"],
)
def test_scrypt_settings_over_64_mib_are_refused_before_any_derivation(
    app: MiaodaApp,
    upstream: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    n: int,
    r: int,
) -> None:
    assert 128 * n * r > CAP
    document = keyed_export(app, upstream)
    document["secrets"].update(n=n, r=r)
    recorder = DeriveRecorder(None)
    monkeypatch.setattr(transfer, "_derive", recorder)

    started = time.monotonic()
    result = app.bridge().importCustomProviders(
        {"content": json.dumps(document), "passphrase": PASS, "onConflict": "replace"}
    )
    elapsed = time.monotonic() - started

    assert result["success"] is False
    assert result["error"]["code"] == "IMPORT_INVALID"
    fields = result["error"]["fields"]
    assert fields and all(name in ("secrets.n", "secrets.r") for name in fields), fields
    assert "64 MiB" in " ".join(problem for problems in fields.values() for problem in problems)
    assert recorder.calls == []
    assert elapsed < 1.0


def test_scrypt_settings_of_exactly_64_mib_are_accepted(
    app: MiaodaApp, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = keyed_export(app, upstream)
    document["secrets"].update(n=2**16, r=8)
    recorder = DeriveRecorder(None)  # a wrong key: decryption fails, but only after deriving
    monkeypatch.setattr(transfer, "_derive", recorder)

    result = app.bridge().importCustomProviders(
        {"content": json.dumps(document), "passphrase": PASS, "onConflict": "replace"}
    )

    assert result["error"]["code"] == "DECRYPT_FAILED"
    assert recorder.calls == [(2**16, 8, 1)]


def test_concurrent_imports_derive_one_at_a_time(
    app: MiaodaApp, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = json.dumps(keyed_export(app, upstream))
    recorder = DeriveRecorder(transfer._derive, hold=0.2)
    monkeypatch.setattr(transfer, "_derive", recorder)
    start = threading.Barrier(3)
    results: list[dict[str, Any]] = []

    def run() -> None:
        start.wait()
        results.append(
            app.bridge().importCustomProviders(
                {"content": content, "passphrase": PASS, "onConflict": "replace", "dryRun": True}
            )
        )

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [result["updated"] for result in results] == [["fake"]] * 3, results
    assert len(recorder.calls) == 3
    assert recorder.most_at_once == 1
