"""`BackgroundWrites`: writes run in order on one thread, `drain` waits, a failure is logged."""

from __future__ import annotations

import threading

import pytest

from backend.background import BackgroundWrites


def test_writes_run_in_the_order_handed_in_on_one_other_thread() -> None:
    writes = BackgroundWrites()
    seen: list[tuple[int, str]] = []
    for n in range(50):
        writes.submit(lambda n=n: seen.append((n, threading.current_thread().name)))
    assert writes.drain()
    assert [n for n, _ in seen] == list(range(50))
    assert {name for _, name in seen} != {threading.current_thread().name}
    assert len({name for _, name in seen}) == 1
    writes.close()


def test_a_failing_write_is_logged_and_the_next_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writes = BackgroundWrites()
    seen: list[str] = []

    def broken() -> None:
        raise RuntimeError("disk on fire")

    writes.submit(broken)
    writes.submit(lambda: seen.append("after"))
    writes.close()
    assert seen == ["after"]
    assert "a background write failed" in caplog.text


def test_after_close_a_write_runs_on_the_callers_thread() -> None:
    writes = BackgroundWrites()
    writes.close()
    where: list[str] = []
    writes.submit(lambda: where.append(threading.current_thread().name))
    assert where == [threading.current_thread().name]


def test_close_waits_for_a_slow_write() -> None:
    writes = BackgroundWrites()
    started, release = threading.Event(), threading.Event()
    done: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(5)
        done.append(True)

    writes.submit(slow)
    assert started.wait(5)
    closer = threading.Thread(target=writes.close)
    closer.start()
    release.set()
    closer.join(10)
    assert done == [True]
