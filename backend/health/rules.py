"""Health settings and status rules: how the monitor is set up and how it grades a check.

    HealthSettings    the interval, slow threshold, timeout and on/off switch (stored settings);
                      `apply_settings` checks and applies changes, `settings_limits` gives the
                      allowed ranges for forms.
    grade             the status rules: a check's raw result becomes healthy, degraded or
                      unhealthy.
    needs_chat_check  whether a models check shows there is no models endpoint to ask.
    after_chat        what one real chat request's outcome does to a provider's RecentChats.
    combine           the status shown: the graded check, unless the real chats overrule it.

Plain functions and data, no I/O. The status rules are described in docs/HEALTH.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from backend.errors import InvalidConfig, MiaodaError
from backend.i18n import tr
from backend.models import HealthStatus, RecentChats
from backend.providers.circuit import FAILOVER_CODES

# Answers on the models endpoint that mean "there is no such endpoint here": use the chat path.
NO_MODELS_ENDPOINT = frozenset({404, 405, 501})

CHAT_FAILURES_TO_FLAG = 3
"""Real chats failing in a row, each with a provider-side error, that make a provider unhealthy."""

COUNTED_CHAT_ERRORS = FAILOVER_CODES
"""The provider-side errors: the ones a route fails over on (CONTRACT §10). Others (a bad
request, a conversation too long for the model, a fault of ours) say nothing of the provider."""


# --- settings -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthSettings:
    """How often and how strictly providers are checked."""

    interval_seconds: float = 300.0
    slow_threshold_ms: int = 3000
    timeout_seconds: float = 10.0
    enabled: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {
            "intervalSeconds": _plain(self.interval_seconds),
            "slowThresholdMs": self.slow_threshold_ms,
            "timeoutSeconds": _plain(self.timeout_seconds),
            "enabled": self.enabled,
        }


# Wire name: (attribute, lowest, highest). Each is stored as its own setting, `health.<name>`.
SETTING_RANGES: dict[str, tuple[str, int, int]] = {
    "intervalSeconds": ("interval_seconds", 30, 86_400),
    "slowThresholdMs": ("slow_threshold_ms", 100, 60_000),
    "timeoutSeconds": ("timeout_seconds", 1, 60),
}


def settings_limits() -> dict[str, dict[str, int]]:
    """The allowed range of each numeric setting, for forms."""
    return {name: {"min": low, "max": high} for name, (_, low, high) in SETTING_RANGES.items()}


def apply_settings(current: HealthSettings, updates: Any) -> HealthSettings:
    """`current` with the wire `updates` applied; InvalidConfig (per field) when one is wrong."""
    if not isinstance(updates, dict):
        raise InvalidConfig(
            tr("healthChecks.settingsNotObject"), fields={"settings": [tr("fields.notObject")]}
        )
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    for name, value in updates.items():
        if name == "enabled":
            if isinstance(value, bool):
                changes["enabled"] = value
            else:
                errors[name] = [tr("healthChecks.notBoolean")]
        elif name in SETTING_RANGES:
            attribute, low, high = SETTING_RANGES[name]
            problem = _range_problem(value, low, high)
            if problem:
                errors[name] = [problem]
            else:
                changes[attribute] = int(value) if attribute == "slow_threshold_ms" else value
        else:
            errors[str(name)[:64]] = [tr("healthChecks.unknownSetting")]
    if errors:
        raise InvalidConfig(tr("healthChecks.settingsInvalid"), fields=errors)
    return replace(current, **changes)


def _range_problem(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return tr("fields.number.inRange", low=f"{low:,}", high=f"{high:,}")
    if not low <= value <= high:
        return tr("fields.number.range", low=f"{low:,}", high=f"{high:,}")
    return None


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


# --- the status rules -----------------------------------------------------------------------


def grade(raw: HealthStatus, slow_threshold_ms: int) -> HealthStatus:
    """Apply the status rules to a check's raw result (see docs/HEALTH.md)."""
    code = raw.error_code
    if code is None:
        if raw.status in ("unknown", "unhealthy"):
            return raw  # a checker that could not tell, or said so without a code
        if raw.response_time is not None and raw.response_time > slow_threshold_ms:
            return replace(
                raw,
                status="degraded",
                error=tr(
                    "healthChecks.slow",
                    took=_seconds(raw.response_time),
                    limit=_seconds(slow_threshold_ms),
                ),
            )
        return replace(raw, status="healthy", error=None)
    if code == "RATE_LIMITED":
        return replace(raw, status="degraded")
    if code == "MODEL_NOT_FOUND" and raw.check_kind == "models" and raw.model_available is False:
        return replace(raw, status="degraded")  # listed models lack it; chatting may still work
    return replace(raw, status="unhealthy")


def needs_chat_check(raw: HealthStatus) -> bool:
    """True when a models check shows the provider has no usable models endpoint."""
    if raw.check_kind != "models":
        return False
    return raw.http_status in NO_MODELS_ENDPOINT or raw.error_code == "INVALID_RESPONSE"


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# --- real chats -----------------------------------------------------------------------------


def counts(error: MiaodaError | None) -> bool:
    """Whether a chat outcome says something about the provider: an answer, or a provider-side
    error (`COUNTED_CHAT_ERRORS`)."""
    return error is None or error.code in COUNTED_CHAT_ERRORS


def after_chat(chats: RecentChats, error: MiaodaError | None, at: str) -> RecentChats:
    """`chats` after one more real chat that ended at `at`: answered (`error` None) or failed.

    An answer starts the count over; a provider-side failure adds one and becomes the last
    error; any other error leaves `chats` as it was.
    """
    if error is None:
        return RecentChats(0, at, None, None)
    if not counts(error):
        return chats
    return RecentChats(
        chats.failures_in_a_row + 1, at, (error.code, error.message), error.upstream_status
    )


def combine(check: HealthStatus, chats: RecentChats) -> HealthStatus:
    """The status to show: the graded `check`, unless the last CHAT_FAILURES_TO_FLAG real chats
    or more all failed; then `unhealthy` with the last chat's error, whatever the check said.

    `lastChecked`, `checkKind`, `responseTime` and `modelAvailable` stay the check's, so a
    status still says what was probed and when.
    """
    if chats.failures_in_a_row >= CHAT_FAILURES_TO_FLAG and chats.last_error is not None:
        code, message = chats.last_error
        return replace(
            check,
            status="unhealthy",
            error=message,
            error_code=code,
            http_status=chats.last_http_status,
            basis="chats",
            recent_chats=chats,
        )
    return replace(check, basis="check", recent_chats=chats)
