"""The running totals of the request log (backend/storage/rollups.py) against the records."""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backend.storage import Storage, Tally, UsageStore, rollups
from backend.storage.rollups import (
    BUCKET_SECONDS,
    RECORD_COLUMNS,
    SCALARS,
    TTFT_BINS,
    bin_value,
    bucket_at,
    ttft_bin,
)

T0 = "2026-12-01T10:00:00.000Z"


def log(storage: Storage, request_id: str, created_at: str = T0, **fields: object) -> None:
    values: dict[str, object] = {
        "request_id": request_id,
        "provider_id": "p1",
        "model": "m",
        "input_tokens": 100,
        "output_tokens": 50,
        "usage_source": "reported",
        "ttft_ms": 300,
        "elapsed_ms": 900,
        "finish_reason": "stop",
        "error_code": None,
        "created_at": created_at,
        "cost_micros": 7,
        "currency": "USD",
    }
    values.update(fields)
    storage.record_chat(**values)  # type: ignore[arg-type]


def everything(storage: Storage) -> Tally:
    """The totals of all requests, from the ALL group."""
    return UsageStore(storage).all_before(10**12)


def totals_rows(storage: Storage) -> list[tuple[object, ...]]:
    with sqlite3.connect(storage.path) as conn:
        return conn.execute(
            "SELECT g.level, g.provider_id, g.route_id, g.model, g.key_id, g.currency, t.bucket, "
            "t.requests, t.cost_micros, t.ttft FROM usage_totals t "
            "JOIN usage_groups g ON g.id = t.group_id ORDER BY 1, 2, 3, 4, 5, 6, 7"
        ).fetchall()


def test_the_statements_list_the_columns_in_the_order_the_code_reads_them() -> None:
    listed = [c.strip() for c in RECORD_COLUMNS.split(",")]
    assert rollups.SELECT_RECORDS.startswith("SELECT " + ", ".join(listed) + " FROM")
    for statement in (rollups._AT_OR_BEFORE, rollups._TOTALS_BEFORE, rollups._ALL_BEFORE):
        columns = re.sub(r"\bt\.", "", statement.split(" FROM ")[0].removeprefix("SELECT "))
        names = [c.strip() for c in columns.split(",")]
        assert names[1 : 1 + len(SCALARS)] == list(SCALARS)
        assert names[1 + len(SCALARS)] == "ttft"


@pytest.mark.parametrize("ms", [1, 2, 7, 50, 199, 200, 201, 999, 4096, 12_345, 119_999])
def test_a_histogram_bin_stands_for_its_values_within_9_percent(ms: int) -> None:
    assert abs(bin_value(ttft_bin(ms)) - ms) / ms <= 0.0906


def test_zero_milliseconds_has_its_own_bin_and_huge_values_the_last() -> None:
    assert (ttft_bin(0), bin_value(0)) == (0, 0.0)
    assert ttft_bin(10**9) == TTFT_BINS - 1


def test_a_request_counts_once_at_each_level_of_groups(storage: Storage) -> None:
    log(storage, "r1", route_id="route", key_id="k1")
    levels = {(row[0], row[1], row[2], row[4]) for row in totals_rows(storage)}
    assert levels == {(2, "p1", "route", "k1"), (1, "p1", "", ""), (0, "", "", "")}


def test_totals_run_on_across_quarter_hours(storage: Storage) -> None:
    log(storage, "r1", "2026-12-01T10:00:00.000Z")
    log(storage, "r2", "2026-12-01T10:14:59.999Z")
    log(storage, "r3", "2026-12-01T10:15:00.000Z")
    store = UsageStore(storage)
    start = bucket_at(datetime(2026, 12, 1, 10, tzinfo=UTC))
    assert store.all_before(start)["requests"] == 0
    assert store.all_before(start + 1)["requests"] == 2
    assert store.all_before(start + 2)["requests"] == 3


def test_recording_a_request_again_replaces_it_in_the_totals(storage: Storage) -> None:
    log(storage, "r1", input_tokens=100, cost_micros=7)
    log(storage, "r1", input_tokens=300, cost_micros=9, ttft_ms=5000)
    tally = everything(storage)
    assert (tally["requests"], tally["input_tokens"], tally["cost_micros"]) == (1, 300, 9)
    assert tally.hist[ttft_bin(5000)] == 1 and sum(tally.hist) == 1


def test_a_record_from_before_the_latest_quarter_hour_updates_the_later_totals(
    storage: Storage,
) -> None:
    log(storage, "late", "2026-12-01T11:00:00.000Z")
    log(storage, "early", "2026-12-01T10:00:00.000Z")  # the clock went back
    incremental = totals_rows(storage)
    UsageStore(storage).rebuild()
    assert totals_rows(storage) == incremental
    assert everything(storage)["requests"] == 2


def test_rebuilding_gives_the_totals_recording_kept(storage: Storage) -> None:
    for n, minute in enumerate((0, 7, 20, 61, 62, 300)):
        log(
            storage,
            f"r{n}",
            f"2026-12-01T{10 + minute // 60:02d}:{minute % 60:02d}:00.000Z",
            provider_id=f"p{n % 2}",
            route_id="route" if n % 3 else None,
            finish_reason="error" if n == 4 else "stop",
            cost_micros=None if n == 5 else n,
        )
    kept = totals_rows(storage)
    UsageStore(storage).rebuild()
    assert totals_rows(storage) == kept


def test_a_record_tally_counts_errors_estimates_and_unknown_costs() -> None:
    _, bucket, tally = rollups.tally_of(
        ("p", None, "m", None, None, 10, 5, None, "estimated", None, "stop", None, T0)
    )
    assert bucket * BUCKET_SECONDS == int(datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp())
    assert tally["estimated_tokens"] == 15 and tally["unknown_cost_requests"] == 1
    key, _, failed = rollups.tally_of(
        ("p", "r", "m", "k", None, None, None, None, None, None, "error", 0, T0)
    )
    assert failed["errors"] == 1 and failed["unknown_cost_requests"] == 0
    assert key.currency == "" and sum(failed.hist) == 0


def test_clearing_forgets_records_totals_and_alerts(storage: Storage) -> None:
    log(storage, "r1")
    log(storage, "r2")
    assert UsageStore(storage).clear() == 2
    assert totals_rows(storage) == [] and everything(storage)["requests"] == 0
    assert storage.chat_stats() == []
    log(storage, "r3")
    assert everything(storage)["requests"] == 1


def test_upgrading_a_version_7_file_counts_its_records_at_unknown_cost(data_dir: Path) -> None:
    path = data_dir / "old.db"
    with Storage(path) as storage:
        log(storage, "r1", input_tokens=10, output_tokens=5)
        log(storage, "r2", finish_reason="error", input_tokens=None, output_tokens=None)
    with closing(sqlite3.connect(path)) as conn:  # back to version 7
        later = ("mcp_tools", "mcp_servers")  # migration 9
        for table in (*later, "usage_totals", "usage_groups", "prices", "budgets", "budget_alerts"):
            conn.execute(f"DROP TABLE {table}")
        for column in ("route_id", "key_id", "cached_input_tokens", "cost_micros", "currency"):
            conn.execute(f"ALTER TABLE chat_requests DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 7")
        conn.commit()
    with Storage(path) as storage:
        tally = everything(storage)
        assert (tally["requests"], tally["errors"], tally["input_tokens"]) == (2, 1, 10)
        assert (tally["cost_micros"], tally["unknown_cost_requests"]) == (0, 1)
