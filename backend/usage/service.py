"""`UsageService`: records what each chat request cost, and answers the usage methods.

Recording (`record`, called once per request by the chat service) prices the request at the
price in force at that moment (a user price for the provider and model, else the user's price
for the model at any provider, else the bundled table: backend/usage/pricing.py), stores it with
its running totals, and checks the provider's monthly budget, all in one transaction. A later
price change therefore changes only later costs. The clock and the time zone come in from the
caller, so tests decide what "now" and "this month" are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from backend.errors import InvalidConfig, NotFound
from backend.i18n import tr
from backend.storage import (
    BudgetStore,
    KeyStore,
    PriceStore,
    RouteStore,
    Storage,
    StoredBudget,
    StoredPrice,
    UsageStore,
)
from backend.usage import pricing, zones
from backend.usage.options import load_budget, load_period, load_price, model_name, provider_ref
from backend.usage.pricing import Price, PriceBook, local
from backend.usage.summary import Directory, Summary, period_end, to_csv

Clock = Callable[[], datetime]
THRESHOLDS: Final = (80, 100)
"""Budget alerts fire when a month's spending reaches these shares (%) of the budget."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _user_price(stored: StoredPrice) -> Price:
    return Price(
        stored.model,
        stored.input,
        stored.output,
        stored.cached_input,
        stored.currency,
        "user",
        provider_id=stored.provider_id,
    )


def _money(micros: int) -> float:
    return round(micros / 1_000_000, 6)


class UsageService:
    """Usage records, prices, budgets and the summary over one data file."""

    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock | None = None,
        zone: zones.Zone | None = None,
        book: PriceBook | None = None,
    ) -> None:
        self._storage = storage
        self._usage = UsageStore(storage)
        self._prices = PriceStore(storage)
        self._budgets = BudgetStore(storage)
        self._summary = Summary(self._usage)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self.zone = zone or zones.system()
        self._book = book or pricing.bundled()

    # --- recording ----------------------------------------------------------------------

    def record(self, record: Mapping[str, Any]) -> None:
        """Store one chat request's record (the relay's and failover's `on_record` dict)."""
        now = self._clock()
        provider_id, model = str(record["providerId"]), str(record.get("model") or "")
        inputs, outputs = record.get("inputTokens"), record.get("outputTokens")
        cached = record.get("cachedInputTokens")
        cost, currency = self._cost(provider_id, model, inputs or 0, outputs or 0, cached or 0)
        with self._storage.transaction():
            self._storage.record_chat(
                request_id=record["requestId"],
                provider_id=provider_id,
                model=model,
                input_tokens=inputs,
                output_tokens=outputs,
                usage_source=record.get("usageSource"),
                ttft_ms=record.get("ttftMs"),
                elapsed_ms=record.get("elapsedMs"),
                finish_reason=record.get("finishReason") or "error",
                error_code=record.get("errorCode"),
                created_at=_iso(now),
                route_id=record.get("routeId"),
                key_id=record.get("keyId"),
                cached_input_tokens=cached,
                cost_micros=cost,
                currency=currency,
            )
            if cost and currency:
                self._check_budget(provider_id, currency, now)

    def _cost(
        self, provider_id: str, model: str, inputs: int, outputs: int, cached: int
    ) -> tuple[int | None, str | None]:
        """A request's cost in micro-units and its currency; (0, None) without tokens, (None,
        None) when its model has no price."""
        if inputs + outputs == 0:
            return 0, None
        price = self.price_for(provider_id, model)
        if price is None:
            return None, None
        return price.cost_micros(inputs, outputs, cached), price.currency

    def price_for(self, provider_id: str, model: str) -> Price | None:
        """The price in force for a provider's model, or None (its cost is unknown)."""
        stored = self._prices.get(provider_id, model) or self._prices.get(None, model)
        if stored is not None:
            return _user_price(stored)
        provider = self._storage.get_provider(provider_id)
        return None if provider is None else self._book.price(provider.base_url, model)

    # --- summary and export -------------------------------------------------------------

    def summary(self, options: Any) -> dict[str, Any]:
        """`getUsageSummary`: rows, totals and the period they cover."""
        period = load_period(options, period_end(self._clock()), self.zone)
        rows, totals = self._summary.build(period, self._directory())
        totals.label = "Total"
        return {
            "rows": [row.to_wire() for row in rows],
            "totals": totals.to_wire(),
            "since": _iso(period.since),
            "until": _iso(period.until),
            "groupBy": period.group_by,
            "timezone": period.zone.name,
        }

    def export_csv(self, options: Any) -> tuple[str, str]:
        """`exportUsageCsv`: the summary's rows as CSV text, and a file name for it."""
        period = load_period(options, period_end(self._clock()), self.zone)
        rows, _ = self._summary.build(period, self._directory())
        first = period.zone.day_of(period.since).isoformat()
        last = period.zone.day_of(period.until).isoformat()
        return to_csv(rows), f"miaoda-usage-by-{period.group_by}-{first}-to-{last}.csv"

    def _directory(self) -> Directory:
        keys = {
            key.id: (key.hint, provider_id)
            for provider_id, pool in KeyStore(self._storage).load().items()
            for key, _ in pool
        }
        return Directory(
            providers={p.id: p.display_name for p in self._storage.list_providers()},
            routes={r.id: r.display_name for r in RouteStore(self._storage).list_routes()},
            keys=keys,
        )

    def clear(self) -> int:
        """`clearUsage`: forget every record (and this month's alerts); how many went."""
        return self._usage.clear()

    # --- prices -------------------------------------------------------------------------

    def prices(self) -> dict[str, Any]:
        """`getPrices`: the user's prices, then the bundled ones, and which table each saved
        provider matches."""
        user = [_user_price(stored).to_wire() for stored in self._prices.all()]
        bundled: list[dict[str, Any]] = []
        for table in self._book.tables:
            if table.free:
                free = self._book.lookup(table, "*")
                assert free is not None
                bundled.append(free.to_wire())
            bundled += [price.to_wire() for price in table.entries()]
        matches: dict[str, str | None] = {}
        for provider in self._storage.list_providers():
            found = self._book.table_for(provider.base_url)
            matches[provider.id] = None if found is None else found.id
        tables = [
            {
                "id": t.id,
                "name": str(t.name),
                "templates": list(t.templates),
                "currency": t.currency,
                "source": str(t.source),
                "asOf": t.as_of,
                "note": local(t.note),
                "free": t.free,
            }
            for t in self._book.tables
        ]
        return {"prices": user + bundled, "tables": tables, "providerTables": matches}

    def set_price(self, value: Any) -> dict[str, Any]:
        """`setPrice`: save a user price (replacing one for the same provider and model)."""
        price = load_price(value)
        if price.provider_id is not None:
            self._provider_name(price.provider_id)
        stored = StoredPrice(
            price.provider_id,
            price.model,
            price.input,
            price.output,
            price.cached_input,
            price.currency,
            _iso(self._clock()),
        )
        self._prices.save(stored)
        return _user_price(stored).to_wire()

    def remove_price(self, provider_id: Any, model: Any) -> None:
        """`removePrice`: remove a user price; the bundled one (if any) applies again."""
        pid, name = provider_ref(provider_id), model_name(model)
        if not self._prices.remove(pid, name):
            key = "usage.noPriceSet" if pid is None else "usage.noPriceSetAtProvider"
            raise NotFound(tr(key))

    # --- budgets ------------------------------------------------------------------------

    def set_budget(self, provider_id: Any, value: Any) -> dict[str, Any] | None:
        """`setBudget`: set (or with None remove) a provider's monthly budget."""
        pid = provider_ref(provider_id)
        if pid is None:
            raise InvalidConfig(
                tr("usage.budgetProvider"), fields={"providerId": [tr("usage.budgetProviderField")]}
            )
        name = self._provider_name(pid)
        loaded = load_budget(value)
        if loaded is None:
            self._budgets.remove(pid)
            return None
        amount, currency = loaded
        budget = StoredBudget(pid, amount, currency, _iso(self._clock()))
        self._budgets.save(budget)
        return self._budget_wire(budget, name, self._clock())

    def budgets(self) -> dict[str, Any]:
        """`getBudgets`: each budget with this month's spending, and this month's alerts."""
        now = self._clock()
        names = {p.id: p.display_name for p in self._storage.list_providers()}
        budgets = [
            self._budget_wire(budget, names.get(pid, ""), now)
            for pid, budget in self._budgets.all().items()
        ]
        budgets.sort(key=lambda b: (b["providerName"].casefold(), b["providerId"]))
        alerts = [
            {
                "seq": alert.seq,
                "providerId": alert.provider_id,
                "providerName": names.get(alert.provider_id, ""),
                "threshold": alert.threshold,
                "month": alert.month,
                "spent": _money(alert.spent_micros),
                "amount": float(alert.amount),
                "currency": alert.currency,
                "at": alert.at,
            }
            for alert in self._budgets.alerts(self._month(now))
        ]
        return {"budgets": budgets, "alerts": alerts}

    def _budget_wire(self, budget: StoredBudget, name: str, now: datetime) -> dict[str, Any]:
        spent = self._spent(budget.provider_id, budget.currency, now)
        share = Decimal(spent) / (budget.amount * 1_000_000)
        return {
            "providerId": budget.provider_id,
            "providerName": name,
            "amount": float(budget.amount),
            "currency": budget.currency,
            "month": self._month(now),
            "spent": _money(spent),
            "share": round(float(share), 4),
        }

    def _check_budget(self, provider_id: str, currency: str, now: datetime) -> None:
        """Raise this month's alerts that the provider's spending has just reached."""
        budget = self._budgets.all().get(provider_id)
        if budget is None or budget.currency != currency:
            return
        spent = self._spent(provider_id, currency, now)
        for threshold in THRESHOLDS:
            if Decimal(spent) * 100 >= budget.amount * 1_000_000 * threshold:
                self._budgets.add_alert(budget, self._month(now), threshold, spent, _iso(now))

    def _spent(self, provider_id: str, currency: str, now: datetime) -> int:
        """A provider's costs in `currency` this (local) month so far, in micro-units."""
        start = self.zone.month_start(now)
        before = self._summary.state_at(start, provider_id, currency)
        after = self._summary.state_at(period_end(now), provider_id, currency)
        return sum(
            tally["cost_micros"] - (before[key]["cost_micros"] if key in before else 0)
            for key, tally in after.items()
        )

    def _month(self, now: datetime) -> str:
        return self.zone.day_of(now).strftime("%Y-%m")

    def _provider_name(self, provider_id: str) -> str:
        provider = self._storage.get_provider(provider_id)
        if provider is None:
            raise NotFound(fields={"providerId": [tr("usage.noSuchProviderField")]})
        return provider.display_name
