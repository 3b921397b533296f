"""Time to first token of two checkouts of the app, measured side by side in one run.

Run: .venv/bin/python bench/compare_chat.py OTHER_CHECKOUT [--runs 300] [--rounds 5]

Two separate runs of bench_chat.py on a shared machine differ by more than most changes do.
Here both apps (this checkout and OTHER_CHECKOUT, e.g. a `git worktree` of the previous
commit) run at once against one fake upstream; each round sends `--runs` short chats to each
of them and one direct httpx request, in a new random order every time, so both meet the same
machine at the same moments. Printed: the TTFT each app adds over direct httpx (sync), per
round and as the median of the rounds; then the CPU time each app's process spends per relayed
chunk of a paced stream (one token per upstream read, as an LLM sends them). The other checkout
runs on this checkout's Python environment, so it must not need packages this one lacks.
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
BIG_CHUNKS = 2000


def serve(root: str, upstream: str) -> None:
    """Child process: the app of checkout `root`, one provider; stops when stdin closes."""
    sys.path.insert(0, root)
    import backend.app

    with tempfile.TemporaryDirectory() as folder:
        app = backend.app.MiaodaApp(Path(folder), secret_backend="file", token="bench")
        app.start_server(0)
        tune = getattr(backend.app, "tune_gc", None)  # older checkouts tuned the collector
        if tune is not None:
            tune()
        ids = []
        for name in ("short", "paced", "big"):
            config = {
                "name": name,
                "displayName": name,
                "baseURL": f"{upstream}/{name}",
                "model": "fake-model",
                "type": "openai-compatible",
            }
            ids.append(app.bridge().addCustomProvider(config, {"validate": False})["id"])
        print(app.server_url, *ids, flush=True)
        for line in sys.stdin:  # "cpu": this process's CPU seconds so far; EOF: stop
            if line.strip() == "cpu":
                print(time.process_time(), flush=True)
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
        if len(line) != 4:
            raise SystemExit(f"the app of {root} did not start")
        self.url, self.provider, self.paced, self.big = line
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

    def read(self, provider: str) -> None:
        """One whole stream from `provider`."""
        body = {"providerId": provider, "messages": [{"role": "user", "content": BODY_TEXT}]}
        with self.client.stream("POST", f"{self.url}/api/chat/stream", json=body) as response:
            for _ in response.iter_raw():
                pass

    def cpu(self) -> float:
        """CPU seconds the app's process has used so far."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write("cpu\n")
        self._process.stdin.flush()
        return float(self._process.stdout.readline())

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
    parser.add_argument("--paced", type=int, default=3, help="paced streams for the CPU figure")
    args = parser.parse_args()
    if not (args.other / "backend" / "app.py").is_file():
        raise SystemExit(f"{args.other} is not a checkout of the app")

    import multiprocessing

    import httpx
    from bench_chat import PACED_PIECES, direct_first
    from bench_chat import serve as serve_upstream

    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    upstream = context.Process(target=serve_upstream, args=(theirs, BIG_CHUNKS), daemon=True)
    upstream.start()
    url = ours.recv()
    apps = [App("this", HERE.parent, url), App("other", args.other.resolve(), url)]
    direct = httpx.Client(timeout=60)
    try:
        report(args, apps, lambda: direct_first(direct, url + "/short/chat/completions")[0] * 1000)
        report_cpu(args, apps, {"paced": PACED_PIECES, "big": BIG_CHUNKS})
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
    print("\n    +x: what the app adds to the first token, ms (budget ≤ 3 ms)\n")


def report_cpu(args: argparse.Namespace, apps: list[App], pieces: dict[str, int]) -> None:
    paced, big = pieces["paced"], pieces["big"]
    print("CPU time of each app's process per relayed chunk: streams less as many 3-chunk ones")
    print(f"  paced: {args.paced} streams of {paced} chunks 10 ms apart, one per upstream read")
    print(f"         (as an LLM sends tokens); unpaced: {args.paced} streams of {big} chunks sent")
    print("         back to back, read in large pieces")
    print(f"    {'app':<32}{'paced µs/chunk':>16}{'unpaced µs/chunk':>18}")
    for app in apps:
        short = _cpu(app, lambda a=app: a.first(), args.paced)
        per = []
        for provider, count in ((app.paced, paced), (app.big, big)):
            spent = _cpu(app, lambda a=app, p=provider: a.read(p), args.paced)
            per.append((spent - short) / (args.paced * (count - 3)) * 1e6)
        print(f"    {app.name[:30]:<32}{per[0]:>16.1f}{per[1]:>18.1f}")
    print("    budget ≤ 33 µs (1/20 of the litellm SDK's ~670 µs per chunk of an unpaced stream);")
    print("    /proc counts CPU in 10 ms steps: use --paced 10 or more for a figure to quote\n")


def _cpu(app: App, work: Any, times: int) -> float:
    before = app.cpu()
    for _ in range(times):
        work()
    return app.cpu() - before


if __name__ == "__main__":
    main()
