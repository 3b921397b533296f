"""Routes (CONTRACT §10): the one place that changes them (but for imports, which save through
the same store: backend.manager.exchange), and where circuits are kept.

`RouteManager` validates every change with `backend.schemas` and saves it through
`backend.storage.RouteStore`, whose write transaction checks the name against routes and
providers alike and that every member is a saved provider. Reads carry each member's circuit.
`StoredCircuits` keeps the circuit breakers (backend.providers.circuit) in the data file.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, cast

from backend.errors import NotFound
from backend.i18n import tr
from backend.models import utc_now
from backend.providers.circuit import (
    Circuit,
    CircuitBreakers,
    CircuitState,
    Reason,
    parse_time,
    wire_map,
)
from backend.providers.circuit import iso_time as circuit_time
from backend.schemas import load_id, load_route, merge_route_update
from backend.storage import CircuitRow, Route, RouteStore

log = logging.getLogger("miaoda.routes")

_STATES = frozenset({"closed", "open", "half-open"})


class StoredCircuits:
    """The circuit breakers' store: rows of the data file's `circuits` table."""

    def __init__(self, store: RouteStore) -> None:
        self._store = store

    def load_circuits(self) -> dict[str, Circuit]:
        """Every stored circuit; a row that does not read back is left out (closed)."""
        circuits: dict[str, Circuit] = {}
        for row in self._store.load_circuit_rows():
            try:
                since = None if row.since is None else parse_time(row.since)
            except ValueError:
                log.warning("ignoring the unreadable circuit of %s", row.provider_id)
                continue
            reason = (
                None
                if row.reason_code is None
                else Reason(row.reason_code, row.reason_message or "")
            )
            state = cast(CircuitState, row.state) if row.state in _STATES else "closed"
            circuits[row.provider_id] = Circuit(state, since, reason, row.failures)
        return circuits

    def save_circuit(self, provider_id: str, circuit: Circuit) -> None:
        """Save one provider's circuit (nothing happens if the provider is gone)."""
        reason = circuit.reason
        self._store.save_circuit_row(
            CircuitRow(
                provider_id=provider_id,
                state=circuit.state,
                since=None if circuit.since is None else circuit_time(circuit.since),
                reason_code=None if reason is None else reason.code,
                reason_message=None if reason is None else reason.message,
                failures=circuit.failures,
            )
        )


class RouteManager:
    """CRUD of routes, each read with its members' circuits."""

    def __init__(
        self,
        store: RouteStore,
        circuits: CircuitBreakers,
        *,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._store = store
        self._circuits = circuits
        self._clock = clock

    # --- reads ------------------------------------------------------------------------------

    def list(self) -> list[Route]:
        """Every route, sorted by display name."""
        return self._store.list_routes()

    def get(self, route_id: Any) -> Route:
        """One route, or NotFound."""
        route = self._store.get_route(load_id(route_id))
        if route is None:
            raise NotFound(tr("routes.gone"))
        return route

    def to_wire(self, route: Route) -> dict[str, Any]:
        """The contract's route object with `circuits`: member id -> its `circuit` object."""
        return {**route.to_wire(), "circuits": wire_map(self._circuits.views(route.members))}

    # --- writes -----------------------------------------------------------------------------

    def add(self, config: Any) -> Route:
        """Validate and save a new route."""
        data = load_route(config)
        now = self._clock()
        route = _build(uuid.uuid4().hex, data, created_at=now, updated_at=now)
        self._store.insert_route(route)
        log.info("route added: %s (%s)", route.id, route.name)
        return route

    def update(self, route_id: Any, updates: Any) -> Route:
        """Apply partial updates; members left out stay as they are."""
        current = self.get(route_id)
        data = merge_route_update(current.to_fields(), updates)
        route = _build(current.id, data, created_at=current.created_at, updated_at=self._clock())
        self._store.update_route(route)
        log.info("route updated: %s (%s)", route.id, route.name)
        return route

    def remove(self, route_id: Any) -> str:
        """Remove a route (its providers stay)."""
        route = self.get(route_id)
        if not self._store.delete_route(route.id):
            raise NotFound(tr("routes.gone"))
        log.info("route removed: %s (%s)", route.id, route.name)
        return route.id


def _build(route_id: str, data: dict[str, Any], *, created_at: str, updated_at: str) -> Route:
    return Route(
        id=route_id,
        name=data["name"],
        display_name=data["displayName"],
        strategy=data["strategy"],
        members=tuple(data["members"]),
        created_at=created_at,
        updated_at=updated_at,
    )
