"""Checking what the usage methods are given: summary periods, prices and budgets.

Each problem is an `InvalidConfig` naming its field, with a message that says what to send
instead and never repeats the value sent. The rules follow the rest of the API (docs/API.md,
"Bridge"): unknown keys are refused, numbers must be real JSON numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal

from backend.errors import InvalidConfig
from backend.i18n import tr
from backend.schemas import invalid, not_an_object
from backend.usage import zones
from backend.usage.pricing import CURRENCIES

GroupBy = Literal["day", "provider", "model", "route", "key"]
GROUP_BYS: Final[tuple[GroupBy, ...]] = ("day", "provider", "model", "route", "key")
DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 1000
"""A day-by-day summary covers at most this many days."""
MAX_PRICE: Final = Decimal(10_000)
MAX_BUDGET: Final = Decimal(1_000_000_000)
_PLACES: Final = 6


@dataclass(frozen=True)
class Period:
    """What a summary covers: [since, until) in UTC, grouped how, days in which zone."""

    since: datetime
    until: datetime
    group_by: GroupBy
    zone: zones.Zone


def _invalid(what: str, field: str, problem: str) -> InvalidConfig:
    return invalid(what, {field: [problem]})


def _object(value: Any, what: str, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise not_an_object(what)
    for key in value:
        if key not in allowed:
            raise _invalid(what, str(key)[:64], tr("fields.unknown"))
    return value


def _text(value: Any, what: str, field: str, longest: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= longest:
        raise _invalid(what, field, tr("usage.textLength", max=f"{longest:,}"))
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise _invalid(what, field, tr("fields.noControlCharacters"))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _invalid(what, field, tr("usage.brokenCharacter")) from None
    return value


def _amount(value: Any, what: str, field: str, high: Decimal, *, positive: bool) -> Decimal:
    key = "usage.amountPositive" if positive else "usage.amount"
    rule = tr(key, high=f"{high:,}", places=_PLACES)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(what, field, rule)
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(what, field, rule)
    # repr() of a float is the shortest text that reads back as it: 0.075 stays 0.075.
    amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    places = -amount.normalize().as_tuple().exponent  # type: ignore[operator]
    if amount < 0 or amount > high or (positive and amount == 0) or places > _PLACES:
        raise _invalid(what, field, rule)
    return amount.normalize() if places > 0 else amount.quantize(Decimal(1))


def _price_amount(value: Any, field: str) -> Decimal:
    return _amount(value, "price", field, MAX_PRICE, positive=False)


def _currency(value: Any, what: str) -> str:
    if value not in CURRENCIES:
        raise _invalid(what, "currency", tr("usage.currency"))
    return str(value)


def provider_ref(value: Any, field: str = "providerId") -> str | None:
    """A provider id or null."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidConfig(
            tr("usage.providerRef", field=field), fields={field: [tr("usage.providerRefField")]}
        )
    return value


def model_name(value: Any) -> str:
    """A model id, as a price names it."""
    return _text(value, "price", "model", 200)


@dataclass(frozen=True)
class PriceInput:
    """A price the user sets."""

    provider_id: str | None
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal | None
    currency: str


def load_price(value: Any) -> PriceInput:
    """The price object of `setPrice`."""
    allowed = ("providerId", "model", "inputPerMillion", "outputPerMillion",
               "cachedInputPerMillion", "currency")  # fmt: skip
    raw = _object(value, "price", allowed)
    if value is None:
        raise InvalidConfig(tr("usage.priceNeeded"), fields={"_schema": [tr("fields.notObject")]})
    for name in ("model", "inputPerMillion", "outputPerMillion", "currency"):
        if name not in raw:
            raise _invalid("price", name, tr("fields.required"))
    cached = raw.get("cachedInputPerMillion")
    return PriceInput(
        provider_id=provider_ref(raw.get("providerId")),
        model=model_name(raw["model"]),
        input=_amount(
            raw["inputPerMillion"], "price", "inputPerMillion", MAX_PRICE, positive=False
        ),
        output=_amount(
            raw["outputPerMillion"], "price", "outputPerMillion", MAX_PRICE, positive=False
        ),
        cached_input=None
        if cached is None
        else _amount(cached, "price", "cachedInputPerMillion", MAX_PRICE, positive=False),
        currency=_currency(raw["currency"], "price"),
    )


def load_budget(value: Any) -> tuple[Decimal, str] | None:
    """The budget of `setBudget`: amount and currency, or None (remove it)."""
    if value is None:
        return None
    raw = _object(value, "budget", ("amount", "currency"))
    for name in ("amount", "currency"):
        if name not in raw:
            raise _invalid("budget", name, tr("fields.required"))
    amount = _amount(raw["amount"], "budget", "amount", MAX_BUDGET, positive=True)
    return amount, _currency(raw["currency"], "budget")


def load_period(value: Any, now: datetime, default_zone: zones.Zone) -> Period:
    """The options of `getUsageSummary` and `exportUsageCsv`."""
    raw = _object(value, "options", ("since", "until", "groupBy", "timezone"))
    group_by = raw.get("groupBy")
    if group_by not in GROUP_BYS:
        raise _invalid("options", "groupBy", tr("usage.groupBy"))
    zone = default_zone
    if raw.get("timezone") is not None:
        zone = zones.named(_text(raw["timezone"], "options", "timezone", 64))
    until = now if raw.get("until") is None else _instant(raw["until"], "until", zone)
    since = (
        until - timedelta(days=DEFAULT_DAYS)
        if raw.get("since") is None
        else _instant(raw["since"], "since", zone)
    )
    if since >= until:
        raise _invalid("options", "until", tr("usage.untilBeforeSince"))
    if group_by == "day" and until - since > timedelta(days=MAX_DAYS):
        raise _invalid("options", "since", tr("usage.tooManyDays", days=f"{MAX_DAYS:,}"))
    return Period(since, until, group_by, zone)


def _instant(value: Any, field: str, zone: zones.Zone) -> datetime:
    """An ISO 8601 time (a date alone is local midnight; no offset means local time)."""
    problem = tr("usage.badInstant")
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise _invalid("options", field, problem)
    try:
        if len(value) == 10:
            return zone.start_of(date.fromisoformat(value))
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid("options", field, problem) from None
    return zone.from_local(moment) if moment.tzinfo is None else moment.astimezone(UTC)
