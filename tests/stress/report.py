"""The markdown stress report: outcomes counted per category, measurements noted by tests.

tests/conftest.py feeds `record` with every test report (the UI canary test lives in tests/e2e),
tests use `note` for figures, and tests/stress/conftest.py calls `write` when the session ends.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import pytest

from tests.helpers import artifacts_dir
from tests.stress.helpers import CONNECT_TIMEOUT, READ_TIMEOUT

CATEGORIES = {
    "test_upstream_faults": "Upstream faults (/api/chat/stream and /api/chat)",
    "test_secret_canary": "Secret canary sweep",
    "test_server_attacks": "Local server attacks",
    "test_fuzz_bridge": "Fuzzing: bridge arguments, import files, SSE parser",
    "test_load": "Load (concurrent streams + health + CRUD)",
    "test_crash_imports": "Crash safety: SIGKILL during imports and bridge writes",
    "test_atheris": "Coverage-guided fuzzing (atheris): SSE parser, import files",
    "test_canary_ui": "Secret canary in the UI: page text behind every screenshot",
    "test_hardening_keys": "Hardening: where a stored key may be sent; import decryption cost",
    "test_hardening_input": "Hardening: endpoint paths, spoofing text",
    "test_hardening_input_ui": "Hardening in the UI: form hints, isolated link text",
    "test_hardening_redaction": "Hardening: redaction of upstream text and the log backstop",
    "test_hardening_server": "Hardening: bad bodies, static files, export paths, file modes",
    "test_hardening_gateway": "Hardening: gateway retry waits and error advice",
    "test_hardening_headers": "Hardening: credential headers kept as secrets",
    "test_litellm": "Real gateway: the app against a LiteLLM proxy (mock mode, relay)",
    "test_route_chaos": "Chaos through a failover route: 500 requests, failures at 40 %, a restart",
    "test_tool_approvals": "Tool approvals: 16 streams on tools, the RPC still answers",
}
_outcomes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
_notes: list[str] = []
NOTE = "stress-note"  # the user_properties name a note travels under
_pending: list[str] = []  # noted by the running test, not yet on its report
_started = time.monotonic()


def _category(nodeid: str) -> str | None:
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return CATEGORIES.get(module)


def record(report: pytest.TestReport) -> None:
    """Count one test report in its category, and keep the notes it carries (called by
    tests/conftest.py for every report, in whichever process receives it)."""
    _notes.extend(text for name, text in report.user_properties if name == NOTE)
    category = _category(report.nodeid)
    if category is None:
        return
    name = report.nodeid.split("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            outcome = "xfailed (known bug)" if report.skipped else "XPASS"
        elif report.passed:
            outcome = "passed"
        elif report.skipped:
            outcome = "skipped"
        else:
            outcome = "failed" if report.when == "call" else "error"
        _outcomes[category][outcome].append(name)


def note(text: str) -> None:
    """Add a line to the report's measurements section (e.g. memory figures).

    The line travels with the test's report (`take_pending` puts it in `user_properties`), so
    it reaches the process that writes the report also when tests run in pytest-xdist workers.
    """
    _pending.append(text)
    print(text)


def take_pending() -> list[str]:
    """The notes made since the last call (for the test report being made)."""
    taken = list(_pending)
    _pending.clear()
    return taken


def write() -> None:
    """Write stress-report.md to the artifacts folder, if any stress test was recorded (by the
    main process only: a pytest-xdist worker sees its own share of the tests)."""
    if not _outcomes or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    lines = [
        "# MiaoDa Chat stress report",
        "",
        f"Written {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
        f"session time {time.monotonic() - _started:.1f} s.",
        "",
        "Every case runs the real app (waitress on 127.0.0.1, file secret store) against a real",
        "local fake upstream; provider read timeout "
        f"{READ_TIMEOUT} s, connect timeout {CONNECT_TIMEOUT} s for the fault cases.",
        "Run it with `./dev test tests/stress`.",
        "",
        "| category | tried | passed | known bugs (xfail) | failed | skipped |",
        "|---|---|---|---|---|---|",
    ]
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        counts = _outcomes[category]
        tried = sum(len(v) for v in counts.values())
        failed = len(counts["failed"]) + len(counts["error"]) + len(counts["XPASS"])
        lines.append(
            f"| {category} | {tried} | {len(counts['passed'])} | "
            f"{len(counts['xfailed (known bug)'])} | {failed} | {len(counts['skipped'])} |"
        )
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        counts = _outcomes[category]
        bad = {k: v for k, v in counts.items() if k != "passed" and v}
        if not bad:
            continue
        lines += ["", f"## {category}", ""]
        for outcome, names in sorted(bad.items()):
            lines += [f"- {outcome}: `{name}`" for name in names]
    lines += ["", "## Cases tried", ""]
    for category in CATEGORIES.values():
        if category not in _outcomes:
            continue
        cases = sorted(
            (name, outcome) for outcome, names in _outcomes[category].items() for name in names
        )
        lines += [f"<details><summary>{category} ({len(cases)})</summary>", ""]
        lines += [f"- {outcome}: `{name}`" for name, outcome in cases]
        lines += ["", "</details>", ""]
    if _notes:
        lines += ["", "## Measurements", ""]
        lines += [f"- {text}" for text in _notes]
    (artifacts_dir() / "stress-report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
