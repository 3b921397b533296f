"""The values of MCP servers' `env` and `headers`: write-only, in each real secret store.

Runs over the encrypted file and the OS keyring in turn (`secret_store`), with the scripted host
of tests/unit/mcp_helpers.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.redact import REDACTOR
from backend.secrets import SecretStore
from backend.storage import McpStore, Storage
from backend.tools.model import ServerError, ServerState
from backend.tools.service import McpService
from tests.unit.mcp_helpers import (
    ENV_CANARY,
    HEADER_CANARY,
    Dialog,
    ScriptedHost,
    host_of,
    http,
    stdio,
)


@pytest.fixture
def secrets(secret_store: SecretStore) -> SecretStore:
    return secret_store


@pytest.fixture
def service(storage: Storage, secrets: SecretStore) -> Iterator[McpService]:
    made = McpService(McpStore(storage), secrets, ScriptedHost)
    yield made
    made.close()


def test_values_are_write_only_with_hints(service: McpService) -> None:
    server = service.add(http(headers={"Authorization": "Bearer tok-abcdef123456"}), confirm=None)
    assert server["headers"] == {"Authorization": None}
    assert server["secretHeaders"] == [{"name": "Authorization", "hint": "…3456"}]
    stdio_server = service.add(stdio(env={"EMPTY": "", "TOKEN": "abcdefgh"}), confirm=Dialog())
    assert stdio_server["env"] == {"EMPTY": None, "TOKEN": None}
    assert stdio_server["secretEnv"] == [
        {"name": "EMPTY", "hint": None},
        {"name": "TOKEN", "hint": "…gh"},
    ]
    spec = host_of(service).specs[stdio_server["id"]]
    assert dict(spec.env) == {"EMPTY": "", "TOKEN": "abcdefgh"}


def test_null_keeps_a_value_and_a_name_left_out_removes_it(
    service: McpService, secrets: SecretStore
) -> None:
    config = stdio(env={"A_KEY": "value-aaaaaa", "B_KEY": "value-bbbbbb"})
    server = service.add(config, confirm=Dialog())
    sid = server["id"]
    service.update(sid, {"env": {"A_KEY": None}}, confirm=Dialog())
    assert secrets.get(f"{sid}:env:A_KEY") == "value-aaaaaa"
    assert secrets.get(f"{sid}:env:B_KEY") is None
    assert dict(host_of(service).specs[sid].env) == {"A_KEY": "value-aaaaaa"}


def test_removing_a_server_removes_its_values_and_stops_it(
    service: McpService, secrets: SecretStore
) -> None:
    server = service.add(http(), confirm=None)
    sid = server["id"]
    assert secrets.get(f"{sid}:header:authorization") == f"Bearer {HEADER_CANARY}"
    assert service.remove(sid) == sid
    assert secrets.get(f"{sid}:header:authorization") is None
    assert ("remove", sid) in host_of(service).events
    assert service.servers() == []


def test_canary_values_never_reach_the_data_file_a_response_or_a_log(
    service: McpService, storage: Storage, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dialog = Dialog()
    answers: list[Any] = [
        service.add(stdio(), confirm=dialog),
        service.add(http(), confirm=None),
    ]
    host = host_of(service)
    for sid in list(host.specs):
        # A server that echoes its secret in an error: the status shows it masked.
        host.report(sid, ServerState("failed", ServerError("EXITED", f"died: {ENV_CANARY}")))
    answers.append(service.servers())
    answers.append(dialog.shown)
    storage.checkpoint()
    text = json.dumps(answers, ensure_ascii=False)
    for canary in (ENV_CANARY, HEADER_CANARY):
        assert canary not in text
        assert canary not in caplog.text
        for path in data_dir.glob("miaoda.db*"):
            assert canary.encode() not in path.read_bytes(), path
    assert REDACTOR.redact(f"x {ENV_CANARY} y") == "x [redacted] y"
