"""Health benchmark: "Check all" over many slow providers, and the scheduler's idle CPU.

Run: .venv/bin/python bench/bench_health.py [--providers 200] [--delay 0.1] [--idle 60]

(a) `checkAllCustomProvidersHealth` through the real bridge, monitor and provider layer, over
    `--providers` providers whose models endpoint answers after `--delay` seconds. The upstream
    is a threading HTTP server in its own process (so its 200 sleeping handlers share no GIL
    with the app) with a listen backlog big enough for every connection at once. Printed: the
    wall time of each run next to the sequential sum (the checks' own response times added
    up: what checking one by one would take). Target: at most 1 s.
(b) The scheduler's CPU while nothing is due: the providers were just checked, so the next
    turn is one interval away, and the scheduler thread waits. Measured over `--idle` seconds
    (default 60; a shorter run is extrapolated to a minute and says so): the scheduler
    thread's own CPU time (Linux /proc) and the whole process's (`resource.getrusage`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.bridge import AppInfo, Bridge
from backend.health.monitor import MAX_PARALLEL_CHECKS, HealthMonitor
from backend.health.schedule import HealthScheduler
from backend.manager import CustomProviderManager
from backend.models import HealthStatus, ProviderConfig
from backend.providers import ProviderService
from backend.secrets import EncryptedFileSecretStore
from backend.storage import Storage

MODEL = "bench-model"
_CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))  # the unit of /proc CPU times


class SlowModels(BaseHTTPRequestHandler):
    """Answers every GET with a model list after the server's delay."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        body = json.dumps({"object": "list", "data": [{"id": MODEL}]}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WideServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default (5) drops SYNs when 50 clients connect at once


def serve(delay: float, ports: Any, stop: Any) -> None:
    """The upstream process: serve until `stop` is set."""
    server = WideServer(("127.0.0.1", 0), SlowModels)
    server.delay = delay  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    ports.put(server.server_port)
    stop.wait()
    server.shutdown()


def no_save_check(config: ProviderConfig, key: str | None) -> HealthStatus:
    raise AssertionError("providers are saved without a connection test here")


class NoTools:
    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]:
        return []

    def templates(self) -> list[dict[str, Any]]:
        return []


def thread_cpu(native_id: int) -> float:
    """CPU seconds (user + system) of one thread of this process, from /proc."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / _CLOCK_TICKS


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.1, help="upstream seconds per answer")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--concurrency", type=int, default=MAX_PARALLEL_CHECKS, help="checks in flight at once"
    )
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measurement")
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    upstream = ctx.Process(target=serve, args=(args.delay, ports, stop), daemon=True)
    upstream.start()
    base = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"

    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        storage = Storage(data / "miaoda.db")
        manager = CustomProviderManager(
            storage, EncryptedFileSecretStore(data), check=no_save_check
        )
        service = ProviderService()
        monitor = HealthMonitor(manager, storage, service, max_parallel=args.concurrency)
        scheduler = HealthScheduler(monitor)
        bridge = Bridge(
            manager, monitor, NoTools(), AppInfo(folder, "file", "", "", lambda: None, "t")
        )
        for i in range(args.providers):
            result = bridge.addCustomProvider(
                {
                    "name": f"p{i:04d}",
                    "displayName": f"Provider {i:04d}",
                    "baseURL": base,
                    "model": MODEL,
                    "type": "openai-compatible",
                    "apiKey": f"sk-bench-{i:08d}-key",
                },
                {"validate": False},
            )
            assert result["success"], result

        loop = next(t for t in threading.enumerate() if t.name == "miaoda-providers")
        assert loop.native_id is not None
        rows = []
        for run in range(args.runs + 1):
            loop_cpu = thread_cpu(loop.native_id)
            started = time.perf_counter()
            answer = bridge.checkAllCustomProvidersHealth()
            wall = time.perf_counter() - started
            loop_cpu = thread_cpu(loop.native_id) - loop_cpu
            statuses = answer["statuses"]
            assert answer["success"] and len(statuses) == args.providers
            healthy = sum(1 for s in statuses if s["status"] == "healthy")
            sequential = sum(s["responseTime"] or 0 for s in statuses) / 1000
            # The first run also opens the connections: it is shown apart.
            label = f"run {run}" if run else "first run (cold)"
            rows.append((label, wall, sequential, loop_cpu, healthy))

        print(
            f"checkAllCustomProvidersHealth: {args.providers} providers, upstream "
            f"{args.delay * 1000:.0f} ms per answer, {args.concurrency} in flight at once "
            "(target: wall ≤ 1 s)"
        )
        print(
            f"{'':<18}{'wall s':>8}{'sequential sum s':>18}{'speed-up':>10}"
            f"{'loop CPU s':>12}{'healthy':>10}"
        )
        for label, wall, sequential, loop_cpu, healthy in rows:
            print(
                f"{label:<18}{wall:>8.3f}{sequential:>18.2f}{sequential / wall:>9.1f}x"
                f"{loop_cpu:>12.2f}{healthy:>6}/{args.providers}"
            )
        print(
            "sequential sum: the checks' own response times added up (one by one would take "
            f"at least {args.providers} × {args.delay * 1000:.0f} ms = "
            f"{args.providers * args.delay:.1f} s); loop CPU: the provider loop thread's CPU time"
        )
        warm = sorted(r[1] for r in rows[1:])
        print(f"warm runs: median {warm[len(warm) // 2]:.3f} s, worst {warm[-1]:.3f} s")

        stop.set()
        upstream.join(5)
        scheduler.start()  # every provider was just checked: the next turn is 5 minutes away
        time.sleep(0.5)
        thread = next(t for t in threading.enumerate() if t.name == "miaoda-health")
        assert thread.native_id is not None
        due_in = min(scheduler.due_times().values()) - time.monotonic()
        cpu0, proc0, t0 = thread_cpu(thread.native_id), process_cpu(), time.monotonic()
        time.sleep(args.idle)
        seconds = time.monotonic() - t0
        thread_used = thread_cpu(thread.native_id) - cpu0
        proc_used = process_cpu() - proc0
        sweeps = scheduler.sweeps
        assert scheduler.stop(1.0)
        monitor.close()
        service.close()
        storage.close()

    scale = 60.0 / seconds
    note = "" if seconds >= 59 else f" (measured over {seconds:.0f} s, extrapolated to 60 s)"
    print()
    print(f"scheduler idle with {args.providers} providers, next turn in {due_in:.0f} s{note}")
    print(f"{'':<28}{'CPU ms per minute':>18}")
    print(f"{'scheduler thread':<28}{thread_used * 1000 * scale:>18.1f}")
    print(f"{'whole process':<28}{proc_used * 1000 * scale:>18.1f}")
    print(f"sweeps during the idle window: {sweeps}; /proc resolution {1000 / _CLOCK_TICKS:.0f} ms")


if __name__ == "__main__":
    main()
