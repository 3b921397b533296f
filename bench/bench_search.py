"""Search benchmark: conversation search over many stored messages (issue 16, target p50 ≤ 30 ms).

Run: .venv/bin/python bench/bench_search.py [--messages 100000] [--conversations 2000]

Generates `--messages` messages (English and Chinese, some Japanese, 50-1,500 characters) in
`--conversations` conversations into a temporary data file through `ConversationStore`
(in transactions of 2,000 messages), then runs 50 varied queries through
`ConversationStore.search` (limit 50): English words common and rare, mixed case and
full-width, Chinese of 1, 2 and 4 characters, Japanese, short Latin terms and several terms at
once. Printed: build time, database size, p50 / p95 / max and hits per query kind and overall;
and, as the baseline in the same run, what answering the same queries by reading every message
costs (`instr()` over the text, no index), and a bare `SELECT count(*)`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.storage import ConversationStore, Storage

ENGLISH = str.split(
    "the model answer question python code function data server request error stream token "
    "provider search index database query result example please explain how why what when "
    "because simple performance memory thread process network latency browser window "
    "conversation message history summary translate document format table column value "
    "string number list dictionary class method return import module package install "
    "version update release test debug log config setting option default user system"
)
CHINESE = str.split(
    "我们 学习 编程 数据 模型 问题 回答 可以 如何 使用 机器学习 深度学习 人工智能 数据库 "
    "服务器 网络 请求 错误 性能 内存 线程 进程 浏览器 窗口 对话 消息 历史 总结 翻译 文档 "
    "格式 表格 数值 字符串 列表 字典 方法 返回 导入 模块 安装 版本 更新 测试 调试 日志 配置 "
    "的 了 是 在 和 有 这 个 中 为 我 你 他 她 它 就 也 都 而 及 与 或 一个 没有 我们的"
)
JAPANESE = str.split(
    "これは テキスト です 日本語 の 文章 を 書きます プログラム データ 検索 機能 が あります "
    "東京 大阪 会議 資料 説明 して ください ありがとう ございます カタカナ ひらがな"
)
RARE = ("zanzibar", "quokka", "蝾螈", "xylophone")

# (kind, query): 50 queries.
QUERIES: tuple[tuple[str, str], ...] = (
    *(("English word", q) for q in ("python", "database", "latency", "thread", "summary",
                                    "translate", "conversation", "install", "debug", "browser")),
    *(("English rare", q) for q in ("zanzibar", "quokka", "xylophone")),
    *(("mixed case", q) for q in ("PyThOn", "DATABASE", "Browser", "ModeL")),
    *(("full-width", q) for q in ("ＰＹＴＨＯＮ", "ｓｅｒｖｅｒ", "Ｄａｔａ")),
    *(("Chinese 1 char", q) for q in ("的", "学", "库", "蝾", "网")),
    *(("Chinese 2 chars", q) for q in ("学习", "数据", "性能", "浏览", "翻译", "蝾螈")),
    *(("Chinese 4 chars", q) for q in ("机器学习", "深度学习", "人工智能", "数据库服")),
    *(("Japanese", q) for q in ("テキスト", "日本語", "東京", "検索機能", "ください")),
    *(("Latin 1-2 chars", q) for q in ("py", "a", "db", "ve")),
    *(("several terms", q) for q in ("python 教程", "数据 model", "server error", "学习 编程",
                                     "the 的", "quokka 数据")),
)  # fmt: skip


def sentence(rng: random.Random, language: str) -> str:
    """One sentence-like run of words in a language."""
    if language == "en":
        words = [rng.choice(ENGLISH) for _ in range(rng.randint(6, 18))]
        words[0] = words[0].capitalize()
        return " ".join(words) + rng.choice(".?!")
    pool = CHINESE if language == "zh" else JAPANESE
    text = "".join(rng.choice(pool) for _ in range(rng.randint(6, 16)))
    return text + rng.choice("。？！，")


def message_text(rng: random.Random) -> str:
    """50-1,500 characters: mostly English or Chinese, some Japanese, some mixed."""
    target = int(min(1500, max(50, rng.lognormvariate(6.0, 0.8))))
    main = rng.choices(("en", "zh", "ja"), weights=(45, 45, 10))[0]
    parts: list[str] = []
    size = 0
    while size < target:
        language = main if rng.random() < 0.85 else rng.choice(("en", "zh"))
        part = sentence(rng, language)
        parts.append(part)
        size += len(part) + 1
    if rng.random() < 0.002:
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(RARE))
    return " ".join(parts)[:target]


def build(store: ConversationStore, storage: Storage, texts: list[str], conversations: int) -> None:
    """Fill the store: each conversation a chain of turns, user then assistant."""
    per = max(1, len(texts) // conversations)
    made = 0
    while made < len(texts):
        with storage.transaction():
            batch_end = min(len(texts), made + 2000)
            while made < batch_end:
                conversation = store.create_conversation()
                parent = None
                for turn in range(min(per, batch_end - made)):
                    role = "user" if turn % 2 == 0 else "assistant"
                    parent = store.add_message(
                        conversation.id, parent_id=parent, role=role, content=texts[made]
                    ).id
                    made += 1


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def scan_count(storage: Storage, query: str) -> int:
    """The baseline: messages holding the text, by reading every one of them (no index)."""
    with storage._reading("scan the messages") as conn:
        row = conn.execute(
            "SELECT count(*) FROM messages WHERE instr(lower(content), ?) > 0", (query,)
        ).fetchone()
        return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each query")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "miaoda.db"
        storage = Storage(path)
        store = ConversationStore(storage)
        rng = random.Random(16)
        texts = [message_text(rng) for _ in range(args.messages)]
        started = time.perf_counter()
        build(store, storage, texts, args.conversations)
        built = time.perf_counter() - started
        storage.checkpoint()
        size_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6

        timings: dict[str, list[float]] = {}
        hits: dict[str, list[int]] = {}
        for kind, query in QUERIES:
            store.search(query)  # warm: the first run reads the pages from disk
            for _ in range(args.runs):
                t0 = time.perf_counter()
                found = store.search(query, limit=50)
                timings.setdefault(kind, []).append((time.perf_counter() - t0) * 1000)
            hits.setdefault(kind, []).append(len(found))

        print(
            f"search: {args.messages} messages in {args.conversations} conversations, "
            f"{len(QUERIES)} queries × {args.runs} runs, limit 50 (target: p50 ≤ 30 ms)"
        )
        chars = sum(map(len, texts)) / 1e6
        print(
            f"build (ConversationStore.add_message, indexed as saved, {chars:.1f} M characters): "
            f"{built:.1f} s ({len(texts) / built:.0f} messages/s)"
        )
        print(f"database size: {size_mb:.1f} MB")
        print(f"{'query kind':<18}{'queries':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'hits':>8}")
        every: list[float] = []
        for kind, values in timings.items():
            every += values
            print(
                f"{kind:<18}{len(hits[kind]):>8}{statistics.median(values):>9.2f}"
                f"{percentile(values, 0.95):>9.2f}{max(values):>9.2f}"
                f"{statistics.mean(hits[kind]):>8.1f}"
            )
        all_hits = [n for counts in hits.values() for n in counts]
        print(
            f"{'overall':<18}{len(QUERIES):>8}{statistics.median(every):>9.2f}"
            f"{percentile(every, 0.95):>9.2f}{max(every):>9.2f}{statistics.mean(all_hits):>8.1f}"
        )

        print("baseline, same data, no index (SQLite reads every message):")
        with storage._reading("count") as conn:
            t0 = time.perf_counter()
            total = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
            count_ms = (time.perf_counter() - t0) * 1000
        print(f"  count of all messages ({total} rows): {count_ms:.2f} ms")
        for query in ("python", "学习", "テキスト"):
            t0 = time.perf_counter()
            matched = scan_count(storage, query)
            scan_ms = (time.perf_counter() - t0) * 1000
            print(f"  instr() full scan for {query!r}: "
                  f"{scan_ms:.0f} ms, {matched} messages match")  # fmt: skip
        storage.close()


if __name__ == "__main__":
    main()
