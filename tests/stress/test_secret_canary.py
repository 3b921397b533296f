"""Secret canary sweep: every user flow runs with CANARY_KEY, then every output is scanned.

Outputs scanned: each RPC response body and SSE byte, the SQLite files (with -wal/-shm), the
log files, the export files, every error message — for the canary itself, its base64 forms
(all three alignments, standard and URL-safe alphabets) and its URL-encoded forms.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream, sse
from tests.helpers import CANARY_KEY
from tests.stress.helpers import CHAT_PATH, api_headers, chat_body

MODELS_PATH = "/v1/models"
ECHO = {"error": {"message": f"Incorrect API key provided: {CANARY_KEY}", "type": "invalid"}}


def canary_forms(secret: str) -> set[str]:
    """The secret and the encodings it could leak in."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    for prefix in ("", "a", "ab"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode((prefix + secret).encode()).decode().rstrip("=")
            # Drop the characters that depend on the bytes around the secret.
            start = {"": 0, "a": 2, "ab": 3}[prefix]
            forms.add(text[start:-2])
    return forms


FORMS = canary_forms(CANARY_KEY)


def leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
    return [form for form in FORMS if form.encode() in data]


class Recorder:
    """Calls /api/rpc and /api/chat*, keeping every response body for the scan."""

    def __init__(self, app: MiaodaApp) -> None:
        self.url = str(app.server_url)
        self.bodies: list[tuple[str, bytes]] = []
        self.client = httpx.Client(timeout=30)

    def rpc(self, method: str, *args: Any) -> dict[str, Any]:
        response = self.client.post(
            f"{self.url}/api/rpc/{method}", content=json.dumps(list(args)), headers=api_headers()
        )
        self.bodies.append((f"rpc {method}", response.content))
        result: dict[str, Any] = response.json()
        return result

    def chat(self, provider_id: str, stream: bool = True) -> bytes:
        path = "/api/chat/stream" if stream else "/api/chat"
        response = self.client.post(
            f"{self.url}{path}", json=chat_body(provider_id), headers=api_headers()
        )
        self.bodies.append((path, response.content))
        return response.content


def test_the_canary_key_never_leaves_the_secret_store(
    app: MiaodaApp, upstream: FakeUpstream, tmp_path: Path
) -> None:
    call = Recorder(app)
    ok_stream = Reply.stream(openai_stream(["hi"]))
    bad_key = Reply.json(ECHO, status=401)
    base = upstream.url + "/v1"
    config = {
        "name": "canary",
        "displayName": "Canary",
        "baseURL": base,
        "model": "fake-model",
        "type": "openai-compatible",
        "apiKey": CANARY_KEY,
    }
    outcomes: dict[str, dict[str, Any]] = {}

    # Add: a validated add that fails on a 401 echoing the key, then one that succeeds.
    upstream.script(CHAT_PATH, bad_key)
    outcomes["add-401"] = call.rpc("addCustomProvider", config)
    assert outcomes["add-401"]["error"]["code"] == "AUTH_FAILED"
    upstream.script(CHAT_PATH, ok_stream)
    outcomes["add"] = call.rpc("addCustomProvider", config)
    assert outcomes["add"]["success"], outcomes["add"]
    pid = outcomes["add"]["id"]
    outcomes["add-2"] = call.rpc(
        "addCustomProvider", {**config, "name": "canary2", "displayName": "C2"}, {"validate": False}
    )

    # Update (validated and not), list, get.
    outcomes["update"] = call.rpc(
        "updateCustomProvider", pid, {"displayName": "Canary!", "apiKey": CANARY_KEY}
    )
    assert outcomes["update"]["success"], outcomes["update"]
    upstream.script(CHAT_PATH, bad_key)
    outcomes["update-401"] = call.rpc("updateCustomProvider", pid, {"apiKey": CANARY_KEY})
    assert outcomes["update-401"]["error"]["code"] == "AUTH_FAILED"
    outcomes["list"] = call.rpc("getAllCustomProviders")
    outcomes["get"] = call.rpc("getCustomProvider", pid)
    assert outcomes["get"]["provider"]["hasApiKey"] is True

    # Connection tests, by id and by config, failing (echo) and succeeding; models; health.
    outcomes["test-id-401"] = call.rpc("testProviderConnection", pid)
    outcomes["test-config-401"] = call.rpc("testProviderConnection", config)
    assert outcomes["test-config-401"]["error"]["code"] == "AUTH_FAILED"
    upstream.script(MODELS_PATH, Reply.json(ECHO, status=401))
    outcomes["models-401"] = call.rpc("listProviderModels", pid)
    outcomes["health-401"] = call.rpc("checkCustomProviderHealth", pid)
    outcomes["health-all-401"] = call.rpc("checkAllCustomProvidersHealth")
    upstream.script(CHAT_PATH, ok_stream)
    upstream.script(MODELS_PATH, Reply.json({"data": [{"id": "fake-model"}]}))
    outcomes["test-id"] = call.rpc("testProviderConnection", pid)
    assert outcomes["test-id"]["success"], outcomes["test-id"]
    outcomes["models"] = call.rpc("listProviderModels", pid)
    outcomes["health"] = call.rpc("checkCustomProviderHealth", pid)
    outcomes["health-all"] = call.rpc("checkAllCustomProvidersHealth")
    outcomes["health-cached"] = call.rpc("getAllProviderHealthStatuses")
    outcomes["history"] = call.rpc("getHealthHistory", pid)
    outcomes["info"] = call.rpc("getAppInfo")

    # Chat: a good stream, upstream errors echoing the key (401, 500, an error event), one-shot.
    sse_bodies = [call.chat(pid)]
    for reply in (
        Reply.json(ECHO, status=401),
        Reply.json(ECHO, status=500),
        Reply.json(ECHO, status=400),
        Reply.stream([sse(ECHO)]),
        Reply(200, {"content-type": "text/html"}, f"<p>bad key {CANARY_KEY}</p>".encode()),
    ):
        upstream.script(CHAT_PATH, reply)
        sse_bodies.append(call.chat(pid))
        call.chat(pid, stream=False)
    assert b'"code": "AUTH_FAILED"' in sse_bodies[1] or b'"code":"AUTH_FAILED"' in sse_bodies[1]

    # Export without keys (plain), with keys and a passphrase (to a file and as content),
    # with keys and no passphrase (refused), then import everything back.
    plain = tmp_path / "exports" / "plain.json"
    sealed = tmp_path / "exports" / "sealed.json"
    plain.parent.mkdir()
    outcomes["export-plain"] = call.rpc("exportCustomProviders", {"path": str(plain)})
    assert outcomes["export-plain"]["success"], outcomes["export-plain"]
    outcomes["export-sealed"] = call.rpc(
        "exportCustomProviders",
        {"path": str(sealed), "includeKeys": True, "passphrase": "passphrase-123"},
    )
    assert outcomes["export-sealed"]["success"], outcomes["export-sealed"]
    outcomes["export-content"] = call.rpc(
        "exportCustomProviders", {"includeKeys": True, "passphrase": "passphrase-123"}
    )
    outcomes["export-no-passphrase"] = call.rpc("exportCustomProviders", {"includeKeys": True})
    assert not outcomes["export-no-passphrase"]["success"]
    content = sealed.read_text(encoding="utf-8")
    outcomes["import-wrong-pass"] = call.rpc(
        "importCustomProviders", {"content": content, "passphrase": "nope", "onConflict": "replace"}
    )
    outcomes["import"] = call.rpc(
        "importCustomProviders",
        {"content": content, "passphrase": "passphrase-123", "onConflict": "replace"},
    )
    assert outcomes["import"]["success"], outcomes["import"]
    outcomes["import-rename"] = call.rpc(
        "importCustomProviders",
        {"path": str(sealed), "passphrase": "passphrase-123", "onConflict": "rename"},
    )
    outcomes["import-dry"] = call.rpc(
        "importCustomProviders",
        {"content": content, "passphrase": "passphrase-123", "dryRun": True},
    )
    # The key survived the round trip (so the flows really handled it).
    assert upstream.requests_to(CHAT_PATH)[-1].headers["authorization"] == f"Bearer {CANARY_KEY}"

    # --- the scan -----------------------------------------------------------------------------
    found: dict[str, list[str]] = {}
    for label, raw in call.bodies:
        if leaks(raw):
            found[f"response of {label}"] = leaks(raw)
    for i, raw in enumerate(sse_bodies):
        if leaks(raw):
            found[f"SSE body #{i}"] = leaks(raw)
    for name, outcome in outcomes.items():
        error = outcome.get("error") or {}
        if leaks(json.dumps(error)):
            found[f"error message of {name}"] = leaks(json.dumps(error))
    for path in sorted(plain.parent.iterdir()):
        if leaks(path.read_bytes()):
            found[f"export {path.name}"] = leaks(path.read_bytes())

    def scan_data_dir(when: str) -> None:
        for path in sorted(app.data_dir.rglob("*")):
            if path.is_file() and leaks(path.read_bytes()):
                found[f"{when}: {path.relative_to(app.data_dir)}"] = leaks(path.read_bytes())

    files = {p.name for p in app.data_dir.rglob("*") if p.is_file()}
    assert "miaoda.db" in files and any(name.endswith(".log") for name in files), files
    scan_data_dir("while running")
    app.close()
    scan_data_dir("after close")
    assert not found, f"the canary leaked: {found}"
