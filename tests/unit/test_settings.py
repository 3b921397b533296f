"""SettingsService over real storage, real secret stores and the real health monitor: the
proxy password's rules, saving in one transaction, what listeners hear, stored values a newer
version wrote, and how the data folder is opened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import i18n
from backend.errors import InternalError, InvalidConfig, KeyringUnavailable, StorageError
from backend.health.monitor import HealthMonitor
from backend.providers.proxies import ProxyChoice
from backend.secrets import MemorySecretStore, SecretStore
from backend.settings import SettingsService
from backend.settings.opener import OPEN_WITH, open_command, open_with_os
from backend.settings.proxy import ENTRY
from backend.storage import Storage

PROXY = "http://alice@proxy.example:3128"


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    yield
    i18n.set_language("en")


@pytest.fixture
def settings(
    storage: Storage, secret_store: SecretStore, monitor: HealthMonitor
) -> SettingsService:
    """The service over the real storage, each real secret store and the real monitor."""
    secret_store.delete(ENTRY)  # the keyring outlives a test
    return SettingsService(storage, secret_store, monitor)


def restarted(storage: Storage, secrets: SecretStore, monitor: HealthMonitor) -> SettingsService:
    """The service as the next start of the app reads it."""
    return SettingsService(storage, secrets, monitor)


def proxy_of(service: SettingsService) -> dict[str, Any]:
    wire: dict[str, Any] = service.to_wire()["proxy"]
    return wire


# --- the proxy password --------------------------------------------------------------------


def test_a_password_goes_to_the_secret_store_and_reads_as_has_password(
    settings: SettingsService, storage: Storage, secret_store: SecretStore
) -> None:
    settings.update(
        {"proxy": {"mode": "manual", "url": "http://alice:s3cret-pw@proxy.example:3128"}}
    )
    assert proxy_of(settings) == {"mode": "manual", "url": PROXY, "hasPassword": True}
    assert settings.proxy() == ProxyChoice("manual", "http://alice:s3cret-pw@proxy.example:3128")
    assert storage.get_setting("proxy.url") == PROXY
    assert "s3cret-pw" in (secret_store.get(ENTRY) or "")
    assert "s3cret-pw" not in repr(settings.proxy()) + repr(settings.current)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        (PROXY, True),
        ("HTTP://alice@PROXY.example:3128/", True),
        ("socks5://alice@proxy.example:3128", True),  # same server, another protocol
        ("http://alice@proxy.example:8080", False),
        ("http://bob@proxy.example:3128", False),
        ("http://proxy.example:3128", False),
        ("http://alice@other.example:3128", False),
    ],
)
def test_a_url_without_password_keeps_it_only_for_the_same_proxy(
    settings: SettingsService, url: str, kept: bool
) -> None:
    settings.update(
        {"proxy": {"mode": "manual", "url": "http://alice:pw-123456@proxy.example:3128"}}
    )
    settings.update({"proxy": {"url": url}})
    assert proxy_of(settings)["hasPassword"] is kept
    assert ("pw-123456" in (settings.proxy().url or "")) is kept


def test_a_mode_change_keeps_the_url_and_password_for_later(settings: SettingsService) -> None:
    settings.update(
        {"proxy": {"mode": "manual", "url": "http://alice:pw-123456@proxy.example:3128"}}
    )
    settings.update({"proxy": {"mode": "none"}})
    assert settings.proxy() == ProxyChoice("none")
    settings.update({"proxy": {"mode": "manual"}})
    assert settings.proxy().url == "http://alice:pw-123456@proxy.example:3128"


@pytest.mark.parametrize("change", [{"hasPassword": False}, {"url": None}, {"url": ""}])
def test_the_password_can_be_removed(
    settings: SettingsService, secret_store: SecretStore, change: dict[str, Any]
) -> None:
    settings.update(
        {"proxy": {"mode": "system", "url": "http://alice:pw-123456@proxy.example:3128"}}
    )
    settings.update({"proxy": change})
    assert proxy_of(settings)["hasPassword"] is False
    assert secret_store.get(ENTRY) is None


def test_the_password_is_read_back_after_a_restart(
    settings: SettingsService, storage: Storage, secret_store: SecretStore, monitor: HealthMonitor
) -> None:
    settings.update({"proxy": {"mode": "manual", "url": "socks5://alice:pw%2F123@proxy.example"}})
    again = restarted(storage, secret_store, monitor)
    assert again.proxy() == ProxyChoice("manual", "socks5://alice:pw%2F123@proxy.example")


def test_a_password_left_for_another_proxy_by_a_crash_is_never_used(
    settings: SettingsService, storage: Storage, secret_store: SecretStore, monitor: HealthMonitor
) -> None:
    settings.update(
        {"proxy": {"mode": "manual", "url": "http://alice:old-pw-1@proxy.example:3128"}}
    )
    # A crash after the secret store took a new proxy's password, before the data file did.
    entry = {"for": "mallory@elsewhere.example:8080", "password": "new-pw-2"}
    secret_store.set(ENTRY, json.dumps(entry))
    again = restarted(storage, secret_store, monitor)
    assert again.proxy() == ProxyChoice("manual", PROXY)
    assert proxy_of(again)["hasPassword"] is False
    assert secret_store.get(ENTRY) is None


class BrokenSecrets(MemorySecretStore):
    """A secret store that refuses to save (a locked keyring)."""

    def set(self, provider_id: str, secret: str) -> None:
        raise KeyringUnavailable()


def test_a_secret_store_that_refuses_changes_nothing(
    storage: Storage, monitor: HealthMonitor
) -> None:
    service = SettingsService(storage, BrokenSecrets(), monitor)
    with pytest.raises(KeyringUnavailable):
        service.update(
            {"theme": "dark", "proxy": {"mode": "manual", "url": "http://u:pw-1234@p:1"}}
        )
    assert service.to_wire()["theme"] == "system"
    assert storage.get_setting("theme") is None and storage.get_setting("proxy.url") is None


# --- one transaction -----------------------------------------------------------------------


class FailingStorage(Storage):
    """Real storage whose save of one key fails, as a full disk would."""

    fail_on: str | None = None

    def set_setting(self, key: str, value: Any) -> None:
        if key == self.fail_on:
            raise StorageError()
        super().set_setting(key, value)


@pytest.fixture
def failing(data_dir: Path) -> Iterator[FailingStorage]:
    store = FailingStorage(data_dir / "failing.db")
    yield store
    store.close()


def test_a_failed_save_changes_nothing_in_the_file_or_in_memory(
    failing: FailingStorage, manager: Any, check: Any
) -> None:
    monitor = HealthMonitor(manager, failing, check)
    secrets = MemorySecretStore()
    service = SettingsService(failing, secrets, monitor)
    service.update({"proxy": {"mode": "manual", "url": "http://u:old-pw-1@p.example:1"}})
    before = service.to_wire()
    failing.fail_on = "sendKey"  # written after language and theme, inside the health change
    with pytest.raises(StorageError):
        service.update(
            {
                "language": "zh-CN",
                "theme": "dark",
                "sendKey": "ctrl-enter",
                "health": {"intervalSeconds": 60},
                "proxy": {"url": "http://u:new-pw-2@q.example:2"},
            }
        )
    assert service.to_wire() == before
    assert i18n.current_language() == "en"
    assert monitor.settings.interval_seconds == 300
    failing.fail_on = None
    assert (
        SettingsService(failing, secrets, HealthMonitor(manager, failing, check)).to_wire()
        == before
    )
    assert "old-pw-1" in (secrets.get(ENTRY) or "")  # the password put back as it was


# --- listeners and stored values -----------------------------------------------------------


def test_listeners_hear_only_real_changes(settings: SettingsService) -> None:
    languages: list[str] = []
    proxies: list[ProxyChoice] = []
    settings.on_language_change(languages.append)
    settings.on_proxy_change(proxies.append)
    settings.update({"language": "en"})  # "system" is English here: no change in effect
    settings.update({"theme": "dark", "proxy": {"mode": "system"}})
    settings.update({"language": "zh-CN", "proxy": {"mode": "none"}})
    settings.update({"proxy": {"url": "http://p.example:3128"}})  # mode none: same choice
    assert languages == ["zh-CN"]
    assert proxies == [ProxyChoice("none")]


def test_a_stored_value_this_version_cannot_use_is_skipped(
    storage: Storage, monitor: HealthMonitor
) -> None:
    storage.set_setting("theme", "sepia")
    storage.set_setting("sendKey", "ctrl-enter")
    storage.set_setting("proxy.mode", "pac")
    storage.set_setting("proxy.url", "http://p.example:3128")
    service = SettingsService(storage, MemorySecretStore(), monitor)
    wire = service.to_wire()
    assert (wire["theme"], wire["sendKey"]) == ("system", "ctrl-enter")
    assert wire["proxy"] == {"mode": "system", "url": None, "hasPassword": False}


def test_a_bad_update_leaves_the_health_monitor_alone(
    settings: SettingsService, monitor: HealthMonitor
) -> None:
    with pytest.raises(InvalidConfig) as refused:
        settings.update({"health": {"intervalSeconds": 60}, "theme": "sepia"})
    assert list(refused.value.fields) == ["theme"]
    assert monitor.settings.interval_seconds == 300


# --- opening folders -----------------------------------------------------------------------


def test_the_opener_is_the_desktop_s_unless_one_is_named() -> None:
    folder = Path("/data/miaoda")
    assert open_command(folder, {}) in (["xdg-open", str(folder)], ["open", str(folder)], None)
    named = open_command(folder, {OPEN_WITH: "nautilus --new-window"})
    assert named == ["nautilus", "--new-window", str(folder)]


def test_an_opener_that_is_not_installed_is_an_error_to_show(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(OPEN_WITH, str(tmp_path / "no-such-program"))
    with pytest.raises(InternalError) as failed:
        open_with_os(tmp_path)
    assert str(tmp_path) in failed.value.message
