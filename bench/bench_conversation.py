"""Opening a long conversation: `getConversation` over the bridge and over HTTP, against the
store's own `path()`.

Run: .venv/bin/python bench/bench_conversation.py [--messages 2000] [--runs 20]

A conversation of `--messages` messages (alternating user and assistant, mixed English and
Chinese text of a few hundred characters, one branch every 50 messages) is written through the
store into a fresh data folder. Printed: p50/p95 over `--runs` calls of
  path()                    the store reading the current path (the baseline);
  getConversation (bridge)  what the desktop window calls: path, wire objects, envelope;
  getConversation (HTTP)    the browser's call: `POST /api/rpc/getConversation` on the real
                            server, JSON encoding and transfer included;
and the size of the answer. The UI's paint time is measured in the browser suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.app import MiaodaApp

TOKEN = "bench"
WORDS = (
    "The quick brown fox jumps over the lazy dog while 我们讨论数据库索引和全文搜索的性能 "
    "and a code block follows: `SELECT * FROM messages WHERE id = ?`. 今天的天气很好。 "
)


def text(i: int) -> str:
    return f"#{i} " + WORDS * (1 + i % 3)


def fill(app: MiaodaApp, messages: int) -> str:
    """Write the conversation through the store; its id."""
    store = app.chat.conversations.store
    conversation = store.create_conversation(title="Benchmark")
    parent: str | None = None
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        message = store.add_message(conversation.id, parent_id=parent, role=role, content=text(i))
        if i % 50 == 25 and parent is not None:  # a sibling branch, left behind
            store.add_message(conversation.id, parent_id=parent, role=role, content="branch")
        parent = message.id
    store.update_conversation(conversation.id, {"current_leaf_id": parent})
    return conversation.id


def timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds (one warm-up call first)."""
    call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages on the path")
    parser.add_argument("--runs", type=int, default=20, help="calls per row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token=TOKEN)
        try:
            app.start_server(0)
            conversation_id = fill(app, args.messages)
            store = app.chat.conversations.store
            bridge = app.bridge()
            url = f"{app.server_url}/api/rpc/getConversation"
            headers = {"Content-Type": "application/json", "X-MiaoDa-Token": TOKEN}
            with httpx.Client(timeout=60) as client:

                def over_http() -> object:
                    response = client.post(url, json=[conversation_id], headers=headers)
                    assert response.json()["success"]
                    return response

                answer = bridge.getConversation(conversation_id)
                assert answer["success"] and len(answer["messages"]) == args.messages
                size = len(json.dumps(answer, ensure_ascii=False).encode())
                rows = [
                    ("path() (store)", timed(lambda: store.path(conversation_id), args.runs)),
                    (
                        "getConversation (bridge)",
                        timed(lambda: bridge.getConversation(conversation_id), args.runs),
                    ),
                    ("getConversation (HTTP)", timed(over_http, args.runs)),
                ]
        finally:
            app.close()
    print(
        f"Open a {args.messages:,}-message conversation ({size / 1024:,.0f} KiB of JSON), "
        f"{args.runs} runs"
    )
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}")
    for name, (p50, p95) in rows:
        print(f"{name:28}{p50:10.1f}{p95:10.1f}")


if __name__ == "__main__":
    main()
