"""Where the window may go: the navigation guard's rules, without Qt.

pywebview injects the bridge into whatever page the window shows, so the window never leaves the
app's own origin (scheme, host and port). `NavigationPolicy` decides, for each URL the page asks
for, whether it loads in the window, opens in the system browser instead, or is refused.
`backend.window.qt` asks it from Qt's navigation and popup signals; this module imports neither
Qt nor pywebview, so its rules are tested on their own (tests/unit/test_window_rules.py).
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit


class Verdict(enum.Enum):
    """Where a URL the page asked for may go."""

    ALLOW = "allow"
    OPEN_IN_BROWSER = "open in the system browser"
    REFUSE = "refuse"


class NavigationPolicy:
    """Keeps the window on the app's origin; web pages it is sent to open in the system browser."""

    def __init__(self, origin: str) -> None:
        self._origin = _origin_of(origin)
        if self._origin is None:
            raise ValueError(f"not an http origin: {origin!r}")

    def is_own(self, url: str) -> bool:
        """True for a URL on the app's own origin (scheme, host and port)."""
        return _origin_of(url) == self._origin

    def for_navigation(self, url: str, *, main_frame: bool, by_link: bool) -> Verdict:
        """The verdict on the window (or a frame in it) going to `url`.

        `by_link` is Qt's "link clicked" navigation type, which Chromium gives to a followed
        link and to a script setting `location` alike (with or without a user's click). Other
        types (redirects, reloads, history, form posts) to a foreign URL are refused outright.
        """
        if self.is_own(url):
            return Verdict.ALLOW
        if not main_frame:
            # Empty frames take on their parent's origin; anything else in a frame stays out.
            return Verdict.ALLOW if url in ("about:blank", "about:srcdoc") else Verdict.REFUSE
        if by_link and _is_web_url(url):
            return Verdict.OPEN_IN_BROWSER
        return Verdict.REFUSE

    def for_new_window(self, url: str) -> Verdict:
        """The verdict on a popup or a `target=_blank` link to `url`: the app has one window."""
        if _is_web_url(url) and not self.is_own(url):
            return Verdict.OPEN_IN_BROWSER
        return Verdict.REFUSE


def describe_url(url: str) -> str:
    """Where `url` points, for the log: its scheme and host, never its path or query.

    A URL's path or query may carry someone's secrets.
    """
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.hostname}"
        if parts.hostname
        else f"a {parts.scheme or 'relative'}: URL"
    )


def _origin_of(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def _is_web_url(url: str) -> bool:
    return _origin_of(url) is not None
