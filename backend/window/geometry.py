"""The window's size and place: how they are saved, read back and fitted to the screens, without Qt.

`WindowGeometry` is what the setting `window` holds. At start it is read back with defaults for
anything missing or damaged and fitted to today's screens; while the window runs,
`backend.window.qt` saves it again shortly after the window stops moving and as it closes.
This module imports neither Qt nor pywebview, so its rules are tested on their own
(tests/unit/test_window_rules.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

SETTING_KEY = "window"
MIN_SIZE = (800, 600)
DEFAULT_SIZE = (1280, 800)
MAX_EDGE = 16_384
# How long after the window last moved or changed size its geometry is saved.
SAVE_DELAY_MS = 500
# How much of the window's top edge must stay on a screen for the user to grab it.
GRAB_MARGIN = 100

Rect = tuple[int, int, int, int]
"""x, y, width, height."""


@dataclass(frozen=True)
class WindowGeometry:
    """The window's normal (not maximized) size and place, and whether it was maximized."""

    width: int = DEFAULT_SIZE[0]
    height: int = DEFAULT_SIZE[1]
    x: int | None = None
    y: int | None = None
    maximized: bool = False

    @classmethod
    def from_setting(cls, value: object) -> WindowGeometry:
        """The saved geometry, with defaults for anything missing or unusable."""
        if not isinstance(value, dict):
            return cls()
        width = _int_between(value.get("width"), MIN_SIZE[0], MAX_EDGE)
        height = _int_between(value.get("height"), MIN_SIZE[1], MAX_EDGE)
        x = _int_between(value.get("x"), -MAX_EDGE, MAX_EDGE)
        y = _int_between(value.get("y"), -MAX_EDGE, MAX_EDGE)
        if width is None or height is None:
            width, height = DEFAULT_SIZE
        if x is None or y is None:
            x = y = None
        return cls(width, height, x, y, maximized=value.get("maximized") is True)

    def to_setting(self) -> dict[str, Any]:
        """The JSON object saved under the `window` setting."""
        return {
            "width": self.width,
            "height": self.height,
            "x": self.x,
            "y": self.y,
            "maximized": self.maximized,
        }

    def fitted(self, screens: Sequence[Rect]) -> WindowGeometry:
        """This geometry on today's screens: no larger than its screen, its top edge reachable.

        `screens` are the available areas, the primary screen first. A window whose saved place
        is off every screen (a monitor was unplugged) is centred on the primary screen.
        """
        if not screens:
            return self
        home = next((s for s in screens if self._grabbable_on(s)), None)
        screen = home or screens[0]
        sx, sy, sw, sh = screen
        width = max(MIN_SIZE[0], min(self.width, sw))
        height = max(MIN_SIZE[1], min(self.height, sh))
        if home is not None and self.x is not None and self.y is not None:
            return replace(self, width=width, height=height)
        return replace(
            self, width=width, height=height, x=sx + (sw - width) // 2, y=sy + (sh - height) // 2
        )

    def _grabbable_on(self, screen: Rect) -> bool:
        if self.x is None or self.y is None:
            return False
        sx, sy, sw, sh = screen
        overlap = min(self.x + self.width, sx + sw) - max(self.x, sx)
        return overlap >= GRAB_MARGIN and sy <= self.y <= sy + sh - GRAB_MARGIN


def _int_between(value: object, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None
