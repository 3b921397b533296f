"""Opening a long conversation: a 2,000-message conversation against a 20-message one.

Run: .venv/bin/python bench/bench_open_conversation.py [--runs 10] [--messages 2000]

Both conversations are written into a fresh data folder's store before the app starts (the
app's own ConversationStore), then `python -m backend serve` runs on that folder and Debian's
Chromium (Playwright) opens the app. Each run starts from an empty new conversation
(`#/chat/new`) and times, inside the page, from setting `#/chat/<id>` to the first paint of the
thread: the moment the conversation's messages are in the DOM (a MutationObserver, marked with
`performance.mark`) plus one animation frame. Runs alternate between the two conversations.
Printed: p50/p95 of both, and of `getConversation` over HTTP for each (the data the page waits
for). Target: ≤ 300 ms for 2,000 messages.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.storage import ConversationStore, Storage
from bench.serve import start_app

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "bench-open-conversation"
TARGET_MS = 300

# What one run does in the page: open the conversation, resolve after its first painted frame.
OPEN = """async (id) => {
  const view = document.querySelector("chat-view");
  const shown = () => view.dataset.thread === "ready" && view.dataset.conversationId === id &&
    view.querySelector("chat-message") !== null;
  const start = performance.now();
  await new Promise((resolve) => {
    const observer = new MutationObserver(() => {
      if (shown()) { observer.disconnect(); resolve(); }
    });
    observer.observe(view, { childList: true, subtree: true, attributes: true });
    location.hash = `#/chat/${id}`;
  });
  performance.mark("thread-in-dom");
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const end = performance.now();
  const data = performance.getEntriesByName("chat-thread-data").pop().startTime;
  const rendered = view.querySelectorAll("chat-message").length;
  return { ms: end - start, render: end - data, rendered };
}"""

RESET = """async () => {
  const view = document.querySelector("chat-view");
  location.hash = "#/chat/new";
  while (view.dataset.thread !== "new") await new Promise((r) => requestAnimationFrame(r));
}"""


def reply_text(i: int) -> str:
    """A reply of a few hundred characters with markdown, and a code block every fifth one."""
    text = (
        f"Answer {i}: **bold point**, a list and some `inline code`.\n\n"
        f"- first item of reply {i}\n- second item with a [link](https://example.com/{i})\n\n"
        + "A longer paragraph that a model would write, to give the layout some text. "
        * 3
    )
    if i % 5 == 0:
        text += f"\n\n```python\ndef reply_{i}(x):\n    return x * {i}\n```\n"
    return text


def seed(data_dir: Path, sizes: list[int]) -> list[str]:
    """Conversations of `sizes` messages (user and assistant alternating); their ids."""
    storage = Storage(data_dir / "miaoda.db")
    store = ConversationStore(storage)
    ids = []
    for size in sizes:
        conversation = store.create_conversation(title=f"{size} messages", model="bench-model")
        parent: str | None = None
        for i in range(size):
            role = "user" if i % 2 == 0 else "assistant"
            content = f"Question {i}: how does step {i} work?" if role == "user" else reply_text(i)
            parent = store.add_message(
                conversation.id, parent_id=parent, role=role, content=content, model="bench-model"
            ).id
        ids.append(conversation.id)
    storage.close()
    return ids


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) of `samples`."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(len(ordered) * 0.95) - 1)]


def time_rpc(base: str, cid: str, runs: int) -> list[float]:
    """getConversation over HTTP, `runs` times, in ms."""
    samples = []
    headers = {"X-MiaoDa-Token": TOKEN, "Content-Type": "application/json"}
    with httpx.Client(base_url=base, headers=headers) as client:
        for _ in range(runs):
            started = time.perf_counter()
            answer = client.post("/api/rpc/getConversation", json=[cid]).json()
            samples.append((time.perf_counter() - started) * 1000)
            assert answer["success"], answer
    return samples


def time_opens(
    base: str, ids: list[str], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time to first paint of each conversation in Chromium, runs alternating; and the part of
    it after the data arrived (the page's own work: turns, DOM, layout, paint)."""
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {cid: [] for cid in ids}
    renders: dict[str, list[float]] = {cid: [] for cid in ids}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page: Any = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/#token={TOKEN}")
        page.evaluate("location.hash = '#/chat/new'")
        page.locator("chat-view[data-active][data-ready][data-thread=new]").wait_for()
        for cid in ids:  # a warm-up open each: modules, fonts and caches are not what we measure
            page.evaluate(RESET)
            page.evaluate(OPEN, cid)
        for _ in range(runs):
            for cid in ids:
                page.evaluate(RESET)
                outcome = page.evaluate(OPEN, cid)
                assert outcome["rendered"] > 0
                results[cid].append(outcome["ms"])
                renders[cid].append(outcome["render"])
        browser.close()
    return results, renders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    sizes = [args.messages, 20]
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        ids = seed(data_dir, sizes)
        process, base = start_app(data_dir, TOKEN)
        try:
            paint, render = time_opens(base, ids, args.runs)
            rpc = {cid: time_rpc(base, cid, args.runs) for cid in ids}
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    print(f"Open a conversation: #/chat/<id> to first paint of the thread ({args.runs} runs each)")
    head = ("conversation", "getConversation", "first paint", "render after data")
    print(f"{head[0]:<16}{head[1]:>22}{head[2]:>22}{head[3]:>22}")
    print(f"{'':<16}{'p50 / p95 ms':>22}{'p50 / p95 ms':>22}{'p50 / p95 ms':>22}")
    for size, cid in zip(sizes, ids, strict=True):
        cells = [percentiles(rpc[cid]), percentiles(paint[cid]), percentiles(render[cid])]
        row = "".join(f"{f'{a:.1f} / {b:.1f}':>22}" for a, b in cells)
        print(f"{f'{size} messages':<16}{row}")
    _, big95 = percentiles(paint[ids[0]])
    verdict = "met" if big95 <= TARGET_MS else "NOT met"
    print(f"target ≤ {TARGET_MS} ms for {sizes[0]} messages: {verdict} (p95 {big95:.1f} ms)")


if __name__ == "__main__":
    main()
