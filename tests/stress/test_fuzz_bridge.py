"""Every bridge method called with arbitrary JSON-like arguments (hypothesis).

Properties: the answer is always an envelope dict; a failure carries a contract code (never
INTERNAL, which would mean an unhandled exception inside) and a non-empty message; a rejected
call leaves the stored providers exactly as they were. The network is cut off by a transport
that refuses every connection, so checks with random configs fail fast instead of going out.
Paths in export/import options are pinned inside the test's temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend import transfer
from backend.app import MiaodaApp
from backend.bridge import RPC_METHODS, Bridge
from backend.errors import ALL_CODES
from tests.helpers import provider_config

pytestmark = pytest.mark.slow


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("the fuzz suite allows no network", request=request)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MiaodaApp]:
    folder = tmp_path_factory.mktemp("fuzz")
    instance = MiaodaApp(
        folder / "data",
        secret_backend="file",
        token="t",
        transport=httpx.MockTransport(refuse),
        opener=lambda path: None,  # openDataFolder and openLogFile launch nothing here
    )
    bridge = instance.bridge()
    for name in ("alpha", "beta"):
        added = bridge.addCustomProvider(
            provider_config(name=name, displayName=name.title()), {"validate": False}
        )
        assert added["success"], added
    export = bridge.exportCustomProviders({"path": str(folder / "seed.json")})
    assert export["success"], export
    yield instance
    instance.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
CONFIG_KEYS = [
    "name", "displayName", "baseURL", "model", "type", "apiKey",
    "headers", "parameters", "auth", "endpoints",
]  # fmt: skip
OPTION_KEYS = [
    "validate", "includeKeys", "passphrase", "path", "content", "onConflict", "dryRun",
    "since", "limit", "intervalMinutes", "enabled",
]  # fmt: skip


@st.composite
def mutated_config(draw: st.DrawFn) -> dict[str, Any]:
    """A valid add request with some fields replaced by arbitrary values (or removed)."""
    config: dict[str, Any] = provider_config(name=draw(st.sampled_from(["fz1", "fz2", "alpha"])))
    config["baseURL"] = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS), max_size=3)):
        if draw(st.booleans()):
            config.pop(key, None)
        else:
            config[key] = draw(json_values)
    return config


options = st.dictionaries(st.sampled_from(OPTION_KEYS), json_values, max_size=4)


def argument(ids: list[str]) -> st.SearchStrategy[Any]:
    return json_values | mutated_config() | options | st.sampled_from(ids)


def pin_paths(value: Any, folder: Path) -> Any:
    """Keep every `path` option inside the test folder (random text could name any file)."""
    if isinstance(value, dict) and "path" in value:
        return {**value, "path": str(folder / "seed.json")}
    return value


def stored(bridge: Bridge) -> str:
    result = bridge.getAllCustomProviders()
    assert result["success"], result
    return json.dumps(result["providers"], sort_keys=True)


def check_envelope(result: Any, method: str, args: list[Any]) -> None:
    assert isinstance(result, dict), (method, args, result)
    assert isinstance(result.get("success"), bool), (method, args, result)
    json.dumps(result)  # what the bridge returns must go over the wire
    if not result["success"]:
        error = result["error"]
        assert error["code"] in ALL_CODES, (method, args, result)
        assert error["code"] != "INTERNAL", (method, args, result)
        assert isinstance(error["message"], str) and error["message"].strip()


@pytest.mark.parametrize("method", sorted(RPC_METHODS))
def test_bridge_method_survives_arbitrary_arguments(fuzz_app: MiaodaApp, method: str) -> None:
    bridge = fuzz_app.bridge()
    folder = fuzz_app.data_dir.parent
    ids = [p["id"] for p in bridge.getAllCustomProviders()["providers"]] or ["none"]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(args=st.lists(argument(ids), max_size=4))
    def run(args: list[Any]) -> None:
        args = [pin_paths(a, folder) for a in args]
        before = stored(bridge)
        result = getattr(bridge, method)(*args)
        check_envelope(result, method, args)
        if not result["success"]:
            assert stored(bridge) == before, (method, args, result)

    run()


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_import_of_arbitrary_file_content_is_a_structured_rejection(body: bytes) -> None:
    """The import file itself, fuzzed (bytes and JSON); checked on a throwaway app."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="t")
        try:
            bridge = app.bridge()
            before = stored(bridge)
            content = body.decode("utf-8", "replace")
            result = bridge.importCustomProviders({"content": content, "passphrase": "x" * 8})
            check_envelope(result, "importCustomProviders", [content])
            if not result["success"]:
                assert stored(bridge) == before
        finally:
            app.close()


GOOD_FILE = {
    "format": "miaoda-chat/custom-providers",
    "version": 1,
    "exportedAt": "2026-01-01T00:00:00Z",
    "secrets": None,
}
ENTRY = {k: v for k, v in provider_config(name="imported").items() if k != "apiKey"}


def export_file(**overrides: Any) -> str:
    return json.dumps({**GOOD_FILE, "providers": [ENTRY], **overrides})


# name: (file content, "file" = the whole file is refused | "entry" = entries reported in errors)
IMPORT_CASES: dict[str, tuple[str, str]] = {
    "not json": ("{not json", "file"),
    "empty": ("", "file"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00".decode("latin-1"), "file"),
    "deeply nested array": ("[" * 100_000 + "]" * 100_000, "file"),
    "deeply nested value": (
        export_file(providers=[{**ENTRY, "headers": {}}]).replace(
            '"headers": {}', '"headers": ' + "[" * 5_000 + "]" * 5_000
        ),
        "file",
    ),
    "over 5 MB": (export_file(padding="x" * 5_500_000), "file"),
    "over 1,000 providers": (
        export_file(providers=[{**ENTRY, "name": f"n{i}"} for i in range(1001)]),
        "file",
    ),
    "providers not a list": (export_file(providers={"a": 1}), "file"),
    "top level a list": (json.dumps([ENTRY]), "file"),
    "unknown format": (export_file(format="someone-else/providers"), "file"),
    "newer version": (export_file(version=transfer.VERSION + 1), "file"),
    "version as text": (export_file(version="1"), "file"),
    "secrets malformed": (export_file(secrets={"kdf": "scrypt", "n": 2**40}), "file"),
    "secrets not an object": (export_file(secrets="plaintext keys"), "file"),
    "huge string field": (
        export_file(providers=[{**ENTRY, "displayName": "x" * 4_000_000}]),
        "entry",
    ),
    "entries of wrong types": (export_file(providers=[1, "x", None, []]), "entry"),
    "entry with bad url": (
        export_file(providers=[{**ENTRY, "baseURL": "javascript:alert(1)"}]),
        "entry",
    ),
    "duplicate names": (export_file(providers=[ENTRY, {**ENTRY, "displayName": "Again"}]), "entry"),
    "duplicate names ignoring case": (
        export_file(providers=[ENTRY, {**ENTRY, "name": "IMPORTED"}]),
        "entry",
    ),
}


@pytest.mark.parametrize("name", list(IMPORT_CASES))
def test_a_hostile_import_file_is_a_structured_rejection(data_dir: Path, name: str) -> None:
    content, level = IMPORT_CASES[name]
    app = MiaodaApp(data_dir, secret_backend="file", token="t")
    try:
        bridge = app.bridge()
        seeded = bridge.addCustomProvider(provider_config(name="keep"), {"validate": False})
        assert seeded["success"], seeded
        before = stored(bridge)
        result = bridge.importCustomProviders(
            {"content": content, "passphrase": "passphrase-1", "onConflict": "replace"}
        )
        check_envelope(result, "importCustomProviders", [name])
        if level == "file":
            assert not result["success"] and result["error"]["code"] == "IMPORT_INVALID", result
            assert stored(bridge) == before
        else:
            assert result["success"] and result["errors"], result
            for failure in result["errors"]:
                assert failure["error"]["code"] in ALL_CODES - {"INTERNAL"}
            names = [p["name"] for p in bridge.getAllCustomProviders()["providers"]]
            assert names.count("keep") == 1 and len(names) <= 2, names
            if "duplicate" not in name:
                assert stored(bridge) == before
    finally:
        app.close()


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=400)
    | st.lists(
        st.sampled_from(
            [
                b"data: x",
                b"data:",
                b"event: e",
                b"id: 1",
                b": c",
                b"retry: 5",
                b"\r",
                b"\n",
                b"\r\n",
            ]
        )
        | st.binary(max_size=8),
        max_size=40,
    ).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_sse_parser_never_raises_and_chunking_does_not_change_events(
    body: bytes, cuts: list[int]
) -> None:
    """Arbitrary bytes, split at arbitrary points, give the same events as one read."""
    from backend.providers.wire.sse import SSEParser

    whole = SSEParser()
    expected = whole.feed(body) + whole.close()
    parts, last = [], 0
    for cut in sorted({min(c, len(body)) for c in cuts}):
        parts.append(body[last:cut])
        last = cut
    parts.append(body[last:])
    pieces = SSEParser()
    got = [event for part in parts for event in pieces.feed(part)] + pieces.close()
    assert got == expected
