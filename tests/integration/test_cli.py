"""The command line (docs/API.md, "Command line"), run as real subprocesses."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend import __version__
from tests.helpers import CANARY_KEY, files_containing, keyring_usable, provider_config, require

LINE = re.compile(r"^MiaoDa Chat is running at (http://127\.0\.0\.1:(\d+))/#token=(\S+)$")


def miaoda(*args: str) -> list[str]:
    return [sys.executable, "-m", "backend", *args]


def env_for(data_dir: Path, backend: str = "file", **extra: str) -> dict[str, str]:
    env = dict(os.environ, MIAODA_DATA_DIR=str(data_dir), MIAODA_SECRET_BACKEND=backend, **extra)
    env.pop("MIAODA_TOKEN", None)
    env.update(extra)
    return env


class Served:
    def __init__(self, proc: subprocess.Popen[str], url: str, token: str) -> None:
        self.proc, self.url, self.token = proc, url, token

    def rpc(self, method: str, *args: object) -> dict[str, object]:
        response = httpx.post(
            f"{self.url}/api/rpc/{method}",
            content=json.dumps(list(args)),
            timeout=30,
            headers={"Content-Type": "application/json", "X-MiaoDa-Token": self.token},
        )
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def served(data_dir: Path) -> Iterator[Served]:
    proc = subprocess.Popen(
        miaoda("serve", "--no-browser"),
        env=env_for(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    match = LINE.match(line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    yield Served(proc, match.group(1), match.group(3))
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_version_prints_the_version() -> None:
    out = subprocess.run(miaoda("--version"), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"MiaoDa Chat {__version__}"


def test_serve_prints_one_line_with_the_url_and_answers(served: Served) -> None:
    info = served.rpc("getAppInfo")
    assert info["success"] and info["serverURL"] == served.url
    page = httpx.get(served.url + "/")
    assert page.status_code == 200 and "MiaoDa Chat" in page.text


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_shuts_down_cleanly_on_a_signal(served: Served, sig: signal.Signals) -> None:
    served.rpc("getAllCustomProviders")
    served.proc.send_signal(sig)
    assert served.proc.wait(timeout=10) == 0


def test_token_can_be_fixed_by_the_environment(data_dir: Path) -> None:
    proc = subprocess.Popen(
        miaoda("serve", "--no-browser"),
        env=env_for(data_dir, MIAODA_TOKEN="fixed-token-1"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip().endswith("#token=fixed-token-1")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_on_a_port_in_use_fails_with_a_clear_message(served: Served, tmp_path: Path) -> None:
    port = served.url.rsplit(":", 1)[1]
    out = subprocess.run(
        miaoda("serve", "--no-browser", "--port", port),
        env=env_for(tmp_path / "other"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert f"cannot listen on port {port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_served_key_reaches_neither_the_database_nor_the_log(
    served: Served, data_dir: Path
) -> None:
    added = served.rpc("addCustomProvider", provider_config(), {"validate": False})
    assert added["success"]
    served.rpc("getAllCustomProviders")
    served.rpc("exportCustomProviders", {})
    served.proc.terminate()
    served.proc.wait(timeout=10)
    assert (data_dir / "logs" / "miaoda.log").is_file()
    assert files_containing(data_dir, CANARY_KEY) == []


def test_self_test_passes_with_the_encrypted_file(data_dir: Path) -> None:
    out = subprocess.run(
        miaoda("self-test"), env=env_for(data_dir), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "self-test passed" in out.stdout
    for name in ("storage", "secret storage", "server", "frontend"):
        assert f"ok   {name}:" in out.stdout


@pytest.mark.keyring
def test_self_test_passes_with_the_real_keyring(data_dir: Path) -> None:
    require(keyring_usable(), "needs a Secret Service keyring: run ./dev test")
    out = subprocess.run(
        miaoda("self-test"),
        env=env_for(data_dir, "keyring"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Secret Service" in out.stdout


def test_self_test_fails_clearly_when_the_forced_keyring_is_missing(data_dir: Path) -> None:
    env = env_for(data_dir, "keyring")
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=/nonexistent/bus"
    started = time.monotonic()
    out = subprocess.run(miaoda("self-test"), env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "KEYRING_UNAVAILABLE" in out.stdout or "keyring" in (out.stdout + out.stderr).lower()
    assert "Traceback" not in out.stdout + out.stderr
    assert time.monotonic() - started < 30


def test_an_unknown_secret_backend_is_refused(data_dir: Path) -> None:
    out = subprocess.run(
        miaoda("self-test"),
        env=env_for(data_dir, "plaintext"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "MIAODA_SECRET_BACKEND" in out.stdout + out.stderr
