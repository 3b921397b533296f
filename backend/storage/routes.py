"""Routes and circuit breakers in the app's data file (CONTRACT §10; tables of migration 5).

A route is a row of `routes` with its members, in order, in `route_members`. Members are
foreign keys to `providers` with ON DELETE CASCADE, so removing a provider removes it from every
route in the same statement; a route left without members stays (docs/DECISIONS.md, "Routes
and circuit breakers"). Routes and providers share one name space: each write checks both
tables inside its transaction, and triggers of migration 5 refuse a clash that slips past.

`circuits` keeps each provider's breaker (backend.providers.circuit) as plain columns; this
module knows nothing of the state machine, only its rows.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from backend.errors import DuplicateName, InvalidConfig, NotFound
from backend.i18n import tr
from backend.storage.core import Storage

TTFT_SAMPLES: Final = 5
"""How many of a provider's latest answered requests `recent_ttft_ms` takes the median of."""

# Full literal statements (no string building), so no value ever reaches SQL text.
_SELECT_ROUTES = (
    "SELECT r.id, r.name, r.display_name, r.strategy, r.created_at, r.updated_at, "
    "(SELECT json_group_array(provider_id) FROM "
    "(SELECT provider_id FROM route_members WHERE route_id = r.id ORDER BY position)) "
    "FROM routes AS r"
)
_SELECT_ROUTE = _SELECT_ROUTES + " WHERE r.id = ?"
_SELECT_ROUTE_BY_NAME = _SELECT_ROUTES + " WHERE r.name_key = ?"
_INSERT_ROUTE = (
    "INSERT INTO routes (id, name, name_key, display_name, strategy, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_ROUTE = (
    "UPDATE routes SET name = ?, name_key = ?, display_name = ?, strategy = ?, updated_at = ? "
    "WHERE id = ?"
)
_INSERT_MEMBER = "INSERT INTO route_members (route_id, position, provider_id) VALUES (?, ?, ?)"
_SELECT_CIRCUITS = (
    "SELECT provider_id, state, since, reason_code, reason_message, failures FROM circuits"
)
# Only for a provider still saved: a request can end just after its provider was removed.
_SAVE_CIRCUIT = (
    "INSERT INTO circuits (provider_id, state, since, reason_code, reason_message, failures) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM providers WHERE id = ?1) "
    "ON CONFLICT (provider_id) DO UPDATE SET state = excluded.state, since = excluded.since, "
    "reason_code = excluded.reason_code, reason_message = excluded.reason_message, "
    "failures = excluded.failures"
)
# Served by chat_requests_provider_time, newest first.
_RECENT_TTFT = (
    "SELECT ttft_ms FROM chat_requests WHERE provider_id = ? AND ttft_ms IS NOT NULL "
    "AND error_code IS NULL ORDER BY created_at DESC LIMIT ?"
)


@dataclass(frozen=True)
class Route:
    """A named, ordered list of providers used as one (CONTRACT §10)."""

    id: str
    name: str
    display_name: str
    strategy: str
    members: tuple[str, ...]
    created_at: str
    updated_at: str

    def to_wire(self) -> dict[str, Any]:
        """The contract's `route` object."""
        return {
            "id": self.id,
            **self.to_fields(),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    def to_fields(self) -> dict[str, Any]:
        """The fields a user sets, as `addRoute` takes them."""
        return {
            "name": self.name,
            "displayName": self.display_name,
            "strategy": self.strategy,
            "members": list(self.members),
        }


@dataclass(frozen=True)
class CircuitRow:
    """One provider's stored circuit breaker; `since` is ISO 8601 text or None."""

    provider_id: str
    state: str
    since: str | None
    reason_code: str | None
    reason_message: str | None
    failures: int


def _route_from_row(row: tuple[Any, ...]) -> Route:
    rid, name, display, strategy, created, updated, members = row
    return Route(rid, name, display, strategy, tuple(json.loads(members)), created, updated)


def _display_order(route: Route) -> tuple[str, str]:
    return (route.display_name.casefold(), route.name.casefold())


class RouteStore:
    """Routes, their members and the providers' circuits, in one `Storage`'s file."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # --- routes -----------------------------------------------------------------------------

    def list_routes(self) -> list[Route]:
        """Every route, sorted by display name ignoring case, then by name."""
        with self._storage._reading("storage.action.readRoutes") as conn:
            routes = [_route_from_row(row) for row in conn.execute(_SELECT_ROUTES)]
        return sorted(routes, key=_display_order)

    def get_route(self, route_id: str) -> Route | None:
        """The route with this id, or None."""
        with self._storage._reading("storage.action.readRoute") as conn:
            row = conn.execute(_SELECT_ROUTE, (route_id,)).fetchone()
        return None if row is None else _route_from_row(row)

    def get_route_by_name(self, name: str) -> Route | None:
        """The route with this name ignoring case, or None."""
        with self._storage._reading("storage.action.readRoute") as conn:
            row = conn.execute(_SELECT_ROUTE_BY_NAME, (name.casefold(),)).fetchone()
        return None if row is None else _route_from_row(row)

    def insert_route(self, route: Route) -> None:
        """Save a new route; DuplicateName if a route or provider has its name, InvalidConfig
        if a member is not a saved provider."""
        with self._storage._writing("storage.action.saveRoute") as conn:
            _check_name_free(conn, route)
            _check_members(conn, route.members)
            conn.execute(
                _INSERT_ROUTE,
                (
                    route.id,
                    route.name,
                    route.name.casefold(),
                    route.display_name,
                    route.strategy,
                    route.created_at,
                    route.updated_at,
                ),
            )
            _write_members(conn, route)

    def update_route(self, route: Route) -> None:
        """Replace every field of the route with this id; NotFound, DuplicateName or
        InvalidConfig (a member that is not a saved provider)."""
        with self._storage._writing("storage.action.saveRoute") as conn:
            if conn.execute("SELECT 1 FROM routes WHERE id = ?", (route.id,)).fetchone() is None:
                raise NotFound(tr("routes.gone"))
            _check_name_free(conn, route)
            _check_members(conn, route.members)
            conn.execute(
                _UPDATE_ROUTE,
                (
                    route.name,
                    route.name.casefold(),
                    route.display_name,
                    route.strategy,
                    route.updated_at,
                    route.id,
                ),
            )
            conn.execute("DELETE FROM route_members WHERE route_id = ?", (route.id,))
            _write_members(conn, route)

    def delete_route(self, route_id: str) -> bool:
        """Remove a route and its member list; False if there was none."""
        with self._storage._writing("storage.action.removeRoute") as conn:
            return conn.execute("DELETE FROM routes WHERE id = ?", (route_id,)).rowcount > 0

    # --- circuits ---------------------------------------------------------------------------

    def load_circuit_rows(self) -> list[CircuitRow]:
        """Every stored circuit (providers whose circuit never changed have none)."""
        with self._storage._reading("storage.action.readCircuits") as conn:
            return [CircuitRow(*row) for row in conn.execute(_SELECT_CIRCUITS)]

    def save_circuit_row(self, row: CircuitRow) -> None:
        """Save a provider's circuit; nothing happens if the provider is gone."""
        values = (
            row.provider_id,
            row.state,
            row.since,
            row.reason_code,
            row.reason_message,
            row.failures,
        )
        with self._storage._writing("storage.action.saveCircuit") as conn:
            conn.execute(_SAVE_CIRCUIT, values)

    # --- what the `fastest` strategy orders by ----------------------------------------------

    def recent_ttft_ms(
        self, provider_ids: Iterable[str], samples: int = TTFT_SAMPLES
    ) -> dict[str, float]:
        """Per provider, the median time to first token of its latest `samples` answered
        requests; providers without one are left out."""
        out: dict[str, float] = {}
        with self._storage._reading("storage.action.readChatStatistics") as conn:
            for provider_id in provider_ids:
                times = [r[0] for r in conn.execute(_RECENT_TTFT, (provider_id, samples))]
                if times:
                    out[provider_id] = float(statistics.median(times))
        return out


def _check_name_free(conn: sqlite3.Connection, route: Route) -> None:
    """Raise DuplicateName if another route or any provider has this name, ignoring case."""
    key = route.name.casefold()
    if conn.execute(
        "SELECT 1 FROM routes WHERE name_key = ? AND id != ?", (key, route.id)
    ).fetchone():
        raise DuplicateName(
            tr("routes.nameTaken", name=route.name),
            fields={"name": [tr("routes.nameTakenField")]},
        )
    if conn.execute("SELECT 1 FROM providers WHERE name_key = ?", (key,)).fetchone():
        raise DuplicateName(
            tr("routes.nameTakenByProvider", name=route.name),
            fields={"name": [tr("routes.nameTakenByProviderField")]},
        )


def _check_members(conn: sqlite3.Connection, members: Sequence[str]) -> None:
    """Raise InvalidConfig naming each member that is not a saved provider."""
    problems: dict[str, list[str]] = {}
    for index, provider_id in enumerate(members):
        if conn.execute("SELECT 1 FROM providers WHERE id = ?", (provider_id,)).fetchone() is None:
            problems[f"members.{index}"] = [tr("routes.memberGoneField")]
    if problems:
        raise InvalidConfig(tr("routes.memberGone"), fields=problems)


def _write_members(conn: sqlite3.Connection, route: Route) -> None:
    conn.executemany(
        _INSERT_MEMBER,
        [(route.id, position, pid) for position, pid in enumerate(route.members)],
    )
