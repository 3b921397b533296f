"""Crash safety: a writer killed at random moments never loses or damages what it committed.

The test runs this module as a child process (`python -m tests.integration.test_crash_safety`)
that writes providers in a loop and reports each write on stdout, then kills it with SIGKILL
(TerminateProcess on Windows) at a seeded random moment, fifteen times on the same file. After
each kill the store must open, pass SQLite's integrity check and hold exactly what the child
reported: the one write in flight at the kill may have landed or not, but wholly either way.

Protocol, one line each, flushed:
    ready                                          the store is open
    begin <op> <id>:<old>:<new> [<id>:<old>:<new> ...]
                                                   about to call Storage; revisions, `-` = absent
    committed <id> <op>                            the call returned, for each id of the op
"""

from __future__ import annotations

import random
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from backend.models import PROVIDER_TYPES, AuthConfig, ProviderConfig
from backend.storage import Storage
from tests.killable import run_until_killed

SEED = 20261126
KILLS = 15
CHILD_MODULE = "tests.integration.test_crash_safety"  # this file, run from the repository root

Revisions = dict[str, int | None]  # provider id -> revision, None when absent


def build_provider(provider_id: str, rev: int) -> ProviderConfig:
    """The provider the child writes at revision `rev`; the parent rebuilds it to compare."""
    kind = PROVIDER_TYPES[rev % 3]
    name = f"prov-{provider_id}"
    return ProviderConfig(
        id=provider_id,
        # Alternating case makes updates rewrite the case-insensitive name key too.
        name=name.upper() if rev % 2 else name,
        display_name=f"Prövider {provider_id} · {rev}",
        base_url=f"https://api{rev % 5}.example.com/v1",
        model=f"model-{rev}",
        type=kind,
        auth=AuthConfig("header", "x-api-key") if rev % 2 else AuthConfig("bearer"),
        headers={"X-Rev": str(rev)} if rev % 3 else {},
        parameters={"temperature": (rev % 20) / 10, "maxTokens": 100 + rev},
        endpoints={"chat": f"/chat/{rev}"} if kind == "custom" else {},
        created_at="2026-11-26T10:00:00.000Z",
        updated_at=f"2026-11-26T10:00:00.{rev % 1000:03d}Z",
        has_api_key=rev % 2 == 0,
        api_key_hint=f"sk-…{rev % 10000:04d}" if rev % 2 == 0 else None,
    )


def revision_of(provider: ProviderConfig) -> int:
    """The revision a stored provider was written at (kept in its model name)."""
    return int(provider.model.removeprefix("model-"))


# --- the child --------------------------------------------------------------------------


def _say(line: str) -> None:
    print(line, flush=True)


def _fmt(rev: int | None) -> str:
    return "-" if rev is None else str(rev)


def _apply(storage: Storage, op: str, change: dict[str, tuple[int | None, int | None]]) -> None:
    """Make one write; a batch updates several providers in one transaction."""
    if op == "delete":
        (pid,) = change
        assert storage.delete_provider(pid)
        return
    with storage.transaction():
        for pid, (old, new) in change.items():
            assert new is not None
            if old is None:
                storage.insert_provider(build_provider(pid, new))
            else:
                storage.update_provider(build_provider(pid, new))


def _next_change(
    rng: random.Random, revs: dict[str, int], new_id: str
) -> tuple[str, dict[str, tuple[int | None, int | None]]]:
    """Pick the next write: mostly inserts and updates, some batches and deletes."""
    ids = sorted(revs)
    roll = rng.random()
    if not ids or roll < 0.4:
        return "insert", {new_id: (None, 0)}
    if roll < 0.7:
        pid = rng.choice(ids)
        return "update", {pid: (revs[pid], revs[pid] + 1)}
    if roll < 0.85:
        chosen = rng.sample(ids, min(3, len(ids)))
        return "batch", {pid: (revs[pid], revs[pid] + 1) for pid in chosen}
    pid = rng.choice(ids)
    return "delete", {pid: (revs[pid], None)}


def child_main(db_path: str, run: int, seed: int) -> None:
    """Write to the store until killed (or 30 s pass), reporting each write."""
    rng = random.Random(seed * 1000 + run)
    storage = Storage(Path(db_path))
    revs = {p.id: revision_of(p) for p in storage.list_providers()}
    _say("ready")
    deadline = time.monotonic() + 30
    counter = 0
    while time.monotonic() < deadline:
        counter += 1
        op, change = _next_change(rng, revs, f"r{run}n{counter}")
        parts = " ".join(f"{pid}:{_fmt(old)}:{_fmt(new)}" for pid, (old, new) in change.items())
        _say(f"begin {op} {parts}")
        _apply(storage, op, change)
        for pid, (_, new) in change.items():
            if new is None:
                del revs[pid]
            else:
                revs[pid] = new
        for pid in change:
            _say(f"committed {pid} {op}")
    storage.close()


# --- the parent -------------------------------------------------------------------------


def run_child_until_killed(db: Path, run: int, delay: float, after_ready: bool) -> list[str]:
    """Start a child, kill it `delay` s after it starts (or reports ready); its whole lines."""
    return run_until_killed(
        CHILD_MODULE,
        [str(db), str(run), str(SEED)],
        errors=db.parent.parent / f"child-{run}.stderr",
        label=f"the child of run {run}",
        delay=delay,
        wait_for="ready" if after_ready else None,
    )


def replay(
    lines: list[str], committed: Revisions
) -> tuple[Revisions, Revisions | None, Revisions | None]:
    """Apply reported writes to `committed`; also the in-flight write's before and after."""
    state = dict(committed)
    before: Revisions | None = None
    after: Revisions | None = None
    waiting: set[str] = set()
    for line in lines:
        word, *rest = line.split(" ")
        if word == "begin":
            before, after = {}, {}
            for part in rest[1:]:
                pid, old, new = part.split(":")
                before[pid] = None if old == "-" else int(old)
                after[pid] = None if new == "-" else int(new)
            waiting = set(after)
        elif word == "committed":
            assert after is not None
            pid = rest[0]
            state[pid] = after[pid]
            waiting.discard(pid)
            if not waiting:
                before = after = None
    if before is None or after is None:
        return state, None, None
    # The kill came between `begin` and the last `committed`: judge that write as a whole.
    for pid, rev in before.items():
        state[pid] = rev
    return state, before, after


def stored_revisions(db: Path) -> dict[str, ProviderConfig]:
    """Open the store as the app would and read every provider."""
    with Storage(db) as storage:
        return {p.id: p for p in storage.list_providers()}


def integrity(db: Path) -> list[tuple[str]]:
    """SQLite's own verdict on the file, through a plain connection."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchall()


def matches(stored: dict[str, ProviderConfig], expected: Revisions) -> bool:
    """Whether each id is absent or holds exactly the provider of its expected revision."""
    for pid, rev in expected.items():
        actual = stored.get(pid)
        if rev is None and actual is not None:
            return False
        if rev is not None and actual != build_provider(pid, rev):
            return False
    return True


@pytest.mark.slow
def test_killed_writer_never_loses_or_damages_committed_providers(tmp_path: Path) -> None:
    db = tmp_path / "data" / "miaoda.db"
    rng = random.Random(SEED)
    committed: Revisions = {}
    writes = in_flight_kills = 0
    started = time.monotonic()
    for run in range(KILLS):
        # Most kills land mid-write; some during start-up, when the file is opened or migrated.
        after_ready = rng.random() < 0.8
        delay = rng.uniform(0.0, 0.25) if after_ready else rng.uniform(0.0, 0.3)
        lines = run_child_until_killed(db, run, delay, after_ready)
        writes += sum(line.startswith("committed ") for line in lines)
        expected, before, after = replay(lines, committed)

        stored = stored_revisions(db)
        assert integrity(db) == [("ok",)], f"run {run}: the file is damaged"
        settled = {pid: rev for pid, rev in expected.items() if before is None or pid not in before}
        assert matches(stored, settled), f"run {run}: a committed write was lost or altered"
        if before is not None and after is not None:
            in_flight_kills += 1
            assert matches(stored, before) or matches(stored, after), (
                f"run {run}: the write in flight at the kill landed only in part"
            )
            settled |= {pid: rev for pid, rev in after.items() if pid in stored}
        unexpected = set(stored) - {pid for pid, rev in expected.items() if rev is not None}
        unexpected -= set(after or {})
        assert not unexpected, f"run {run}: providers nobody wrote: {sorted(unexpected)}"
        committed = {pid: revision_of(p) for pid, p in stored.items()}

    assert writes > KILLS, "the child hardly wrote anything; the test proved nothing"
    print(
        f"{KILLS} kills, {writes} reported writes, {in_flight_kills} kills mid-write, "
        f"{len(committed)} providers at the end, {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    child_main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
