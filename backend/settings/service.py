"""`SettingsService`: the app's settings (CONTRACT §13), read, checked, saved and applied.

The settings are `language`, `theme`, `sendKey`, `proxy` and `health`. Each is a row of the data
file's `settings` table under its dotted path (`language`, `proxy.mode`, `proxy.url`); the
health settings are the health monitor's own (`health.<name>` rows, one source of truth with
get/setHealthSettings) and the proxy's password is in the secret store (`proxy.StoredProxy`).

An update merges deeply into the settings and is checked whole first: a bad value or an
unknown key anywhere gets INVALID_CONFIG naming every field at fault with dots
(`health.intervalSeconds`) and changes nothing. Then it is saved in one transaction (health
included) and applied: the language of messages (`backend.i18n`), the proxy of provider
requests and whoever else listens hear of what changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from backend import i18n
from backend.errors import InvalidConfig
from backend.health.rules import HealthSettings, apply_settings
from backend.providers.proxies import ProxyChoice
from backend.schemas import check_settings
from backend.secrets import SecretStore
from backend.settings.proxy import SYSTEM, ProxyPassword, StoredProxy, merge
from backend.storage import Storage

log = logging.getLogger("miaoda.settings")

LanguageListener = Callable[[str], None]
ProxyListener = Callable[[ProxyChoice], None]


class HealthSettingsOwner(Protocol):
    """Who keeps the health settings (the health monitor)."""

    @property
    def settings(self) -> HealthSettings: ...

    def update_settings(
        self, updates: Any, *, also: Callable[[], None] | None = None
    ) -> HealthSettings: ...


@dataclass(frozen=True)
class Settings:
    """The settings but health (which the monitor keeps)."""

    language: str = "system"
    theme: str = "system"
    send_key: str = "enter"
    proxy: StoredProxy = SYSTEM

    def rows(self) -> dict[str, Any]:
        """The data file's rows: key (the wire path) → value."""
        return {
            "language": self.language,
            "theme": self.theme,
            "sendKey": self.send_key,
            "proxy.mode": self.proxy.mode,
            "proxy.url": self.proxy.url,
        }


class SettingsService:
    """Reads, checks, saves and applies the settings; see the module's docstring."""

    def __init__(self, storage: Storage, secrets: SecretStore, health: HealthSettingsOwner) -> None:
        self._storage = storage
        self._health = health
        self._password = ProxyPassword(secrets)
        self._lock = threading.Lock()  # one update at a time, from its check to its listeners
        self._language_listeners: list[LanguageListener] = []
        self._proxy_listeners: list[ProxyListener] = []
        self._current = self._stored()
        i18n.set_language(self.language)

    # --- reading ---------------------------------------------------------------------------

    @property
    def current(self) -> Settings:
        return self._current

    @property
    def language(self) -> str:
        """The language in effect: the setting, with "system" resolved to the OS's."""
        return i18n.resolve_language(self._current.language)

    def proxy(self) -> ProxyChoice:
        """The proxy provider requests go through, password included (never show it)."""
        return self._current.proxy.choice()

    def to_wire(self) -> dict[str, Any]:
        """The contract's settings object."""
        current = self._current
        return {
            "language": current.language,
            "theme": current.theme,
            "health": self._health.settings.to_wire(),
            "proxy": current.proxy.to_wire(),
            "sendKey": current.send_key,
        }

    def envelope(self) -> dict[str, Any]:
        """The payload of getSettings and updateSettings: the settings and the language in
        effect."""
        return {"settings": self.to_wire(), "language": self.language}

    # --- listening -------------------------------------------------------------------------

    def on_language_change(self, listener: LanguageListener) -> None:
        """Call `listener(language)` whenever the language in effect changes."""
        self._language_listeners.append(listener)

    def on_proxy_change(self, listener: ProxyListener) -> None:
        """Call `listener(choice)` whenever the proxy of provider requests changes."""
        self._proxy_listeners.append(listener)

    # --- changing --------------------------------------------------------------------------

    def update(self, changes: Any) -> dict[str, Any]:
        """Merge `changes` into the settings, save and apply them; the `envelope` after."""
        with self._lock:
            loaded = self._checked(changes)
            old = self._current
            new = self._merged(old, loaded)
            self._save(old, new, loaded.get("health"))
            self._current = new
            self._apply(old, new)
        return self.envelope()

    def proxy_with(self, changes: Mapping[str, Any] | None) -> ProxyChoice:
        """The proxy choice the saved setting with `changes` (validated by the caller, as an
        update's `proxy`) would make, a stored password kept by the rules of an update."""
        if not changes:
            return self.proxy()
        merged = merge(self._current.proxy, changes)
        _require_manual_url(merged)
        return merged.choice()

    def _checked(self, changes: Any) -> dict[str, Any]:
        loaded, problems = check_settings(changes)
        health = changes.get("health") if isinstance(changes, Mapping) else None
        if isinstance(health, Mapping):
            try:
                apply_settings(self._health.settings, dict(health))
            except InvalidConfig as err:
                problems.update({f"health.{name}": texts for name, texts in err.fields.items()})
        if problems:
            raise _invalid(problems)
        return loaded

    @staticmethod
    def _merged(old: Settings, loaded: Mapping[str, Any]) -> Settings:
        new = replace(
            old,
            language=loaded.get("language", old.language),
            theme=loaded.get("theme", old.theme),
            send_key=loaded.get("sendKey", old.send_key),
        )
        if "proxy" in loaded:
            new = replace(new, proxy=merge(old.proxy, loaded["proxy"]))
            _require_manual_url(new.proxy)
        return new

    def _save(self, old: Settings, new: Settings, health: Mapping[str, Any] | None) -> None:
        """Everything in one transaction; the proxy password first (see `ProxyPassword`), put
        back as it was when the transaction fails."""
        before = old.rows()
        rows = {key: value for key, value in new.rows().items() if before[key] != value}

        def write() -> None:
            for key, value in rows.items():
                self._storage.set_setting(key, value)

        password_changed = self._save_password(old.proxy, new.proxy)
        try:
            if health is not None:
                self._health.update_settings(dict(health), also=write)
            elif rows:
                with self._storage.transaction():
                    write()
        except BaseException:
            if password_changed:
                self._restore_password(old.proxy)
            raise

    def _save_password(self, old: StoredProxy, new: StoredProxy) -> bool:
        if (new.url, new.password) == (old.url, old.password):
            return False
        if new.password is not None and new.url is not None:
            self._password.save(new.url, new.password)
        elif old.password is not None:
            self._password.forget()
        return True

    def _restore_password(self, old: StoredProxy) -> None:
        try:
            if old.password is not None and old.url is not None:
                self._password.save(old.url, old.password)
            else:
                self._password.forget()
        except Exception:
            log.warning("the proxy password could not be put back after a failed save")

    def _apply(self, old: Settings, new: Settings) -> None:
        language = i18n.resolve_language(new.language)
        if language != i18n.resolve_language(old.language):
            i18n.set_language(language)
            log.info("language: %s", language)
            for on_language in self._language_listeners:
                on_language(language)
        choice = new.proxy.choice()
        if choice != old.proxy.choice():
            log.info("provider requests now go through the %s proxy setting", choice.mode)
            for on_proxy in self._proxy_listeners:
                on_proxy(choice)

    # --- the stored settings ---------------------------------------------------------------

    def _stored(self) -> Settings:
        """The saved settings; a value this version cannot use (a newer one wrote it, or the
        file was edited) is skipped with a warning, its default used instead."""
        found = {key: self._storage.get_setting(key) for key in Settings().rows()}
        proxy = {"mode": found.pop("proxy.mode"), "url": found.pop("proxy.url")}
        changes = {k: v for k, v in found.items() if v is not None}
        proxy = {k: v for k, v in proxy.items() if v is not None}
        if proxy:
            changes["proxy"] = proxy
        loaded, problems = check_settings(changes)
        for name in problems:
            log.warning("ignoring the stored setting %s: this version cannot use it", name)
        if any(name.startswith("proxy") for name in problems):
            loaded.pop("proxy", None)  # a proxy is used whole or not at all
        try:
            settings = self._merged(Settings(), loaded)
        except InvalidConfig:  # manual without a URL
            log.warning("ignoring the stored proxy setting: manual, but no proxy address")
            settings = self._merged(Settings(), {k: v for k, v in loaded.items() if k != "proxy"})
        url = settings.proxy.url
        if url is not None:
            password = self._password.load(url)
            settings = replace(settings, proxy=replace(settings.proxy, password=password))
        return settings


def _require_manual_url(proxy: StoredProxy) -> None:
    if proxy.mode == "manual" and not proxy.url:
        raise _invalid({"proxy.url": [i18n.tr("settings.proxy.url.needed")]})


def _invalid(problems: Mapping[str, list[str]]) -> InvalidConfig:
    first = next(iter(problems))
    if first == "_schema":  # not an object at all
        return InvalidConfig(i18n.tr("settings.notObject"), fields=problems)
    message = i18n.tr("settings.invalid", field=first, problem=problems[first][0])
    return InvalidConfig(message, fields=problems)
