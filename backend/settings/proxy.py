"""The `proxy` setting as stored: its URL in the data file, its password in the secret store.

A password in `proxy.url` is write-only, like an API key: the data file keeps the URL without
it, the secret store keeps the password (one entry, `ENTRY`, which also names the proxy
it is for), and reads give the URL without it and `hasPassword`. `merge` holds the rules of an
update: a URL with a password sets it; a URL without one keeps the stored password while it
names the same proxy (host, port and user name), and drops it for any other proxy;
`hasPassword: false` drops it; an empty URL drops both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from backend.errors import MiaodaError
from backend.providers.proxies import ProxyChoice, ProxyMode
from backend.redact import REDACTOR
from backend.secrets import SecretStore

log = logging.getLogger("miaoda.settings")

ENTRY = "settings:proxy"
"""The proxy password's entry in the secret store (provider ids never hold a colon)."""

_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class StoredProxy:
    """The proxy setting: a mode, a URL without password, and the password (as it appears in
    a URL: percent-encoded), which only the secret store keeps."""

    mode: ProxyMode = "system"
    url: str | None = None
    password: str | None = field(default=None, repr=False)

    def choice(self) -> ProxyChoice:
        """What the provider layer needs: the mode, and the URL with its password."""
        if self.mode != "manual" or not self.url:
            return ProxyChoice(self.mode)
        return ProxyChoice("manual", with_password(self.url, self.password))

    def to_wire(self) -> dict[str, Any]:
        return {"mode": self.mode, "url": self.url, "hasPassword": self.password is not None}


SYSTEM = StoredProxy()
"""The default: the operating system's proxies (the environment's)."""


def split_password(url: str) -> tuple[str, str | None]:
    """`url` without its password, and the password (None when there is none)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    netloc = f"{user}@{hostport}" if user else hostport
    bare = urlunsplit((parts.scheme.lower(), netloc, "", "", ""))
    return bare, (password or None) if at else None


def with_password(url: str, password: str | None) -> str:
    """`url` (without password) with `password` put back."""
    if password is None:
        return url
    parts = urlsplit(url)
    user, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{user}:{password}@{hostport}" if at else f":{password}@{hostport}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def same_proxy(one: str, other: str) -> bool:
    """Whether two proxy URLs name the same proxy: host, port and user name."""
    return _identity(one) == _identity(other)


def _identity(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    return f"{unquote(parts.username or '')}@{(parts.hostname or '').lower()}:{port}"


def merge(current: StoredProxy, changes: Mapping[str, Any]) -> StoredProxy:
    """`current` with the validated `changes` of an update applied (the module's rules)."""
    mode = changes.get("mode", current.mode)
    url = current.url
    password = None if changes.get("hasPassword") is False else current.password
    if "url" in changes:
        given = changes["url"]
        if not given:
            url, password = None, None
        else:
            bare, typed = split_password(given)
            if typed is not None:
                password = typed
            elif url is None or not same_proxy(bare, url):
                password = None
            url = bare
    return StoredProxy(mode, url, password)


def remember(password: str | None) -> None:
    """Mask `password` (as typed and as decoded) in every log line and message from now on."""
    if password:
        REDACTOR.add(password)
        REDACTOR.add(unquote(password))


class ProxyPassword:
    """The proxy password's one entry in the secret store, naming the proxy it is for.

    The entry is written before the data file and removed before it: a crash in between
    leaves an entry for another proxy than the data file names, which `load` ignores and
    removes, never a password sent to a proxy it was not typed for.
    """

    def __init__(self, secrets: SecretStore) -> None:
        self._secrets = secrets

    def load(self, url: str) -> str | None:
        """The stored password of the proxy at `url`, if the entry is for that proxy."""
        try:
            raw = self._secrets.get(ENTRY)
        except MiaodaError as err:
            log.warning("the proxy password could not be read: %s", err.message)
            return None
        if raw is None:
            return None
        try:
            entry = json.loads(raw)
            proxy, password = entry["for"], entry["password"]
        except (ValueError, KeyError, TypeError):
            entry = None
        if entry is None or proxy != _identity(url) or not isinstance(password, str):
            log.info("dropping a stored proxy password that is not for the proxy in use")
            self.forget(quietly=True)
            return None
        remember(password)
        return password

    def save(self, url: str, password: str) -> None:
        """Keep `password` for the proxy at `url` (raises the secret store's errors)."""
        remember(password)
        entry = json.dumps({"for": _identity(url), "password": password})
        self._secrets.set(ENTRY, entry)

    def forget(self, *, quietly: bool = False) -> None:
        """Remove the stored password (`quietly`: a failure is only logged)."""
        try:
            self._secrets.delete(ENTRY)
        except MiaodaError as err:
            if not quietly:
                raise
            log.warning("the old proxy password could not be removed: %s", err.message)
