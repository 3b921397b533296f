"""MCP servers in the export file and back (CONTRACT §7 version 2, §12): two real apps, real
SQLite, the encrypted-file secret store, and the small MCP servers of tests/fakes/mcp.

The `env` and header values are canaries: they may be in the source's and the target's secret
stores (encrypted files) and nowhere else: not in the export's clear text, a data file, a log
or an answer. A stdio server from a file runs only once the user confirmed its command line.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import subprocess
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend.app import MiaodaApp
from backend.bridge import Dialogs
from backend.redact import REDACTOR
from tests.fakes.mcp import script
from tests.helpers import CANARY_KEY, files_containing, provider_config
from tests.integration.served import rpc, serve

PASSPHRASE = "correct horse battery"
ENV_CANARY = "mcp-transfer-env-canary-5e2b7d9a1c4f"
HEADER_CANARY = "mcp-transfer-header-canary-8a3f1c6e0d2b"
STARTED = 30.0  # seconds a test waits for the fake HTTP server to say it is ready
NO_MCP = {"added": [], "updated": [], "skipped": [], "errors": [], "renamed": []}


class ConfirmingDialogs(Dialogs):
    """The window's dialogs: every command line is confirmed, and remembered."""

    def __init__(self) -> None:
        self.confirmed: list[str] = []

    def save_path(self, suggested_name: str) -> str | None:
        return None

    def open_path(self) -> str | None:
        return None

    def confirm(self, title: str, message: str) -> bool:
        self.confirmed.append(message)
        return True


@pytest.fixture
def source(data_dir: Path) -> Iterator[MiaodaApp]:
    """The app that exports."""
    instance = serve(data_dir)
    yield instance
    instance.close()


@pytest.fixture
def target_dir(tmp_path: Path) -> Path:
    return tmp_path / "fresh"


@pytest.fixture
def target(target_dir: Path) -> Iterator[MiaodaApp]:
    """A second app over a fresh data folder, which imports."""
    instance = serve(target_dir)
    yield instance
    instance.close()


@pytest.fixture
def http_server() -> Iterator[str]:
    """The fake streamable HTTP server, wanting `Bearer <HEADER_CANARY>`: its MCP URL."""
    env = dict(os.environ, FAKE_MCP_TOKEN=HEADER_CANARY)
    proc = subprocess.Popen(
        [sys.executable, script("http_server.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        match = re.fullmatch(r"PORT (\d+)", lines.get(timeout=STARTED).strip())
        assert match
        yield f"http://127.0.0.1:{match.group(1)}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def ok(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    """`rpc`, which must succeed."""
    result = rpc(app, method, *args)
    assert result["success"] is True, result
    return result


def stdio_config(starts: Path, **overrides: Any) -> dict[str, Any]:
    """The fake stdio server, counting its starts in `starts`, with the env canary."""
    config: dict[str, Any] = {
        "name": "local",
        "displayName": "Local tools",
        "transport": "stdio",
        "command": sys.executable,
        "args": [script("stdio_server.py"), "--starts", str(starts)],
        "env": {"SECRET_VALUE": ENV_CANARY},
    }
    return {**config, **overrides}


def http_config(url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "web",
        "displayName": "Web tools",
        "transport": "http",
        "url": url,
        "headers": {"Authorization": f"Bearer {HEADER_CANARY}"},
    }
    return {**config, **overrides}


def export(app: MiaodaApp, with_keys: bool = True) -> str:
    options = {"includeKeys": True, "passphrase": PASSPHRASE} if with_keys else {}
    return str(ok(app, "exportCustomProviders", options)["content"])


def import_file(app: MiaodaApp, content: str, **options: Any) -> dict[str, Any]:
    return rpc(app, "importCustomProviders", {"content": content, **options})


def servers(app: MiaodaApp) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in ok(app, "getAllMcpServers")["servers"]}


def starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def assert_nowhere(folder: Path, *answers: Any) -> None:
    """Neither canary in `folder` (data file, log; the secret store is encrypted) or `answers`."""
    dumped = json.dumps(answers, ensure_ascii=False)
    for canary in (ENV_CANARY, HEADER_CANARY):
        assert canary not in dumped
        assert files_containing(folder, canary) == []


def test_servers_come_back_with_their_values_and_a_stdio_one_waits_for_its_confirmation(
    source: MiaodaApp,
    target: MiaodaApp,
    data_dir: Path,
    target_dir: Path,
    http_server: str,
    tmp_path: Path,
) -> None:
    started = tmp_path / "starts.txt"
    window = source.bridge(dialogs=ConfirmingDialogs())
    assert window.addMcpServer(stdio_config(started, enabled=False))["success"]
    ok(source, "addMcpServer", http_config(http_server))
    text = export(source)

    document = json.loads(text)
    assert ENV_CANARY not in text and HEADER_CANARY not in text
    listed = {s["name"]: s for s in document["mcpServers"]}
    assert listed["local"]["env"] == {"SECRET_VALUE": None}
    assert listed["web"]["headers"] == {"Authorization": None}
    assert (listed["web"]["enabled"], listed["web"]["timeoutSeconds"]) == (True, 60)
    # The file is enabled by hand (not bound to the keys), so the import has a stdio server to
    # hold back.
    listed["local"]["enabled"] = True
    text = json.dumps(document)

    report = import_file(target, text, passphrase=PASSPHRASE)
    assert report["success"], report
    assert sorted(report["mcpServers"]["added"]) == ["local", "web"]
    assert report["mcpServers"]["errors"] == []

    # The HTTP server connects with its header value, brought back from the encrypted block.
    found = servers(target)
    (echo,) = [t for t in target.mcp.offered([found["web"]["id"]]) if t.name == "echo"]
    assert target.mcp.call(echo, {"message": "hi"}).result(timeout=30).content == "echo: hi"
    assert servers(target)["web"]["status"] == "connected"

    # The stdio server is saved, not confirmed, and not started (even when a chat asks for it).
    local = found["local"]
    assert (local["status"], local["error"]["code"]) == ("failed", "NOT_CONFIRMED")
    assert local["secretEnv"] == [{"name": "SECRET_VALUE", "hint": "…1c4f"}]
    assert target.mcp.offered([local["id"]]) == []
    assert starts(started) == 0

    dialogs = ConfirmingDialogs()
    restarted = target.bridge(dialogs=dialogs).restartMcpServer(local["id"])
    assert restarted["success"], restarted
    assert dialogs.confirmed and "stdio_server.py" in dialogs.confirmed[0]
    offered = {tool.name: tool for tool in target.mcp.offered([local["id"]])}
    assert servers(target)["local"]["status"] == "connected"
    assert starts(started) == 1
    secret = target.mcp.call(offered["env"], {"name": "SECRET_VALUE"}).result(timeout=30)
    assert REDACTOR.redact(secret.content) == "[redacted]"  # the env value came back

    for app in (source, target):
        app.storage.checkpoint()
    assert_nowhere(data_dir, document, report, found, restarted, dialogs.confirmed)
    assert_nowhere(target_dir, document, report, found, restarted, dialogs.confirmed)


def test_an_export_without_keys_names_the_values_and_imports_them_empty(
    source: MiaodaApp, target: MiaodaApp, target_dir: Path, tmp_path: Path
) -> None:
    window = source.bridge(dialogs=ConfirmingDialogs())
    assert window.addMcpServer(stdio_config(tmp_path / "starts.txt", enabled=False))["success"]
    ok(source, "addMcpServer", http_config("http://127.0.0.1:9/mcp", enabled=False))
    text = export(source, with_keys=False)

    document = json.loads(text)
    assert document["secrets"] is None
    assert ENV_CANARY not in text and HEADER_CANARY not in text
    listed = {s["name"]: s for s in document["mcpServers"]}
    assert listed["local"]["env"] == {"SECRET_VALUE": None}
    assert listed["web"]["headers"] == {"Authorization": None}

    report = import_file(target, text)
    assert sorted(report["mcpServers"]["added"]) == ["local", "web"], report
    found = servers(target)
    assert found["local"]["secretEnv"] == [{"name": "SECRET_VALUE", "hint": None}]
    assert found["web"]["secretHeaders"] == [{"name": "Authorization", "hint": None}]
    assert found["local"]["status"] == "disabled"
    assert_nowhere(target_dir, report, found)


def test_the_documented_associated_data_decrypts_the_values(
    source: MiaodaApp, tmp_path: Path
) -> None:
    window = source.bridge(dialogs=ConfirmingDialogs())
    assert window.addMcpServer(stdio_config(tmp_path / "starts.txt", enabled=False))["success"]
    ok(source, "addMcpServer", http_config("http://127.0.0.1:9/mcp", enabled=False))
    ok(source, "addCustomProvider", provider_config(apiKey=CANARY_KEY), {"validate": False})
    document = json.loads(export(source))

    # docs/API.md, "Encrypted keys", written out here independently of backend.transfer.
    pairs = sorted([p["name"], p["baseURL"]] for p in document["providers"])
    bound = sorted(
        json.dumps(
            [s.get(k) for k in ("name", "transport", "url", "command", "args")],
            separators=(",", ":"),
        )
        for s in document["mcpServers"]
    )
    aad = (
        f"miaoda-chat/custom-providers v{document['version']}\n".encode()
        + json.dumps(pairs, separators=(",", ":")).encode("ascii")
        + b"\n["
        + ",".join(bound).encode("ascii")
        + b"]"
    )
    s = document["secrets"]
    key = Scrypt(salt=base64.b64decode(s["salt"]), length=32, n=s["n"], r=s["r"], p=s["p"]).derive(
        unicodedata.normalize("NFC", PASSPHRASE).encode("utf-8")
    )
    plain = AESGCM(key).decrypt(
        base64.b64decode(s["nonce"]), base64.b64decode(s["ciphertext"]), aad
    )
    values = json.loads(plain)
    assert values["mcp:local"] == {"env": {"SECRET_VALUE": ENV_CANARY}, "headers": {}}
    assert values["mcp:web"] == {"env": {}, "headers": {"Authorization": f"Bearer {HEADER_CANARY}"}}
    assert values["groq"]["apiKeys"] == [CANARY_KEY]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "http://127.0.0.1:8/mcp"),
        ("command", "/bin/sh"),
        ("args", ["-c", "cat"]),
        ("name", "elsewhere"),
    ],
)
def test_a_server_edited_where_its_values_go_fails_to_decrypt(
    source: MiaodaApp, target: MiaodaApp, tmp_path: Path, field: str, value: Any
) -> None:
    window = source.bridge(dialogs=ConfirmingDialogs())
    assert window.addMcpServer(stdio_config(tmp_path / "starts.txt", enabled=False))["success"]
    ok(source, "addMcpServer", http_config("http://127.0.0.1:9/mcp", enabled=False))
    document = json.loads(export(source))
    server = next(
        s
        for s in document["mcpServers"]
        if s["transport"] == ("http" if field in ("url", "name") else "stdio")
    )
    server[field] = value

    result = import_file(target, json.dumps(document), passphrase=PASSPHRASE)

    assert result["success"] is False
    assert result["error"]["code"] == "DECRYPT_FAILED"
    assert ok(target, "getAllMcpServers")["servers"] == []


def test_other_fields_may_be_edited_and_still_import(source: MiaodaApp, target: MiaodaApp) -> None:
    ok(source, "addMcpServer", http_config("http://127.0.0.1:9/mcp", enabled=False))
    document = json.loads(export(source))
    (server,) = document["mcpServers"]
    server.update(displayName="Renamed by hand", timeoutSeconds=12.5)

    report = import_file(target, json.dumps(document), passphrase=PASSPHRASE)

    assert report["mcpServers"]["added"] == ["web"], report
    web = servers(target)["web"]
    assert (web["displayName"], web["timeoutSeconds"]) == ("Renamed by hand", 12.5)
    assert web["secretHeaders"] == [{"name": "Authorization", "hint": "…0d2b"}]


def file_with(*entries: Any, **extra: Any) -> str:
    """Our export file (version 2, no providers, no keys) holding these MCP servers."""
    document = {
        "format": "miaoda-chat/custom-providers",
        "version": 2,
        "providers": [],
        "mcpServers": list(entries),
        "secrets": None,
        **extra,
    }
    return json.dumps(document)


def file_server(name: str, url: str, **extra: Any) -> dict[str, Any]:
    """An HTTP server as an export without keys holds it; off, so nothing connects."""
    return {
        "name": name,
        "displayName": name.title(),
        "transport": "http",
        "command": None,
        "args": [],
        "url": url,
        "env": {},
        "headers": {"Authorization": None},
        "enabled": False,
        "timeoutSeconds": 60,
        **extra,
    }


SAVED_URL = "http://127.0.0.1:9/saved"
FILE_URL = "http://127.0.0.1:9/from-file"


@pytest.fixture
def saved(target: MiaodaApp) -> dict[str, Any]:
    """A server named `web` already in the target, with a header value."""
    return dict(ok(target, "addMcpServer", http_config(SAVED_URL, enabled=False))["server"])


def test_skip_leaves_a_server_of_the_same_name_alone(
    target: MiaodaApp, saved: dict[str, Any]
) -> None:
    report = import_file(target, file_with(file_server("WEB", FILE_URL)), onConflict="skip")

    assert report["mcpServers"] == {**NO_MCP, "skipped": ["WEB"]}
    assert list(servers(target).values()) == [saved]


def test_replace_keeps_a_value_only_where_it_still_goes_to_the_same_place(
    target: MiaodaApp, saved: dict[str, Any]
) -> None:
    same = file_server("web", SAVED_URL, displayName="Same place")
    report = import_file(target, file_with(same), onConflict="replace")
    assert report["mcpServers"] == {**NO_MCP, "updated": ["web"]}
    web = servers(target)["web"]
    assert (web["id"], web["displayName"]) == (saved["id"], "Same place")
    assert web["secretHeaders"] == saved["secretHeaders"]  # still the stored value
    assert target.secrets.get(f"{saved['id']}:header:authorization") is not None

    report = import_file(target, file_with(file_server("web", FILE_URL)), onConflict="replace")
    assert report["mcpServers"]["updated"] == ["web"]
    web = servers(target)["web"]
    assert (web["id"], web["url"]) == (saved["id"], FILE_URL)
    # A value is never sent to a URL it was not given for: the name stays, the value goes.
    assert web["secretHeaders"] == [{"name": "Authorization", "hint": None}]
    assert target.secrets.get(f"{saved['id']}:header:authorization") is None


def test_rename_adds_a_copy_under_the_first_free_name(
    target: MiaodaApp, saved: dict[str, Any]
) -> None:
    ok(target, "addMcpServer", http_config(SAVED_URL, name="web-2", enabled=False))
    content = file_with(file_server("web", FILE_URL), file_server("web-3", FILE_URL))

    report = import_file(target, content, onConflict="rename")

    assert report["mcpServers"]["added"] == ["web-4", "web-3"], report
    assert report["mcpServers"]["renamed"] == [{"from": "web", "to": "web-4"}]
    found = servers(target)
    assert found["web"] == saved
    assert found["web-4"]["url"] == FILE_URL


def test_a_dry_run_reports_and_changes_nothing(
    source: MiaodaApp, target: MiaodaApp, saved: dict[str, Any]
) -> None:
    ok(source, "addMcpServer", http_config(FILE_URL, enabled=False))
    ok(source, "addMcpServer", http_config(FILE_URL, name="other", enabled=False))
    content = export(source)

    report = import_file(target, content, passphrase=PASSPHRASE, onConflict="replace", dryRun=True)

    assert report["dryRun"] is True
    assert report["mcpServers"] == {**NO_MCP, "added": ["other"], "updated": ["web"]}
    assert list(servers(target).values()) == [saved]


def test_a_file_without_mcp_servers_imports_as_before(source: MiaodaApp, target: MiaodaApp) -> None:
    ok(source, "addCustomProvider", provider_config(apiKey=CANARY_KEY), {"validate": False})
    document = json.loads(export(source))
    assert document["mcpServers"] == []
    del document["mcpServers"]  # as a file of an earlier version has it

    report = import_file(target, json.dumps(document), passphrase=PASSPHRASE)

    assert report["added"] == ["groq"], report
    assert report["mcpServers"] == NO_MCP
    (provider,) = ok(target, "getAllCustomProviders")["providers"]
    assert provider["hasApiKey"] is True


def test_bad_entries_are_reported_with_their_fields_and_the_good_ones_imported(
    target: MiaodaApp,
) -> None:
    content = file_with(
        "not an object",
        {**file_server("no-url", FILE_URL), "url": None},
        file_server("clear", FILE_URL, headers={"Authorization": "Bearer in-clear-text"}),
        {**file_server("stdio", FILE_URL), "transport": "stdio"},
        file_server("good", FILE_URL),
        file_server("GOOD", FILE_URL),
    )

    report = import_file(target, content)

    mcp = report["mcpServers"]
    assert mcp["added"] == ["good"], report
    errors = {e["name"]: e["error"] for e in mcp["errors"]}
    assert list(errors) == ["#1", "no-url", "clear", "stdio", "GOOD"]
    assert errors["#1"]["code"] == "INVALID_CONFIG" and "_schema" in errors["#1"]["fields"]
    assert set(errors["no-url"]["fields"]) == {"url"}
    assert set(errors["clear"]["fields"]) == {"headers"}
    assert "in-clear-text" not in json.dumps(report)
    assert {"command", "url", "headers"} <= set(errors["stdio"]["fields"])
    assert errors["GOOD"]["code"] == "DUPLICATE_NAME"
    assert list(servers(target)) == ["good"]


def test_a_list_that_is_not_a_list_fails_the_whole_file(target: MiaodaApp) -> None:
    result = import_file(target, file_with(mcpServers={"web": {}}))

    assert result["error"]["code"] == "IMPORT_INVALID"
    assert set(result["error"]["fields"]) == {"mcpServers"}
