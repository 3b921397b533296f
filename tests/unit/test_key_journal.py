"""Rows and keys stay in step across a crash: the manager's key journal, step by step.

Every write the manager makes (a provider row, a journal entry, a secret) is a step. For each
change below and each step, a run "crashes" just before that step: the step and everything
after it never happen, an open transaction rolls back, nothing cleans up. Then the app
"restarts" on the same files and must show the provider wholly as before or wholly as after,
with exactly its own key, no key left for anyone else and no key change left unfinished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import transfer
from backend.errors import KeyringUnavailable
from backend.manager import KEY_JOURNAL, CustomProviderManager
from backend.secrets import EncryptedFileSecretStore, KeyringSecretStore, SecretStore
from backend.storage import KeyStore, Storage
from tests.helpers import CANARY_KEY, files_containing, keyring_usable, provider_config, require

OLD_URL = "https://old.example.com/v1"
NEW_URL = "https://new.example.com/v1"
PASS = "journal passphrase"


def key(n: int) -> str:
    return f"{CANARY_KEY}-{n}"


class Crash(BaseException):
    """The process dies here (not an Exception, so no handler mistakes it for an error)."""


class Steps:
    """Counts writes; the one numbered `crash_at` and every later call die instead."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.crash_at = crash_at
        self.count = 0
        self.dead = False

    def step(self) -> None:
        if self.dead or self.count == self.crash_at:
            self.dead = True
            raise Crash()
        self.count += 1

    def alive(self) -> None:
        if self.dead:
            raise Crash()


class CrashingSecrets:
    """A real secret store whose writes are steps; remembers every name it was given."""

    def __init__(self, inner: SecretStore, steps: Steps, names: set[str]) -> None:
        self.inner, self.steps, self.names = inner, steps, names
        self.backend_name, self.description = inner.backend_name, inner.description

    def get(self, provider_id: str) -> str | None:
        self.steps.alive()
        return self.inner.get(provider_id)

    def set(self, provider_id: str, secret: str) -> None:
        self.names.add(provider_id)
        self.steps.step()
        self.inner.set(provider_id, secret)

    def delete(self, provider_id: str) -> None:
        self.names.add(provider_id)
        self.steps.step()
        self.inner.delete(provider_id)


class CrashingStorage(Storage):
    """The real store; each row or setting written is a step (inside its transaction)."""

    steps = Steps()

    def insert_provider(self, provider: Any) -> None:
        self.steps.step()
        super().insert_provider(provider)

    def update_provider(self, provider: Any) -> None:
        self.steps.step()
        super().update_provider(provider)

    def delete_provider(self, provider_id: str) -> bool:
        self.steps.step()
        return super().delete_provider(provider_id)

    def set_setting(self, key: str, value: Any) -> None:
        self.steps.step()
        super().set_setting(key, value)


@pytest.fixture(params=["file", "keyring"])
def open_secrets(request: pytest.FixtureRequest) -> Iterator[Callable[[Path], SecretStore]]:
    """Opens the secret store of a data folder afresh, as a restarted app would."""
    if request.param == "keyring":
        require(keyring_usable(), "needs a Secret Service keyring: run ./dev test")
        store = KeyringSecretStore()
        yield lambda folder: store
        return
    yield EncryptedFileSecretStore


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lightest parameters the importer accepts: the key derivation is not under test here.
    monkeypatch.setattr(transfer, "SCRYPT_N", 2**14)
    monkeypatch.setattr(transfer, "SCRYPT_R", 1)


def export(url: str, with_key: bool) -> str:
    provider = provider_config(name="keyed", baseURL=url, model="imported", apiKey=None)
    provider.update(headers={}, parameters={}, auth={"scheme": "bearer"}, endpoints={})
    keys = {"keyed": key(4)} if with_key else None
    return transfer.build_export([provider], keys, PASS if with_key else None)


Change = Callable[[CustomProviderManager, dict[str, str]], Any]
CHANGES: dict[str, Change] = {
    "add with a key": lambda m, ids: m.add(
        provider_config(name="new", apiKey=key(9)), validate=False
    ),
    "update to a new key and endpoint": lambda m, ids: m.update(
        ids["keyed"], {"apiKey": key(2), "baseURL": NEW_URL, "model": "m2"}, validate=False
    ),
    "update a provider to its first key": lambda m, ids: m.update(
        ids["plain"], {"apiKey": key(3), "model": "m3"}, validate=False
    ),
    "update away the key": lambda m, ids: m.update(
        ids["keyed"], {"apiKey": "", "model": "m4"}, validate=False
    ),
    "update to a pool of two keys": lambda m, ids: m.update(
        ids["keyed"], {"apiKeys": [key(5), key(6)], "model": "m5"}, validate=False
    ),
    "add one key to the pool": lambda m, ids: m.add_key(ids["keyed"], key(7)),
    "remove the one key of the pool": lambda m, ids: m.remove_key(
        ids["keyed"], m.get(ids["keyed"]).keys[0].id
    ),
    "remove a provider with a key": lambda m, ids: m.remove(ids["keyed"]),
    "import replacing with a new key": lambda m, ids: m.import_text(
        export(NEW_URL, with_key=True), passphrase=PASS, on_conflict="replace", dry_run=False
    ),
    "import moving the endpoint without a key": lambda m, ids: m.import_text(
        export(NEW_URL, with_key=False), passphrase=None, on_conflict="replace", dry_run=False
    ),
}

Snapshot = dict[str, tuple[str, str, bool, str | None, tuple[str, ...]]]


def snapshot(manager: CustomProviderManager) -> Snapshot:
    """Each provider by name: baseURL, model, hasApiKey, hint and the keys the app would use."""
    return {
        p.name: (p.base_url, p.model, p.has_api_key, p.api_key_hint, tuple(manager.api_keys(p.id)))
        for p in manager.list()
    }


def run(
    folder: Path, open_secrets: Callable[[Path], SecretStore], change: Change, crash_at: int | None
) -> tuple[Snapshot, Snapshot, int, set[str]]:
    """Set up, make `change` with a crash before step `crash_at`, restart; what it saw."""
    folder.mkdir()
    db = folder / "miaoda.db"
    setup = CustomProviderManager(Storage(db), open_secrets(folder))
    ids = {
        name: setup.add(
            provider_config(name=name, baseURL=OLD_URL, apiKey=api_key), validate=False
        )[0].id
        for name, api_key in (("keyed", key(1)), ("plain", None))
    }
    before = snapshot(setup)
    steps = Steps(crash_at)
    names = set(ids.values())
    storage = CrashingStorage(db)
    storage.steps = steps
    manager = CustomProviderManager(storage, CrashingSecrets(open_secrets(folder), steps, names))
    try:
        change(manager, ids)
    except Crash:
        pass
    else:
        assert crash_at is None or crash_at >= steps.count
    storage.close()

    restarted_storage = Storage(db)
    secrets = open_secrets(folder)
    restarted = CustomProviderManager(restarted_storage, secrets)  # finishes what it can
    after = snapshot(restarted)
    assert restarted_storage.get_setting(KEY_JOURNAL, {}) == {}
    pools = KeyStore(restarted_storage).load()
    claimed = {entry for keys in pools.values() for _, entry in keys}
    for name in names | {n + ":next" for n in names}:
        # Every entry the change touched holds a key a provider's pool names, or nothing.
        assert (secrets.get(name) is not None) == (name in claimed), name
    for provider in restarted.list():
        assert len(after[provider.name][4]) == len(pools.get(provider.id, [])), provider.name
    assert files_containing(folder, CANARY_KEY) == []
    restarted_storage.close()
    for name in names:
        secrets.delete(name)
    return before, after, steps.count, names


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_crash_before_any_step_leaves_the_provider_wholly_before_or_after(
    name: str, tmp_path: Path, open_secrets: Callable[[Path], SecretStore]
) -> None:
    change = CHANGES[name]
    before, after, total, _ = run(tmp_path / "whole", open_secrets, change, None)
    assert after != before and total >= 1
    outcomes = []
    for crash_at in range(total):
        seen_before, seen, _, _ = run(tmp_path / f"crash{crash_at}", open_secrets, change, crash_at)
        assert seen_before == before
        assert seen in (before, after), f"a crash before step {crash_at} of {total}"
        outcomes.append("after" if seen == after else "before")
    # The row is committed at one step: every crash before it undoes, every one after finishes.
    assert outcomes == sorted(outcomes, key=lambda o: o == "after"), outcomes
    assert outcomes[0] == "before"


def test_a_removed_key_that_cannot_be_deleted_is_deleted_at_the_next_start(
    tmp_path: Path,
) -> None:
    class NoDelete(EncryptedFileSecretStore):
        broken = False

        def delete(self, provider_id: str) -> None:
            if self.broken:
                raise KeyringUnavailable()
            super().delete(provider_id)

    storage = Storage(tmp_path / "miaoda.db")
    secrets = NoDelete(tmp_path)
    manager = CustomProviderManager(storage, secrets)
    provider, _ = manager.add(
        provider_config(apiKey=None, apiKeys=[key(1), key(2)]), validate=False
    )
    first, second = provider.keys
    secrets.broken = True
    updated = manager.remove_key(provider.id, first.id)
    # The row is saved; the removed key's entry stays journaled, and is no key of the provider.
    assert [k.id for k in updated.keys] == [second.id]
    assert manager.api_keys(provider.id) == [key(2)]
    assert storage.get_setting(KEY_JOURNAL) == {provider.id: [f"{provider.id}:key:{first.id}"]}
    secrets.broken = False
    CustomProviderManager(storage, secrets)  # the next start finishes the removal
    assert storage.get_setting(KEY_JOURNAL) == {}
    assert secrets.get(f"{provider.id}:key:{first.id}") is None
    assert secrets.get(f"{provider.id}:key:{second.id}") == key(2)


def test_a_key_that_cannot_be_written_leaves_no_provider_and_no_journal(
    tmp_path: Path,
) -> None:
    class Locked(EncryptedFileSecretStore):
        def set(self, provider_id: str, secret: str) -> None:
            raise KeyringUnavailable()

    storage = Storage(tmp_path / "miaoda.db")
    manager = CustomProviderManager(storage, Locked(tmp_path))
    with pytest.raises(KeyringUnavailable):
        manager.add(provider_config(apiKey=key(1)), validate=False)
    assert manager.list() == []
    assert storage.get_setting(KEY_JOURNAL) == {}
