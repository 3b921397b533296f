"""Key pools (CONTRACT §10): which key a request is sent with, and what a failure does to it.

`KeyPools` holds every provider's keys in order with their live state; `KeyCursor` is one
request's way through its provider's pool. Requests take turns over the usable keys (round
robin). A rate limit cools its key until the provider's `Retry-After` (60 s when it names
none), a refused key (401/403) is `invalid` until it is edited, reset, passes a check or answers
a chat, and a used-up quota makes it `exhausted`, tried again after an hour. A cooling or
exhausted key whose time has come is usable again (and reads as `active`).

A pool of one key is sent with that key whatever its state: states only choose between keys,
and with no other key the request behaves as it did before pools (the retry policy, with the
waits the provider names). A key's `lastUsedAt` is when the provider last answered it (any HTTP
status); a request that got no answer has not used it.

Key texts never pass through here except on their way to a request: a cursor reads the text of
the key it picks through `reveal` (the manager's secret store reader). States are written
through `KeySink` as they change, by the thread that reports the change; the provider loop
reports from a worker thread (see runtime.py), never blocking on the disk itself.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

from backend.errors import (
    AuthFailed,
    ConnectionFailed,
    MiaodaError,
    QuotaExceeded,
    RateLimited,
    UpstreamFailure,
    UpstreamTimeout,
)
from backend.i18n import tr
from backend.models import ProviderKey
from backend.redact import REDACTOR

log = logging.getLogger("miaoda.keys")

COOLDOWN_DEFAULT = 60.0
"""Seconds a rate-limited key rests when the provider named no wait."""
EXHAUSTED_RETRY = 3600.0
"""Seconds before a key whose quota was used up is tried again."""
USED_SAVE_EVERY = 60.0
"""`lastUsedAt` is written at most this often per key (each use would be a disk write)."""

StoredKey = tuple[ProviderKey, str]
"""A key and the secret store entry that holds its text."""
Reveal = Callable[[str], str | None]
"""Reads the text stored under a secret store entry (None when there is none)."""


class Wait(NamedTuple):
    """How long until the soonest cooling key may be used, and whether the provider named that
    wait (False: the 60 s we guess for a rate limit that named none)."""

    seconds: float
    named: bool


class KeySink(Protocol):
    """Where key states are saved (backend.storage.KeyStore)."""

    def save_state(self, provider_id: str, key: ProviderKey) -> None: ...


def iso(timestamp: float) -> str:
    """A POSIX time as ISO 8601 UTC with a `Z`, to the millisecond (as `utc_now` writes)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> float | None:
    """The POSIX time of an ISO 8601 text, or None for None or a text that is not one."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass
class _Slot:
    key: ProviderKey
    entry: str
    until: float | None  # parsed `key.until`
    saved_use: float = 0.0  # when `last_used_at` was last written
    # Whether a cooling key's `until` is a wait the provider named, not our 60 s guess. Kept in
    # memory only: after a restart a stored wait counts as named (the row does not say).
    named: bool = True

    def usable(self, now: float) -> bool:
        state = self.key.state
        if state == "active":
            return True
        return state != "invalid" and self.until is not None and self.until <= now

    def effective(self, now: float) -> ProviderKey:
        """The key as reads show it: a wait that is over reads as `active`."""
        if self.key.state != "active" and self.usable(now):
            return replace(self.key, state="active", until=None)
        return self.key


@dataclass
class _Pool:
    slots: list[_Slot]
    turn: int = 0  # where the next request starts looking (round robin)


class KeyPools:
    """Every provider's key pool; thread-safe."""

    def __init__(self, sink: KeySink, *, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self._lock = threading.Lock()
        # Held while a key's latest state is read and written, so that two writers of the same
        # key cannot land out of order (one of them runs on the loop's executor, unawaited).
        self._save_lock = threading.Lock()
        self._pools: dict[str, _Pool] = {}

    def load(self, pools: Mapping[str, Sequence[StoredKey]]) -> None:
        """Replace every pool with the stored ones (at start-up)."""
        with self._lock:
            self._pools = {pid: _Pool(_slots(keys)) for pid, keys in pools.items() if keys}

    def put(self, provider_id: str, keys: Sequence[StoredKey]) -> None:
        """Make `keys` the provider's pool (after a saved change); its turn is kept."""
        with self._lock:
            old = self._pools.get(provider_id)
            if not keys:
                self._pools.pop(provider_id, None)
                return
            pool = _Pool(_slots(keys), old.turn if old else 0)
            if old is not None:  # keep what is only in memory: when use was last written
                saved = {s.key.id: s.saved_use for s in old.slots}
                for slot in pool.slots:
                    slot.saved_use = saved.get(slot.key.id, 0.0)
            self._pools[provider_id] = pool

    def stored(self, provider_id: str) -> list[StoredKey]:
        """The provider's keys in order with their entries, as they stand now."""
        with self._lock:
            pool = self._pools.get(provider_id)
            return [(s.key, s.entry) for s in pool.slots] if pool else []

    def keys(self, provider_id: str) -> tuple[ProviderKey, ...]:
        """The provider's keys in order, as reads show them."""
        now = self._clock()
        with self._lock:
            pool = self._pools.get(provider_id)
            return tuple(s.effective(now) for s in pool.slots) if pool else ()

    def reset(self, provider_id: str, key_id: str) -> bool:
        """Put a key back to `active` (its last error is kept); False when there is no such key."""
        return self._change(provider_id, key_id, "active", None, None) is not None

    def cursor(
        self, provider_id: str, reveal: Reveal, *, check: bool = False, label: str = ""
    ) -> KeyCursor | None:
        """A request's cursor over the provider's pool (None: the provider has no key).

        `check`: for a health check or connection test, which falls back to a key that is not
        usable (an invalid one first) when none is, so that a passing check can re-enable it.
        """
        with self._lock:
            if provider_id not in self._pools:
                return None
        return KeyCursor(self, provider_id, reveal, check=check, label=label)

    # --- used by KeyCursor --------------------------------------------------------------

    def _pick(self, provider_id: str, tried: set[str], fallback: bool) -> tuple[str, str] | None:
        """The next usable key not in `tried` (round robin): its id and entry, or None."""
        now = self._clock()
        with self._lock:
            pool = self._pools.get(provider_id)
            if pool is None:
                return None
            count = len(pool.slots)
            order = [pool.slots[(pool.turn + i) % count] for i in range(count)]
            chosen = next((s for s in order if s.key.id not in tried and s.usable(now)), None)
            if chosen is None and (fallback or count == 1):  # a pool of one: its key, always
                left = [s for s in pool.slots if s.key.id not in tried]
                invalid = [s for s in left if s.key.state == "invalid"]
                chosen = next(iter(invalid or left), None)
            if chosen is None:
                return None
            pool.turn = (pool.slots.index(chosen) + 1) % count
            return chosen.key.id, chosen.entry

    def _alone(self, provider_id: str) -> bool:
        """Whether the provider's pool holds one key."""
        with self._lock:
            pool = self._pools.get(provider_id)
            return pool is not None and len(pool.slots) == 1

    def _soonest(self, provider_id: str) -> tuple[str, Wait] | None:
        """The cooling key whose wait ends first, and how long until then."""
        now = self._clock()
        with self._lock:
            pool = self._pools.get(provider_id)
            cooling = [
                s
                for s in (pool.slots if pool else [])
                if s.key.state == "cooling" and s.until is not None
            ]
            if not cooling:
                return None
            first = min(cooling, key=lambda s: s.until or 0.0)
            return first.key.id, Wait(max(0.0, (first.until or now) - now), first.named)

    def _entry(self, provider_id: str, key_id: str) -> str | None:
        with self._lock:
            pool = self._pools.get(provider_id)
            slot = next((s for s in pool.slots if s.key.id == key_id), None) if pool else None
            return slot.entry if slot else None

    def _failed(self, provider_id: str, key_id: str, error: UpstreamFailure) -> bool:
        """Record a failure against a key; True when it was the key's (a state changed).

        A failure the provider answered (any HTTP status, or an error in its stream) counts as
        a use of the key; one that got no answer (refused, reset, timed out) changes nothing.
        """
        now = self._clock()
        named = True
        if isinstance(error, QuotaExceeded):
            state, until = "exhausted", now + EXHAUSTED_RETRY
        elif isinstance(error, RateLimited):
            named = error.retry_after is not None
            wait = error.retry_after if error.retry_after is not None else COOLDOWN_DEFAULT
            state, until = "cooling", now + max(0.0, wait)
        elif isinstance(error, AuthFailed):
            state, until = "invalid", None
        else:
            if _answered(error):
                self._save_later(provider_id, key_id, revive=False)
            return False
        last = {"code": error.code, "message": REDACTOR.redact(error.message)}
        self._change(provider_id, key_id, state, until, last, named=named)
        return True

    def _passed(self, provider_id: str, key_id: str) -> None:
        """A check passed with this key: its use is recorded, an invalid key is active again."""
        save = self._answered(provider_id, key_id, revive=False)
        with self._lock:
            slot = self._slot(provider_id, key_id)
            invalid = slot is not None and slot.key.state == "invalid"
        if invalid:
            self._change(provider_id, key_id, "active", None, None)  # writes the use too
        elif save is not None:
            save()

    def _answered(
        self, provider_id: str, key_id: str, *, revive: bool
    ) -> Callable[[], None] | None:
        """The provider answered this key: record the use in memory. `revive`: it answered
        with success, so a key in any other state is active again. Returns the disk write to
        make when one is due (a state changed, or the use was last written a minute ago)."""
        now = self._clock()
        with self._lock:
            slot = self._slot(provider_id, key_id)
            if slot is None:
                return None
            slot.key = replace(slot.key, last_used_at=iso(now))
            changed = revive and slot.key.state != "active"
            if changed:
                slot.key = replace(slot.key, state="active", until=None)
                slot.until, slot.named = None, True
            if not changed and now - slot.saved_use < USED_SAVE_EVERY:
                return None
            slot.saved_use = now
        return lambda: self._save_latest(provider_id, key_id)

    def _save_later(self, provider_id: str, key_id: str, *, revive: bool) -> None:
        """`_answered`, with the write (if due) made now, by the calling thread."""
        save = self._answered(provider_id, key_id, revive=revive)
        if save is not None:
            save()

    def _slot(self, provider_id: str, key_id: str) -> _Slot | None:
        """The key's slot (call with the lock held)."""
        pool = self._pools.get(provider_id)
        return next((s for s in pool.slots if s.key.id == key_id), None) if pool else None

    def _change(
        self,
        provider_id: str,
        key_id: str,
        state: str,
        until: float | None,
        last_error: Mapping[str, str] | None,
        *,
        named: bool = True,
    ) -> ProviderKey | None:
        now = self._clock()
        with self._lock:
            slot = self._slot(provider_id, key_id)
            if slot is None:
                return None
            error = last_error if last_error is not None else slot.key.last_error
            used = slot.key.last_used_at
            if last_error is not None:  # a failure of the key's: the provider answered it
                used, slot.saved_use = iso(now), now
            slot.key = replace(
                slot.key,
                state=state,  # type: ignore[arg-type]  # one of KEY_STATES, from above
                until=iso(until) if until is not None else None,
                last_error=error,
                last_used_at=used,
            )
            slot.until, slot.named = until, named
            key = slot.key
        self._save_latest(provider_id, key_id)
        return key

    def _save_latest(self, provider_id: str, key_id: str) -> None:
        """Write the key as it stands now (a removed key is skipped)."""
        with self._save_lock:
            with self._lock:
                slot = self._slot(provider_id, key_id)
                key = slot.key if slot is not None else None
            if key is None:
                return
            try:
                self._sink.save_state(provider_id, key)
            except MiaodaError as err:
                # The state holds in memory; only a restart before the next write loses it.
                log.warning("could not save the state of a key of %s: %s", provider_id, err.message)


def _answered(error: UpstreamFailure) -> bool:
    """Whether the provider answered the request that failed with `error` (see `_failed`)."""
    no_answer = isinstance(error, (ConnectionFailed, UpstreamTimeout))
    return not no_answer or error.upstream_status is not None


def _slots(keys: Sequence[StoredKey]) -> list[_Slot]:
    return [_Slot(key, entry, parse_iso(key.until)) for key, entry in keys]


class KeyCursor:
    """One request's way through its provider's pool (see `backend.models.KeyRotation`).

    Each key is tried at most once by a request, except the one it waited for.
    """

    def __init__(
        self, pools: KeyPools, provider_id: str, reveal: Reveal, *, check: bool, label: str
    ) -> None:
        self._pools = pools
        self._provider_id = provider_id
        self._reveal = reveal
        self._check = check
        self.label = label  # the provider's name, for messages
        self._tried: set[str] = set()
        self._current: str | None = None

    @property
    def current(self) -> str | None:
        """The id of the key in use, or None when no key could be picked."""
        return self._current

    def advance(self) -> str | None:
        """Pick the next usable key this request has not tried; its text, or None.

        With None the request has no key left, except in a pool of one: there the current key
        stays, and the retry policy decides what its failure does, as without a pool.
        """
        previous, self._current = self._current, None
        while True:
            picked = self._pools._pick(self._provider_id, self._tried, self._check)
            if picked is None:
                if self._pools._alone(self._provider_id):
                    self._current = previous
                return None
            key_id, entry = picked
            self._tried.add(key_id)
            text = self._reveal(entry)
            if text:
                REDACTOR.add(text)
                self._current = key_id
                return text
            log.warning("a key of %s is missing from the secret store", self._provider_id)

    def soonest(self) -> Wait | None:
        """How long until the soonest cooling key may be used again; None when none cools."""
        found = self._pools._soonest(self._provider_id)
        return found[1] if found else None

    def take_soonest(self) -> str | None:
        """After waiting for it: the soonest cooling key, as the current one; its text."""
        found = self._pools._soonest(self._provider_id)
        self._current = None
        if found is None:
            return None
        entry = self._pools._entry(self._provider_id, found[0])
        text = self._reveal(entry) if entry else None
        if not text:
            return None
        REDACTOR.add(text)
        self._tried.add(found[0])
        self._current = found[0]
        return text

    def failed(self, error: UpstreamFailure) -> bool:
        """Record the current key's failure; True when the key was at fault."""
        if self._current is None:
            return False
        return self._pools._failed(self._provider_id, self._current, error)

    def succeeded(self) -> None:
        """A check passed with the current key: an invalid one is active again."""
        if self._current is not None:
            self._pools._passed(self._provider_id, self._current)

    def answered(self, ok: bool) -> Callable[[], None] | None:
        """The provider answered the current key's chat request (`ok`: with success, which
        makes the key active again whatever its state). Only memory is touched: the disk write
        that is due, if any, is returned for the caller to run off its event loop."""
        if self._current is None:
            return None
        return self._pools._answered(self._provider_id, self._current, revive=ok)

    def unusable(
        self, error: UpstreamFailure | None, soonest: tuple[float, bool] | None
    ) -> UpstreamFailure:
        """The error a request ends with when no key is usable: the last key failure, or one
        saying why none could be tried. `retryAfter` is the soonest cooling key's wait only
        when the provider named it: a guessed 60 s is said in words (and in the keys' `until`)."""
        name = self.label or tr("providers.keys.thisProvider")
        if soonest is not None:
            wait = Wait(*soonest)
            if not wait.named and isinstance(error, RateLimited):
                return error  # as the provider said it: no wait named
            seconds = float(math.ceil(wait.seconds))  # whole seconds: "90", not "89.996"
            retry_after = seconds if wait.named else None
            if isinstance(error, RateLimited):
                return RateLimited(
                    error.message, retry_after=retry_after, upstream_status=error.upstream_status
                )
            key = "providers.keys.resting" if wait.named else "providers.keys.restingAbout"
            return RateLimited(
                tr(key, name=name, wait=tr("upstream.seconds", count=max(1, round(seconds)))),
                retry_after=retry_after,
            )
        if error is not None:
            return error
        if any(k.state == "exhausted" for k in self._pools.keys(self._provider_id)):
            return QuotaExceeded(tr("providers.keys.exhausted", name=name))
        return AuthFailed(tr("providers.keys.refused", name=name))
