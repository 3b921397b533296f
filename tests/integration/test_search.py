"""Conversation search through ConversationStore on a real SQLite file (CONTRACT §9, issue 16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.storage import ConversationStore, Storage

TEXTS = {
    "english": "How do I read a CSV file in Python? I keep getting a UnicodeDecodeError.",
    "chinese": "我想学习机器学习，请推荐一本入门的书。",
    "japanese": "東京の天気はどうですか？明日は雨が降りそうです。",
    "fullwidth": "ＰＹＴＨＯＮ３ is installed on this machine",
    "symbols": 'Use the query "a OR b" with NEAR( and col:x, or ^start* -minus (open, shut)',
}


@pytest.fixture
def store(storage: Storage) -> ConversationStore:
    """A conversation store on the test's real data file."""
    return ConversationStore(storage)


@pytest.fixture
def corpus(store: ConversationStore) -> dict[str, str]:
    """One conversation per text in TEXTS, each a user message: name -> message id."""
    ids = {}
    for name, text in TEXTS.items():
        cid = store.create_conversation(title=f"about {name}").id
        ids[name] = store.add_message(cid, parent_id=None, role="user", content=text).id
    return ids


def found(store: ConversationStore, query: str) -> set[str]:
    """Ids of the messages a search finds (title hits left out)."""
    return {hit["messageId"] for hit in store.search(query) if hit["messageId"]}


def text_of(hit: dict[str, Any]) -> str:
    return "".join(segment["text"] for segment in hit["snippet"])


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("unicodedecodeerror", "english"),
        ("csv file", "english"),
        ("PyThOn", "english"),
        ("学", "chinese"),
        ("机器", "chinese"),
        ("机器学习", "chinese"),
        ("入门的书", "chinese"),
        ("天気", "japanese"),
        ("雨が降り", "japanese"),
        ("東", "japanese"),
        ("Python3", "fullwidth"),
        ("ＣＳＶ", "english"),
    ],
)
def test_a_query_finds_its_message(
    store: ConversationStore, corpus: dict[str, str], query: str, name: str
) -> None:
    assert corpus[name] in found(store, query)


def test_full_width_latin_finds_plain_text(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    assert found(store, "ＰＹＴＨＯＮ") == {corpus["english"], corpus["fullwidth"]}


def test_every_term_must_appear(store: ConversationStore, corpus: dict[str, str]) -> None:
    assert found(store, "python 学习") == set()
    assert found(store, "python csv") == {corpus["english"]}
    assert found(store, "机器 书") == {corpus["chinese"]}


def test_text_that_is_not_there_is_not_found(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    assert found(store, "机器入门") == set()  # both words are there, not this sequence
    assert found(store, "javascript") == set()


@pytest.mark.parametrize(
    "query", ['"', "*", "NEAR(", "-", "a OR b", "col:x", "^", "(open", ")", '"a OR b"']
)
def test_fts_syntax_is_searched_as_text(
    store: ConversationStore, corpus: dict[str, str], query: str
) -> None:
    assert corpus["symbols"] in found(store, query)


@pytest.mark.parametrize("query", ["", "   ", "\u3000"])
def test_an_empty_query_finds_nothing(store: ConversationStore, query: str) -> None:
    assert store.search(query) == []


def test_a_hit_carries_its_conversation_and_a_marked_snippet(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    hit = next(h for h in store.search("UnicodeDecodeError") if h["messageId"])
    message = store.get_message(corpus["english"])
    assert hit["conversationId"] == message.conversation_id
    assert hit["title"] == "about english" and hit["createdAt"] == message.created_at
    assert text_of(hit) in message.content
    assert [s["text"] for s in hit["snippet"] if s["match"]] == ["UnicodeDecodeError"]
    assert set(hit) == {"conversationId", "messageId", "title", "snippet", "createdAt"}


def test_a_full_width_match_is_marked_in_the_original_text(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    hit = next(h for h in store.search("python3") if h["messageId"] == corpus["fullwidth"])
    assert [s["text"] for s in hit["snippet"] if s["match"]] == ["ＰＹＴＨＯＮ３"]


def test_titles_are_found_with_no_message_id(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    hits = [h for h in store.search("about japanese") if h["messageId"] is None]
    assert len(hits) == 1 and hits[0]["title"] == "about japanese"
    assert text_of(hits[0]) == "about japanese"


def test_a_renamed_title_is_found_by_its_new_name_only(store: ConversationStore) -> None:
    cid = store.create_conversation(title="Old name").id
    store.update_conversation(cid, {"title": "Quarterly budget"})
    assert [h["conversationId"] for h in store.search("budget")] == [cid]
    assert store.search("old name") == []


def test_an_auto_title_is_found(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    store.add_message(cid, parent_id=None, role="user", content="Kubernetes 部署问题")
    titles = [h for h in store.search("部署") if h["messageId"] is None]
    assert [h["conversationId"] for h in titles] == [cid]


def test_a_deleted_message_is_never_found_again(
    store: ConversationStore, corpus: dict[str, str]
) -> None:
    store.delete_message(corpus["chinese"])
    for query in ("机器学习", "学", "机器"):
        assert found(store, query) == set()


def test_a_deleted_subtree_and_conversation_are_not_found(store: ConversationStore) -> None:
    cid = store.create_conversation().id
    root = store.add_message(cid, parent_id=None, role="user", content="zebra question")
    answer = store.add_message(cid, parent_id=root.id, role="assistant", content="zebra answer")
    store.add_message(cid, parent_id=answer.id, role="user", content="zebra follow-up")
    store.delete_message(answer.id)
    assert found(store, "zebra") == {root.id}
    store.delete_conversation(cid)
    assert store.search("zebra") == []


def test_a_reply_is_found_once_it_closes_with_its_final_text(store: ConversationStore) -> None:
    cid = store.create_conversation(title="t").id
    question = store.add_message(cid, parent_id=None, role="user", content="question")
    reply = store.start_reply(cid, parent_id=question.id, provider_id=None, model=None)
    store.save_reply(reply.id, content="draft walrus")
    assert found(store, "walrus") == set()  # still streaming
    store.save_reply(reply.id, content="final narwhal", finish_reason="stop")
    assert found(store, "narwhal") == {reply.id} and found(store, "walrus") == set()
    store.save_reply(reply.id, content="edited narwhal again", finish_reason="stop")
    assert found(store, "again") == {reply.id}


def test_an_interrupted_reply_is_found_after_it_is_closed(store: ConversationStore) -> None:
    cid = store.create_conversation(title="t").id
    question = store.add_message(cid, parent_id=None, role="user", content="question")
    reply = store.start_reply(cid, parent_id=question.id, provider_id=None, model=None)
    store.save_reply(reply.id, content="partial pelican")
    store.close_interrupted()
    assert found(store, "pelican") == {reply.id}


def test_tool_output_and_reasoning_are_not_indexed(store: ConversationStore) -> None:
    cid = store.create_conversation(title="t").id
    question = store.add_message(cid, parent_id=None, role="user", content="weather")
    store.add_message(cid, parent_id=question.id, role="tool", content="tool says flamingo")
    reply = store.start_reply(cid, parent_id=question.id, provider_id=None, model=None)
    store.save_reply(reply.id, content="sunny", reasoning="think flamingo", finish_reason="stop")
    assert store.search("flamingo") == []


def test_hits_are_ranked_and_limited(store: ConversationStore) -> None:
    cid = store.create_conversation(title="t").id
    parent = None
    for index in range(30):
        text = "kiwi " * (1 + index % 3) + "filler " * 40
        parent = store.add_message(cid, parent_id=parent, role="user", content=text).id
    best = store.add_message(cid, parent_id=parent, role="user", content="kiwi kiwi kiwi")
    hits = store.search("kiwi", limit=5)  # fewer than RANKED_MATCHES: all ranked
    assert len(hits) == 5 and hits[0]["messageId"] == best.id
    assert len(store.search("kiwi", limit=200)) == 31


def test_a_reopened_file_finds_the_same_results(tmp_path: Path) -> None:
    path = tmp_path / "data" / "miaoda.db"
    queries = ("python", "学习", "天気", "ＰＹＴＨＯＮ", "about", '"')
    with Storage(path) as storage:
        store = ConversationStore(storage)
        for name, text in TEXTS.items():
            cid = store.create_conversation(title=f"about {name}").id
            store.add_message(cid, parent_id=None, role="user", content=text)
        before = {query: store.search(query) for query in queries}
    with Storage(path) as storage:
        after = {query: ConversationStore(storage).search(query) for query in queries}
    assert after == before and all(before.values())


def test_a_stale_index_is_rebuilt_on_open(tmp_path: Path) -> None:
    path = tmp_path / "data" / "miaoda.db"
    with Storage(path) as storage:
        store = ConversationStore(storage)
        cid = store.create_conversation(title="t").id
        store.add_message(cid, parent_id=None, role="user", content="capybara")
        storage.set_setting("search.indexVersion", "0/folded-differently")
    with Storage(path) as storage:
        store = ConversationStore(storage)
        assert len(store.search("capybara")) == 1
        assert storage.get_setting("search.indexVersion") != "0/folded-differently"
