"""Prices: the bundled table (backend/data/prices.json), matching a request to it, and cost.

The bundled table is a list of *price tables*, one per provider service (some services have
two: a mainland China host billed in CNY and an international one in USD). A provider is matched
to a table by the host (and for loopback servers the port) of its base URL; a model to an entry
of that table by its id: exactly, then ignoring case, then without a date suffix
(`-2025-08-07`, `-20250929`, `-0905`, `@20250929`), then with dots between digits as hyphens
(`claude-sonnet-4.5`), then through an entry's `aliases`. A gateway table (OpenRouter) prices
`vendor/model` as the vendor's own table prices `model`. A `free` table (a server on this
computer) prices every model at zero. Anything else has no price: its cost is unknown, never
guessed from a default rate. docs/DECISIONS.md, "Usage and cost", has the reasons.

Amounts are `Decimal`s read from the JSON text, so 0.075 is exactly 0.075; a request's cost
is counted in micro-units (millionths) of the currency, rounded half up once per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from backend.i18n import current_language

CURRENCIES: Final = ("USD", "CNY")
PriceSource = Literal["bundled", "user"]

_DATE_SUFFIX = re.compile(r"(?:[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}))$")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class LocalText:
    """A name or note of the price table, in each of the app's languages (`{"en": …, "zh-CN":
    …}` in the JSON), or one text for all (a brand name, a URL). `str()` gives it in the
    language of the moment (backend.i18n), English where the language has none."""

    texts: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, raw: Any) -> LocalText:
        if isinstance(raw, str):
            return cls((("en", raw),))
        if not isinstance(raw, Mapping) or not isinstance(raw.get("en"), str):
            raise ValueError("a text is a string or an object with at least an en string")
        return cls(tuple((str(lang), str(text)) for lang, text in raw.items()))

    @classmethod
    def maybe(cls, raw: Any) -> LocalText | None:
        return None if raw is None else cls.read(raw)

    def __str__(self) -> str:
        by_language = dict(self.texts)
        return by_language.get(current_language()) or by_language["en"]


def local(text: LocalText | None) -> str | None:
    """`text` in the language of the moment (None stays None)."""
    return None if text is None else str(text)


@dataclass(frozen=True)
class Price:
    """A price per million tokens and where it came from."""

    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal | None  # None: cached input tokens cost as input ones
    currency: str
    source: PriceSource
    provider_id: str | None = None  # a user price's provider; None for any (and bundled)
    table: str | None = None  # a bundled price's table id
    as_of: str | None = None
    note: LocalText | None = None

    def cost_micros(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> int:
        """The cost of a request in millionths of `currency`, rounded half up.

        `cached_tokens` are the part of `input_tokens` read from the provider's cache."""
        cached = min(max(cached_tokens, 0), input_tokens)
        cached_price = self.input if self.cached_input is None else self.cached_input
        # A price per million tokens times tokens is exactly the cost in millionths.
        micros = (
            self.input * (input_tokens - cached)
            + cached_price * cached
            + self.output * output_tokens
        )
        return int(micros.to_integral_value(rounding=ROUND_HALF_UP))

    def to_wire(self) -> dict[str, Any]:
        """The price object of `getPrices` (docs/API.md, "Usage and cost")."""
        out: dict[str, Any] = {
            "providerId": self.provider_id,
            "model": self.model,
            "inputPerMillion": float(self.input),
            "outputPerMillion": float(self.output),
            "cachedInputPerMillion": None
            if self.cached_input is None
            else float(self.cached_input),
            "currency": self.currency,
            "source": self.source,
        }
        if self.source == "bundled":
            out.update(table=self.table, asOf=self.as_of, sourceNote=local(self.note))
        return out


@dataclass(frozen=True)
class PriceTable:
    """One provider service's prices, in one currency."""

    id: str
    name: LocalText
    templates: tuple[str, ...]
    hosts: tuple[str, ...]
    currency: str
    source: LocalText  # a URL, or what stands for one ("runs on your own computer")
    as_of: str
    note: LocalText | None = None
    free: bool = False
    vendors: Mapping[str, str] = field(default_factory=dict)
    free_suffix: str | None = None
    models: Mapping[str, Price] = field(default_factory=dict)  # by id, aliases included

    def matches(self, base_url: str) -> bool:
        """Whether a provider with this base URL is this table's service."""
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            return False
        for pattern in self.hosts:
            name, _, wanted = pattern.partition(":")
            if wanted:  # a server on this computer: any loopback name, that port
                if host in _LOOPBACK and port == int(wanted):
                    return True
            elif name.startswith("*."):
                if host.endswith(name[1:]):
                    return True
            elif host == name:
                return True
        return False

    def entries(self) -> list[Price]:
        """Each entry once (aliases left out), in the order of the file."""
        seen: dict[int, Price] = {}
        for price in self.models.values():
            seen.setdefault(id(price), price)
        return list(seen.values())


class PriceBook:
    """The bundled price tables, and the lookup of a provider's model in them."""

    def __init__(self, tables: list[PriceTable], unpriced: Mapping[str, str] | None = None):
        self.tables = tables
        self.unpriced = dict(unpriced or {})  # template id -> why it has no table
        self._by_id = {table.id: table for table in tables}

    @classmethod
    def from_json(cls, text: str) -> PriceBook:
        """A book from the text of a prices file (the format of backend/data/prices.json)."""
        document = json.loads(text, parse_float=Decimal)
        tables = [_load_table(raw) for raw in document["tables"]]
        unpriced = {item["template"]: item["reason"] for item in document.get("unpriced", [])}
        return cls(tables, unpriced)

    def table_for(self, base_url: str) -> PriceTable | None:
        """The table of the service at this base URL, if any."""
        return next((table for table in self.tables if table.matches(base_url)), None)

    def price(self, base_url: str, model: str) -> Price | None:
        """The bundled price of `model` at the service at `base_url`, or None (unknown)."""
        table = self.table_for(base_url)
        return None if table is None else self.lookup(table, model)

    def lookup(self, table: PriceTable, model: str) -> Price | None:
        """`model`'s entry in `table` (the rules in the module docstring), or None."""
        if table.free:
            return Price(model, Decimal(0), Decimal(0), None, table.currency, "bundled",
                         table=table.id, as_of=table.as_of, note=table.source)  # fmt: skip
        found = _find(table, model)
        if found is not None:
            return found
        vendor, slash, rest = model.partition("/")
        if slash and table.free_suffix and rest.endswith(table.free_suffix):
            return Price(model, Decimal(0), Decimal(0), None, table.currency, "bundled",
                         table=table.id, as_of=table.as_of, note=table.note)  # fmt: skip
        target = self._by_id.get(table.vendors.get(vendor.lower(), "")) if slash else None
        if target is None or target.currency != table.currency:
            return None
        return _find(target, rest)


def _find(table: PriceTable, model: str) -> Price | None:
    for candidate in _spellings(model):
        found = table.models.get(candidate)
        if found is not None:
            return found
    return None


def _spellings(model: str) -> list[str]:
    """The ids a model is looked up by, in order."""
    lower = model.lower()
    undated = _DATE_SUFFIX.sub("", lower)
    return [model, lower, undated, _DOTTED_VERSION.sub("-", undated)]


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"{what} is not a number")
    return Decimal(value)


def _load_table(raw: Mapping[str, Any]) -> PriceTable:
    currency = raw["currency"]
    if currency not in CURRENCIES:
        raise ValueError(f"table {raw['id']}: unknown currency {currency}")
    models: dict[str, Price] = {}
    for entry in raw.get("models", []):
        cached = entry.get("cachedInput")
        price = Price(
            model=entry["model"],
            input=_decimal(entry["input"], f"{raw['id']} {entry['model']} input"),
            output=_decimal(entry["output"], f"{raw['id']} {entry['model']} output"),
            cached_input=None if cached is None else _decimal(cached, "cachedInput"),
            currency=currency,
            source="bundled",
            table=raw["id"],
            as_of=entry.get("asOf", raw["asOf"]),
            note=LocalText.maybe(entry.get("note", raw.get("note"))),
        )
        for name in (entry["model"], *entry.get("aliases", [])):
            models.setdefault(name, price)
            models.setdefault(name.lower(), price)
    return PriceTable(
        id=raw["id"],
        name=LocalText.read(raw["name"]),
        templates=tuple(raw["templates"]),
        hosts=tuple(host.lower() for host in raw["hosts"]),
        currency=currency,
        source=LocalText.read(raw["source"]),
        as_of=raw["asOf"],
        note=LocalText.maybe(raw.get("note")),
        free=bool(raw.get("free", False)),
        vendors=dict(raw.get("vendors", {})),
        free_suffix=raw.get("freeSuffix"),
        models=models,
    )


@cache
def bundled() -> PriceBook:
    """The price book shipped with the app (read once)."""
    text = resources.files("backend").joinpath("data", "prices.json").read_text("utf-8")
    return PriceBook.from_json(text)
