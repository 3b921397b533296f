"""Time to first token of two checkouts of the app, measured side by side in one run.

Run: .venv/bin/python bench/compare_chat.py OTHER_CHECKOUT [--runs 300] [--rounds 5]

Two separate runs of bench_chat.py on a shared machine differ by more than most changes do.
Here both apps (this checkout and OTHER_CHECKOUT, e.g. a `git worktree` of the previous
commit) run at once against one fake upstream; each round sends `--runs` short chats to each
of them and one direct httpx request, in a new random order every time, so both meet the same
machine at the same moments. Printed: the TTFT each app adds over direct httpx (sync), per
round and as the median of the rounds. The other checkout runs on this checkout's Python
environment, so it must not need packages this one lacks.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BODY_TEXT = "Hello"


def serve(root: str, upstream: str) -> None:
    """Child process: the app of checkout `root`, one provider; stops when stdin closes."""
    sys.path.insert(0, root)
    from backend.app import MiaodaApp, tune_gc

    with tempfile.TemporaryDirectory() as folder:
        app = MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        tune_gc()
        config = {
            "name": "short",
            "displayName": "short",
            "baseURL": f"{upstream}/short",
            "model": "fake-model",
            "type": "openai-compatible",
        }
        added = app.bridge().addCustomProvider(config, {"validate": False})
        print(app.server_url, added["id"], flush=True)
        sys.stdin.read()
        app.close()


class App:
    """One checkout's app in a child process, and a client of its chat route."""

    def __init__(self, label: str, root: Path, upstream: str) -> None:
        import httpx

        self.name = f"{label}: {root.name}"
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(root), upstream],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2:
            raise SystemExit(f"the app of {root} did not start")
        self.url, self.provider = line
        self.client = httpx.Client(timeout=60, headers={"X-MiaoDa-Token": "bench"})

    def first(self) -> float:
        """Milliseconds to the first delta event of one short chat (read to its end)."""
        body = {"providerId": self.provider, "messages": [{"role": "user", "content": BODY_TEXT}]}
        started = time.perf_counter()
        first = 0.0
        with self.client.stream("POST", f"{self.url}/api/chat/stream", json=body) as response:
            for chunk in response.iter_raw():
                if not first and b"event: delta" in chunk:
                    first = time.perf_counter()
        return (first - started) * 1000

    def close(self) -> None:
        self.client.close()
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout of the app")
    parser.add_argument("--runs", type=int, default=300, help="chats per app in each round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (a median each)")
    args = parser.parse_args()
    if not (args.other / "backend" / "app.py").is_file():
        raise SystemExit(f"{args.other} is not a checkout of the app")

    import multiprocessing

    import httpx
    from bench_chat import direct_first
    from bench_chat import serve as serve_upstream

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    upstream = context.Process(target=serve_upstream, args=(theirs, 100), daemon=True)
    upstream.start()
    url = ours.recv()
    apps = [App("this", HERE.parent, url), App("other", args.other.resolve(), url)]
    direct = httpx.Client(timeout=60)
    try:
        report(args, apps, lambda: direct_first(direct, url + "/short/chat/completions")[0] * 1000)
    finally:
        direct.close()
        for app in apps:
            app.close()
        ours.send("stop")
        upstream.join(5)


def report(args: argparse.Namespace, apps: list[App], direct: Any) -> None:
    print("MiaoDa Chat: added time to first token of two checkouts, side by side")
    print(f"{args.rounds} rounds of {args.runs} short chats to each, in random order, with one")
    print("direct httpx request (sync) each time as the baseline.\n")
    added: dict[str, list[float]] = {app.name: [] for app in apps}
    header = "".join(f"{app.name[:28]:>30}" for app in apps)
    print(f"    {'round':<8}{'direct p50 ms':>14}{header}")
    for number in range(1, args.rounds + 1):
        times: dict[str, list[float]] = {app.name: [] for app in apps}
        baseline: list[float] = []
        for run in range(args.runs + 10):
            order: list[App | None] = [*apps, None]
            random.shuffle(order)
            for app in order:
                value = direct() if app is None else app.first()
                if run >= 10:  # the first ones warm pools and code paths
                    (baseline if app is None else times[app.name]).append(value)
        base = statistics.median(baseline)
        row = ""
        for app in apps:
            extra = statistics.median(times[app.name]) - base
            added[app.name].append(extra)
            row += f"{f'+{extra:.3f}':>30}"
        print(f"    {number:<8}{base:>14.3f}{row}")
    medians = "".join(f"{f'+{statistics.median(v):.3f}':>30}" for v in added.values())
    print(f"    {'median':<22}{medians}")
    print("\n    +x: what the app adds to the first token, ms (target ≤ 1 ms)")


if __name__ == "__main__":
    main()
