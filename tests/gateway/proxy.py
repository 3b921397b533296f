"""A real LiteLLM proxy for the gateway tests: its own venv, its config, its process.

LiteLLM is a heavy dependency (about 120 packages, 750 MB) that the app itself never imports,
so it lives in `.venv-gateway/` (gitignored), created on demand from the pinned, hashed
`requirements/gateway.txt` and reused while that file is unchanged (a stamp holds its hash).

The proxy runs offline: the bundled model cost map (`LITELLM_LOCAL_MODEL_COST_MAP`), no
telemetry, no database, no schema update. Its models answer in mock mode, set per model in the
config's `litellm_params`:

- `mock_response: "<text>"` streams the text in 3-character chunks on `/v1/chat/completions`;
  on `/v1/messages` LiteLLM answers it as one JSON message even when asked to stream.
- `mock_tool_calls: [...]` adds tool calls, but only to a non-streamed answer (a streamed one
  drops them).
- `mock_response: "litellm.RateLimitError"` / `"litellm.InternalServerError"` answer 429 / 500
  with LiteLLM's error body on both APIs. The mock 429 carries no wait: a retry-after header
  only comes through LiteLLM when the provider behind it sent one, forwarded as
  `llm_provider-retry-after`. So one model, `relay`, is not a mock: it forwards to a local fake
  provider (tests/fakes/upstream.py) that the tests script. LiteLLM turns its Chat Completions
  stream into Anthropic events on `/v1/messages` (with
  `use_chat_completions_url_for_anthropic_messages`; otherwise it would call `/v1/responses`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-gateway"
LOCK = ROOT / "requirements" / "gateway.txt"
STAMP = VENV / ".miaoda-stamp"

MOCK_TEXT = "Hello from the LiteLLM mock, streamed in small chunks."
TOOL_CALL_ID = "call_gateway_1"
TOOL_NAME = "get_weather"
TOOL_ARGUMENTS = '{"city": "Paris"}'
# Offline, quiet, no database: what the proxy needs to start on a machine with no network.
PROXY_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "DISABLE_SCHEMA_UPDATE": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "LITELLM_LOG": "ERROR",
}
INSTALL_TIMEOUT = 420.0  # per step; a cold install took 35-40 s here
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0


class GatewayUnavailable(Exception):
    """The proxy could not be installed or started; the message says why."""


def ensure_venv() -> tuple[Path, float]:
    """The `litellm` command of an up-to-date `.venv-gateway`, and the seconds spent making it
    (0 when it was already there)."""
    # Two test runs at once must not build the venv over each other: the first holds a lock
    # on the requirements file while it installs, the second then finds the venv ready.
    with LOCK.open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        return _ensure_venv_locked()


def _ensure_venv_locked() -> tuple[Path, float]:
    litellm = VENV / "bin" / "litellm"
    want = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if litellm.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return litellm, 0.0
    started = time.monotonic()
    _run([sys.executable, "-m", "venv", "--clear", str(VENV)], "create the venv")
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--timeout", "60"]
    _run([*pip, "--require-hashes", "-r", str(LOCK)], "install requirements/gateway.txt")
    if not litellm.exists():
        raise GatewayUnavailable(f"{litellm} is missing after the install")
    STAMP.write_text(want + "\n")
    return litellm, time.monotonic() - started


def _run(command: list[str], what: str) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, cwd=ROOT
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GatewayUnavailable(f"could not {what}: {exc}") from exc
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise GatewayUnavailable(f"could not {what} (exit {result.returncode}): {tail}")


def config(master_key: str, relay_url: str) -> dict[str, Any]:
    """The proxy config: the mock models, and `relay` in front of the fake provider."""

    def model(name: str, **params: Any) -> dict[str, Any]:
        return {
            "model_name": name,
            "litellm_params": {"model": f"openai/{name}", "api_key": "unused", **params},
        }

    tool_call = {
        "id": TOOL_CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS},
    }
    return {
        "model_list": [
            model("mock-text", mock_response=MOCK_TEXT),
            model("mock-tool", mock_response="", mock_tool_calls=[tool_call]),
            model("mock-429", mock_response="litellm.RateLimitError"),
            model("mock-500", mock_response="litellm.InternalServerError"),
            model("relay", api_base=f"{relay_url}/v1", api_key="relay-key"),
        ],
        # The master key is the only key a proxy without a database accepts.
        "general_settings": {"master_key": master_key},
        # The app's own retries are under test: LiteLLM must not retry, nor rest a deployment
        # after a 429 (a cooled-down deployment would change what the next test sees).
        "router_settings": {"num_retries": 0, "disable_cooldowns": True},
        # /v1/messages on an `openai/` model calls the provider's Responses API by default;
        # the fake provider speaks Chat Completions, as most OpenAI-compatible servers do.
        "litellm_settings": {
            "telemetry": False,
            "use_chat_completions_url_for_anthropic_messages": True,
        },
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Gateway:
    """A running proxy: its base URL, its master key, its process and its log file."""

    url: str
    master_key: str
    process: subprocess.Popen[bytes]
    log: Path
    install_seconds: float
    start_seconds: float

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the proxy's own process group, SIGKILL when it lingers."""
        if self.process.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, STOP_TIMEOUT)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def start(folder: Path, master_key: str, relay_url: str) -> Gateway:
    """Install (when needed) and start the proxy; return once it answers its liveness check."""
    litellm, install_seconds = ensure_venv()
    port = free_port()
    cfg = folder / "litellm.yaml"
    cfg.write_text(json.dumps(config(master_key, relay_url), indent=2))  # JSON is YAML
    log = folder / "litellm.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "LITELLM"))}
    env.update(PROXY_ENV)
    command = [str(litellm), "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=env,
            start_new_session=True,  # its own process group, so teardown can end it whole
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", master_key, process, log, install_seconds, 0.0)
    try:
        _wait_until_live(gateway, started)
    except BaseException:
        gateway.stop()
        raise
    gateway.start_seconds = time.monotonic() - started
    return gateway


def _wait_until_live(gateway: Gateway, started: float) -> None:
    deadline = started + START_TIMEOUT
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise GatewayUnavailable(
                f"the proxy exited with {gateway.process.returncode}:\n{gateway.log_tail()}"
            )
        try:
            if httpx.get(f"{gateway.url}/health/liveliness", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise GatewayUnavailable(
        f"the proxy did not answer within {START_TIMEOUT:.0f} s:\n{gateway.log_tail()}"
    )
