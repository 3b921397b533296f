"""The conversation methods of CONTRACT §9, over the bridge and over `/api/rpc` of the real
server: results, envelopes and field errors, tree moves, search and export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backend.app import MiaodaApp
from backend.bridge import Bridge
from backend.models import utc_now
from backend.storage import ConversationStore
from tests.fakes.upstream import FakeUpstream, Reply
from tests.helpers import CANARY_KEY, files_containing
from tests.integration.served import Call
from tests.integration.test_chat_http import add_provider

XSS = '<img src=x onerror="alert(1)">&'


@pytest.fixture
def store(app: MiaodaApp) -> ConversationStore:
    return app.chat.conversations.store


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["success"] is True, result
    return result


def field_error(result: dict[str, Any], name: str) -> None:
    assert result["success"] is False, result
    assert result["error"]["code"] == "INVALID_CONFIG"
    assert name in result["error"]["fields"], result["error"]


def a_thread(store: ConversationStore, title: str | None = None) -> tuple[str, list[str]]:
    """A conversation of two turns (user, assistant, user, assistant); its id and message ids."""
    conversation = store.create_conversation(title=title)
    ids: list[str] = []
    parent = None
    for role, text in [("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2")]:
        parent = store.add_message(conversation.id, parent_id=parent, role=role, content=text).id
        ids.append(parent)
    return conversation.id, ids


# --- create, read, list, update, delete ----------------------------------------------------------


def test_a_created_conversation_reads_back_with_the_contract_fields(call: Call) -> None:
    created = ok(
        call(
            "createConversation",
            {"title": "Plans", "systemPrompt": "Be brief.", "model": "m-1", "toolServers": []},
        )
    )["conversation"]
    assert created["title"] == "Plans" and created["systemPrompt"] == "Be brief."
    assert created["pinned"] is False and created["messageCount"] == 0
    assert created["currentLeafId"] is None and created["model"] == "m-1"
    got = ok(call("getConversation", created["id"]))
    assert got["conversation"] == created and got["messages"] == []


def test_create_takes_no_argument_at_all(call: Call) -> None:
    assert ok(call("createConversation"))["conversation"]["systemPrompt"] == ""


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"title": "x" * 201}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"systemPrompt": 5}, "systemPrompt"),
        ({"model": "bad\x00model"}, "model"),
        ({"toolServers": "all"}, "toolServers"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_names_the_field_it_refuses(call: Call, options: dict[str, Any], name: str) -> None:
    field_error(call("createConversation", options), name)


def test_list_puts_pinned_first_then_the_newest_and_pages_with_a_cursor(
    call: Call, store: ConversationStore
) -> None:
    ids = []
    for i in range(3):
        created = store.create_conversation(title=f"c{i}")
        ids.append(created.id)
        while utc_now() <= created.updated_at:  # timestamps are to the millisecond: no ties
            pass
    ok(call("updateConversation", ids[0], {"pinned": True}))
    first = ok(call("listConversations", {"limit": 2}))
    assert [c["id"] for c in first["conversations"]] == [ids[0], ids[2]]
    assert first["nextCursor"]
    rest = ok(call("listConversations", {"limit": 2, "cursor": first["nextCursor"]}))
    assert [c["id"] for c in rest["conversations"]] == [ids[1]]
    assert rest["nextCursor"] is None


@pytest.mark.parametrize(
    ("options", "name"),
    [({"limit": 0}, "limit"), ({"limit": "5"}, "limit"), ({"cursor": "garbage!"}, "cursor")],
)
def test_list_names_the_option_it_refuses(call: Call, options: dict[str, Any], name: str) -> None:
    field_error(call("listConversations", options), name)


def test_get_follows_the_named_leaf_to_its_newest_descendant(
    call: Call, store: ConversationStore
) -> None:
    conversation_id, (q1, a1, q2, a2) = a_thread(store)
    other = store.add_message(conversation_id, parent_id=a1, role="user", content="Q2b").id
    current = ok(call("getConversation", conversation_id))
    assert [m["id"] for m in current["messages"]] == [q1, a1, other]
    named = ok(call("getConversation", conversation_id, {"leafId": q2}))
    assert [m["id"] for m in named["messages"]] == [q1, a1, q2, a2]
    assert named["messages"][2]["siblingIds"] == [q2, other]


def test_get_refuses_a_leaf_of_another_conversation(call: Call, store: ConversationStore) -> None:
    conversation_id, _ = a_thread(store)
    _, (foreign, *_) = a_thread(store)
    field_error(call("getConversation", conversation_id, {"leafId": foreign}), "leafId")


@pytest.mark.parametrize("bad", [None, 5, "", "x" * 101, ["id"]])
def test_ids_are_checked_with_a_field_error(call: Call, bad: Any) -> None:
    for method in ("getConversation", "deleteConversation", "deleteMessage"):
        field_error(call(method, bad), "id")


def test_an_unknown_conversation_is_not_found(call: Call) -> None:
    for method in ("getConversation", "deleteConversation"):
        result = call(method, "0" * 32)
        assert result["success"] is False and result["error"]["code"] == "NOT_FOUND"
    missing = call("updateConversation", "0" * 32, {"pinned": True})
    assert missing["error"]["code"] == "NOT_FOUND"


def test_update_changes_the_fields_given_and_moves_the_current_leaf(
    call: Call, store: ConversationStore
) -> None:
    conversation_id, (q1, a1, q2, a2) = a_thread(store)
    branch = store.add_message(conversation_id, parent_id=a1, role="user", content="Q2b").id
    updated = ok(
        call(
            "updateConversation",
            conversation_id,
            {"title": "Renamed", "systemPrompt": "New", "currentLeafId": q2},
        )
    )["conversation"]
    assert updated["title"] == "Renamed" and updated["systemPrompt"] == "New"
    assert updated["currentLeafId"] == q2
    path = ok(call("getConversation", conversation_id))["messages"]
    assert [m["id"] for m in path] == [q1, a1, q2, a2]
    assert branch in path[2]["siblingIds"]


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"pinned": "yes"}, "pinned"),
        ({"currentLeafId": "0" * 32}, "currentLeafId"),
        ({"title": ""}, "title"),
        ({"messageCount": 3}, "messageCount"),
    ],
)
def test_update_names_the_field_it_refuses(
    call: Call, store: ConversationStore, changes: dict[str, Any], name: str
) -> None:
    conversation_id, _ = a_thread(store)
    field_error(call("updateConversation", conversation_id, changes), name)


def test_deleting_a_message_takes_its_subtree_and_moves_the_leaf_to_its_parent(
    call: Call, store: ConversationStore
) -> None:
    conversation_id, (_, a1, q2, a2) = a_thread(store)
    result = ok(call("deleteMessage", q2))
    assert result["id"] == q2 and set(result["deletedIds"]) == {q2, a2}
    after = ok(call("getConversation", conversation_id))
    assert after["conversation"]["currentLeafId"] == a1
    assert after["conversation"]["messageCount"] == 2


def test_a_deleted_conversation_is_gone(call: Call, store: ConversationStore) -> None:
    conversation_id, _ = a_thread(store)
    assert ok(call("deleteConversation", conversation_id))["id"] == conversation_id
    assert call("getConversation", conversation_id)["error"]["code"] == "NOT_FOUND"
    assert ok(call("listConversations"))["conversations"] == []


# --- search ------------------------------------------------------------------------------------


def test_search_finds_a_message_with_its_snippet_segments(
    call: Call, store: ConversationStore
) -> None:
    conversation = store.create_conversation(title="Trip")
    message = store.add_message(
        conversation.id, parent_id=None, role="user", content="我们明天去北京旅行"
    )
    hits = ok(call("searchConversations", "北京"))["hits"]
    assert hits and hits[0]["conversationId"] == conversation.id
    assert hits[0]["messageId"] == message.id
    assert any(s["match"] and "北京" in s["text"] for s in hits[0]["snippet"])


@pytest.mark.parametrize(
    ("query", "options", "name"),
    [(5, None, "query"), ("x", {"limit": 201}, "limit"), ("x", {"limit": 0}, "limit")],
)
def test_search_names_what_it_refuses(
    call: Call, query: Any, options: dict[str, Any] | None, name: str
) -> None:
    field_error(call("searchConversations", query, options), name)


# --- export ------------------------------------------------------------------------------------


def test_a_json_export_carries_the_format_and_the_whole_tree(
    call: Call, store: ConversationStore
) -> None:
    conversation_id, ids = a_thread(store, title="Tree")
    store.add_message(conversation_id, parent_id=None, role="user", content="Other root")
    result = ok(call("exportConversation", conversation_id, {"format": "json"}))
    assert result["filename"] == "Tree.json"
    document = json.loads(result["content"])
    assert document["format"] == "miaoda-chat/conversation" and document["version"] == 1
    assert document["exportedAt"] and document["conversation"]["id"] == conversation_id
    assert [m["id"] for m in document["messages"]][:4] == ids
    assert len(document["messages"]) == 5


def test_a_markdown_export_keeps_html_as_text(call: Call, store: ConversationStore) -> None:
    conversation = store.create_conversation(title=XSS)
    store.add_message(conversation.id, parent_id=None, role="user", content=f"Look: {XSS}")
    result = ok(call("exportConversation", conversation.id, {"format": "markdown"}))
    content = result["content"]
    assert "<img" not in content and "&lt;img src=x" in content and "&amp;" in content
    assert '# &lt;img src=x onerror="alert(1)"&gt;&amp;' in content
    assert result["filename"].endswith(".md") and "/" not in result["filename"]
    assert "<" not in result["filename"] and ">" not in result["filename"]


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"format": "pdf"}, "format"),
        ({}, "format"),
        ({"format": "markdown", "path": "/tmp/x.txt"}, "path"),
        ({"format": "json", "path": "/tmp/x.md"}, "path"),
    ],
)
def test_export_names_the_option_it_refuses(
    call: Call, store: ConversationStore, options: dict[str, Any], name: str
) -> None:
    conversation_id, _ = a_thread(store)
    field_error(call("exportConversation", conversation_id, options), name)


def test_an_export_to_a_path_is_written_and_replaces_only_an_earlier_export(
    call: Call, store: ConversationStore, tmp_path: Path
) -> None:
    conversation_id, _ = a_thread(store, title="Saved")
    target = tmp_path / "out.md"
    written = ok(
        call("exportConversation", conversation_id, {"format": "markdown", "path": str(target)})
    )
    assert written["path"] == str(target) and "Q2" in target.read_text(encoding="utf-8")
    again = call("exportConversation", conversation_id, {"format": "markdown", "path": str(target)})
    assert again["success"] is True
    mine = tmp_path / "notes.md"
    mine.write_text("my own notes", encoding="utf-8")
    refused = call("exportConversation", conversation_id, {"format": "markdown", "path": str(mine)})
    field_error(refused, "path")
    assert mine.read_text(encoding="utf-8") == "my own notes"


class SaveDialog:
    """The native save dialog's seam: answers with a path, or None (dismissed)."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.suggested: list[str] = []

    def save_path(self, suggested_name: str) -> str | None:
        self.suggested.append(suggested_name)
        return self.answer

    def open_path(self) -> str | None:
        return self.answer


def test_the_desktop_export_asks_the_save_dialog(
    app: MiaodaApp, store: ConversationStore, tmp_path: Path
) -> None:
    conversation_id, _ = a_thread(store, title="Dialog test")
    dialog = SaveDialog(str(tmp_path / "chosen"))
    bridge: Bridge = app.bridge(dialog)
    result = ok(bridge.exportConversation(conversation_id, {"format": "json"}))
    assert dialog.suggested == ["Dialog test.json"]
    assert result["path"] == str(tmp_path / "chosen.json")
    assert json.loads((tmp_path / "chosen.json").read_text(encoding="utf-8"))["version"] == 1
    dismissed = app.bridge(SaveDialog(None)).exportConversation(conversation_id, {"format": "json"})
    assert dismissed["error"]["code"] == "CANCELLED"


# --- models of a provider not saved yet ----------------------------------------------------------


def test_models_are_listed_for_an_unsaved_config_with_a_typed_key_that_is_not_kept(
    call: Call, app: MiaodaApp, upstream: FakeUpstream, data_dir: Path
) -> None:
    upstream.script("/v1/models", Reply.json({"data": [{"id": "m-a"}, {"id": "m-b"}]}))
    config = {"baseURL": upstream.url + "/v1", "type": "openai-compatible", "apiKey": CANARY_KEY}
    result = ok(call("listProviderModels", config))
    assert result["models"] == ["m-a", "m-b"]
    assert upstream.requests_to("/v1/models")[0].headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert CANARY_KEY not in json.dumps(result)
    assert ok(call("getAllCustomProviders"))["providers"] == []
    assert files_containing(data_dir, CANARY_KEY) == []


def test_models_of_a_saved_provider_are_still_listed_by_id(
    call: Call, app: MiaodaApp, upstream: FakeUpstream
) -> None:
    provider_id = add_provider(app, upstream.url + "/v1", apiKey=CANARY_KEY)
    upstream.script("/v1/models", Reply.json({"data": [{"id": "fake-model"}]}))
    result = ok(call("listProviderModels", provider_id))
    assert result == {"success": True, "models": ["fake-model"], "current": "fake-model"}


def test_an_unsaved_config_with_a_bad_address_names_the_field(call: Call) -> None:
    field_error(
        call("listProviderModels", {"baseURL": "ftp://x", "type": "openai-compatible"}), "baseURL"
    )
