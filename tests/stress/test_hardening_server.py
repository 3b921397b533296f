"""Hardening of the local server and the files the app writes.

- Request bodies that cannot be parsed, or are nested too deeply for later code (validation,
  re-serializing a reply) to walk without hitting Python's recursion limit, get a 400
  `INVALID_CONFIG` envelope on every /api/ route, and leave no traceback in the log.
- Static files come only from inside the frontend folder: a symlink there that points outside
  is not followed.
- Exporting to a path never replaces a file that is not a MiaoDa Chat export, and replaces an
  export atomically.
- On POSIX, the data folder is private (0700) and the database and log files are 0600, also
  for installs made before this rule, which are tightened when the app starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend import fileio
from backend.app import MiaodaApp
from backend.paths import frontend_dir
from backend.server.app import create_app
from backend.server.wsgi import LocalServer
from backend.storage import Storage
from backend.transfer import FORMAT
from tests.helpers import provider_config
from tests.stress.helpers import TOKEN, port_of, raw_request

POSIX = os.name == "posix"
posix_only = pytest.mark.skipif(
    not POSIX, reason="file modes 0700/0600 are POSIX; Windows protects the profile with ACLs"
)

# --- the real app, and raw requests to it ---------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[MiaodaApp]:
    """The real app serving on loopback; one per test, so its log is the one being written."""
    instance = MiaodaApp(tmp_path / "data", secret_backend="file", token=TOKEN)
    instance.start_server(0)
    yield instance
    instance.close()


def raw_post(port: int, target: str, body: bytes) -> tuple[int, bytes]:
    """POST `body` as JSON with the token, over a plain socket; the status and body bytes."""
    headers = {"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN}
    return raw_request(port, "POST", target, headers, body, timeout=30)


API_ROUTES = ["/api/rpc/getAllCustomProviders", "/api/chat/stream", "/api/chat"]


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def chat_with_schema_depth(depth: int) -> bytes:
    """A chat request whose one tool's `parameters` is `depth` objects deep."""
    schema = '{"a": ' * depth + "1" + "}" * depth
    return (
        '{"providerId": "nope", "messages": [{"role": "user", "content": "hi"}], '
        f'"tools": [{{"name": "t", "parameters": {schema}}}]}}'
    ).encode()


def assert_bad_body(status: int, body: bytes, wording: str) -> None:
    assert status == 400, (status, body[:300])
    answer = json.loads(body)
    assert answer["success"] is False
    assert answer["error"]["code"] == "INVALID_CONFIG", answer
    assert wording in answer["error"]["message"], answer


def assert_log_clean(app: MiaodaApp) -> None:
    text = Path(app.log_file).read_text(encoding="utf-8")
    assert "Traceback" not in text and "RecursionError" not in text, text[-2000:]


# --- 1. bodies nested too deeply, or not JSON at all ----------------------------------------


@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize("depth", [100_000, 2_000, 500, 65])
def test_deeply_nested_bodies_get_a_400_envelope_and_no_traceback(
    served: MiaodaApp, route: str, depth: int
) -> None:
    status, body = raw_post(port_of(served), route, nested_arrays(depth))
    assert_bad_body(status, body, "nested too deeply")
    assert_log_clean(served)


@pytest.mark.parametrize("route", ["/api/chat/stream", "/api/chat"])
def test_a_deep_value_inside_a_valid_chat_request_is_refused(served: MiaodaApp, route: str) -> None:
    status, body = raw_post(port_of(served), route, chat_with_schema_depth(900))
    assert_bad_body(status, body, "nested too deeply")
    assert_log_clean(served)


def test_a_deep_rpc_argument_is_refused(served: MiaodaApp) -> None:
    config = '{"name": "x", "parameters": ' + '{"a": ' * 900 + "1" + "}" * 900 + "}"
    body = f'[{config}, {{"validate": false}}]'.encode()
    status, answer = raw_post(port_of(served), "/api/rpc/addCustomProvider", body)
    assert_bad_body(status, answer, "nested too deeply")
    assert_log_clean(served)


@pytest.mark.parametrize("route", API_ROUTES)
def test_nesting_within_the_limit_is_accepted(served: MiaodaApp, route: str) -> None:
    """64 levels pass the parser: the route's own answer, not the body refusal."""
    if route.startswith("/api/rpc/"):
        status, body = raw_post(port_of(served), route, b"[]")
        assert status == 200 and json.loads(body)["success"] is True
        status, body = raw_post(port_of(served), route, nested_arrays(64))
        assert status == 200, body  # the method's own answer (too many arguments)
        assert "nested" not in json.loads(body)["error"]["message"]
    else:
        status, body = raw_post(port_of(served), route, chat_with_schema_depth(58))
        assert status == 404, body  # parsed and validated; the provider does not exist
        assert json.loads(body)["error"]["code"] == "NOT_FOUND"
    assert_log_clean(served)


@pytest.mark.parametrize("route", API_ROUTES)
@pytest.mark.parametrize(
    "raw",
    [
        b"[",
        b"\xff\xfe",
        b"[NaN]",
        b"[Infinity]",
        b"[-Infinity]",
        b"[1e999]",
        b"[" + b"1" * 5000 + b"]",
    ],
    ids=["truncated", "not-utf8", "nan", "infinity", "minus-infinity", "overflow", "huge-int"],
)
def test_bodies_that_are_not_json_get_a_400_envelope(
    served: MiaodaApp, route: str, raw: bytes
) -> None:
    status, body = raw_post(port_of(served), route, raw)
    assert_bad_body(status, body, "not valid JSON")
    assert_log_clean(served)


# --- 2. static files stay inside the frontend folder ------------------------------------------


@pytest.fixture
def frontend_with_links(tmp_path: Path) -> Path:
    front = tmp_path / "front"
    front.mkdir()
    shutil.copy(frontend_dir() / "index.html", front / "index.html")
    (front / "app.js").write_text("console.log('inside');\n", encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("OUTSIDE-SECRET-CONTENT\n", encoding="utf-8")
    try:
        (front / "leak.txt").symlink_to(outside / "secret.txt")
        (front / "leakdir").symlink_to(outside, target_is_directory=True)
        (front / "alias.js").symlink_to(front / "app.js")
    except (OSError, NotImplementedError) as err:
        pytest.skip(f"cannot create symlinks here: {err}")
    return front


@pytest.fixture
def static_server(frontend_with_links: Path) -> Iterator[LocalServer]:
    app = create_app({}, token=TOKEN, frontend_dir=frontend_with_links)
    server = LocalServer(app, port=0, threads=4)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("target", ["/leak.txt", "/leakdir/secret.txt"])
def test_a_symlink_out_of_the_frontend_folder_is_not_followed(
    static_server: LocalServer, target: str
) -> None:
    response = httpx.get(static_server.url + target, timeout=10)
    assert response.status_code == 404
    assert b"OUTSIDE-SECRET-CONTENT" not in response.content


def test_files_inside_the_frontend_folder_are_still_served(static_server: LocalServer) -> None:
    index = httpx.get(static_server.url + "/", timeout=10)
    assert index.status_code == 200 and b"<html" in index.content.lower()
    script = httpx.get(static_server.url + "/app.js", timeout=10)
    assert script.status_code == 200 and b"inside" in script.content
    # A link that stays inside the folder is harmless and still works.
    alias = httpx.get(static_server.url + "/alias.js", timeout=10)
    assert alias.status_code == 200 and b"inside" in alias.content


def test_an_index_linked_outside_is_not_served(tmp_path: Path) -> None:
    front = tmp_path / "front2"
    front.mkdir()
    outside = tmp_path / "elsewhere.html"
    outside.write_text("<html>OUTSIDE-SECRET-CONTENT</html>", encoding="utf-8")
    try:
        (front / "index.html").symlink_to(outside)
    except (OSError, NotImplementedError) as err:
        pytest.skip(f"cannot create symlinks here: {err}")
    server = LocalServer(create_app({}, token=TOKEN, frontend_dir=front), port=0, threads=2)
    server.start()
    try:
        response = httpx.get(server.url + "/", timeout=10)
    finally:
        server.stop()
    assert response.status_code == 404
    assert b"OUTSIDE-SECRET-CONTENT" not in response.content


# --- 3. exporting to a path ---------------------------------------------------------------------


class ChosenPath:
    """A save dialog that answers with a fixed path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save_path(self, suggested_name: str) -> str | None:
        return str(self.path)

    def open_path(self) -> str | None:
        return None


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[MiaodaApp]:
    instance = MiaodaApp(tmp_path / "data", secret_backend="file", token=TOKEN)
    added = instance.bridge().addCustomProvider(provider_config(), {"validate": False})
    assert added["success"], added
    yield instance
    instance.close()


def folder_listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


FOREIGN_FILES = {
    "notes": b"my notes, not an export\n",
    "other-json": b'{"format": "someone-else/providers", "providers": []}\n',
    "json-array": b'[{"format": "miaoda-chat/custom-providers"}]\n',
    "empty": b"",
    "binary": bytes(range(256)),
}


@pytest.mark.parametrize("content", FOREIGN_FILES.values(), ids=FOREIGN_FILES.keys())
@pytest.mark.parametrize("via", ["path", "dialog"])
def test_export_never_replaces_a_file_that_is_not_an_export(
    exporter: MiaodaApp, tmp_path: Path, content: bytes, via: str
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    target = folder / "important.json"
    target.write_bytes(content)
    if via == "path":
        result = exporter.bridge().exportCustomProviders({"path": str(target)})
    else:
        result = exporter.bridge(ChosenPath(target)).exportCustomProviders({})
    assert result["success"] is False, result
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert "path" in result["error"]["fields"], result
    assert "another" in result["error"]["message"], result
    assert target.read_bytes() == content
    assert folder_listing(folder) == ["important.json"]


def test_export_refuses_a_folder(exporter: MiaodaApp, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.json"
    folder.mkdir()
    result = exporter.bridge().exportCustomProviders({"path": str(folder)})
    assert result["success"] is False
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert "path" in result["error"]["fields"]
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_export_replaces_an_earlier_export(exporter: MiaodaApp, tmp_path: Path) -> None:
    target = tmp_path / "providers.json"
    first = exporter.bridge().exportCustomProviders({"path": str(target)})
    assert first == {"success": True, "path": str(target), "count": 1}
    assert json.loads(target.read_text(encoding="utf-8"))["format"] == FORMAT
    added = exporter.bridge().addCustomProvider(
        provider_config(name="second", displayName="Second"), {"validate": False}
    )
    assert added["success"], added
    second = exporter.bridge(ChosenPath(target)).exportCustomProviders({})
    assert second == {"success": True, "path": str(target), "count": 2}
    document = json.loads(target.read_text(encoding="utf-8"))
    assert [p["name"] for p in document["providers"]] == ["groq", "second"]
    assert folder_listing(tmp_path) == ["data", "providers.json"]


def test_a_failed_replace_leaves_the_old_export_and_no_temp_file(
    exporter: MiaodaApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "providers.json"
    assert exporter.bridge().exportCustomProviders({"path": str(target)})["success"]
    before = target.read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    result = exporter.bridge().exportCustomProviders({"path": str(target)})
    monkeypatch.undo()
    assert result["success"] is False
    assert result["error"]["code"] == "STORAGE_ERROR"
    assert target.read_bytes() == before
    assert folder_listing(folder) == ["providers.json"]


def test_atomic_write_goes_through_a_synced_temp_file_in_the_same_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    target.write_text("old", encoding="utf-8")
    synced: list[int] = []
    replaced: list[tuple[Path, Path, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        replaced.append((Path(src), Path(dst), Path(src).read_text(encoding="utf-8")))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    fileio.atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "new"
    assert len(replaced) == 1
    src, dst, written = replaced[0]
    assert dst == target and src.parent == target.parent and src != target
    assert written == "new"  # complete before the rename
    assert synced, "the temp file was not fsynced"
    assert folder_listing(tmp_path) == ["out.json"]


# --- 4. file modes -----------------------------------------------------------------------------


@contextlib.contextmanager
def loose_umask() -> Iterator[None]:
    """The usual 022 umask, so files are 0644 unless the app asks for less."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def private_modes(data: Path) -> dict[str, str]:
    """Mode of every file the rule covers that exists, as octal text, by relative name."""
    names = ["", "logs", "logs/miaoda.log", "miaoda.db", "miaoda.db-wal", "miaoda.db-shm"]
    names += [f"logs/miaoda.log.{n}" for n in (1, 2, 3)]
    return {name or ".": oct(mode(data / name)) for name in names if (data / name).exists()}


EXPECTED_OPEN = {
    ".": "0o700",
    "logs": "0o700",
    "logs/miaoda.log": "0o600",
    "miaoda.db": "0o600",
    "miaoda.db-wal": "0o600",
    "miaoda.db-shm": "0o600",
}


@posix_only
def test_a_fresh_install_is_private(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    with loose_umask():
        app = MiaodaApp(data, secret_backend="file", token=TOKEN)
        try:
            assert app.bridge().addCustomProvider(provider_config(), {"validate": False})["success"]
            assert private_modes(data) == EXPECTED_OPEN
        finally:
            app.close()
    assert mode(data / "miaoda.db") == 0o600


@posix_only
def test_an_existing_loose_install_is_tightened_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with loose_umask():
        data.mkdir(mode=0o755)
        Storage(data / "miaoda.db").close()
        (data / "logs").mkdir(mode=0o755)
        (data / "logs" / "miaoda.log").write_text("old line\n", encoding="utf-8")
        (data / "logs" / "miaoda.log.1").write_text("older line\n", encoding="utf-8")
        # Another connection keeps the WAL files in place, as a second instance would.
        other = sqlite3.connect(data / "miaoda.db")
        try:
            other.execute("PRAGMA journal_mode = WAL")
            other.execute("SELECT count(*) FROM providers").fetchone()
            for name in ("", "logs", "miaoda.db", "miaoda.db-wal", "miaoda.db-shm"):
                os.chmod(data / name, 0o755 if name in ("", "logs") else 0o644)
            os.chmod(data / "logs" / "miaoda.log", 0o644)
            os.chmod(data / "logs" / "miaoda.log.1", 0o644)
            app = MiaodaApp(data, secret_backend="file", token=TOKEN)
            try:
                assert private_modes(data) == {**EXPECTED_OPEN, "logs/miaoda.log.1": "0o600"}
            finally:
                app.close()
        finally:
            other.close()


@posix_only
def test_rotated_logs_stay_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with loose_umask():
        app = MiaodaApp(data, secret_backend="file", token=TOKEN)
        try:
            noisy = logging.getLogger("miaoda.test.rotation")
            line = "x" * 1000
            for _ in range(2500):  # 2.5 MB: two rotations at 1 MB
                noisy.info(line)
            modes = private_modes(data)
        finally:
            app.close()
    assert modes["logs/miaoda.log.1"] == modes["logs/miaoda.log.2"] == "0o600", modes
    assert modes["logs/miaoda.log"] == "0o600", modes
