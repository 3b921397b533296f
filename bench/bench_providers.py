"""Benchmark: listing 1,000 providers through the bridge and the HTTP API reads no secret.

Run: .venv/bin/python bench/bench_providers.py   (or ./dev bench)
Prints p50/p95 for the bridge call alone, the bridge call plus the JSON encoding pywebview
does, and the same call through /api/rpc over loopback.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from backend.bridge import AppInfo, Bridge, rpc_methods
from backend.health.monitor import HealthMonitor
from backend.manager import CustomProviderManager
from backend.models import HealthStatus, ProviderConfig
from backend.paths import frontend_dir
from backend.secrets import EncryptedFileSecretStore
from backend.server.app import create_app
from backend.server.wsgi import LocalServer
from backend.storage import Storage

COUNT = 1000
RUNS = 60


class CountingSecrets(EncryptedFileSecretStore):
    """The real file store, counting reads so the benchmark can show none happen."""

    reads = 0

    def get(self, provider_id: str) -> str | None:
        CountingSecrets.reads += 1
        return super().get(provider_id)


def no_check(config: ProviderConfig, key: str | None) -> HealthStatus:
    return HealthStatus(config.id, config.name)


class NoTools:
    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]:
        return []

    def templates(self) -> list[dict[str, Any]]:
        return []


def timed(fn: Any) -> tuple[float, float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        storage = Storage(data / "miaoda.db")
        secrets = CountingSecrets(data)
        manager = CustomProviderManager(storage, secrets, check=no_check)
        info = AppInfo(folder, "file", "", "", lambda: None, "t")
        bridge = Bridge(manager, HealthMonitor(manager, storage, no_check), NoTools(), info)
        for i in range(COUNT):
            result = bridge.addCustomProvider(
                {
                    "name": f"provider-{i:04d}",
                    "displayName": f"Provider {i:04d}",
                    "baseURL": f"https://api{i}.example.com/v1",
                    "model": "model-x",
                    "type": "openai-compatible",
                    "apiKey": f"sk-bench-key-{i:08d}",
                    "headers": {"X-Team": "bench"},
                    "parameters": {"temperature": 0.7},
                },
                {"validate": False},
            )
            assert result["success"], result
        CountingSecrets.reads = 0
        bridge_only = timed(bridge.getAllCustomProviders)
        with_json = timed(lambda: json.dumps(bridge.getAllCustomProviders()))
        assert len(bridge.getAllCustomProviders()["providers"]) == COUNT
        reads = CountingSecrets.reads

        server = LocalServer(
            create_app(rpc_methods(bridge), token="t", frontend_dir=frontend_dir()), threads=4
        )
        server.start()
        with httpx.Client(base_url=server.url) as client:
            headers = {"Content-Type": "application/json", "X-MiaoDa-Token": "t"}

            def over_http() -> None:
                client.post(
                    "/api/rpc/getAllCustomProviders", content="[]", headers=headers
                ).raise_for_status()

            http = timed(over_http)
        server.stop()
        storage.close()

    print(
        f"getAllCustomProviders with {COUNT} providers ({RUNS} runs each; target: well under 20 ms)"
    )
    print(f"{'path':<34}{'p50 ms':>10}{'p95 ms':>10}")
    for label, (p50, p95) in (
        ("bridge call", bridge_only),
        ("bridge call + JSON (pywebview)", with_json),
        ("POST /api/rpc over loopback", http),
    ):
        print(f"{label:<34}{p50:>10.2f}{p95:>10.2f}")
    print(f"secret-store reads during all listing runs: {reads}")


if __name__ == "__main__":
    main()
