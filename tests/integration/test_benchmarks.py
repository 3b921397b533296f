"""The benchmarks run on every change: the suite runs each with small sizes and shows its table.

Speed is never asserted (the machine is shared and noisy; docs/PERFORMANCE.md has the full-size
figures). What is checked is that each script runs to the end and prints every row it promises;
its output goes to the test log and to test-artifacts/bench-<name>.txt.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import artifacts_dir

ROOT = Path(__file__).resolve().parents[2]

BENCHES = {
    "language": (
        ["--runs", "2"],
        [
            "page load → providers view ready, en",
            "of which settings + catalogues, zh-CN",
            "switch language: English → 简体中文",
        ],
    ),
    "chat": (
        ["--runs", "30", "--rounds", "3", "--chunks", "2000"],
        [
            "(a) time to first event",
            "httpx direct (sync)",
            "/api/chat/stream over HTTP",
            "added TTFT p50 through the app",
            "(b) one 2000-chunk stream",
            "relay throughput through the app",
            "app CPU per relayed chunk",
            "(c) 10 concurrent streams",
            "paced (100 × 10 ms)",
        ],
    ),
    "health": (
        ["--providers", "40", "--runs", "2", "--idle", "2"],
        ["checkAllCustomProvidersHealth", "warm runs", "scheduler idle"],
    ),
    "providers": (
        [],
        ["getAllCustomProviders with 1000 providers", "POST /api/rpc over loopback"],
    ),
    "search": (
        ["--messages", "2000", "--conversations", "40", "--runs", "1"],
        [
            "build (ConversationStore.add_message",
            "database size",
            "Chinese 1 char",
            "overall",
            "instr() full scan",
        ],
    ),
    "conversation": (
        ["--messages", "200", "--runs", "3"],
        ["path() (store)", "getConversation (bridge)", "getConversation (HTTP)"],
    ),
    "open_conversation": (
        ["--messages", "200", "--runs", "2"],
        ["200 messages", "20 messages", "first paint"],
    ),
    "routes": (
        ["--runs", "10"],
        ["route, healthy", "route, 1 refused", "connect refused", "added TTFT p50"],
    ),
    "usage": (
        ["--records", "20000", "--runs", "5", "--chats", "5"],
        [
            "getUsageSummary groupBy=day",
            "getUsageSummary groupBy=model",
            "baseline: GROUP BY over chat_requests, day",
            "baseline: GROUP BY over chat_requests, model",
            "UsageService.record, one request",
            "TTFT with recording",
            "TTFT without recording",
            "added TTFT p50 by recording",
        ],
    ),
    "detect": (
        ["--runs", "5", "--down-runs", "1"],
        [
            "baseline: one GET /v1/models",
            "detect, base URL pasted (bridge)",
            "detect, bare host pasted (bridge)",
            "detect, base URL over /api/rpc",
            "down: port refused",
            "down: never answers",
            "slowest live detection",
            "slowest down host",
        ],
    ),
    "render": (
        ["--chars", "8000", "--seconds", "4"],
        ["tail re-lex (MarkdownStream)", "full re-lex (previous)", "long tasks > 50 ms"],
    ),
}


@pytest.mark.parametrize("name", BENCHES)
def test_the_benchmark_runs_and_prints_its_table(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments, rows = BENCHES[name]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / f"bench_{name}.py"), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    (artifacts_dir() / f"bench-{name}.txt").write_text(output, encoding="utf-8")
    with capsys.disabled():  # the figures, in the log of every run
        print(f"\n--- bench/bench_{name}.py {' '.join(arguments)}\n{done.stdout}")
    assert done.returncode == 0, output[-3000:]
    for row in rows:
        assert row in done.stdout, f"{row!r} missing from:\n{done.stdout}"


def test_the_side_by_side_comparison_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # Against this very checkout (a second app from the same code): the script's own run.
    arguments = [str(ROOT), "--runs", "20", "--rounds", "2", "--paced", "1"]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "compare_chat.py"), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    (artifacts_dir() / "bench-compare-chat.txt").write_text(output, encoding="utf-8")
    with capsys.disabled():
        print(f"\n--- bench/compare_chat.py {' '.join(arguments)}\n{done.stdout}")
    assert done.returncode == 0, output[-3000:]
    lines = done.stdout.splitlines()
    assert any("this: " in line and "other: " in line for line in lines), done.stdout
    figures = [
        line for line in lines if line[:4] == "    " and line.split()[0] in {"1", "2", "median"}
    ]
    assert len(figures) == 3 and all(line.count("+") == 2 for line in figures), done.stdout
    assert "CPU time of each app's process per relayed chunk" in done.stdout, done.stdout
    cpu_rows = [line for line in lines if line.startswith(("    this: ", "    other: "))]
    assert len(cpu_rows) == 2 and all(len(row.split()) == 4 for row in cpu_rows), done.stdout
