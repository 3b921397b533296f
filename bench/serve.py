"""The app as the browser benchmarks use it: `python -m backend serve` in its own data folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVE_LINE = re.compile(r"MiaoDa Chat is running at (http://127\.0\.0\.1:\d+)/")


def start_app(
    data_dir: Path, token: str, checkout: Path = REPO
) -> tuple[subprocess.Popen[str], str]:
    """`miaoda serve` on `data_dir` with `token` (encrypted-file secrets, no browser opened),
    from this checkout or another one (a baseline: `git worktree add ../before <rev>`); the
    process and its base URL. Exits the benchmark if the app does not start."""
    env = {
        **os.environ,
        "MIAODA_DATA_DIR": str(data_dir),
        "MIAODA_SECRET_BACKEND": "file",
        "MIAODA_TOKEN": token,
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "backend", "serve", "--no-browser", "--port", "0"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = SERVE_LINE.search(line)
    if not match:
        process.kill()
        raise SystemExit(f"miaoda serve did not start: {line!r}")
    return process, match.group(1)
