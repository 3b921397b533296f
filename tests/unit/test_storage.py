"""Storage: saved data comes back intact, names clash ignoring case, bad files are refused."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backend.errors import DuplicateName, NotFound, StorageError
from backend.models import AuthConfig, HealthStatus, ProviderConfig
from backend.storage import SCHEMA_VERSION, Storage

T0 = "2026-11-26T10:00:00.000Z"


def make_provider(name: str = "groq", **changes: Any) -> ProviderConfig:
    """A plausible provider; its id follows its name unless given."""
    base = ProviderConfig(
        id=f"id-{name.lower()}",
        name=name,
        display_name=f"{name} cloud",
        base_url="https://api.groq.com/openai/v1",
        model="llama-3.3-70b",
        type="openai-compatible",
        auth=AuthConfig("bearer"),
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)


def health(provider_id: str, last_checked: str | None, **changes: Any) -> HealthStatus:
    """A healthy check of `provider_id` at `last_checked`."""
    base = HealthStatus(
        provider_id=provider_id,
        provider_name="groq",
        status="healthy",
        last_checked=last_checked,
        response_time=120,
        http_status=200,
        check_kind="models",
        model_available=True,
    )
    return replace(base, **changes)


def chat(request_id: str, created_at: str, provider_id: str = "id-groq") -> dict[str, Any]:
    """Keyword arguments of `record_chat` for one finished request."""
    return {
        "request_id": request_id,
        "provider_id": provider_id,
        "model": "llama-3.3-70b",
        "input_tokens": 12,
        "output_tokens": 40,
        "usage_source": "reported",
        "ttft_ms": 210,
        "elapsed_ms": 1830,
        "finish_reason": "stop",
        "error_code": None,
        "created_at": created_at,
    }


def raw(path: Path, sql: str) -> list[Any]:
    """Run one statement through a plain sqlite3 connection, bypassing Storage."""
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(sql).fetchall()
        conn.commit()
        return rows


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the store's file goes (its folder does not exist yet)."""
    return tmp_path / "data" / "miaoda.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Storage]:
    """An open, empty store."""
    storage = Storage(db_path)
    yield storage
    storage.close()


# --- opening ----------------------------------------------------------------------------


def test_opening_creates_missing_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "miaoda.db"
    Storage(path).close()
    assert path.is_file()


def test_wal_journal_mode_is_on(store: Storage, db_path: Path) -> None:
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_schema_version_is_set(store: Storage, db_path: Path) -> None:
    assert SCHEMA_VERSION >= 1
    assert raw(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_reopening_a_current_file_keeps_its_data(db_path: Path) -> None:
    with Storage(db_path) as first:
        first.insert_provider(make_provider())
    with Storage(db_path) as second:
        assert second.get_provider("id-groq") == make_provider()


def test_file_from_a_newer_version_is_refused(db_path: Path) -> None:
    Storage(db_path).close()
    raw(db_path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StorageError, match="made by a newer MiaoDa Chat"):
        Storage(db_path)


def test_garbage_file_raises_storage_error_and_is_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "miaoda.db"
    garbage = b"secret-canary not a database " * 200
    path.write_bytes(garbage)
    with pytest.raises(StorageError) as caught:
        Storage(path)
    assert "secret-canary" not in caught.value.message
    assert path.read_bytes() == garbage


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "miaoda.db"
    raw(path, "CREATE TABLE notes (body TEXT)")
    before = path.read_bytes()
    with pytest.raises(StorageError, match="not a MiaoDa Chat data file"):
        Storage(path)
    assert path.read_bytes() == before


def test_a_closed_store_raises_storage_error(store: Storage) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.list_providers()


def test_damaged_row_gives_storage_error_without_its_contents(
    store: Storage, db_path: Path
) -> None:
    store.insert_provider(make_provider())
    raw(db_path, """UPDATE providers SET headers = '{"X-Token": "secret-canary'""")
    with pytest.raises(StorageError) as caught:
        store.list_providers()
    assert "secret-canary" not in caught.value.message


# --- providers --------------------------------------------------------------------------


def test_provider_round_trips_every_field(store: Storage) -> None:
    provider = ProviderConfig(
        id="0b9e6d1c",
        name="Azure.eu-1",
        display_name="Azure Европа 東京 🚀",
        base_url="https://example.openai.azure.com/openai",
        model="gpt-4o",
        type="custom",
        auth=AuthConfig("header", "api-key"),
        headers={"X-Team": "ops", "X-Trace": "on"},
        parameters={"temperature": 0.7, "maxTokens": 2048, "topP": 1.0},
        endpoints={"chat": "/deployments/gpt4o/chat/completions?api-version=2024-06-01"},
        created_at="2026-11-26T10:00:00.000Z",
        updated_at="2026-11-26T11:30:00.125Z",
        has_api_key=True,
        api_key_hint="sk-…9f2c",
    )
    store.insert_provider(provider)
    loaded = store.get_provider("0b9e6d1c")
    assert loaded == provider
    assert loaded is not None
    assert isinstance(loaded.parameters["maxTokens"], int)
    assert isinstance(loaded.parameters["topP"], float)


def test_provider_with_empty_maps_and_no_key_round_trips(store: Storage) -> None:
    provider = make_provider(auth=AuthConfig("none"), has_api_key=False, api_key_hint=None)
    store.insert_provider(provider)
    assert store.get_provider(provider.id) == provider


def test_loaded_providers_do_not_share_their_maps(store: Storage) -> None:
    store.insert_provider(make_provider("a"))
    store.insert_provider(make_provider("b"))
    first, second = store.list_providers()
    assert first.headers is not second.headers


def test_get_provider_of_unknown_id_is_none(store: Storage) -> None:
    assert store.get_provider("nope") is None


def test_get_provider_by_name_ignores_case(store: Storage) -> None:
    store.insert_provider(make_provider("OpenRouter"))
    found = store.get_provider_by_name("openrouter")
    assert found is not None
    assert found.name == "OpenRouter"
    assert store.get_provider_by_name("other") is None


def test_insert_refuses_a_name_that_differs_only_in_case(store: Storage) -> None:
    store.insert_provider(make_provider("groq"))
    with pytest.raises(DuplicateName):
        store.insert_provider(make_provider("GROQ", id="another-id"))
    assert store.count_providers() == 1


def test_update_refuses_a_name_another_provider_has_ignoring_case(store: Storage) -> None:
    store.insert_provider(make_provider("groq"))
    store.insert_provider(make_provider("ollama"))
    with pytest.raises(DuplicateName):
        store.update_provider(make_provider("Groq", id="id-ollama"))
    assert store.get_provider("id-ollama") == make_provider("ollama")


def test_update_may_change_the_case_of_its_own_name(store: Storage) -> None:
    store.insert_provider(make_provider("groq"))
    store.update_provider(make_provider("GROQ", id="id-groq"))
    renamed = store.get_provider("id-groq")
    assert renamed is not None
    assert renamed.name == "GROQ"


def test_update_replaces_every_field(store: Storage) -> None:
    store.insert_provider(make_provider(headers={"X-Old": "1"}, has_api_key=True))
    changed = ProviderConfig(
        id="id-groq",
        name="claude",
        display_name="Claude",
        base_url="https://api.anthropic.com",
        model="claude-sonnet-4",
        type="anthropic-compatible",
        auth=AuthConfig("header", "x-api-key"),
        headers={},
        parameters={"maxTokens": 1024},
        endpoints={"models": "/v1/models"},
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-11-27T00:00:00.000Z",
        has_api_key=False,
        api_key_hint=None,
    )
    store.update_provider(changed)
    assert store.get_provider("id-groq") == changed
    assert store.get_provider_by_name("groq") is None


def test_update_of_an_unknown_id_raises_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.update_provider(make_provider())
    assert store.count_providers() == 0


def test_delete_removes_the_provider(store: Storage) -> None:
    store.insert_provider(make_provider())
    assert store.delete_provider("id-groq") is True
    assert store.get_provider("id-groq") is None


def test_delete_of_an_unknown_id_returns_false(store: Storage) -> None:
    assert store.delete_provider("nope") is False


def test_a_deleted_providers_name_can_be_used_again(store: Storage) -> None:
    store.insert_provider(make_provider("groq"))
    store.delete_provider("id-groq")
    store.insert_provider(make_provider("Groq", id="new-id"))
    assert store.count_providers() == 1


def test_count_providers_counts_saved_providers(store: Storage) -> None:
    for name in ("a", "b", "c"):
        store.insert_provider(make_provider(name))
    assert store.count_providers() == 3


def test_list_is_sorted_by_display_name_ignoring_case_then_name(store: Storage) -> None:
    for name, display in [
        ("z1", "beta"),
        ("a2", "Alpha"),
        ("m3", "ÉCLAIR"),
        ("b4", "alpha"),
        ("c5", "STRASSE"),
        ("d6", "straße"),
    ]:
        store.insert_provider(make_provider(name, display_name=display))
    names = [p.name for p in store.list_providers()]
    # casefold makes "straße" equal "STRASSE", so the name decides; "É" sorts after ASCII.
    assert names == ["a2", "b4", "z1", "c5", "d6", "m3"]


def test_schema_has_no_column_for_an_api_key(store: Storage, db_path: Path) -> None:
    columns = {row[1] for row in raw(db_path, "PRAGMA table_info(providers)")}
    assert "has_api_key" in columns
    assert not {"api_key", "apikey", "key", "secret"} & columns


# --- settings ---------------------------------------------------------------------------


def test_missing_setting_returns_the_default(store: Storage) -> None:
    assert store.get_setting("health.interval") is None
    assert store.get_setting("health.interval", 300) == 300


@pytest.mark.parametrize(
    "value", [300, 2.5, "dark", True, None, [1, "two"], {"nested": {"list": [1, 2]}, "ü": "ß"}]
)
def test_settings_round_trip_json_values(store: Storage, value: Any) -> None:
    store.set_setting("k", value)
    assert store.get_setting("k", "default") == value


def test_setting_a_key_again_overwrites_it(store: Storage) -> None:
    store.set_setting("theme", "dark")
    store.set_setting("theme", "light")
    assert store.get_setting("theme") == "light"


def test_settings_survive_reopening(db_path: Path) -> None:
    with Storage(db_path) as first:
        first.set_setting("theme", "dark")
    with Storage(db_path) as second:
        assert second.get_setting("theme") == "dark"


# --- health history ---------------------------------------------------------------------


def test_health_checks_come_back_oldest_first_with_every_field(store: Storage) -> None:
    store.insert_provider(make_provider())
    later = health(
        "id-groq",
        "2026-11-26T10:05:00.000Z",
        status="unhealthy",
        response_time=None,
        error="The provider rejected the API key.",
        error_code="AUTH_FAILED",
        http_status=401,
        check_kind="chat",
        model_available=None,
    )
    earlier = health("id-groq", "2026-11-26T10:00:00.000Z", model_available=False)
    store.add_health_check(later)
    store.add_health_check(earlier)
    assert store.health_history("id-groq") == [earlier, later]


def test_health_history_since_leaves_out_older_checks(store: Storage) -> None:
    store.insert_provider(make_provider())
    for minute in range(5):
        store.add_health_check(health("id-groq", f"2026-11-26T10:0{minute}:00.000Z"))
    history = store.health_history("id-groq", since="2026-11-26T10:03:00.000Z")
    assert [h.last_checked for h in history] == [
        "2026-11-26T10:03:00.000Z",
        "2026-11-26T10:04:00.000Z",
    ]


def test_health_history_limit_keeps_the_newest_checks(store: Storage) -> None:
    store.insert_provider(make_provider())
    for minute in range(5):
        store.add_health_check(health("id-groq", f"2026-11-26T10:0{minute}:00.000Z"))
    history = store.health_history("id-groq", limit=2)
    assert [h.last_checked for h in history] == [
        "2026-11-26T10:03:00.000Z",
        "2026-11-26T10:04:00.000Z",
    ]


def test_health_history_is_per_provider(store: Storage) -> None:
    store.insert_provider(make_provider("a"))
    store.insert_provider(make_provider("b"))
    store.add_health_check(health("id-a", T0))
    assert store.health_history("id-b") == []


def test_prune_health_deletes_older_checks_and_counts_them(store: Storage) -> None:
    store.insert_provider(make_provider())
    for minute in range(5):
        store.add_health_check(health("id-groq", f"2026-11-26T10:0{minute}:00.000Z"))
    assert store.prune_health("2026-11-26T10:02:00.000Z") == 2
    assert [h.last_checked for h in store.health_history("id-groq")] == [
        "2026-11-26T10:02:00.000Z",
        "2026-11-26T10:03:00.000Z",
        "2026-11-26T10:04:00.000Z",
    ]


def test_deleting_a_provider_deletes_its_health_history(store: Storage, db_path: Path) -> None:
    store.insert_provider(make_provider("a"))
    store.insert_provider(make_provider("b"))
    store.add_health_check(health("id-a", T0))
    store.add_health_check(health("id-b", T0))
    store.delete_provider("id-a")
    assert raw(db_path, "SELECT provider_id FROM health_checks") == [("id-b",)]


def test_health_check_of_a_removed_provider_raises_not_found(store: Storage) -> None:
    with pytest.raises(NotFound):
        store.add_health_check(health("gone", T0))


# --- chat request log -------------------------------------------------------------------


def test_chat_records_come_back_newest_first_with_every_field(store: Storage) -> None:
    store.record_chat(**chat("r1", "2026-11-26T10:00:00.000Z"))
    store.record_chat(**chat("r2", "2026-11-26T10:01:00.000Z"))
    rows = store.chat_stats()
    assert rows == [chat("r2", "2026-11-26T10:01:00.000Z"), chat("r1", "2026-11-26T10:00:00.000Z")]


def test_chat_stats_filters_by_provider(store: Storage) -> None:
    store.record_chat(**chat("r1", T0, provider_id="a"))
    store.record_chat(**chat("r2", T0, provider_id="b"))
    assert [row["request_id"] for row in store.chat_stats("b")] == ["r2"]


def test_chat_stats_limit_keeps_the_newest(store: Storage) -> None:
    for second in range(5):
        store.record_chat(**chat(f"r{second}", f"2026-11-26T10:00:0{second}.000Z"))
    assert [row["request_id"] for row in store.chat_stats(limit=2)] == ["r4", "r3"]


def test_recording_a_request_again_replaces_its_record(store: Storage) -> None:
    store.record_chat(**chat("r1", T0))
    store.record_chat(**{**chat("r1", T0), "finish_reason": "cancelled", "output_tokens": 3})
    (row,) = store.chat_stats()
    assert (row["finish_reason"], row["output_tokens"]) == ("cancelled", 3)


def test_chat_records_outlive_their_provider(store: Storage) -> None:
    store.insert_provider(make_provider())
    store.record_chat(**chat("r1", T0))
    store.delete_provider("id-groq")
    assert [row["request_id"] for row in store.chat_stats("id-groq")] == ["r1"]


# --- transactions and threads -----------------------------------------------------------


def test_transaction_rolls_back_every_write_of_the_group_on_an_exception(store: Storage) -> None:
    store.insert_provider(make_provider("kept"))
    with pytest.raises(RuntimeError), store.transaction():
        store.insert_provider(make_provider("a"))
        store.update_provider(make_provider("kept", display_name="changed"))
        store.delete_provider("id-a")
        store.set_setting("theme", "dark")
        store.record_chat(**chat("r1", T0))
        raise RuntimeError("boom")
    assert [p.name for p in store.list_providers()] == ["kept"]
    assert store.get_provider("id-kept") == make_provider("kept")
    assert store.get_setting("theme") is None
    assert store.chat_stats() == []


def test_transaction_saves_every_write_of_the_group(db_path: Path) -> None:
    with Storage(db_path) as storage, storage.transaction():
        storage.insert_provider(make_provider("a"))
        storage.set_setting("theme", "dark")
    with Storage(db_path) as reopened:
        assert reopened.count_providers() == 1
        assert reopened.get_setting("theme") == "dark"


def test_nested_transaction_is_undone_with_the_outer_one(store: Storage) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        with store.transaction():
            store.insert_provider(make_provider("inner"))
        raise RuntimeError("boom")
    assert store.count_providers() == 0


def test_failed_step_caught_inside_a_group_undoes_only_that_step(store: Storage) -> None:
    store.insert_provider(make_provider("taken"))
    with store.transaction():
        store.insert_provider(make_provider("a"))
        with pytest.raises(DuplicateName):
            store.insert_provider(make_provider("TAKEN", id="other"))
        store.insert_provider(make_provider("b"))
    assert sorted(p.name for p in store.list_providers()) == ["a", "b", "taken"]


def test_concurrent_inserts_from_eight_threads_all_land(store: Storage) -> None:
    per_thread = 40
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def insert_many(thread: int) -> None:
        try:
            start.wait()
            for n in range(per_thread):
                store.insert_provider(make_provider(f"t{thread}-{n}"))
                store.list_providers()  # reads interleaved with other threads' writes
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=insert_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert store.count_providers() == 8 * per_thread
    assert {p.name for p in store.list_providers()} == {
        f"t{t}-{n}" for t in range(8) for n in range(per_thread)
    }


def test_other_threads_never_see_a_group_half_done(store: Storage) -> None:
    inside = threading.Event()
    seen: list[int] = []

    def count_when_inside() -> None:
        inside.wait()
        seen.append(store.count_providers())

    reader = threading.Thread(target=count_when_inside)
    reader.start()
    with store.transaction():
        store.insert_provider(make_provider("a"))
        inside.set()
        time.sleep(0.1)  # the reader asks now, while the group is open
        store.insert_provider(make_provider("b"))
    reader.join()
    assert seen == [2]


def test_an_in_memory_database_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = Storage(Path(":memory:"))
    store.close()
    assert list(tmp_path.iterdir()) == []
