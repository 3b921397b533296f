"""Crash safety of conversations: an app killed mid-stream loses no conversation, and the reply it
was writing is found, partial and closed as error/INTERNAL, at the next start.

The test runs this module as a child process (`python -m tests.integration.test_conversation_crash`)
that opens the real chat service over the real SQLite file (`ChatService`: the store, the reply
saver, the provider layer) and keeps two conversation-form streams going against a slow fake
upstream in the parent, then kills it with SIGKILL at a seeded random moment, over and over on
the same data folder. After each kill the parent checks SQLite's integrity, starts the app as
`MiaodaApp` does (`close_interrupted`), and finds every conversation the child reported, each
reported reply either whole (`stop`) or a prefix of it closed as `error`/`INTERNAL`.

Protocol, one line each, flushed:
    ready                                  the service is up
    created <conversationId> <replyId>     the `start` event arrived (the turn is committed)
    finished <replyId>                     the stream's `done` arrived
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from backend.chat.service import ChatService
from backend.manager import CustomProviderManager
from backend.providers import ProviderService
from backend.secrets import MemorySecretStore
from backend.storage import ConversationStore, Storage
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.killable import run_until_killed

SEED = 20261127
KILLS = 50
WORKERS = 2
PIECE, PIECES, PIECE_DELAY = "tok ", 30, 0.02  # a reply takes about 0.6 s
FULL_TEXT = PIECE * PIECES
CHILD_MODULE = "tests.integration.test_conversation_crash"
PROVIDER = {
    "name": "slow",
    "displayName": "Slow",
    "model": "slow-model",
    "type": "openai-compatible",
}

# --- the child --------------------------------------------------------------------------------

_print_lock = threading.Lock()


def _say(line: str) -> None:
    with _print_lock:
        print(line, flush=True)


def _converse(chat: ChatService, provider_id: str, rng: random.Random, stop: float) -> None:
    """Start conversations (and sometimes continue the last one) until `stop`."""
    last: str | None = None
    while time.monotonic() < stop:
        body: dict[str, object] = {"message": {"role": "user", "content": f"q{rng.random()}"}}
        if last is not None and rng.random() < 0.3:
            body["conversationId"] = last
        else:
            body |= {"conversationId": None, "providerId": provider_id}
        events = iter(chat.stream(body, lambda: False))
        head = next(events).decode()  # the `start` event: the turn is committed
        start = json.loads(head.split("data: ", 1)[1])
        _say(f"created {start['conversationId']} {start['messageId']}")
        for _ in events:
            pass
        _say(f"finished {start['messageId']}")
        last = start["conversationId"]


def child_main(db_path: str, base_url: str, run: int) -> None:
    """Stream conversations until killed (or 30 s pass), reporting each one."""
    storage = Storage(Path(db_path))
    ConversationStore(storage).close_interrupted()
    secrets = MemorySecretStore()
    manager = CustomProviderManager(storage, secrets)
    found = [p for p in manager.list() if p.name == PROVIDER["name"]]
    provider_id = (
        found[0].id
        if found
        else manager.add({**PROVIDER, "baseURL": base_url}, validate=False)[0].id
    )
    providers = ProviderService()
    chat = ChatService(manager, providers, storage)
    _say("ready")
    stop = time.monotonic() + 30
    workers = [
        threading.Thread(
            target=_converse, args=(chat, provider_id, random.Random(run * 10 + i), stop)
        )
        for i in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    chat.close()
    providers.close()
    storage.close()


# --- the parent -------------------------------------------------------------------------------


def integrity(db: Path) -> list[tuple[str]]:
    """SQLite's own verdict on the file, through a plain connection."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


@pytest.mark.slow
def test_killed_app_loses_no_conversation_and_closes_the_reply_it_was_writing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "miaoda.db"
    db.parent.mkdir()
    rng = random.Random(SEED)
    created: dict[str, set[str]] = {}  # conversation id -> reply ids reported
    partial = whole = 0
    started = time.monotonic()
    with FakeUpstream() as upstream:
        upstream.script(
            "/v1/chat/completions",
            Reply.stream(openai_stream([PIECE] * PIECES), delay=PIECE_DELAY),
        )
        for run in range(KILLS):
            lines = run_until_killed(
                CHILD_MODULE,
                [str(db), upstream.url + "/v1", str(run)],
                errors=tmp_path / f"child-{run}.stderr",
                label=f"the child of run {run}",
                delay=rng.uniform(0.05, 0.8),
                wait_for="ready",
            )
            finished = {line.split()[1] for line in lines if line.startswith("finished ")}
            new_replies: set[str] = set()
            for line in lines:
                if line.startswith("created "):
                    _, conversation_id, reply_id = line.split()
                    created.setdefault(conversation_id, set()).add(reply_id)
                    new_replies.add(reply_id)

            assert integrity(db) == [("ok",)], f"run {run}: the file is damaged"
            with Storage(db) as storage:  # what the next start sees, as MiaodaApp opens it
                store = ConversationStore(storage)
                store.close_interrupted()
                for conversation_id, replies in created.items():
                    store.get_conversation(conversation_id)  # NotFound would be a loss
                    for reply_id in replies:
                        reply = store.get_message(reply_id)
                        assert reply.status == "done", f"run {run}: {reply_id} left streaming"
                        if reply.finish_reason == "stop":
                            assert reply.content == FULL_TEXT
                            whole += reply_id in new_replies
                            continue
                        assert reply_id not in finished, f"run {run}: a finished reply was lost"
                        assert reply.finish_reason == "error" and reply.error is not None
                        assert reply.error["code"] == "INTERNAL"
                        assert FULL_TEXT.startswith(reply.content)
                        partial += reply_id in new_replies and bool(reply.content)
    conversations = len(created)
    assert conversations >= KILLS, "the child hardly wrote anything; the test proved nothing"
    assert partial > 0, "no kill landed while a reply was partly saved"
    print(
        f"{KILLS} kills, {conversations} conversations, 0 lost, {whole} whole replies, "
        f"{partial} partial replies closed as INTERNAL, {time.monotonic() - started:.1f} s"
    )


def test_the_app_closes_a_reply_left_streaming_when_it_starts(data_dir: Path) -> None:
    from backend.app import MiaodaApp  # here, so that the child does not import the server

    with Storage(data_dir / "miaoda.db") as storage:
        store = ConversationStore(storage)
        conversation = store.create_conversation()
        question = store.add_message(conversation.id, parent_id=None, role="user", content="Q")
        reply = store.start_reply(
            conversation.id, parent_id=question.id, provider_id=None, model=None
        )
        store.save_reply(reply.id, content="half an ans")
    app = MiaodaApp(data_dir, secret_backend="file")
    try:
        closed = app.chat.conversations.store.get_message(reply.id)
    finally:
        app.close()
    assert closed.status == "done" and closed.finish_reason == "error"
    assert closed.content == "half an ans"
    assert closed.error is not None and closed.error["code"] == "INTERNAL"
    assert closed.error["message"]


if __name__ == "__main__":
    child_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
