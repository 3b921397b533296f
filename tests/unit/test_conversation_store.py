"""ConversationStore: conversations and message trees on a real SQLite file (CONTRACT §9)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.errors import InvalidConfig, NotFound
from backend.storage import SCHEMA_VERSION, ConversationStore, Message, Storage


class TickingClock:
    """A clock a millisecond on at every reading, so no two writes share a timestamp."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> str:
        self.now += timedelta(milliseconds=1)
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture
def store(storage: Storage) -> ConversationStore:
    """A conversation store on the test's real data file."""
    return ConversationStore(storage, clock=TickingClock())


def user(store: ConversationStore, cid: str, text: str, parent: str | None = None) -> Message:
    return store.add_message(cid, parent_id=parent, role="user", content=text)


def reply(store: ConversationStore, cid: str, parent: str, text: str) -> Message:
    started = store.start_reply(cid, parent_id=parent, provider_id="p1", model="m1")
    store.save_reply(started.id, content=text, finish_reason="stop")
    return store.get_message(started.id)


def contents(messages: list[Message]) -> list[str]:
    return [message.content for message in messages]


@pytest.fixture
def branched(store: ConversationStore) -> Iterator[dict[str, str]]:
    """q1 -> a1 (regenerated as a1b) ; a1 -> q2 -> a2: ids by name, and the conversation's."""
    cid = store.create_conversation().id
    q1 = user(store, cid, "q1")
    a1 = reply(store, cid, q1.id, "a1")
    q2 = user(store, cid, "q2", a1.id)
    a2 = reply(store, cid, q2.id, "a2")
    a1b = reply(store, cid, q1.id, "a1b")
    yield {"cid": cid, "q1": q1.id, "a1": a1.id, "q2": q2.id, "a2": a2.id, "a1b": a1b.id}


# --- conversations --------------------------------------------------------------------------


def test_a_new_conversation_is_empty_with_its_settings(store: ConversationStore) -> None:
    made = store.create_conversation(
        system_prompt="Be brief.", provider_id="p1", model="m1", tool_servers=["s1", "s2"]
    )
    wire = store.get_conversation(made.id).to_wire()
    assert wire == made.to_wire()
    assert wire["title"] == "" and wire["messageCount"] == 0 and wire["currentLeafId"] is None
    assert wire["systemPrompt"] == "Be brief." and wire["toolServers"] == ["s1", "s2"]
    assert wire["pinned"] is False and wire["providerId"] == "p1" and wire["model"] == "m1"
    assert len(made.id) == 32 and store.path(made.id) == []


def test_a_missing_conversation_is_not_found(store: ConversationStore) -> None:
    for call in (
        lambda: store.get_conversation("nope"),
        lambda: store.delete_conversation("nope"),
        lambda: store.path("nope"),
        lambda: store.update_conversation("nope", {"pinned": True}),
        lambda: user(store, "nope", "hi"),
    ):
        with pytest.raises(NotFound):
            call()


def test_the_first_user_message_titles_the_conversation(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    first = user(store, cid, "\n  How do I sort a list?  \nIn Python.")
    assert store.get_conversation(cid).title == "How do I sort a list?"
    user(store, cid, "Another question", first.id)
    assert store.get_conversation(cid).title == "How do I sort a list?"


def test_an_auto_title_is_at_most_80_characters(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    user(store, cid, "word " * 40)
    title = store.get_conversation(cid).title
    assert len(title) <= 80 and title.startswith("word word") and title.endswith("…")


def test_a_title_the_user_chose_is_never_replaced(store: ConversationStore) -> None:
    named = store.create_conversation(title="My plan").id
    user(store, named, "hello")
    assert store.get_conversation(named).title == "My plan"
    renamed = store.create_conversation().id
    store.update_conversation(renamed, {"title": "Renamed"})
    user(store, renamed, "hello")
    assert store.get_conversation(renamed).title == "Renamed"


def test_a_null_title_goes_back_to_the_first_questions_title(store: ConversationStore) -> None:
    cid = store.create_conversation(title="Chosen").id
    user(store, cid, "How do I sort a list?")
    assert store.update_conversation(cid, {"title": None}).title == "How do I sort a list?"
    store.update_conversation(cid, {"title": "Again"})
    empty = store.create_conversation(title="Named").id
    assert store.update_conversation(empty, {"title": None}).title == ""
    user(store, empty, "Later question")
    assert store.get_conversation(empty).title == "Later question"


def test_updates_change_only_what_is_given(store: ConversationStore) -> None:
    cid = store.create_conversation(system_prompt="old", model="m1").id
    updated = store.update_conversation(
        cid, {"pinned": True, "system_prompt": "new", "tool_servers": ["s9"]}
    )
    assert updated.pinned and updated.system_prompt == "new" and updated.tool_servers == ("s9",)
    assert updated.model == "m1" and store.get_conversation(cid) == updated


def test_an_unknown_update_field_is_named(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    with pytest.raises(InvalidConfig) as caught:
        store.update_conversation(cid, {"colour": "red"})
    assert "colour" in caught.value.fields


def test_deleting_a_conversation_deletes_its_messages(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    store.delete_conversation(branched["cid"])
    with pytest.raises(NotFound):
        store.get_conversation(branched["cid"])
    with pytest.raises(NotFound):
        store.get_message(branched["q1"])


# --- listing --------------------------------------------------------------------------------


def test_listing_puts_pinned_first_then_newest_activity(store: ConversationStore) -> None:
    old, pinned, _ = (store.create_conversation(title=t).id for t in ("old", "pin", "new"))
    user(store, old, "x")  # activity: old is now the newest unpinned
    store.update_conversation(pinned, {"pinned": True})
    page, cursor = store.list_conversations()
    assert [c.title for c in page] == ["pin", "old", "new"] and cursor is None


def test_listing_pages_through_every_conversation_once(store: ConversationStore) -> None:
    made = {store.create_conversation(title=f"c{i}").id for i in range(7)}
    store.update_conversation(sorted(made)[3], {"pinned": True})
    seen: list[str] = []
    page, cursor = store.list_conversations(limit=3)
    seen += [c.id for c in page]
    while cursor is not None:
        page, cursor = store.list_conversations(limit=3, cursor=cursor)
        seen += [c.id for c in page]
    assert len(seen) == 7 and set(seen) == made and seen[0] == sorted(made)[3]


@pytest.mark.parametrize("cursor", ["garbage!", "", "bnVsbA", "WzIsIngiLCJ5Il0"])
def test_a_bad_cursor_is_an_error_naming_the_cursor(store: ConversationStore, cursor: str) -> None:
    with pytest.raises(InvalidConfig) as caught:
        store.list_conversations(cursor=cursor)
    assert list(caught.value.fields) == ["cursor"]


# --- the tree -------------------------------------------------------------------------------


def test_the_path_follows_the_current_leaf(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    # Regenerating a1 made a1b the current leaf.
    assert store.get_conversation(branched["cid"]).current_leaf_id == branched["a1b"]
    assert contents(store.path(branched["cid"])) == ["q1", "a1b"]


def test_a_leaf_path_continues_to_its_newest_descendant(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    assert contents(store.path(branched["cid"], branched["a1"])) == ["q1", "a1", "q2", "a2"]
    assert contents(store.path(branched["cid"], branched["q1"])) == ["q1", "a1b"]


def test_siblings_are_listed_in_creation_order(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    a1 = store.get_message(branched["a1"])
    assert a1.sibling_ids == (branched["a1"], branched["a1b"])
    assert store.get_message(branched["q2"]).sibling_ids == (branched["q2"],)
    path = store.path(branched["cid"], branched["a1"])
    assert path[1].sibling_ids == (branched["a1"], branched["a1b"])


def test_editing_the_first_message_adds_a_root_sibling(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    edited = user(store, branched["cid"], "q1 edited")
    assert edited.parent_id is None and edited.sibling_ids == (branched["q1"], edited.id)
    assert contents(store.path(branched["cid"])) == ["q1 edited"]


def test_moving_the_current_leaf_changes_the_path(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    moved = store.update_conversation(branched["cid"], {"current_leaf_id": branched["a1"]})
    assert moved.current_leaf_id == branched["a1"]
    assert contents(store.path(branched["cid"])) == ["q1", "a1", "q2", "a2"]


def test_a_leaf_from_elsewhere_is_refused_naming_the_field(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    other = store.create_conversation().id
    stranger = user(store, other, "elsewhere").id
    with pytest.raises(InvalidConfig) as caught:
        store.update_conversation(branched["cid"], {"current_leaf_id": stranger})
    assert list(caught.value.fields) == ["currentLeafId"]
    with pytest.raises(InvalidConfig) as caught:
        store.path(branched["cid"], stranger)
    assert list(caught.value.fields) == ["leafId"]


def test_a_parent_from_elsewhere_is_refused_naming_the_field(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    other = store.create_conversation().id
    for parent in (branched["q1"], "no-such-message"):
        with pytest.raises(InvalidConfig) as caught:
            user(store, other, "hi", parent)
        assert list(caught.value.fields) == ["parentId"]
        with pytest.raises(InvalidConfig):
            store.start_reply(other, parent_id=parent, provider_id=None, model=None)
    assert store.get_conversation(other).message_count == 0


def test_a_bad_role_is_refused_naming_the_field(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    with pytest.raises(InvalidConfig) as caught:
        store.add_message(cid, parent_id=None, role="system", content="x")
    assert list(caught.value.fields) == ["role"]


def test_all_messages_is_the_whole_tree_in_creation_order(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    assert contents(store.all_messages(branched["cid"])) == ["q1", "a1", "q2", "a2", "a1b"]
    assert store.get_conversation(branched["cid"]).message_count == 5


# --- deleting messages ----------------------------------------------------------------------


def test_deleting_a_message_deletes_its_subtree(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    cid, deleted = store.delete_message(branched["a1"])
    assert cid == branched["cid"]
    assert deleted == [branched["a1"], branched["q2"], branched["a2"]]
    assert contents(store.all_messages(cid)) == ["q1", "a1b"]
    with pytest.raises(NotFound):
        store.get_message(branched["a2"])


def test_after_a_delete_the_leaf_is_the_parents_newest_descendant(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    store.update_conversation(branched["cid"], {"current_leaf_id": branched["a2"]})
    store.delete_message(branched["a1b"])
    assert store.get_conversation(branched["cid"]).current_leaf_id == branched["a2"]


def test_deleting_the_only_child_leaves_the_parent_as_leaf(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    store.delete_message(branched["a2"])
    assert store.get_conversation(branched["cid"]).current_leaf_id == branched["q2"]


def test_deleting_everything_leaves_no_leaf(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    store.delete_message(branched["q1"])
    conversation = store.get_conversation(branched["cid"])
    assert conversation.current_leaf_id is None and conversation.message_count == 0
    assert store.path(branched["cid"]) == []


def test_deleting_a_root_moves_the_leaf_to_another_root(
    store: ConversationStore, branched: dict[str, str]
) -> None:
    edited = user(store, branched["cid"], "q1 edited")
    answer = reply(store, branched["cid"], edited.id, "answer")
    store.delete_message(branched["q1"])
    assert store.get_conversation(branched["cid"]).current_leaf_id == answer.id


def test_deleting_a_missing_message_is_not_found(store: ConversationStore) -> None:
    with pytest.raises(NotFound):
        store.delete_message("nope")


# --- replies --------------------------------------------------------------------------------


def test_a_reply_streams_then_closes(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    question = user(store, cid, "hi")
    started = store.start_reply(cid, parent_id=question.id, provider_id="p1", model="m1")
    assert started.status == "streaming" and started.content == "" and started.role == "assistant"
    assert started.finish_reason is None
    assert store.get_conversation(cid).current_leaf_id == started.id
    store.save_reply(started.id, content="Hel", reasoning="think")
    partial = store.get_message(started.id)
    assert partial.status == "streaming" and partial.content == "Hel"
    calls = [{"id": "c1", "name": "f", "arguments": "{}"}]
    store.save_reply(
        started.id,
        content="Hello",
        reasoning="think",
        tool_calls=calls,
        usage={"inputTokens": 3, "outputTokens": 2, "source": "reported"},
        finish_reason="stop",
        ttft_ms=12,
        elapsed_ms=40,
    )
    done = store.get_message(started.id).to_wire()
    assert done["status"] == "done" and done["finishReason"] == "stop"
    assert done["content"] == "Hello" and done["reasoning"] == "think"
    assert done["toolCalls"] == calls and done["usage"]["outputTokens"] == 2
    assert done["ttftMs"] == 12 and done["elapsedMs"] == 40 and done["error"] is None
    assert done["providerId"] == "p1" and done["model"] == "m1"


def test_saving_a_deleted_reply_does_nothing(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    started = store.start_reply(cid, parent_id=user(store, cid, "hi").id, provider_id=None,
                                model=None)  # fmt: skip
    store.delete_message(started.id)
    store.save_reply(started.id, content="late", finish_reason="stop")
    assert contents(store.all_messages(cid)) == ["hi"]


def test_an_error_reply_keeps_its_partial_text_and_error(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    started = store.start_reply(cid, parent_id=user(store, cid, "hi").id, provider_id="p",
                                model="m")  # fmt: skip
    error = {"code": "RATE_LIMITED", "message": "Slow down."}
    store.save_reply(started.id, content="part", finish_reason="error", error=error)
    saved = store.get_message(started.id)
    assert saved.content == "part" and saved.error == error and saved.finish_reason == "error"


def test_close_interrupted_closes_streaming_replies_as_internal_errors(
    store: ConversationStore,
) -> None:
    cid = store.create_conversation().id
    question = user(store, cid, "hi")
    left = store.start_reply(cid, parent_id=question.id, provider_id=None, model=None)
    store.save_reply(left.id, content="half an ans")
    finished = reply(store, cid, question.id, "whole")
    assert store.close_interrupted() == 1
    closed = store.get_message(left.id)
    assert closed.status == "done" and closed.finish_reason == "error"
    assert closed.content == "half an ans"
    assert closed.error is not None and closed.error["code"] == "INTERNAL"
    assert closed.error["message"].endswith(".")
    assert store.get_message(finished.id).finish_reason == "stop"
    assert store.close_interrupted() == 0


def test_tool_messages_keep_their_call_id(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    question = user(store, cid, "weather?")
    tool = store.add_message(
        cid, parent_id=question.id, role="tool", content="sunny", tool_call_id="call-1"
    )
    assert store.get_message(tool.id).to_wire()["toolCallId"] == "call-1"


# --- the file -------------------------------------------------------------------------------


def test_conversations_survive_reopening_the_file(data_dir: Path) -> None:
    path = data_dir / "reopen.db"
    with Storage(path) as storage:
        store = ConversationStore(storage)
        cid = store.create_conversation().id
        first = user(store, cid, "kept")
        reply(store, cid, first.id, "also kept")
    with Storage(path) as storage:
        assert contents(ConversationStore(storage).path(cid)) == ["kept", "also kept"]


def test_an_older_data_file_is_upgraded_keeping_its_providers(data_dir: Path) -> None:
    path = data_dir / "old.db"
    with Storage(path) as storage:
        storage.set_setting("language", "en")
    with closing(sqlite3.connect(path)) as conn:
        # Back to version 2: every table a later migration made goes (virtual tables first
        # take their shadow tables with them).
        later = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN "
            "('providers', 'settings', 'health_checks', 'chat_requests', 'sqlite_sequence') "
            "ORDER BY rowid"
        ).fetchall()
        for (table,) in later:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for (trigger,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("ALTER TABLE providers DROP COLUMN check_kind")  # migration 6's column
        for column in ("route_id", "key_id", "cached_input_tokens", "cost_micros", "currency"):
            conn.execute(f"ALTER TABLE chat_requests DROP COLUMN {column}")  # migration 8's
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    with Storage(path) as storage:
        assert storage.get_setting("language") == "en"
        store = ConversationStore(storage)
        cid = store.create_conversation().id
        user(store, cid, "after the upgrade")
        assert store.search("upgrade")[0]["conversationId"] == cid
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
