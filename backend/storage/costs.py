"""User prices, monthly budgets and budget alerts in the app's data file (migration 8).

Amounts are kept as decimal text (`Decimal` in and out), never as binary floats, so a price
of 0.075 stays exactly that. A user price belongs to one provider, or to none (any provider:
`provider_id` None); budgets and alerts belong to a provider. All of them go with their
provider (ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from backend.storage.core import Storage

_SELECT_PRICES: Final = (
    "SELECT provider_id, model, input_per_million, output_per_million, "
    "cached_input_per_million, currency, updated_at FROM prices ORDER BY model, provider_id"
)
_SELECT_PRICE: Final = (
    "SELECT provider_id, model, input_per_million, output_per_million, "
    "cached_input_per_million, currency, updated_at FROM prices "
    "WHERE coalesce(provider_id, '') = ? AND model = ?"
)
_DELETE_PRICE: Final = "DELETE FROM prices WHERE coalesce(provider_id, '') = ? AND model = ?"
_INSERT_PRICE: Final = (
    "INSERT INTO prices (provider_id, model, input_per_million, output_per_million, "
    "cached_input_per_million, currency, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_BUDGETS: Final = "SELECT provider_id, amount, currency, updated_at FROM budgets"
_UPSERT_BUDGET: Final = (
    "INSERT INTO budgets (provider_id, amount, currency, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (provider_id) DO UPDATE SET amount = excluded.amount, "
    "currency = excluded.currency, updated_at = excluded.updated_at"
)
_INSERT_ALERT: Final = (
    "INSERT INTO budget_alerts (provider_id, month, threshold, spent_micros, amount, currency, "
    "at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (provider_id, month, threshold) DO NOTHING"
)
_SELECT_ALERTS: Final = (
    "SELECT seq, provider_id, month, threshold, spent_micros, amount, currency, at "
    "FROM budget_alerts WHERE month = ? ORDER BY seq"
)


@dataclass(frozen=True)
class StoredPrice:
    """A user's price per million tokens (`cached_input` None: cached input costs as input)."""

    provider_id: str | None
    model: str
    input: Decimal
    output: Decimal
    cached_input: Decimal | None
    currency: str
    updated_at: str


@dataclass(frozen=True)
class StoredBudget:
    """A provider's monthly budget: only costs in `currency` count against it."""

    provider_id: str
    amount: Decimal
    currency: str
    updated_at: str


@dataclass(frozen=True)
class StoredAlert:
    """A budget threshold crossed: `seq` orders alerts and is never reused."""

    seq: int
    provider_id: str
    month: str
    threshold: int
    spent_micros: int
    amount: Decimal
    currency: str
    at: str


def _price(row: tuple[Any, ...]) -> StoredPrice:
    provider_id, model, inputs, outputs, cached, currency, updated = row
    cached_price = None if cached is None else Decimal(cached)
    return StoredPrice(
        provider_id, model, Decimal(inputs), Decimal(outputs), cached_price, currency, updated
    )


class PriceStore:
    """The `prices` table of a `Storage`: the user's own prices."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def all(self) -> list[StoredPrice]:
        """Every user price, by model then provider."""
        with self._storage._reading("storage.action.readPrices") as conn:
            return [_price(row) for row in conn.execute(_SELECT_PRICES)]

    def get(self, provider_id: str | None, model: str) -> StoredPrice | None:
        """The user's price of `model` at this provider (None: for any provider), if set."""
        with self._storage._reading("storage.action.readPrices") as conn:
            row = conn.execute(_SELECT_PRICE, (provider_id or "", model)).fetchone()
            return None if row is None else _price(row)

    def save(self, price: StoredPrice) -> None:
        """Set a price, replacing the one for the same provider (or none) and model."""
        cached = None if price.cached_input is None else str(price.cached_input)
        values = (
            price.provider_id,
            price.model,
            str(price.input),
            str(price.output),
            cached,
            price.currency,
            price.updated_at,
        )
        with self._storage._writing("storage.action.savePrice") as conn:
            conn.execute(_DELETE_PRICE, (price.provider_id or "", price.model))
            conn.execute(_INSERT_PRICE, values)

    def remove(self, provider_id: str | None, model: str) -> bool:
        """Remove a user price; False when there was none."""
        with self._storage._writing("storage.action.removePrice") as conn:
            return conn.execute(_DELETE_PRICE, (provider_id or "", model)).rowcount > 0


class BudgetStore:
    """The `budgets` and `budget_alerts` tables of a `Storage`."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def all(self) -> dict[str, StoredBudget]:
        """Every budget by provider id."""
        with self._storage._reading("storage.action.readBudgets") as conn:
            rows = conn.execute(_SELECT_BUDGETS).fetchall()
        return {row[0]: StoredBudget(row[0], Decimal(row[1]), row[2], row[3]) for row in rows}

    def save(self, budget: StoredBudget) -> None:
        """Set a provider's budget."""
        values = (budget.provider_id, str(budget.amount), budget.currency, budget.updated_at)
        with self._storage._writing("storage.action.saveBudget") as conn:
            conn.execute(_UPSERT_BUDGET, values)

    def remove(self, provider_id: str) -> bool:
        """Remove a provider's budget; False when it had none."""
        with self._storage._writing("storage.action.removeBudget") as conn:
            cursor = conn.execute("DELETE FROM budgets WHERE provider_id = ?", (provider_id,))
            return cursor.rowcount > 0

    def add_alert(
        self, budget: StoredBudget, month: str, threshold: int, spent_micros: int, at: str
    ) -> bool:
        """Record that spending crossed `threshold` % this month; False when it had already
        (each threshold fires once per provider and month) or the provider is gone."""
        values = (
            budget.provider_id,
            month,
            threshold,
            spent_micros,
            str(budget.amount),
            budget.currency,
            at,
        )
        with self._storage._writing("storage.action.saveBudgetAlert") as conn:
            exists = conn.execute(
                "SELECT 1 FROM providers WHERE id = ?", (budget.provider_id,)
            ).fetchone()
            return exists is not None and conn.execute(_INSERT_ALERT, values).rowcount > 0

    def alerts(self, month: str) -> list[StoredAlert]:
        """The alerts of one month ("YYYY-MM"), oldest first."""
        with self._storage._reading("storage.action.readBudgetAlerts") as conn:
            rows = conn.execute(_SELECT_ALERTS, (month,)).fetchall()
        return [
            StoredAlert(seq, pid, mon, threshold, spent, Decimal(amount), currency, at)
            for seq, pid, mon, threshold, spent, amount, currency, at in rows
        ]
