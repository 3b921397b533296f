"""Secret storage: the encrypted file, the memory store, the real OS keyring, and the choice."""

from __future__ import annotations

import logging
import os
import signal
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import SecretService, chainer, fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError

import backend.secrets as secrets_module
from backend.errors import InvalidConfig, KeyringUnavailable, StorageError
from backend.secrets import (
    KEY_FILE,
    SECRETS_FILE,
    SERVICE_NAME,
    EncryptedFileSecretStore,
    KeyringSecretStore,
    MemorySecretStore,
    SecretStore,
    open_secret_store,
)
from tests.helpers import CANARY_KEY, require

POSIX = os.name == "posix"
if POSIX:
    import resource


class DictKeyring(KeyringBackend):
    """A working keyring backend that keeps passwords in a dict (and can be locked)."""

    priority = 1
    viable = False  # keeps keyring's own discovery from ever picking it

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.passwords: dict[tuple[str, str], str] = {}
        self.locked = False

    def _check(self) -> None:
        if self.locked:
            raise KeyringLocked("Failed to unlock the collection!")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError("No such password!")


class LeakyFailingKeyring(DictKeyring):
    """A backend whose failures quote the password, as a careless third-party one might."""

    def set_password(self, service: str, username: str, password: str) -> None:
        if username.startswith("miaoda-probe-"):
            return super().set_password(service, username, password)
        raise RuntimeError(f"could not store {password!r} for {username}")


class PlaintextKeyring(DictKeyring):
    """Stands for a keyrings.alt backend: works, but keeps keys in plain text."""


PlaintextKeyring.__module__ = "keyrings.alt.file"


class UnrecommendedKeyring(DictKeyring):
    """A backend that works but reports priority 0 (keyring's 'not recommended')."""

    priority = 0


def chain_of(*members: KeyringBackend) -> chainer.ChainerBackend:
    """A keyring chainer over exactly these backends, instead of the ones keyring discovers."""

    class Chain(chainer.ChainerBackend):
        viable = False
        backends: ClassVar[list[KeyringBackend]] = list(members)

    return Chain()  # type: ignore[no-untyped-call]


# keyring's own backend classes are untyped; these give them a type once.
def fail_backend() -> KeyringBackend:
    """keyring's stand-in when no keyring is found."""
    return fail.Keyring()  # type: ignore[no-untyped-call]


def null_backend() -> KeyringBackend:
    """keyring's backend for a disabled keyring."""
    return null.Keyring()  # type: ignore[no-untyped-call]


def secret_service_backend() -> KeyringBackend:
    """keyring's Secret Service backend (gnome-keyring, KWallet)."""
    return SecretService.Keyring()  # type: ignore[no-untyped-call]


def new_id() -> str:
    """A provider id no other test run uses."""
    return "test-" + uuid.uuid4().hex


def files_containing(folder: Path, needle: str) -> list[Path]:
    """Every file under `folder` whose bytes contain `needle` (UTF-8)."""
    return [p for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


@pytest.fixture
def active_keyring() -> Iterator[None]:
    """Restore keyring's active backend after a test that swaps it."""
    previous = keyring.get_keyring()
    yield
    keyring.set_keyring(previous)


@pytest.fixture
def secret_service() -> Iterator[KeyringSecretStore]:
    """The real Secret Service (gnome-keyring under ./dev test)."""
    try:
        store: KeyringSecretStore | None = KeyringSecretStore(secret_service_backend())
    except KeyringUnavailable:
        store = None
    require(store is not None, "needs a Secret Service keyring: run ./dev test")
    assert store is not None
    yield store


# --- encrypted file ----------------------------------------------------------------------


def test_file_store_round_trips_a_key(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)

    store.set("p1", "sk-one")

    assert store.get("p1") == "sk-one"
    assert store.get("p2") is None


def test_file_store_replaces_and_deletes(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)
    store.set("p1", "sk-one")
    store.set("p1", "sk-two")
    store.set("p2", "sk-other")

    store.delete("p1")
    store.delete("never-stored")

    assert store.get("p1") is None
    assert store.get("p2") == "sk-other"


def test_file_store_keeps_keys_across_instances(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "ключ-🔑")

    assert EncryptedFileSecretStore(data_dir).get("p1") == "ключ-🔑"


def test_file_store_describes_its_limits(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)

    assert store.backend_name == "file"
    assert "AES-256-GCM" in store.description
    assert "only by file permissions" in store.description


def test_reading_an_empty_file_store_creates_no_files(data_dir: Path) -> None:
    assert EncryptedFileSecretStore(data_dir).get("p1") is None
    assert list(data_dir.iterdir()) == []


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX")
def test_key_and_secrets_files_are_private_to_the_user(data_dir: Path) -> None:
    previous = os.umask(0o022)  # a typical umask, which would leave new files world-readable
    try:
        EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    finally:
        os.umask(previous)

    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / SECRETS_FILE).stat().st_mode) == 0o600


@pytest.mark.skipif(not POSIX, reason="file modes are POSIX")
def test_a_key_file_readable_by_others_is_made_private_again(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    (data_dir / KEY_FILE).chmod(0o644)

    assert EncryptedFileSecretStore(data_dir).get("p1") == "sk-one"
    assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600


def test_key_file_holds_a_256_bit_key(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")

    assert len((data_dir / KEY_FILE).read_bytes()) == 32


def test_writes_leave_no_temporary_files(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)
    for index in range(20):
        store.set(f"p{index}", f"sk-{index}")
        store.delete(f"p{index - 1}")

    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE, SECRETS_FILE]


def test_a_temp_file_left_by_a_crash_does_not_disturb_the_stored_keys(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    (data_dir / f".{SECRETS_FILE}.deadbeef.tmp").write_bytes(b"half a write")

    assert EncryptedFileSecretStore(data_dir).get("p1") == "sk-one"


@pytest.mark.skipif(not POSIX, reason="uses the POSIX file size limit")
def test_a_failed_write_keeps_the_old_file_and_the_old_keys(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)
    store.set("p1", "sk-one")
    path = data_dir / SECRETS_FILE
    before = path.read_bytes()

    # A real write failure, even for root: the kernel refuses to grow any file past
    # RLIMIT_FSIZE (EFBIG once SIGXFSZ is ignored), so the new, longer file cannot be written.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 16, limits[1]))
    try:
        with pytest.raises(StorageError):
            store.set("p1", "sk-" + "x" * 4096)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)

    assert path.read_bytes() == before
    assert store.get("p1") == "sk-one"
    assert EncryptedFileSecretStore(data_dir).get("p1") == "sk-one"
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE, SECRETS_FILE]


@pytest.mark.parametrize(
    "spoil",
    [
        lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]),  # flipped bit in the tag
        lambda raw: raw[:40],  # truncated
        lambda raw: b"",  # emptied
        lambda raw: b"{}" + raw,  # not our header
    ],
    ids=["tampered", "truncated", "empty", "foreign"],
)
def test_a_damaged_secrets_file_is_a_storage_error(
    data_dir: Path, spoil: Callable[[bytes], bytes]
) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    path = data_dir / SECRETS_FILE
    path.write_bytes(spoil(path.read_bytes()))

    with pytest.raises(StorageError, match=SECRETS_FILE) as caught:
        EncryptedFileSecretStore(data_dir).get("p1")

    assert caught.value.code == "STORAGE_ERROR"


def test_a_damaged_secrets_file_is_never_overwritten(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    path = data_dir / SECRETS_FILE
    damaged = path.read_bytes()[:-1] + b"\x00"
    path.write_bytes(damaged)

    with pytest.raises(StorageError):
        EncryptedFileSecretStore(data_dir).set("p2", "sk-two")

    assert path.read_bytes() == damaged


def test_a_replaced_key_file_is_a_storage_error(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    (data_dir / KEY_FILE).write_bytes(os.urandom(32))

    with pytest.raises(StorageError, match="does not match"):
        EncryptedFileSecretStore(data_dir).get("p1")


def test_a_missing_key_file_is_a_storage_error_not_a_fresh_start(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    (data_dir / KEY_FILE).unlink()

    with pytest.raises(StorageError, match="missing"):
        EncryptedFileSecretStore(data_dir).set("p2", "sk-two")

    assert not (data_dir / KEY_FILE).exists()


def test_a_short_key_file_is_a_storage_error(data_dir: Path) -> None:
    EncryptedFileSecretStore(data_dir).set("p1", "sk-one")
    (data_dir / KEY_FILE).write_bytes(b"short")

    with pytest.raises(StorageError, match="damaged"):
        EncryptedFileSecretStore(data_dir).get("p1")


def test_canary_key_is_never_in_the_data_folder_in_clear(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)
    store.set("p1", CANARY_KEY)
    store.set("p2", "sk-other")
    assert files_containing(data_dir, CANARY_KEY) == []

    store.delete("p1")
    store.set("p3", CANARY_KEY)
    store.delete("p3")

    assert files_containing(data_dir, CANARY_KEY) == []
    assert EncryptedFileSecretStore(data_dir).get("p2") == "sk-other"


def test_file_store_is_safe_from_many_threads(data_dir: Path) -> None:
    store = EncryptedFileSecretStore(data_dir)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for index in range(10):
                store.set(f"w{worker}-{index}", f"sk-{worker}-{index}")
                assert store.get(f"w{worker}-{index}") == f"sk-{worker}-{index}"
            for index in range(0, 10, 2):
                store.delete(f"w{worker}-{index}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    reread = EncryptedFileSecretStore(data_dir)
    for worker in range(16):
        for index in range(10):
            expected = None if index % 2 == 0 else f"sk-{worker}-{index}"
            assert reread.get(f"w{worker}-{index}") == expected


# --- memory ------------------------------------------------------------------------------


def test_memory_store_round_trips_and_deletes() -> None:
    store = MemorySecretStore({"p0": "sk-zero"})
    store.set("p1", "sk-one")
    store.delete("p0")
    store.delete("never-stored")

    assert (store.get("p0"), store.get("p1")) == (None, "sk-one")
    assert store.backend_name == "memory"


def test_every_store_satisfies_the_interface(data_dir: Path) -> None:
    stores: list[SecretStore] = [MemorySecretStore(), EncryptedFileSecretStore(data_dir)]

    assert [s.backend_name for s in stores] == ["memory", "file"]


# --- keyring backends that must be refused ----------------------------------------------


@pytest.mark.parametrize(
    ("backend", "reason"),
    [
        (fail_backend(), "No system keyring"),
        (null_backend(), "disabled"),
        (PlaintextKeyring(), "keyrings.alt"),
        (UnrecommendedKeyring(), "not a recommended one"),
    ],
    ids=["fail", "null", "keyrings.alt", "priority-0"],
)
def test_insecure_keyring_backends_are_refused(backend: KeyringBackend, reason: str) -> None:
    with pytest.raises(KeyringUnavailable, match=reason) as caught:
        KeyringSecretStore(backend)

    assert "MIAODA_SECRET_BACKEND=file" in caught.value.message


def test_a_refused_backend_is_never_written_to() -> None:
    plaintext = PlaintextKeyring()

    with pytest.raises(KeyringUnavailable):
        KeyringSecretStore(plaintext)

    assert plaintext.passwords == {}


def test_a_chain_without_a_secure_backend_is_refused() -> None:
    with pytest.raises(KeyringUnavailable, match="No secure system keyring"):
        KeyringSecretStore(chain_of(PlaintextKeyring(), null_backend()))


def test_a_chain_is_used_through_its_secure_backend_only() -> None:
    plaintext, secure = PlaintextKeyring(), DictKeyring()

    KeyringSecretStore(chain_of(plaintext, secure)).set("p1", "sk-one")

    assert plaintext.passwords == {}
    assert secure.passwords == {(SERVICE_NAME, "p1"): "sk-one"}


def test_active_fail_backend_is_refused(active_keyring: None) -> None:
    keyring.set_keyring(fail_backend())

    with pytest.raises(KeyringUnavailable):
        KeyringSecretStore()


# --- keyring store behaviour (on a working dict backend) ---------------------------------


def test_keyring_store_keeps_keys_under_the_app_service_name() -> None:
    backend = DictKeyring()
    store = KeyringSecretStore(backend)

    store.set("p1", "sk-one")

    assert backend.passwords == {(SERVICE_NAME, "p1"): "sk-one"}
    assert SERVICE_NAME == "MiaoDa Chat"
    assert store.get("p1") == "sk-one"


def test_keyring_store_probe_leaves_nothing_behind() -> None:
    backend = DictKeyring()

    KeyringSecretStore(backend)

    assert backend.passwords == {}


def test_keyring_store_deleting_an_absent_key_is_fine() -> None:
    store = KeyringSecretStore(DictKeyring())

    store.delete("never-stored")

    assert store.get("never-stored") is None


def test_a_locked_keyring_is_keyring_unavailable_with_advice() -> None:
    backend = DictKeyring()
    store = KeyringSecretStore(backend)
    backend.locked = True

    operations: list[Callable[[], object]] = [
        lambda: store.get("p1"),
        lambda: store.set("p1", "x"),
        lambda: store.delete("p1"),
    ]
    for operation in operations:
        with pytest.raises(KeyringUnavailable, match="locked") as caught:
            operation()
        assert caught.value.code == "KEYRING_UNAVAILABLE"


def test_a_keyring_locked_at_open_is_keyring_unavailable() -> None:
    backend = DictKeyring()
    backend.locked = True

    with pytest.raises(KeyringUnavailable, match="locked"):
        KeyringSecretStore(backend)


def test_keyring_failures_never_quote_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    store = KeyringSecretStore(LeakyFailingKeyring())

    with caplog.at_level(logging.DEBUG), pytest.raises(KeyringUnavailable) as caught:
        store.set("p1", CANARY_KEY)

    assert CANARY_KEY not in str(caught.value.to_dict())
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert CANARY_KEY not in caplog.text


# --- choosing a store --------------------------------------------------------------------


@pytest.mark.parametrize("forced", ["file", "FILE", " file "])
def test_forcing_file_gives_the_file_store(data_dir: Path, forced: str) -> None:
    assert isinstance(open_secret_store(data_dir, forced), EncryptedFileSecretStore)


@pytest.mark.parametrize("forced", ["memory", "vault", "keyrings.alt"])
def test_forcing_an_unknown_backend_is_invalid_config(data_dir: Path, forced: str) -> None:
    with pytest.raises(InvalidConfig, match="MIAODA_SECRET_BACKEND") as caught:
        open_secret_store(data_dir, forced)

    assert list(caught.value.fields) == ["MIAODA_SECRET_BACKEND"]


def test_forcing_keyring_without_one_is_keyring_unavailable(
    data_dir: Path, active_keyring: None
) -> None:
    keyring.set_keyring(fail_backend())

    with pytest.raises(KeyringUnavailable):
        open_secret_store(data_dir, "keyring")


@pytest.mark.parametrize("forced", [None, ""])
def test_without_a_keyring_the_file_store_is_used_and_said_once(
    data_dir: Path,
    active_keyring: None,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    forced: str | None,
) -> None:
    keyring.set_keyring(fail_backend())
    monkeypatch.setattr(secrets_module, "_fallback_logged", False)

    with caplog.at_level(logging.WARNING, logger="miaoda.secrets"):
        first = open_secret_store(data_dir, forced)
        second = open_secret_store(data_dir, forced)

    assert first.backend_name == second.backend_name == "file"
    warnings = [r for r in caplog.records if r.name == "miaoda.secrets"]
    assert len(warnings) == 1
    assert "encrypted file" in warnings[0].getMessage()


def test_a_working_active_keyring_is_chosen_by_default(
    data_dir: Path, active_keyring: None
) -> None:
    keyring.set_keyring(DictKeyring())

    store = open_secret_store(data_dir)

    assert store.backend_name == "keyring"
    assert [p.name for p in data_dir.iterdir()] == ["secret-backend"]  # the remembered choice only


# --- the real Secret Service -------------------------------------------------------------


@pytest.mark.keyring
def test_secret_service_round_trips_a_key(secret_service: KeyringSecretStore) -> None:
    provider_id = new_id()
    try:
        secret_service.set(provider_id, "sk-real-keyring")
        assert secret_service.get(provider_id) == "sk-real-keyring"
        assert secret_service_backend().get_password(SERVICE_NAME, provider_id) == "sk-real-keyring"
    finally:
        secret_service.delete(provider_id)
    assert secret_service.get(provider_id) is None


@pytest.mark.keyring
def test_secret_service_is_described_by_name(secret_service: KeyringSecretStore) -> None:
    assert secret_service.backend_name == "keyring"
    assert secret_service.description == "Secret Service (GNOME Keyring/KWallet)"


@pytest.mark.keyring
def test_secret_service_deleting_an_absent_key_is_fine(secret_service: KeyringSecretStore) -> None:
    secret_service.delete(new_id())


@pytest.mark.keyring
def test_secret_service_replaces_a_key(secret_service: KeyringSecretStore) -> None:
    provider_id = new_id()
    try:
        secret_service.set(provider_id, "sk-first")
        secret_service.set(provider_id, "sk-second")
        assert secret_service.get(provider_id) == "sk-second"
    finally:
        secret_service.delete(provider_id)


@pytest.mark.keyring
def test_secret_service_is_the_default_choice(
    secret_service: KeyringSecretStore, data_dir: Path, active_keyring: None
) -> None:
    keyring.set_keyring(secret_service_backend())

    store = open_secret_store(data_dir)

    assert (store.backend_name, store.description) == ("keyring", secret_service.description)
    provider_id = new_id()
    try:
        store.set(provider_id, CANARY_KEY)
        assert files_containing(data_dir, CANARY_KEY) == []
    finally:
        store.delete(provider_id)


@pytest.mark.keyring
def test_secret_service_chained_behind_a_plaintext_backend_is_used_directly(
    secret_service: KeyringSecretStore,
) -> None:
    plaintext = PlaintextKeyring()

    store = KeyringSecretStore(chain_of(plaintext, secret_service_backend()))
    provider_id = new_id()
    try:
        store.set(provider_id, "sk-chained")
        assert secret_service.get(provider_id) == "sk-chained"
        assert plaintext.passwords == {}
    finally:
        store.delete(provider_id)


@pytest.mark.keyring
def test_secret_service_is_safe_from_many_threads(secret_service: KeyringSecretStore) -> None:
    ids = [new_id() for _ in range(8)]
    errors: list[BaseException] = []

    def work(provider_id: str) -> None:
        try:
            for round_ in range(3):
                secret_service.set(provider_id, f"sk-{provider_id}-{round_}")
                assert secret_service.get(provider_id) == f"sk-{provider_id}-{round_}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(provider_id,)) for provider_id in ids]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [secret_service.get(i) for i in ids] == [f"sk-{i}-2" for i in ids]
    finally:
        for provider_id in ids:
            secret_service.delete(provider_id)


# --- the remembered choice -------------------------------------------------------------------


def test_the_first_choice_is_remembered_in_the_data_folder(tmp_path: Path) -> None:
    from backend.secrets import CHOICE_FILE, open_secret_store

    store = open_secret_store(tmp_path)
    assert (tmp_path / CHOICE_FILE).read_text().strip() == store.backend_name


def test_a_folder_that_used_the_file_keeps_using_it(tmp_path: Path) -> None:
    from backend.secrets import CHOICE_FILE, open_secret_store

    (tmp_path / CHOICE_FILE).write_text("file\n")
    assert open_secret_store(tmp_path).backend_name == "file"


def test_a_folder_that_used_the_keyring_reports_a_missing_keyring_instead_of_falling_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keyring
    from keyring.backends import fail

    from backend.errors import KeyringUnavailable
    from backend.secrets import CHOICE_FILE, SECRETS_FILE, open_secret_store

    (tmp_path / CHOICE_FILE).write_text("keyring\n")
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(KeyringUnavailable, match="kept in the system keyring"):
            open_secret_store(tmp_path)
    finally:
        keyring.set_keyring(previous)
    assert not (tmp_path / SECRETS_FILE).exists()
