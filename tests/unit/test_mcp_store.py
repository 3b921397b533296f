"""MCP servers and tools in the data file: migration 9 and `McpStore` (backend/storage/tools.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backend.errors import DuplicateName, NotFound
from backend.storage import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ListedTool,
    McpServerRow,
    McpStore,
    Storage,
)

NOW = "2026-12-01T10:00:00.000Z"


def server(sid: str = "s1", name: str = "files") -> McpServerRow:
    return McpServerRow(
        id=sid,
        name=name,
        display_name=name.title(),
        transport="stdio",
        command="npx",
        args=("-y", "pkg"),
        env={"TOKEN": "…abcd", "EMPTY": None},
        url=None,
        headers={},
        enabled=True,
        call_timeout=60.0,
        confirmed="sha256:00",
        created_at=NOW,
        updated_at=NOW,
    )


def listed(name: str, fingerprint: str = "f1") -> ListedTool:
    return ListedTool(name, f"{name} things", fingerprint, {"type": "object"})


@pytest.fixture
def store(storage: Storage) -> McpStore:
    return McpStore(storage)


def test_a_data_file_of_the_previous_schema_is_upgraded_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for number, migration in enumerate(MIGRATIONS[:8], start=1):
        migration(conn)
        conn.execute(f"PRAGMA user_version = {number}")
    conn.execute("INSERT INTO settings (key, value) VALUES ('theme', '\"dark\"')")
    conn.commit()
    conn.close()
    with Storage(path) as storage:
        assert storage.get_setting("theme") == "dark"
        store = McpStore(storage)
        store.insert_server(server())
        assert store.get_server("s1") == server()
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    check.close()


def test_a_server_reads_back_as_saved_and_names_ignore_case(store: McpStore) -> None:
    store.insert_server(server())
    assert store.list_servers() == [server()]
    assert store.name_taken("FILES")
    assert not store.name_taken("FILES", except_id="s1")
    with pytest.raises(DuplicateName):
        store.insert_server(server("s2", "Files"))


def test_updating_a_removed_server_is_not_found(store: McpStore) -> None:
    with pytest.raises(NotFound):
        store.update_server(server())


def test_sync_adds_new_tools_as_ask_resets_changed_ones_and_drops_missing_ones(
    store: McpStore,
) -> None:
    store.insert_server(server())
    store.sync_tools("s1", [listed("a"), listed("b"), listed("c")], NOW)
    store.set_policy("s1", "a", enabled=False, approval="always")
    store.set_policy("s1", "b", enabled=True, approval="always")
    store.sync_tools("s1", [listed("a"), listed("b", "f2")], NOW)
    tools = {t.name: (t.enabled, t.approval, t.fingerprint) for t in store.tools("s1")}
    assert tools == {"a": (False, "always", "f1"), "b": (True, "ask", "f2")}


def test_tools_go_with_their_server_and_a_late_list_for_a_removed_one_is_ignored(
    store: McpStore,
) -> None:
    store.insert_server(server())
    store.sync_tools("s1", [listed("a")], NOW)
    assert store.delete_server("s1")
    store.sync_tools("s1", [listed("a")], NOW)
    assert store.all_tools() == {}
    with pytest.raises(NotFound):
        store.set_policy("s1", "a", enabled=True, approval="ask")
