"""The export file (docs/API.md, "Export file"): its exact shape, its encryption, safe reading."""

from __future__ import annotations

import base64
import functools
import json
import unicodedata
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import DecryptFailed, ImportInvalid, InvalidConfig, MiaodaError
from backend.transfer import (
    FORMAT,
    MAX_IMPORT_BYTES,
    MAX_IMPORT_PROVIDERS,
    MAX_IMPORT_ROUTES,
    VERSION,
    ImportFile,
    ProviderSecrets,
    build_export,
    read_export,
)
from tests.helpers import CANARY_KEY

PASSPHRASE = "correct horse battery staple"
GROQ: dict[str, Any] = {
    "name": "groq",
    "displayName": "Groq — 快速",
    "baseURL": "https://api.groq.com/openai/v1",
    "model": "llama-3.3-70b-versatile",
    "type": "openai-compatible",
    "headers": {"X-Team": "chat"},
    "parameters": {"temperature": 0.7, "maxTokens": 1024},
    "auth": {"scheme": "bearer"},
    "endpoints": {},
}
CLAUDE: dict[str, Any] = {
    "name": "claude",
    "displayName": "Claude",
    "baseURL": "https://api.anthropic.com",
    "model": "claude-sonnet-4-5",
    "type": "anthropic-compatible",
    "headers": {},
    "parameters": {},
    "auth": {"scheme": "header", "name": "x-api-key"},
    "endpoints": {},
}
MAIN: dict[str, Any] = {
    "name": "main",
    "displayName": "Main — 主线路",
    "strategy": "failover",
    "members": ["groq", "claude"],
}
SECRETS_FIELDS = {"kdf", "salt", "n", "r", "p", "cipher", "nonce", "ciphertext"}


def export_with_keys(keys: dict[str, str] | None = None) -> dict[str, Any]:
    """An export carrying keys, parsed back into a dict for editing."""
    text = build_export(
        [GROQ, CLAUDE], keys or {"groq": "gsk-one", "claude": "sk-ant-two"}, PASSPHRASE
    )
    document: dict[str, Any] = json.loads(text)
    return document


def one_key(key: str) -> ProviderSecrets:
    return ProviderSecrets((key,), {})


def encrypt_per_spec(
    plaintext: bytes, passphrase: str, n: int = 16384, version: int = 1
) -> dict[str, Any]:
    """A secrets block made from the documented scheme alone, independently of the module."""
    salt, nonce = b"s" * 16, b"n" * 12
    key = Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())
    # The documented associated data: format line, newline, sorted [name, baseURL] pairs.
    pairs = json.dumps([[GROQ["name"], GROQ["baseURL"]]], separators=(",", ":"))
    aad = f"miaoda-chat/custom-providers v{version}\n".encode() + pairs.encode()
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, aad)
    return {
        "kdf": "scrypt",
        "salt": base64.b64encode(salt).decode(),
        "n": n,
        "r": 8,
        "p": 1,
        "cipher": "AES-256-GCM",
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }


def document_with(**changes: Any) -> str:
    """A valid keyless export with some top-level fields replaced."""
    document: dict[str, Any] = json.loads(build_export([GROQ]))
    document.update(changes)
    return json.dumps(document)


# --- building ----------------------------------------------------------------------------


def test_export_without_keys_round_trips() -> None:
    text = build_export([GROQ, CLAUDE], exported_at="2026-11-26T10:00:00.000Z")

    parsed = read_export(text)

    assert parsed == ImportFile([GROQ, CLAUDE], None, "2026-11-26T10:00:00.000Z")


def test_export_with_keys_round_trips_with_the_passphrase() -> None:
    keys = {"groq": "gsk-one", "claude": CANARY_KEY}

    parsed = read_export(build_export([GROQ, CLAUDE], keys, PASSPHRASE), PASSPHRASE)

    assert parsed.providers == [GROQ, CLAUDE]
    assert parsed.secrets == {"groq": one_key("gsk-one"), "claude": one_key(CANARY_KEY)}


def test_every_key_and_header_value_of_a_provider_round_trips() -> None:
    keys = {"groq": ProviderSecrets(("gsk-one", CANARY_KEY), {"X-Api-Token": "tok-1"})}

    parsed = read_export(build_export([GROQ, CLAUDE], keys, PASSPHRASE), PASSPHRASE)

    assert parsed.secrets == keys


def test_export_has_exactly_the_contract_shape() -> None:
    text = build_export([GROQ], {"groq": "gsk-one"}, PASSPHRASE, exported_at="2026-01-02T03:04:05Z")
    document = json.loads(text)

    assert list(document) == [
        "format",
        "version",
        "exportedAt",
        "providers",
        "routes",
        "mcpServers",
        "secrets",
    ]
    assert document["format"] == "miaoda-chat/custom-providers" == FORMAT
    assert document["version"] == 2 == VERSION
    assert document["exportedAt"] == "2026-01-02T03:04:05Z"
    assert document["providers"] == [GROQ]
    assert document["routes"] == [] and document["mcpServers"] == []
    secrets = document["secrets"]
    assert set(secrets) == SECRETS_FIELDS
    assert (secrets["kdf"], secrets["n"], secrets["r"], secrets["p"]) == ("scrypt", 32768, 8, 1)
    assert secrets["cipher"] == "AES-256-GCM"
    assert len(base64.b64decode(secrets["salt"], validate=True)) == 16
    assert len(base64.b64decode(secrets["nonce"], validate=True)) == 12
    assert (
        len(base64.b64decode(secrets["ciphertext"], validate=True))
        == len('{"groq":{"apiKeys":["gsk-one"],"headers":{}}}') + 16
    )


def test_routes_round_trip_with_their_members_by_name() -> None:
    text = build_export([GROQ, CLAUDE], routes=[MAIN, {**MAIN, "name": "empty", "members": []}])

    parsed = read_export(text)

    assert parsed.routes == [MAIN, {**MAIN, "name": "empty", "members": []}]
    assert json.loads(text)["routes"][0] == MAIN


def test_a_file_without_routes_has_none() -> None:
    document = json.loads(build_export([GROQ]))
    del document["routes"]

    assert read_export(json.dumps(document)).routes == []


def test_routes_are_not_bound_to_the_encrypted_keys() -> None:
    # Routes hold no secret and send nothing anywhere: editing them keeps the keys readable.
    document = json.loads(build_export([GROQ], {"groq": "gsk-one"}, PASSPHRASE, routes=[MAIN]))
    document["routes"] = [{**MAIN, "members": ["groq"]}, {**MAIN, "name": "other"}]

    parsed = read_export(json.dumps(document), PASSPHRASE)

    assert parsed.secrets == {"groq": one_key("gsk-one")}
    assert [r["name"] for r in parsed.routes] == ["main", "other"]


def test_export_is_indented_utf8_text_ending_in_a_newline() -> None:
    text = build_export([GROQ])

    assert text.endswith("}\n")
    assert text.splitlines()[1].startswith('  "format"')
    assert "Groq — 快速" in text  # not \u-escaped


def test_export_defaults_exported_at_to_now_in_utc() -> None:
    exported_at = json.loads(build_export([]))["exportedAt"]

    assert exported_at.endswith("Z") and exported_at.startswith("20")


@pytest.mark.parametrize("keys", [None, {}])
def test_secrets_is_null_without_keys(keys: dict[str, str] | None) -> None:
    document = json.loads(build_export([GROQ], keys, PASSPHRASE))

    assert document["secrets"] is None


def test_keys_are_refused_without_a_passphrase() -> None:
    with pytest.raises(InvalidConfig) as caught:
        build_export([GROQ], {"groq": CANARY_KEY})

    assert "passphrase" in caught.value.fields
    assert CANARY_KEY not in str(caught.value.to_dict())


@pytest.mark.parametrize("passphrase", ["", "short-7", "x" * 1025])
def test_passphrase_outside_8_to_1024_characters_is_refused(passphrase: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        build_export([GROQ], {"groq": "gsk-one"}, passphrase)

    assert list(caught.value.fields) == ["passphrase"]


@pytest.mark.parametrize("passphrase", ["exactly8", "y" * 1024])
def test_passphrase_of_8_or_1024_characters_is_accepted(passphrase: str) -> None:
    text = build_export([GROQ], {"groq": "gsk-one"}, passphrase)

    assert read_export(text, passphrase).secrets == {"groq": one_key("gsk-one")}


def test_canary_key_appears_nowhere_in_an_encrypted_export() -> None:
    text = build_export([GROQ], {"groq": CANARY_KEY}, PASSPHRASE)

    assert CANARY_KEY not in text
    assert base64.b64encode(CANARY_KEY.encode()).decode() not in text
    for field in ("salt", "nonce", "ciphertext"):
        decoded = base64.b64decode(json.loads(text)["secrets"][field])
        assert CANARY_KEY.encode() not in decoded


def test_two_exports_of_the_same_keys_use_fresh_salt_and_nonce() -> None:
    first = export_with_keys()["secrets"]
    second = export_with_keys()["secrets"]

    assert first["salt"] != second["salt"]
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]


# --- decrypting --------------------------------------------------------------------------


def test_a_file_encrypted_by_the_documented_scheme_decrypts() -> None:
    payload = {"groq": {"apiKeys": ["gsk-one", "gsk-two"], "headers": {"X-Api-Token": "t"}}}
    secrets = encrypt_per_spec(json.dumps(payload).encode(), PASSPHRASE, version=2)

    parsed = read_export(document_with(secrets=secrets), PASSPHRASE)

    assert parsed.secrets == {"groq": ProviderSecrets(("gsk-one", "gsk-two"), {"X-Api-Token": "t"})}


def test_a_version_1_file_still_decrypts_into_the_same_form() -> None:
    payload = {"groq": "gsk-one", "groq\nX-Api-Token": "t"}
    secrets = encrypt_per_spec(json.dumps(payload).encode(), PASSPHRASE, version=1)

    parsed = read_export(document_with(secrets=secrets, version=1), PASSPHRASE)

    assert parsed.secrets == {"groq": ProviderSecrets(("gsk-one",), {"X-Api-Token": "t"})}


def test_a_version_1_block_in_a_version_2_file_does_not_decrypt() -> None:
    # The version is part of the associated data: it cannot be changed by hand.
    secrets = encrypt_per_spec(json.dumps({"groq": "gsk-one"}).encode(), PASSPHRASE, version=1)

    with pytest.raises(DecryptFailed):
        read_export(document_with(secrets=secrets), PASSPHRASE)


def test_passphrase_in_another_unicode_form_still_decrypts() -> None:
    composed = unicodedata.normalize("NFC", "pässwörd-été")
    text = build_export([GROQ], {"groq": "gsk-one"}, composed)

    parsed = read_export(text, unicodedata.normalize("NFD", composed))

    assert parsed.secrets == {"groq": one_key("gsk-one")}


def test_wrong_passphrase_is_decrypt_failed() -> None:
    text = build_export([GROQ], {"groq": CANARY_KEY}, PASSPHRASE)

    with pytest.raises(DecryptFailed) as caught:
        read_export(text, "not the passphrase")

    assert caught.value.to_dict()["code"] == "DECRYPT_FAILED"
    assert CANARY_KEY not in str(caught.value.to_dict())


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt"])
def test_tampered_binary_field_is_decrypt_failed(field: str) -> None:
    document = export_with_keys()
    raw = bytearray(base64.b64decode(document["secrets"][field]))
    raw[-1] ^= 0x01
    document["secrets"][field] = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(DecryptFailed):
        read_export(json.dumps(document), PASSPHRASE)


def test_changed_kdf_parameters_are_decrypt_failed() -> None:
    document = export_with_keys()
    document["secrets"]["n"] = 16384

    with pytest.raises(DecryptFailed):
        read_export(json.dumps(document), PASSPHRASE)


@pytest.mark.parametrize("passphrase", [None, ""])
def test_keys_without_a_passphrase_ask_for_it(passphrase: str | None) -> None:
    text = json.dumps(export_with_keys())

    with pytest.raises(DecryptFailed) as caught:
        read_export(text, passphrase)

    assert caught.value.fields == {
        "passphrase": [
            "This file carries encrypted API keys: enter the passphrase used when it was exported."
        ]
    }


def test_passphrase_is_ignored_for_a_file_without_keys() -> None:
    assert read_export(build_export([GROQ]), PASSPHRASE).secrets is None


@pytest.mark.parametrize("payload", [b'["gsk-one"]', b'{"groq": 1}', b"not json", b"\xff\xfe"])
def test_decrypted_payload_that_is_not_names_to_keys_is_refused(payload: bytes) -> None:
    text = document_with(secrets=encrypt_per_spec(payload, PASSPHRASE), version=1)

    with pytest.raises(ImportInvalid) as caught:
        read_export(text, PASSPHRASE)

    assert list(caught.value.fields) == ["secrets"]


# --- the envelope ------------------------------------------------------------------------


def test_file_over_5_mb_is_refused_before_parsing() -> None:
    text = build_export([GROQ])
    padded = text + " " * (MAX_IMPORT_BYTES + 1 - len(text.encode()))

    for content in (padded, padded.encode()):
        with pytest.raises(ImportInvalid, match="larger than 5 MB"):
            read_export(content)


def test_file_of_exactly_5_mb_is_read() -> None:
    raw = build_export([GROQ]).encode()
    padded = raw + b" " * (MAX_IMPORT_BYTES - len(raw))

    assert read_export(padded).providers == [GROQ]


def test_multibyte_text_over_5_mb_as_utf8_is_refused() -> None:
    text = build_export([{**GROQ, "displayName": "快" * (MAX_IMPORT_BYTES // 3 + 1)}])

    with pytest.raises(ImportInvalid, match="larger than 5 MB"):
        read_export(text)


def test_more_than_1000_providers_is_refused_with_the_count() -> None:
    text = build_export([GROQ] * (MAX_IMPORT_PROVIDERS + 1))

    with pytest.raises(ImportInvalid, match="1,001 providers") as caught:
        read_export(text)

    assert list(caught.value.fields) == ["providers"]


def test_1000_providers_are_read() -> None:
    assert len(read_export(build_export([GROQ] * MAX_IMPORT_PROVIDERS)).providers) == 1000


def test_more_than_1000_routes_is_refused_with_the_count() -> None:
    text = build_export([GROQ], routes=[MAIN] * (MAX_IMPORT_ROUTES + 1))

    with pytest.raises(ImportInvalid, match="1,001 routes") as caught:
        read_export(text)

    assert list(caught.value.fields) == ["routes"]


def test_1000_routes_are_read() -> None:
    assert len(read_export(build_export([GROQ], routes=[MAIN] * MAX_IMPORT_ROUTES)).routes) == 1000


@pytest.mark.parametrize(
    "content",
    [
        document_with(format="miaoda-chat/conversations"),
        json.dumps({"version": 1, "providers": []}),
        json.dumps([GROQ]),
        '"miaoda-chat/custom-providers"',
    ],
)
def test_other_json_is_not_a_provider_export(content: str) -> None:
    with pytest.raises(ImportInvalid, match="not a MiaoDa Chat provider export"):
        read_export(content)


def test_newer_version_asks_to_update() -> None:
    with pytest.raises(ImportInvalid, match="made by a newer MiaoDa Chat") as caught:
        read_export(document_with(version=3))

    assert list(caught.value.fields) == ["version"]


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, True, None])
def test_unknown_version_is_refused(version: Any) -> None:
    with pytest.raises(ImportInvalid) as caught:
        read_export(document_with(version=version))

    assert list(caught.value.fields) == ["version"]


@pytest.mark.parametrize("providers", [None, {}, "groq"])
def test_providers_must_be_a_list(providers: Any) -> None:
    with pytest.raises(ImportInvalid) as caught:
        read_export(document_with(providers=providers))

    assert list(caught.value.fields) == ["providers"]


@pytest.mark.parametrize("routes", [None, {}, "main", 1])
def test_routes_must_be_a_list(routes: Any) -> None:
    with pytest.raises(ImportInvalid) as caught:
        read_export(document_with(routes=routes))

    assert list(caught.value.fields) == ["routes"]


def test_routes_are_passed_on_unvalidated() -> None:
    assert read_export(document_with(routes=[{"name": ""}, 42, None])).routes == [
        {"name": ""},
        42,
        None,
    ]


def test_providers_are_passed_on_unvalidated() -> None:
    parsed = read_export(document_with(providers=[{"name": ""}, 42, None]))

    assert parsed.providers == [{"name": ""}, 42, None]


@pytest.mark.parametrize("exported_at", [None, 5, {"a": 1}, "x" * 65])
def test_odd_exported_at_is_dropped(exported_at: Any) -> None:
    assert read_export(document_with(exportedAt=exported_at)).exported_at is None


def test_pathologically_deep_json_is_refused() -> None:
    depth = 200_000
    content = '{"format": "miaoda-chat/custom-providers", "x": ' + "[" * depth + "]" * depth + "}"

    with pytest.raises(ImportInvalid, match="nested far too deeply"):
        read_export(content)


def test_moderately_deep_json_is_refused_before_other_code_sees_it() -> None:
    nested: Any = "deep"
    for _ in range(40):
        nested = {"x": nested}

    with pytest.raises(ImportInvalid, match="nested far too deeply"):
        read_export(document_with(providers=[nested]))


@pytest.mark.parametrize(
    "content",
    [
        build_export([GROQ]).encode("utf-16"),
        build_export([{**GROQ, "displayName": "Café"}]).encode("latin-1"),
        b"\xff\xfe\xfd",
        "\ud800",
    ],
)
def test_text_that_is_not_utf8_is_refused(content: str | bytes) -> None:
    with pytest.raises(ImportInvalid, match="UTF-8"):
        read_export(content)


def test_byte_order_mark_is_tolerated() -> None:
    text = build_export([GROQ])

    assert read_export(b"\xef\xbb\xbf" + text.encode()).providers == [GROQ]
    assert read_export("\ufeff" + text).providers == [GROQ]


@pytest.mark.parametrize(
    "content", ["", "{", '{"format": NaN}', '{"version": Infinity}', "{} trailing", "1" * 5000]
)
def test_invalid_json_is_refused(content: str) -> None:
    with pytest.raises(ImportInvalid):
        read_export(content)


@pytest.mark.parametrize("content", [None, 42, ["text"]])
def test_content_that_is_not_text_or_bytes_is_refused(content: Any) -> None:
    with pytest.raises(ImportInvalid):
        read_export(content)


# --- the secrets block -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n", 1000),
        ("n", 2**13),
        ("n", 2**21),
        ("n", 2**40),
        ("n", "32768"),
        ("n", 32768.0),
        ("n", True),
        ("r", 0),
        ("r", 17),
        ("p", 0),
        ("p", 5),
        ("p", None),
    ],
)
def test_scrypt_parameters_outside_sane_bounds_are_refused(field: str, value: Any) -> None:
    document = export_with_keys()
    document["secrets"][field] = value

    with pytest.raises(ImportInvalid) as caught:
        read_export(json.dumps(document), PASSPHRASE)

    assert list(caught.value.fields) == [f"secrets.{field}"]


def test_scrypt_parameters_needing_gigabytes_are_refused() -> None:
    document = export_with_keys()
    document["secrets"].update(n=2**20, r=16)  # each in bounds, together 2 GiB

    with pytest.raises(ImportInvalid, match="not in the expected form") as caught:
        read_export(json.dumps(document), PASSPHRASE)

    assert "secrets.n" in caught.value.fields


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kdf", "argon2id"),
        ("cipher", "ChaCha20-Poly1305"),
        ("salt", "not base64!"),
        ("salt", base64.b64encode(b"short").decode()),
        ("nonce", base64.b64encode(b"n" * 16).decode()),
        ("nonce", "bm9uY2U"),  # padding missing
        ("ciphertext", ""),
        ("ciphertext", 12),
    ],
)
def test_malformed_secrets_fields_are_refused(field: str, value: Any) -> None:
    document = export_with_keys()
    document["secrets"][field] = value

    with pytest.raises(ImportInvalid) as caught:
        read_export(json.dumps(document), PASSPHRASE)

    assert list(caught.value.fields) == [f"secrets.{field}"]


def test_secrets_with_a_missing_or_extra_field_is_refused() -> None:
    document = export_with_keys()
    del document["secrets"]["nonce"]
    document["secrets"]["iv"] = "AAAA"

    with pytest.raises(ImportInvalid) as caught:
        read_export(json.dumps(document), PASSPHRASE)

    assert set(caught.value.fields) == {"secrets.nonce", "secrets.iv"}


@pytest.mark.parametrize("secrets", [[], "encrypted", 1])
def test_secrets_that_is_not_an_object_is_refused(secrets: Any) -> None:
    with pytest.raises(ImportInvalid) as caught:
        read_export(document_with(secrets=secrets))

    assert list(caught.value.fields) == ["secrets"]


# --- any input at all --------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
b64_text = st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode()) | st.text(
    max_size=20
)

secrets_blocks = st.fixed_dictionaries(
    {
        "kdf": st.sampled_from(["scrypt", "pbkdf2"]),
        "salt": b64_text,
        "n": st.sampled_from([2**14, 3, 2**22, "x"]),
        "r": st.sampled_from([1, 8, 0]),
        "p": st.sampled_from([1, 9]),
        "cipher": st.sampled_from(["AES-256-GCM", "none"]),
        "nonce": b64_text,
        "ciphertext": b64_text,
    },
    optional={"extra": json_values},
)
export_like = st.fixed_dictionaries(
    {
        "format": st.sampled_from([FORMAT, "other"]),
        "version": st.sampled_from([1, 2, 0, "1"]) | json_values,
        "providers": st.lists(json_values, max_size=3) | json_values,
        "secrets": st.none() | secrets_blocks | json_values,
    },
    optional={"exportedAt": json_values},
)


def _read_anything(content: str | bytes, passphrase: str | None) -> None:
    try:
        parsed = read_export(content, passphrase)
    except MiaodaError:
        return
    assert isinstance(parsed, ImportFile)


@settings(max_examples=200, deadline=None)
@given(st.text() | st.binary(), st.none() | st.text(max_size=12))
def test_arbitrary_text_only_ever_raises_app_errors(
    content: str | bytes, phrase: str | None
) -> None:
    _read_anything(content, phrase)


@settings(max_examples=200, deadline=None)
@given(export_like, st.none() | st.sampled_from(["", PASSPHRASE, "\ud800"]))
def test_arbitrary_export_like_json_only_ever_raises_app_errors(
    document: dict[str, Any], phrase: str | None
) -> None:
    _read_anything(json.dumps(document), phrase)


@functools.cache
def valid_secrets_block() -> dict[str, Any]:
    """A well-formed block (cheap scrypt parameters), to be spoiled one field at a time."""
    return encrypt_per_spec(b'{"groq": "gsk-one"}', PASSPHRASE)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([None, *sorted(SECRETS_FIELDS)]),
    json_values | b64_text,
    st.none() | st.sampled_from([PASSPHRASE, "wrong passphrase"]),
)
def test_a_secrets_block_with_any_one_field_spoiled_only_ever_raises_app_errors(
    field: str | None, junk: Any, phrase: str | None
) -> None:
    block = dict(valid_secrets_block())
    if field is not None:
        block[field] = junk
    _read_anything(document_with(secrets=block), phrase)
