"""Security review finding: credential headers were stored in plain text.

A custom header named `Authorization`/`Proxy-Authorization`, or whose name contains `key`,
`token`, `secret` or `auth` (ignoring case), carries a credential. Its value must live in the
secret store (entry `<provider id>:header:<lower-case name>`) like the API key: never in the
SQLite file, never in a reply or a plain export, only in the encrypted block of an export, and
still sent to the provider. Databases written before the fix are migrated at start-up.

Everything runs against the real app (file secret store, real provider layer) and a real local
fake upstream, whose request log shows what it received.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from backend.app import DB_NAME, MiaodaApp
from backend.errors import KeyringUnavailable
from backend.secrets import EncryptedFileSecretStore, MemorySecretStore
from backend.storage import _migration_1
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.helpers import CANARY_KEY
from tests.stress.helpers import CHAT_PATH, TOKEN, add_provider, stream_chat

HEADER = "cf-aig-authorization"
CANARY_HEADER = "Bearer cf-canary-5d1e8a7b3c9f2e4d6a0b"
SECOND_VALUE = "Bearer cf-second-9a8b7c6d5e4f3a2b1c0d"
PASS = "correct horse battery"


def db_bytes(data_dir: Path) -> bytes:
    """The SQLite file and its write-ahead log, raw."""
    raw = b""
    for name in (DB_NAME, DB_NAME + "-wal"):
        path = data_dir / name
        if path.exists():
            raw += path.read_bytes()
    return raw


def stored_value(data_dir: Path, provider_id: str, header: str = HEADER) -> str | None:
    """The header's value as a fresh reader of the encrypted secret file sees it."""
    return EncryptedFileSecretStore(data_dir).get(f"{provider_id}:header:{header.lower()}")


def sent_value(app: MiaodaApp, upstream: FakeUpstream, provider_id: str) -> str | None:
    """Chat once; the header's value as the fake upstream received it."""
    upstream.script(CHAT_PATH, Reply.stream(openai_stream(["Hi"])))
    assert app.server_url is not None
    stream_chat(app.server_url, provider_id)
    return upstream.requests_to(CHAT_PATH)[-1].headers.get(HEADER)


def replies(app: MiaodaApp, provider_id: str) -> str:
    bridge = app.bridge()
    one = bridge.getCustomProvider(provider_id)
    every = bridge.getAllCustomProviders()
    assert one["success"] and every["success"], (one, every)
    return json.dumps(one) + json.dumps(every)


def provider(app: MiaodaApp, provider_id: str) -> dict[str, Any]:
    result = app.bridge().getCustomProvider(provider_id)
    assert result["success"], result
    found: dict[str, Any] = result["provider"]
    return found


def update(app: MiaodaApp, provider_id: str, changes: dict[str, Any]) -> None:
    result = app.bridge().updateCustomProvider(provider_id, changes, {"validate": False})
    assert result["success"], result


def export(app: MiaodaApp, **options: Any) -> str:
    result = app.bridge().exportCustomProviders(options)
    assert result["success"], result
    return str(result["content"])


def with_header(upstream: FakeUpstream, app: MiaodaApp) -> str:
    headers = {HEADER: CANARY_HEADER, "X-Title": "MiaoDa"}
    return add_provider(app, upstream.url + "/v1", headers=headers)


def test_a_credential_header_is_a_secret_yet_still_sent(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = with_header(upstream, app)

    assert CANARY_HEADER.encode() not in db_bytes(app.data_dir)
    assert CANARY_HEADER not in replies(app, pid)
    shown = provider(app, pid)
    assert shown["headers"] == {"X-Title": "MiaoDa", HEADER: None}
    assert shown["secretHeaders"] == {HEADER: {"hasValue": True, "hint": "…6a0b"}}
    plain = export(app)
    assert CANARY_HEADER not in plain
    assert json.loads(plain)["providers"][0]["headers"] == {"X-Title": "MiaoDa", HEADER: None}
    assert stored_value(app.data_dir, pid) == CANARY_HEADER
    assert sent_value(app, upstream, pid) == CANARY_HEADER
    # The plain header is sent as before.
    assert upstream.requests_to(CHAT_PATH)[-1].headers.get("x-title") == "MiaoDa"


@pytest.mark.parametrize(
    "name", ["Authorization", "Proxy-Authorization", "X-Api-Key", "api-token", "X-Secret"]
)
def test_every_credential_looking_name_is_kept_out_of_sqlite(
    app: MiaodaApp, upstream: FakeUpstream, name: str
) -> None:
    pid = add_provider(app, upstream.url + "/v1", headers={name: CANARY_HEADER})
    assert CANARY_HEADER.encode() not in db_bytes(app.data_dir)
    assert CANARY_HEADER not in replies(app, pid)
    assert stored_value(app.data_dir, pid, name) == CANARY_HEADER


def test_update_null_keeps_a_value_replaces_and_empty_removes(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = with_header(upstream, app)

    # The form sends back what it read (null) and edits something else: the value stays.
    update(app, pid, {"displayName": "Renamed", "headers": provider(app, pid)["headers"]})
    assert stored_value(app.data_dir, pid) == CANARY_HEADER
    assert sent_value(app, upstream, pid) == CANARY_HEADER
    update(app, pid, {"model": "other-model"})  # headers absent: kept too
    assert sent_value(app, upstream, pid) == CANARY_HEADER

    update(app, pid, {"headers": {HEADER: SECOND_VALUE, "X-Title": "MiaoDa"}})
    assert sent_value(app, upstream, pid) == SECOND_VALUE
    assert stored_value(app.data_dir, pid) == SECOND_VALUE
    assert SECOND_VALUE.encode() not in db_bytes(app.data_dir)
    assert provider(app, pid)["secretHeaders"][HEADER]["hint"] == "…1c0d"

    update(app, pid, {"headers": {HEADER: "", "X-Title": "MiaoDa"}})
    assert provider(app, pid)["headers"] == {"X-Title": "MiaoDa"}
    assert stored_value(app.data_dir, pid) is None
    assert sent_value(app, upstream, pid) is None


def test_encrypted_export_round_trips_the_value_and_plain_import_keeps_it(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = with_header(upstream, app)
    sealed = export(app, includeKeys=True, passphrase=PASS)
    assert CANARY_HEADER not in sealed
    plain = export(app)

    # A plain import over the same routing keeps the stored value, as it keeps the key.
    result = app.bridge().importCustomProviders({"content": plain, "onConflict": "replace"})
    assert result["success"] and result["updated"] == ["fake"], result
    assert sent_value(app, upstream, pid) == CANARY_HEADER

    assert app.bridge().removeCustomProvider(pid)["success"]
    assert stored_value(app.data_dir, pid) is None
    result = app.bridge().importCustomProviders({"content": sealed, "passphrase": PASS})
    assert result["success"] and result["added"] == ["fake"], result
    new_id = app.bridge().getAllCustomProviders()["providers"][0]["id"]
    assert stored_value(app.data_dir, new_id) == CANARY_HEADER
    assert CANARY_HEADER.encode() not in db_bytes(app.data_dir)
    assert sent_value(app, upstream, new_id) == CANARY_HEADER

    # A plain file imported afresh leaves the header without a value until one is entered.
    assert app.bridge().removeCustomProvider(new_id)["success"]
    result = app.bridge().importCustomProviders({"content": plain})
    assert result["success"] and result["added"] == ["fake"], result
    bare = app.bridge().getAllCustomProviders()["providers"][0]
    assert bare["secretHeaders"] == {HEADER: {"hasValue": False, "hint": None}}
    assert sent_value(app, upstream, bare["id"]) is None


def old_database(data_dir: Path, base_url: str) -> None:
    """A data folder as the app wrote it before the fix: data version 1, value in `headers`."""
    conn = sqlite3.connect(data_dir / DB_NAME)
    conn.execute("PRAGMA journal_mode = WAL")
    _migration_1(conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO providers VALUES ('old1', 'old', 'old', 'Old', ?, 'fake-model', "
        "'openai-compatible', '{\"scheme\": \"none\"}', ?, '{}', '{}', 0, NULL, "
        "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
        (base_url, json.dumps({HEADER: CANARY_HEADER, "X-Title": "MiaoDa"})),
    )
    conn.commit()
    conn.close()
    assert CANARY_HEADER.encode() in db_bytes(data_dir)


def test_an_old_database_with_a_plain_credential_header_is_migrated(
    data_dir: Path, upstream: FakeUpstream
) -> None:
    old_database(data_dir, upstream.url + "/v1")

    app = MiaodaApp(data_dir, secret_backend="file", token=TOKEN)
    try:
        app.start_server(0)
        assert CANARY_HEADER.encode() not in db_bytes(data_dir)
        assert stored_value(data_dir, "old1") == CANARY_HEADER
        assert CANARY_HEADER not in replies(app, "old1")
        assert provider(app, "old1")["headers"] == {"X-Title": "MiaoDa", HEADER: None}
        assert sent_value(app, upstream, "old1") == CANARY_HEADER
    finally:
        app.close()
    assert CANARY_HEADER.encode() not in db_bytes(data_dir)
    assert CANARY_KEY.encode() not in db_bytes(data_dir)


class BrokenStore(MemorySecretStore):
    """A secret store that cannot be written (a locked keyring)."""

    def set(self, provider_id: str, secret: str) -> None:
        raise KeyringUnavailable("locked")


def test_a_move_that_cannot_reach_the_store_loses_nothing_and_is_retried(
    data_dir: Path, upstream: FakeUpstream
) -> None:
    old_database(data_dir, upstream.url + "/v1")
    first = MiaodaApp(data_dir, secret_store=BrokenStore(), token=TOKEN)
    first.close()
    assert CANARY_HEADER.encode() in db_bytes(data_dir), "the value must not be lost"

    app = MiaodaApp(data_dir, secret_backend="file", token=TOKEN)
    try:
        app.start_server(0)
        assert CANARY_HEADER.encode() not in db_bytes(data_dir)
        assert stored_value(data_dir, "old1") == CANARY_HEADER
        assert sent_value(app, upstream, "old1") == CANARY_HEADER
    finally:
        app.close()
