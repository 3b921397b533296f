"""Where API keys live: the OS keyring when a secure one is usable, else an encrypted file.

Every store answers the same small `SecretStore` interface, keyed by provider id:

- `KeyringSecretStore` keeps each key as one entry (service "MiaoDa Chat", user = provider id)
  of the OS keyring: Secret Service (GNOME Keyring, KWallet), macOS Keychain or Windows
  Credential Locker. Backends that only pretend to be secure (keyrings.alt, the null and fail
  backends) are refused.
- `EncryptedFileSecretStore` keeps all keys in `secrets.enc`, AES-256-GCM encrypted with a
  random key held in `secret.key` (mode 0600) next to it. That protects keys against casual
  reading of the data folder and against a backup of the database alone; it does NOT protect
  them from anyone who can read the user's files, because the key file sits beside them.
- `MemorySecretStore` is for tests of other modules.

`open_secret_store` picks one. This is the only module that imports `keyring`; it and
`backend.transfer` are the only ones that import `cryptography`. No message or log line
written here ever contains a secret.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
from contextlib import suppress
from pathlib import Path
from typing import Protocol

import keyring
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError

from backend.errors import InvalidConfig, KeyringUnavailable, StorageError
from backend.i18n import tr

SERVICE_NAME = "MiaoDa Chat"
KEY_FILE = "secret.key"
SECRETS_FILE = "secrets.enc"
BACKEND_ENV = "MIAODA_SECRET_BACKEND"

# Leads secrets.enc and is its AES-GCM associated data, so the format and version are
# authenticated along with the keys.
_FILE_MAGIC = b"MIAODA-SECRETS/1\n"
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_BYTES = 32
_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate newlines
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_log = logging.getLogger("miaoda.secrets")


class SecretStore(Protocol):
    """Secret storage keyed by provider id."""

    backend_name: str

    @property
    def description(self) -> str:
        """Where the secrets are kept, for a user to read."""
        ...

    def get(self, provider_id: str) -> str | None:
        """The stored secret, or None when there is none."""
        ...

    def set(self, provider_id: str, secret: str) -> None:
        """Store (or replace) the secret."""
        ...

    def delete(self, provider_id: str) -> None:
        """Remove the secret; removing an absent one is fine."""
        ...


class MemorySecretStore:
    """Secrets in a dict: for tests of other modules, never for the app."""

    backend_name = "memory"
    description = "In memory only (for tests); keys are lost when the app stops"

    def __init__(self, initial: dict[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = dict(initial or {})

    def get(self, provider_id: str) -> str | None:
        """The stored secret, or None."""
        with self._lock:
            return self._secrets.get(provider_id)

    def set(self, provider_id: str, secret: str) -> None:
        """Store the secret."""
        with self._lock:
            self._secrets[provider_id] = secret

    def delete(self, provider_id: str) -> None:
        """Remove the secret if present."""
        with self._lock:
            self._secrets.pop(provider_id, None)


# --- OS keyring ------------------------------------------------------------------------

# One lock for every keyring call in the process: the app calls from many threads and the
# Secret Service backend (D-Bus connections per call, unlock prompts) is not documented as
# thread-safe. Keyring calls are rare, so serializing them costs nothing noticeable.
_KEYRING_LOCK = threading.Lock()

_BACKEND_NAMES = {
    "keyring.backends.SecretService": "Secret Service (GNOME Keyring/KWallet)",
    "keyring.backends.libsecret": "Secret Service via libsecret (GNOME Keyring/KWallet)",
    "keyring.backends.kwallet": "KDE KWallet",
    "keyring.backends.macOS": "macOS Keychain",
    "keyring.backends.Windows": "Windows Credential Locker",
}
# What `_keyring_failure` says MiaoDa Chat could not do (the log keeps the English word).
_KEYRING_ACTIONS = {
    "open": "secretStore.keyringAction.open",
    "use": "secretStore.keyringAction.use",
    "read from": "secretStore.keyringAction.read",
    "save to": "secretStore.keyringAction.save",
    "delete from": "secretStore.keyringAction.delete",
}
# What `_io_failure` says MiaoDa Chat could not do to a file.
_FILE_ACTIONS = {
    "read": "secretStore.fileAction.read",
    "create": "secretStore.fileAction.create",
    "write": "secretStore.fileAction.write",
}


def _advice() -> str:
    return tr("secretStore.advice", env=BACKEND_ENV)


def describe_keyring(backend: KeyringBackend) -> str:
    """A user-facing name for a keyring backend."""
    module = type(backend).__module__
    name = _BACKEND_NAMES.get(module)
    return name or tr("secretStore.otherBackend", name=type(backend).__name__, module=module)


def refusal_reason(backend: KeyringBackend) -> str | None:
    """Why this backend may not hold API keys, or None when it is a real secure keyring."""
    module = type(backend).__module__
    if isinstance(backend, fail.Keyring):
        return tr("secretStore.refused.none")
    if isinstance(backend, null.Keyring):
        return tr("secretStore.refused.disabled")
    if module.startswith("keyrings.alt"):
        # keyrings.alt stores keys in plain text or encrypts them with a key kept beside them.
        return tr("secretStore.refused.insecure")
    try:
        priority = float(type(backend).priority)
    except Exception:  # keyring signals an unusable backend by raising from `priority`
        return tr("secretStore.refused.cannotRun", name=describe_keyring(backend))
    if priority <= 0:
        return tr("secretStore.refused.notRecommended", name=describe_keyring(backend))
    return None


def _choose_backend(backend: KeyringBackend) -> KeyringBackend:
    """The secure backend to use: `backend` itself, or the best real one behind a chainer."""
    if isinstance(backend, chainer.ChainerBackend):
        # Talk to the chained backend directly, so a key can never land in a weaker one
        # that happens to rank higher in the chain.
        candidates: list[KeyringBackend] = list(backend.backends)
        for candidate in candidates:
            if refusal_reason(candidate) is None:
                return candidate
        raise KeyringUnavailable(tr("secretStore.noSecureKeyring", advice=_advice()))
    reason = refusal_reason(backend)
    if reason is not None:
        raise KeyringUnavailable(
            tr("secretStore.refusedWithAdvice", reason=reason, advice=_advice())
        )
    return backend


def _keyring_failure(action: str, exc: BaseException) -> KeyringUnavailable:
    # Only the exception's type is logged: its text could, in principle, echo an argument.
    _log.warning("keyring %s failed: %s", action, type(exc).__name__)
    doing = tr(_KEYRING_ACTIONS[action])
    key = (
        "secretStore.keyringLocked"
        if isinstance(exc, KeyringLocked)
        else "secretStore.keyringFailed"
    )
    return KeyringUnavailable(tr(key, action=doing, advice=_advice()))


class KeyringSecretStore:
    """API keys as entries of the OS keyring (service "MiaoDa Chat", user = provider id)."""

    backend_name = "keyring"

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        """Use `backend` (default: keyring's active one) after proving it works; else raise."""
        with _KEYRING_LOCK:
            try:
                active = backend if backend is not None else keyring.get_keyring()
            except Exception as exc:
                raise _keyring_failure("open", exc) from None
            self._backend = _choose_backend(active)
            self.description = describe_keyring(self._backend)
            self._probe()

    def _probe(self) -> None:
        # A throwaway entry proves set/get/delete work now, rather than at the first save.
        user = "miaoda-probe-" + os.urandom(8).hex()
        value = os.urandom(16).hex()
        try:
            self._backend.set_password(SERVICE_NAME, user, value)
            echoed = self._backend.get_password(SERVICE_NAME, user)
            self._backend.delete_password(SERVICE_NAME, user)
        except Exception as exc:
            raise _keyring_failure("use", exc) from None
        if echoed != value:
            raise KeyringUnavailable(tr("secretStore.probeMismatch", advice=_advice()))

    def get(self, provider_id: str) -> str | None:
        """The key stored for the provider, or None."""
        with _KEYRING_LOCK:
            try:
                value = self._backend.get_password(SERVICE_NAME, provider_id)
            except Exception as exc:
                raise _keyring_failure("read from", exc) from None
        return value if isinstance(value, str) else None

    def set(self, provider_id: str, secret: str) -> None:
        """Store (or replace) the provider's key."""
        with _KEYRING_LOCK:
            try:
                self._backend.set_password(SERVICE_NAME, provider_id, secret)
            except Exception as exc:
                raise _keyring_failure("save to", exc) from None

    def delete(self, provider_id: str) -> None:
        """Remove the provider's key; an absent key is fine."""
        with _KEYRING_LOCK:
            try:
                self._backend.delete_password(SERVICE_NAME, provider_id)
            except PasswordDeleteError as exc:
                # Backends report "no such entry" this way; absence is the goal, so confirm it.
                try:
                    left = self._backend.get_password(SERVICE_NAME, provider_id)
                except Exception as read_exc:
                    raise _keyring_failure("delete from", read_exc) from None
                if left is not None:
                    raise _keyring_failure("delete from", exc) from None
            except Exception as exc:
                raise _keyring_failure("delete from", exc) from None


# --- encrypted file --------------------------------------------------------------------


class EncryptedFileSecretStore:
    """All keys in `secrets.enc` (AES-256-GCM), its key in `secret.key` (mode 0600).

    This protects keys against casual reading of the data folder and against a backup of
    the database alone. It does not protect them against anyone who can read the user's
    files: the key file sits next to the encrypted one, guarded only by file permissions.
    The decrypted map is kept in memory after the first read, so one app process per data
    folder is assumed.
    """

    backend_name = "file"

    @property
    def description(self) -> str:
        """Where the keys are kept, in the app's language."""
        return tr("secretStore.fileDescription")

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._lock = threading.Lock()
        self._secrets: dict[str, str] | None = None  # decrypted map, after the first load

    @property
    def _enc_path(self) -> Path:
        return self.data_dir / SECRETS_FILE

    @property
    def _key_path(self) -> Path:
        return self.data_dir / KEY_FILE

    def get(self, provider_id: str) -> str | None:
        """The key stored for the provider, or None."""
        with self._lock:
            return self._load().get(provider_id)

    def set(self, provider_id: str, secret: str) -> None:
        """Store (or replace) the provider's key; the file is replaced atomically."""
        with self._lock:
            updated = {**self._load(), provider_id: secret}
            self._save(updated)

    def delete(self, provider_id: str) -> None:
        """Remove the provider's key; an absent key is fine."""
        with self._lock:
            current = self._load()
            if provider_id not in current:
                return
            self._save({k: v for k, v in current.items() if k != provider_id})

    def _load(self) -> dict[str, str]:
        if self._secrets is not None:
            return self._secrets
        try:
            blob = self._enc_path.read_bytes()
        except FileNotFoundError:
            # Nothing stored yet; the key file is only created at the first write.
            self._secrets = {}
            return self._secrets
        except OSError as exc:
            raise _io_failure(self._enc_path, "read", exc) from exc
        key = self._read_key()
        if key is None:
            raise StorageError(
                tr(
                    "secretStore.keyFileMissing",
                    path=self._enc_path,
                    keyFile=KEY_FILE,
                    secretsFile=SECRETS_FILE,
                )
            )
        self._secrets = _decrypt_map(key, blob, self._enc_path)
        return self._secrets

    def _save(self, secrets_map: dict[str, str]) -> None:
        key = self._read_key() or self._create_key()
        _atomic_write(self._enc_path, _encrypt_map(key, secrets_map))
        self._secrets = secrets_map  # only once the new file is safely in place

    def _read_key(self) -> bytes | None:
        path = self._key_path
        try:
            fd = os.open(path, os.O_RDONLY | _O_BINARY | _O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _io_failure(path, "read", exc) from exc
        try:
            _tighten_permissions(fd, path)
            key = os.read(fd, _KEY_BYTES + 1)
        except OSError as exc:
            raise _io_failure(path, "read", exc) from exc
        finally:
            os.close(fd)
        if len(key) != _KEY_BYTES:
            raise StorageError(
                tr("secretStore.keyFileDamaged", path=path, secretsFile=SECRETS_FILE)
            )
        return key

    def _create_key(self) -> bytes:
        path = self._key_path
        key = AESGCM.generate_key(bit_length=256)
        raced = False
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = _write_new_file(path, key)
            try:
                # link() publishes the complete file at once and never replaces a key that
                # another process created a moment ago.
                os.link(tmp, path)
            except FileExistsError:
                raced = True
            except OSError:
                # No hard links on this file system (FAT, some network shares): create the
                # final file directly, still exclusively and with mode 0600.
                _write_exclusive(path, key)
            finally:
                with suppress(OSError):
                    tmp.unlink()
            _fsync_dir(self.data_dir)
        except OSError as exc:
            raise _io_failure(path, "create", exc) from exc
        if raced:
            existing = self._read_key()
            if existing is None:
                raise StorageError(tr("secretStore.keyFileVanished", path=path))
            return existing
        return key


def _encrypt_map(key: bytes, secrets_map: dict[str, str]) -> bytes:
    # ensure_ascii keeps lone surrogates (possible in text from a browser) encodable.
    plaintext = json.dumps(secrets_map, ensure_ascii=True, separators=(",", ":")).encode()
    nonce = os.urandom(_NONCE_BYTES)
    return _FILE_MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, _FILE_MAGIC)


def _decrypt_map(key: bytes, blob: bytes, path: Path) -> dict[str, str]:
    damaged = StorageError(
        tr("secretStore.secretsDamaged", path=path, keyFile=KEY_FILE, secretsFile=SECRETS_FILE)
    )
    header = len(_FILE_MAGIC) + _NONCE_BYTES
    if not blob.startswith(_FILE_MAGIC) or len(blob) < header + _TAG_BYTES:
        raise damaged
    nonce = blob[len(_FILE_MAGIC) : header]
    try:
        loaded = json.loads(AESGCM(key).decrypt(nonce, blob[header:], _FILE_MAGIC))
    except (InvalidTag, ValueError) as exc:
        raise damaged from exc
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
    ):
        raise damaged
    return loaded


def _io_failure(path: Path, action: str, exc: OSError) -> StorageError:
    reason = exc.strerror or type(exc).__name__
    doing = tr(_FILE_ACTIONS[action])
    return StorageError(tr("secretStore.fileFailed", action=doing, path=path, reason=reason))


def _tighten_permissions(fd: int, path: Path) -> None:
    # A key file restored from a backup may have lost its 0600 mode; put it back.
    if os.name != "posix":
        return
    mode = os.fstat(fd).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("%s was readable by other users; restricting it to you", path)
        os.fchmod(fd, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_exclusive(path: Path, data: bytes) -> None:
    """Create `path` (which must not exist) with mode 0600, write `data` and fsync it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY | _O_NOFOLLOW
    fd = os.open(path, flags, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_file(target: Path, data: bytes) -> Path:
    """Write `data` to a fresh temporary file beside `target`; return its path."""
    tmp = target.with_name(f".{target.name}.{os.urandom(6).hex()}.tmp")
    try:
        _write_exclusive(tmp, data)
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise
    return tmp


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` so that a crash leaves either the old or the new file, never a mix."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = _write_new_file(path, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                tmp.unlink()
            raise
    except OSError as exc:
        raise _io_failure(path, "write", exc) from exc
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable. Windows cannot open folders, and some file systems
    # refuse fsync on them; the data is in place either way, so that is only logged.
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _log.debug("could not fsync %s: %s", folder, type(exc).__name__)


# --- choosing a store ------------------------------------------------------------------

_fallback_lock = threading.Lock()
_fallback_logged = False


def _log_fallback_once(reason: str, data_dir: Path) -> None:
    global _fallback_logged
    with _fallback_lock:
        if _fallback_logged:
            return
        _fallback_logged = True
    _log.warning(
        "%s Using an encrypted file in %s instead; its key is protected only by file permissions.",
        reason,
        data_dir,
    )


CHOICE_FILE = "secret-backend"


def open_secret_store(data_dir: Path, forced: str | None = None) -> SecretStore:
    """The store named by `forced` ("keyring" | "file"), else the one this data folder uses.

    The first start picks the keyring if one is usable, else the encrypted file, and writes the
    choice to `secret-backend` in the data folder. Later starts keep that choice, so a keyring that
    is locked one day cannot silently split keys between two stores: it is reported instead.
    """
    choice = (forced or "").strip().lower()
    if choice == "keyring":
        return KeyringSecretStore()
    if choice == "file":
        return EncryptedFileSecretStore(data_dir)
    if choice:
        raise InvalidConfig(
            tr("secretStore.badChoice", env=BACKEND_ENV),
            fields={BACKEND_ENV: [tr("secretStore.badChoiceField")]},
        )
    remembered = _remembered_choice(data_dir)
    if remembered == "keyring":
        try:
            return KeyringSecretStore()
        except KeyringUnavailable as exc:
            raise KeyringUnavailable(
                tr("secretStore.rememberedKeyringGone", reason=exc.message)
            ) from None
    if remembered == "file" or (data_dir / SECRETS_FILE).exists():
        return EncryptedFileSecretStore(data_dir)
    try:
        store: SecretStore = KeyringSecretStore()
    except KeyringUnavailable as exc:
        _log_fallback_once(exc.message, data_dir)
        store = EncryptedFileSecretStore(data_dir)
    else:
        _log.info("API keys are kept in the system keyring: %s", store.description)
    _remember_choice(data_dir, store.backend_name)
    return store


def _remembered_choice(data_dir: Path) -> str | None:
    try:
        value = (data_dir / CHOICE_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value if value in ("keyring", "file") else None


def _remember_choice(data_dir: Path, backend_name: str) -> None:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(data_dir / CHOICE_FILE, (backend_name + "\n").encode("ascii"))
    except (OSError, StorageError):
        _log.warning("could not record the secret storage choice in %s", data_dir)
