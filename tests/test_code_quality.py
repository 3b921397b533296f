"""The code stays lint-clean and type-checked (strict on backend/), as part of the one test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import require

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_the_backend() -> None:
    result = run("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def _node_tool(name: str) -> Path:
    tool = ROOT / "node_modules" / ".bin" / name
    require(tool.exists(), f"{name} is not installed: run ./dev setup (it runs npm ci)")
    return tool


def test_eslint_finds_nothing_in_the_frontend() -> None:
    result = subprocess.run(
        [_node_tool("eslint"), "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_frontend_is_formatted_by_prettier() -> None:
    result = subprocess.run(
        [_node_tool("prettier"), "--check", "frontend", "eslint.config.js"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, "run `npm run format`:\n" + result.stdout + result.stderr
