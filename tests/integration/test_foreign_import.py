"""Providers brought over from other apps' files (issue 21, docs/IMPORT-FROM-OTHER-APPS.md):
each app's file, written by the tests from its documented structure, imported into the real
app over the bridge and over HTTP; the keys land in the secret store and nowhere else; a file
nobody reads is refused naming the problem; our own export goes on as before."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from backend.app import DB_NAME, MiaodaApp
from backend.manager.headers import header_entry
from tests.foreign import chatbox_files, cherry_files, lobechat_files
from tests.helpers import CANARY_KEY, files_containing, provider_config
from tests.integration.served import Call

PASSPHRASE = "correct horse battery"
BOX = chatbox_files.BACKUP_PROVIDERS
CHERRY_SOURCE = {"app": "cherry-studio", "appName": "Cherry Studio", "formatVersion": "5"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def imported(call: Call, options: dict[str, Any]) -> dict[str, Any]:
    """The report of an import that must succeed."""
    report = call("importCustomProviders", options)
    assert report["success"] is True, report
    assert CANARY_KEY not in json.dumps(report)
    return report


def refused(call: Call, options: dict[str, Any], code: str = "IMPORT_INVALID") -> dict[str, Any]:
    """The error of an import that must fail with `code`."""
    result = call("importCustomProviders", options)
    assert result["success"] is False, result
    assert result["error"]["code"] == code, result
    assert CANARY_KEY not in json.dumps(result)
    return dict(result["error"])


def providers_by_name(app: MiaodaApp) -> dict[str, Any]:
    return {p.name: p for p in app.manager.list()}


def keys_by_name(app: MiaodaApp) -> dict[str, tuple[str, ...]]:
    """Each provider's keys as the secret store holds them (only providers that have some)."""
    found = {p.name: tuple(app.manager.api_keys(p.id)) for p in app.manager.list()}
    return {name: keys for name, keys in found.items() if keys}


def assert_fields(app: MiaodaApp, expected: dict[str, dict[str, Any]]) -> None:
    """Every expected provider is saved with the expected fields (wire names)."""
    saved = {p["name"]: p for p in (p.to_wire() for p in app.manager.list())}
    assert sorted(saved) == sorted(expected)
    for name, fields in expected.items():
        for field_name, value in fields.items():
            assert saved[name][field_name] == value, (name, field_name)
        for header, value in fields.get("headers", {}).items():
            if value is None:  # a credential header: its value went to the secret store
                assert saved[name]["secretHeaders"][header]["hasValue"] is True


def database_text(data_dir: Path) -> str:
    """Every row of every table of the app's database, read raw."""
    uri = f"file:{data_dir / DB_NAME}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for t in tables for row in db.execute(f'SELECT * FROM "{t}"')]  # noqa: S608
    db.close()
    return "\n".join(rows)


def assert_no_secret_on_disk(app: MiaodaApp, data_dir: Path, *secrets: str) -> None:
    """No key in any database row, nor in any file of the data folder (database, its WAL,
    the log): the secret store's file is encrypted."""
    text = database_text(data_dir)
    for secret in secrets:
        assert secret not in text
        assert files_containing(data_dir, secret) == []
    log = app.log_file.read_text(encoding="utf-8") if app.log_file.exists() else ""
    assert not [s for s in secrets if s in log]


# --- Cherry Studio -------------------------------------------------------------------------


def test_a_cherry_studio_backup_brings_its_providers_and_keys(
    call: Call, app: MiaodaApp, data_dir: Path
) -> None:
    report = imported(call, {"contentBase64": b64(cherry_files.backup())})

    assert sorted(report["added"]) == sorted(cherry_files.EXPECTED)
    assert report["errors"] == [] and report["dryRun"] is False
    assert report["source"] == CHERRY_SOURCE
    names = [entry["name"] for entry in report["unsupported"]]
    assert tuple(names) == cherry_files.EXPECTED_UNSUPPORTED
    assert all(entry["reason"] for entry in report["unsupported"])
    assert_fields(app, cherry_files.EXPECTED)
    assert keys_by_name(app) == cherry_files.expected_keys()
    relay = providers_by_name(app)["my-relay"]
    stored = app.secrets.get(header_entry(relay.id, "X-Relay-Token"))
    assert stored == cherry_files.RELAY_TOKEN
    all_keys = [k for keys in cherry_files.expected_keys().values() for k in keys]
    assert_no_secret_on_disk(app, data_dir, *all_keys, cherry_files.RELAY_TOKEN)


def test_a_cherry_studio_backup_on_disk_is_read_by_path(
    call: Call, app: MiaodaApp, tmp_path: Path
) -> None:
    backup = tmp_path / "cherry-studio.202601010000.zip"
    backup.write_bytes(cherry_files.backup())

    report = imported(call, {"path": str(backup)})

    assert sorted(report["added"]) == sorted(cherry_files.EXPECTED)
    assert report["source"] == CHERRY_SOURCE
    assert keys_by_name(app)["deepseek"] == (CANARY_KEY, cherry_files.SECOND_KEY)


def test_an_old_gzip_backup_imports_from_its_path_and_as_bytes(
    call: Call, app: MiaodaApp, tmp_path: Path
) -> None:
    backup = tmp_path / "cherry-studio.202401010000.bak"
    backup.write_bytes(cherry_files.bak())

    dry = imported(call, {"contentBase64": b64(cherry_files.bak()), "dryRun": True})
    report = imported(call, {"path": str(backup)})

    assert sorted(dry["added"]) == sorted(report["added"]) == sorted(cherry_files.EXPECTED)
    assert report["source"] == {**CHERRY_SOURCE, "formatVersion": "2"}
    assert keys_by_name(app)["deepseek"] == (CANARY_KEY, cherry_files.SECOND_KEY)


def test_a_damaged_or_oversized_gzip_file_is_refused(call: Call) -> None:
    cut = cherry_files.bak()[:-20]
    # 256 MB and one byte of zeros packs into a few hundred KB.
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(256)]
    bomb = b"".join([*parts, packer.compress(b"\0"), packer.flush()])

    damaged = refused(call, {"contentBase64": b64(cut)})
    too_big = refused(call, {"contentBase64": b64(bomb)})

    assert "gzip" in damaged["message"] and list(damaged["fields"]) == ["file"]
    assert "256 MB" in too_big["message"]


def test_the_data_json_of_a_backup_imports_on_its_own(call: Call, app: MiaodaApp) -> None:
    text = cherry_files.backup_json().decode("utf-8")

    report = imported(call, {"content": text})

    assert sorted(report["added"]) == sorted(cherry_files.EXPECTED)
    assert report["source"] == CHERRY_SOURCE


def test_a_dry_run_previews_and_changes_nothing(call: Call, app: MiaodaApp, data_dir: Path) -> None:
    secrets_before = sorted(p.name for p in data_dir.rglob("*") if p.is_file())

    report = imported(call, {"contentBase64": b64(cherry_files.backup()), "dryRun": True})

    assert report["dryRun"] is True
    assert sorted(report["added"]) == sorted(cherry_files.EXPECTED)
    assert report["source"] == CHERRY_SOURCE
    assert len(report["unsupported"]) == len(cherry_files.EXPECTED_UNSUPPORTED)
    assert app.manager.list() == []
    assert database_text(data_dir).count("my-relay") == 0
    assert files_containing(data_dir, CANARY_KEY) == []
    # The secret store's file appears with the first key written: there is none.
    assert sorted(p.name for p in data_dir.rglob("*") if p.is_file()) == secrets_before


def test_importing_again_skips_what_is_there(call: Call, app: MiaodaApp) -> None:
    content = {"contentBase64": b64(cherry_files.backup())}
    imported(call, content)

    again = imported(call, content)

    assert again["added"] == [] and sorted(again["skipped"]) == sorted(cherry_files.EXPECTED)
    assert keys_by_name(app) == cherry_files.expected_keys()


def test_a_direct_backup_is_refused_naming_its_metadata(call: Call) -> None:
    error = refused(call, {"contentBase64": b64(cherry_files.direct_backup())})

    assert "metadata.json" in error["fields"]


def test_a_malformed_cherry_studio_backup_names_the_broken_part(call: Call) -> None:
    document = cherry_files.document()
    document["localStorage"][cherry_files.PERSIST_KEY] = '{"llm": "{not json'

    error = refused(call, {"content": json.dumps(document)})

    assert error["fields"], error
    assert any(name.startswith("localStorage.") for name in error["fields"]), error
    assert error["message"]


# --- Chatbox ------------------------------------------------------------------------------


def test_a_chatbox_export_brings_its_providers_and_keys(
    call: Call, app: MiaodaApp, data_dir: Path
) -> None:
    text = chatbox_files.backup(CANARY_KEY).decode("utf-8")

    report = imported(call, {"content": text})

    expected = {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in BOX}
    assert sorted(report["added"]) == sorted(expected)
    assert report["source"] == {"app": "chatbox", "appName": "Chatbox", "formatVersion": "13"}
    names = [entry["name"] for entry in report["unsupported"]]
    assert names == chatbox_files.BACKUP_UNSUPPORTED
    assert_fields(app, expected)
    keys = chatbox_files.backup_keys(CANARY_KEY)
    assert keys_by_name(app) == keys
    assert_no_secret_on_disk(app, data_dir, *(k for ks in keys.values() for k in ks))


def test_a_chatbox_export_sent_as_bytes_reads_the_same(call: Call, app: MiaodaApp) -> None:
    report = imported(call, {"contentBase64": b64(chatbox_files.backup(CANARY_KEY))})

    assert sorted(report["added"]) == sorted(p["name"] for p in BOX)


# --- LobeChat ------------------------------------------------------------------------------


def test_a_lobechat_settings_file_brings_its_providers_and_keys(
    call: Call, app: MiaodaApp, data_dir: Path
) -> None:
    text = lobechat_files.settings_export().decode("utf-8")

    report = imported(call, {"content": text})

    assert sorted(report["added"]) == sorted(lobechat_files.SETTINGS_EXPECTED)
    assert report["source"]["app"] == "lobechat"
    assert report["source"]["appName"] == "LobeChat"
    names = [entry["name"] for entry in report["unsupported"]]
    assert names[: len(lobechat_files.SETTINGS_UNSUPPORTED)] == lobechat_files.SETTINGS_UNSUPPORTED
    for never_set_up in lobechat_files.SETTINGS_NOT_SET_UP:
        assert never_set_up in names[-1]
    assert_fields(app, lobechat_files.SETTINGS_EXPECTED)
    assert keys_by_name(app) == lobechat_files.settings_keys()
    assert_no_secret_on_disk(app, data_dir, CANARY_KEY, lobechat_files.SECOND_KEY)


# --- files nobody reads --------------------------------------------------------------------


def test_a_json_file_of_no_known_app_is_refused_saying_what_was_expected(call: Call) -> None:
    error = refused(call, {"content": json.dumps({"hello": "world", "providers": []})})

    assert "Cherry Studio" in error["message"] and "LobeChat" in error["message"]
    assert "miaoda-chat/custom-providers" in " ".join(error["fields"]["format"])


def test_json_that_is_not_an_object_is_refused(call: Call) -> None:
    error = refused(call, {"content": "[1, 2, 3]"})

    assert "file" in error["fields"]


def test_text_that_is_not_json_is_refused(call: Call) -> None:
    error = refused(call, {"content": "name,baseURL\ngroq,https://api.groq.com"})

    assert "JSON" in error["message"]


def test_a_zip_without_a_backup_in_it_names_what_was_looked_for(call: Call) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("photos/cat.jpg", b"\xff\xd8\xff")

    error = refused(call, {"contentBase64": b64(out.getvalue())})

    assert "data.json" in " ".join(error["fields"]["file"])


def test_a_zip_whose_data_is_another_file_names_that_member(call: Call) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("data.json", json.dumps({"notes": ["a", "b"]}))

    error = refused(call, {"contentBase64": b64(out.getvalue())})

    assert list(error["fields"]) == ["data.json"]


def test_a_damaged_zip_is_refused(call: Call) -> None:
    truncated = cherry_files.backup()[:200]

    error = refused(call, {"contentBase64": b64(truncated)})

    assert "file" in error["fields"]


def test_base64_that_does_not_decode_is_refused(call: Call) -> None:
    error = refused(call, {"contentBase64": "not base64 at all!"})

    assert "contentBase64" in error["fields"]


def test_content_and_content_base64_together_are_refused(call: Call) -> None:
    options = {"content": "{}", "contentBase64": b64(b"{}")}

    error = refused(call, options, code="INVALID_CONFIG")

    assert "contentBase64" in error["fields"]


# --- zip bombs -----------------------------------------------------------------------------


def zip_of(name: str, size: int) -> bytes:
    """A zip holding `name`: `size` zero bytes, deflated (a few hundred KB per 256 MB)."""
    out = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(name, "w") as member,
    ):
        for start in range(0, size, len(chunk)):
            member.write(chunk[: min(len(chunk), size - start)])
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A zip of a few hundred KB whose `data.json` unpacks to one byte over 256 MB."""
    return zip_of("data.json", 256 * 1024 * 1024 + 1)


def test_a_member_larger_than_the_cap_unpacked_is_refused(call: Call, bomb: bytes) -> None:
    assert len(bomb) < 2 * 1024 * 1024

    error = refused(call, {"contentBase64": b64(bomb)})

    assert "256 MB" in error["message"]
    assert list(error["fields"]) == ["data.json"]


def test_a_member_unpacking_past_the_size_its_header_states_is_refused(call: Call) -> None:
    """The header says 10 bytes; the data unpacks to 1 MB. Only the stated size is read, and
    the check of its CRC fails: the zip is damaged, and nothing past 10 bytes was kept."""
    honest = zip_of("data.json", 1024 * 1024)
    lying = bytearray(honest)
    local = lying.find(b"PK\x03\x04")
    central = lying.find(b"PK\x01\x02")
    # The uncompressed size: offset 22 of the local header, 24 of the central directory's.
    for at in (local + 22, central + 24):
        assert struct.unpack_from("<I", lying, at)[0] == 1024 * 1024
        struct.pack_into("<I", lying, at, 10)

    error = refused(call, {"contentBase64": b64(bytes(lying))})

    assert "file" in error["fields"]


def test_a_zip_with_too_many_entries_is_refused(app: MiaodaApp) -> None:
    """Over the bridge only: the check is the same whichever way the file comes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for number in range(100_001):
            archive.writestr(f"{number}", b"")
    bridge = app.bridge()

    error = refused(
        lambda method, *args: getattr(bridge, method)(*args),
        {"contentBase64": b64(out.getvalue())},
    )

    assert "100,000" in error["message"]


# --- sizes, and our own format -------------------------------------------------------------


def test_another_apps_file_may_be_larger_than_our_exports_cap(call: Call, app: MiaodaApp) -> None:
    document = cherry_files.document()
    history = [{"id": f"m{n}", "content": "你好" * 500} for n in range(2_000)]  # about 6 MB
    document["indexedDB"]["message_blocks"] = history
    text = json.dumps(document, ensure_ascii=False)
    assert len(text.encode("utf-8")) > 5 * 1024 * 1024

    report = imported(call, {"content": text})

    assert sorted(report["added"]) == sorted(cherry_files.EXPECTED)


def test_our_export_keeps_its_5_mb_cap(call: Call) -> None:
    padding = [{"name": f"p{n}", "note": "x" * 1000} for n in range(6_000)]
    text = json.dumps(
        {"format": "miaoda-chat/custom-providers", "version": 2, "providers": padding}
    )
    assert len(text) > 5 * 1024 * 1024

    error = refused(call, {"content": text})

    assert "5 MB" in error["message"]


def test_our_own_export_imports_as_before(call: Call, app: MiaodaApp, data_dir: Path) -> None:
    config = provider_config(name="groq", displayName="Groq", apiKey=CANARY_KEY)
    assert call("addCustomProvider", config, {"validate": False})["success"]
    exported = call("exportCustomProviders", {"includeKeys": True, "passphrase": PASSPHRASE})
    provider_id = app.manager.list()[0].id
    assert call("removeCustomProvider", provider_id)["success"]

    needs = refused(call, {"content": exported["content"]}, code="DECRYPT_FAILED")
    assert "passphrase" in needs["fields"]
    report = imported(call, {"content": exported["content"], "passphrase": PASSPHRASE})

    assert report["added"] == ["groq"]
    assert report["source"] is None and report["unsupported"] == []
    assert keys_by_name(app) == {"groq": (CANARY_KEY,)}
    assert_no_secret_on_disk(app, data_dir, CANARY_KEY)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ('{"format": "miaoda-chat/custom-providers", "version": 9, "providers": []}', "version"),
        ('{"format": "miaoda-chat/custom-providers", "version": 2, "providers": 3}', "providers"),
    ],
)
def test_our_formats_own_errors_are_unchanged(call: Call, content: str, field: str) -> None:
    error = refused(call, {"content": content})

    assert field in error["fields"]
