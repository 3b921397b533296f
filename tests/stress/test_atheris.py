"""Coverage-guided fuzzing with atheris of the SSE parser, the stream decoders and the importer.

Each target of `tests/stress/atheris_targets.py` runs in its own process for a bounded time
(the four together stay under a minute on a 2-core machine), seeded with valid streams and
exports and a fixed libFuzzer seed. A crash, a broken invariant or an input that takes over
`-timeout` seconds makes libFuzzer exit non-zero; the test then fails with its report and the
input it saved. Executions and coverage of every run go to the stress report's measurements.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require
from tests.stress.report import note

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent.parent
TARGETS = ("sse", "openai", "anthropic", "import")
SECONDS = 6  # per target
MAX_RUNS = 500_000  # a bound that a fast machine may reach before the time is up
DONE = re.compile(r"^#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/", re.MULTILINE)
ENABLE = (
    "atheris is not installed: run ./dev setup, which installs it from requirements/dev.lock "
    "(wheels exist for Linux x86_64 with CPython 3.11-3.13)"
)


@pytest.fixture(scope="module")
def atheris_installed() -> bool:
    try:
        importlib.import_module("atheris")
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("target", TARGETS)
def test_coverage_guided_fuzzing_breaks_no_invariant(
    atheris_installed: bool, target: str, tmp_path: Path
) -> None:
    require(atheris_installed, ENABLE)
    command = [
        sys.executable,
        "-m",
        "tests.stress.atheris_targets",
        target,
        str(tmp_path / "corpus"),
        f"-max_total_time={SECONDS}",
        f"-runs={MAX_RUNS}",
        "-seed=1",
        "-timeout=10",
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60)
    output = result.stdout + result.stderr
    saved = [
        f"{path.name}: {path.read_bytes()[:400]!r}"
        for path in sorted(tmp_path.iterdir())
        if path.is_file()
    ]
    assert result.returncode == 0, "\n".join([output[-6000:], *saved])
    done = DONE.search(output)
    assert done, output[-3000:]
    runs, cov, features, corpus = (int(n) for n in done.groups())
    assert runs > 0
    note(
        f"atheris {target}: {runs:,} executions in about {SECONDS} s, "
        f"coverage {cov} edges, {features} features, corpus {corpus} inputs, no crash"
    )
