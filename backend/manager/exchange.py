"""Export and import of providers and routes (the file format is backend.transfer's; an import
may also be another app's file, which backend.foreign reads into the same shape).

A route's members are providers, so routes travel with them: the file names members by
provider name, and an import maps those names to ids once the file's providers are in. Route
names share the providers' name space, and so their conflict rules. Imported routes are saved
through `RouteStore`, as `backend.chat.routes.RouteManager` saves them, whose transactions
check each name and member again.

MCP servers travel in the same file (`mcpServers`, their values in the encrypted block). They
are the tool layer's (`backend.tools.service.McpService`, which the app attaches as an
`McpTransfer`): this module checks each entry of the file and reports on it, the tool layer
saves it, in a name space of its own. Without one attached, an export has no MCP servers and
each one of a file is an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from backend import foreign, transfer
from backend.errors import DuplicateName, InternalError, InvalidConfig, MiaodaError
from backend.i18n import tr
from backend.manager.editing import ProviderEditing, taken_by_route
from backend.manager.headers import header_entry, plan_headers, split_headers, stored_header_names
from backend.models import ProviderConfig, is_secret_header
from backend.redact import REDACTOR
from backend.schemas import load_api_keys, load_exported_route, load_mcp_server, load_provider
from backend.storage import Route


class McpTransfer(Protocol):
    """What an export and an import need of the MCP servers (backend.tools.service.McpService)."""

    def exported(
        self, *, with_values: bool
    ) -> list[tuple[dict[str, Any], transfer.McpSecrets | None]]: ...

    def import_server(
        self,
        data: Mapping[str, Any],
        values: transfer.McpSecrets | None,
        *,
        on_conflict: str,
        dry_run: bool,
        reserved: Collection[str] = (),
    ) -> tuple[Literal["added", "updated", "skipped"], str]: ...


@dataclass
class NameReport:
    """What an import did (or, in a dry run, would do) with one kind of entry, name by name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)

    def lists(self) -> dict[str, Any]:
        """The five lists as the import's result carries them."""
        return {
            "added": self.added,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
            "renamed": self.renamed,
        }


@dataclass
class ImportReport(NameReport):
    """What an import did: its own lists for the providers, `routes` for the routes,
    `mcp_servers` for the MCP servers, and for another app's file where it came from and what
    of it was left out."""

    routes: NameReport = field(default_factory=NameReport)
    source: transfer.ImportSource | None = None
    unsupported: list[dict[str, str]] = field(default_factory=list)
    mcp_servers: NameReport = field(default_factory=NameReport)

    def to_wire(self, dry_run: bool) -> dict[str, Any]:
        return {
            **self.lists(),
            "routes": self.routes.lists(),
            "mcpServers": self.mcp_servers.lists(),
            "source": None if self.source is None else self.source.to_wire(),
            "unsupported": self.unsupported,
            "dryRun": dry_run,
        }


class ProviderExchange(ProviderEditing):
    """Writes the export file and applies an imported one."""

    _mcp_transfer: McpTransfer | None = None

    def attach_mcp(self, mcp: McpTransfer) -> None:
        """Export and import the MCP servers of `mcp` too (the app does this once, at start)."""
        self._mcp_transfer = mcp

    def export_text(self, *, include_keys: bool, passphrase: str | None) -> tuple[str, int]:
        """The export file's text (every provider, route and MCP server) and how many
        providers it holds."""
        if include_keys and not passphrase:
            raise InvalidConfig(
                tr("transfer.passphraseNeeded"),
                fields={"passphrase": [tr("transfer.passphraseNeededField")]},
            )
        providers = self.list()
        keys: dict[str, transfer.ProviderSecrets] | None = None
        if include_keys:
            keys = {}
            for provider in providers:
                headers: dict[str, str] = {}
                for name in stored_header_names(provider):
                    value = self._secrets.get(header_entry(provider.id, name))
                    if value:
                        REDACTOR.add(value)
                        headers[name] = value
                texts = self.api_keys(provider.id)
                if texts or headers:
                    keys[provider.name] = transfer.ProviderSecrets(tuple(texts), headers)
        mcp = self._mcp_transfer
        servers = [] if mcp is None else mcp.exported(with_values=include_keys)
        mcp_keys = {entry["name"]: values for entry, values in servers if values is not None}
        text = transfer.build_export(
            [p.to_export() for p in providers],
            keys,
            passphrase if include_keys else None,
            exported_at=self._clock(),
            routes=self._exported_routes(providers),
            mcp_servers=[entry for entry, _ in servers],
            mcp_keys=mcp_keys,
        )
        return text, len(providers)

    def _exported_routes(self, providers: Sequence[ProviderConfig]) -> list[dict[str, Any]]:
        """Every route with its members by name; a route left without members is kept too."""
        names = {provider.id: provider.name for provider in providers}
        return [
            {
                "name": route.name,
                "displayName": route.display_name,
                "strategy": route.strategy,
                # A provider saved after `providers` was read is not in this file: leave it out.
                "members": [names[m] for m in route.members if m in names],
            }
            for route in self._routes.list_routes()
        ]

    def import_text(
        self, content: str | bytes, *, passphrase: str | None, on_conflict: str, dry_run: bool
    ) -> ImportReport:
        """Import a file given as its text or bytes: ours, or another app's (backend.foreign)."""
        parsed = foreign.read_import(content, passphrase)
        return self._import_file(parsed, on_conflict=on_conflict, dry_run=dry_run)

    def import_path(
        self, path: Path, *, passphrase: str | None, on_conflict: str, dry_run: bool
    ) -> ImportReport:
        """Import the file at `path`; a zip backup is read from the disk, not loaded whole."""
        parsed = foreign.read_import_path(path, passphrase)
        return self._import_file(parsed, on_conflict=on_conflict, dry_run=dry_run)

    def _import_file(
        self, parsed: transfer.ImportFile, *, on_conflict: str, dry_run: bool
    ) -> ImportReport:
        """Validate the whole file first, then apply it provider by provider, then route by
        route (members mapped to the providers that now have their names)."""
        secrets = parsed.secrets or {}
        for brought in secrets.values():
            # Another app's file holds its keys in plain text: masked in logs from now on.
            for text in (*brought.api_keys, *brought.headers.values()):
                REDACTOR.add(text)
        for values in parsed.mcp_secrets.values():
            for text in (*values.env.values(), *values.headers.values()):
                REDACTOR.add(text)
        report = ImportReport(source=parsed.source, unsupported=list(parsed.unsupported))
        seen: set[str] = set()
        plans: list[tuple[dict[str, Any], Sequence[str] | None]] = []
        for index, raw in enumerate(parsed.providers):
            label = _label(raw, index)
            try:
                data = load_provider(raw, what=tr("transfer.providerInFile", label=label))
            except MiaodaError as err:
                report.errors.append({"name": label, "error": err.to_dict()})
                continue
            if "apiKey" in data or "apiKeys" in data:
                report.errors.append({"name": label, "error": _key_in_file().to_dict()})
                continue
            if data["name"].casefold() in seen:
                report.errors.append({"name": label, "error": _dup_in_file(label).to_dict()})
                continue
            seen.add(data["name"].casefold())
            brought = secrets.get(data["name"], transfer.ProviderSecrets())
            for name, value in data["headers"].items():
                if value is None and is_secret_header(name):
                    data["headers"][name] = brought.headers.get(name) or None
            try:
                keys: Sequence[str] | None = None
                if brought.api_keys:
                    keys = load_api_keys(list(brought.api_keys))
            except MiaodaError as err:
                report.errors.append({"name": label, "error": err.to_dict()})
                continue
            plans.append((data, keys))
        routes = _check_routes(parsed.routes, seen, report.routes)
        # A provider renamed on a conflict must not take the name of a route in the file.
        seen.update(data["name"].casefold() for _, data in routes)
        # File name (case-folded) -> the provider that has it after the import, renames followed.
        placed: dict[str, str] = {}
        for data, brought_keys in plans:
            name = data["name"]
            try:
                placed[name.casefold()] = self._import_one(
                    data, brought_keys, on_conflict, dry_run, report, seen
                )
            except MiaodaError as err:
                report.errors.append({"name": name, "error": err.to_dict()})
        for index, data in routes:
            try:
                self._import_route(data, placed, on_conflict, dry_run, report, seen)
            except MiaodaError as err:
                report.routes.errors.append(_route_error(data["name"], index, err))
        self._import_mcp_servers(parsed, on_conflict, dry_run, report.mcp_servers)
        return report

    def _import_mcp_servers(
        self, parsed: transfer.ImportFile, on_conflict: str, dry_run: bool, report: NameReport
    ) -> None:
        """Check each MCP server of the file, then have the tool layer save it (unconfirmed, if
        it runs a program), one by one: a bad one does not stop the others."""
        valid: list[dict[str, Any]] = []
        names: set[str] = set()
        for index, raw in enumerate(parsed.mcp_servers):
            label = _label(raw, index)
            try:
                data = load_mcp_server(raw, what=tr("transfer.mcpServerInFile", label=label))
                _no_plain_values(data)
            except MiaodaError as err:
                report.errors.append({"name": label, "error": err.to_dict()})
                continue
            if data["name"].casefold() in names:
                report.errors.append({"name": label, "error": _dup_in_file(label).to_dict()})
                continue
            names.add(data["name"].casefold())
            valid.append(data)
        mcp = self._mcp_transfer
        for data in valid:
            name = data["name"]
            try:
                if mcp is None:
                    raise InternalError(tr("tools.service.unavailable"))
                action, saved_as = mcp.import_server(
                    data,
                    parsed.mcp_secrets.get(name),
                    on_conflict=on_conflict,
                    dry_run=dry_run,
                    reserved=names,
                )
            except MiaodaError as err:
                report.errors.append({"name": name, "error": err.to_dict()})
                continue
            if action == "skipped":
                report.skipped.append(saved_as)
            elif action == "updated":
                report.updated.append(saved_as)
            else:
                report.added.append(saved_as)
                if saved_as != name:
                    names.add(saved_as.casefold())
                    report.renamed.append({"from": name, "to": saved_as})

    def _import_one(
        self,
        data: dict[str, Any],
        keys: Sequence[str] | None,
        on_conflict: str,
        dry_run: bool,
        report: ImportReport,
        taken: set[str],
    ) -> str:
        """Apply one provider; return the id of the provider that has (or would have) its name."""
        key = keys[0] if keys else None
        with self._lock:
            existing = self._storage.get_provider_by_name(data["name"])
            route_named = self._routes.get_route_by_name(data["name"]) is not None
            if route_named and on_conflict != "rename":
                raise taken_by_route(data["name"])
            if existing is not None and on_conflict == "skip":
                report.skipped.append(data["name"])
                return existing.id
            if (existing is not None or route_named) and on_conflict == "rename":
                new_name = self._free_name(data["name"], taken)
                taken.add(new_name.casefold())
                report.renamed.append({"from": data["name"], "to": new_name})
                data = {**data, "name": new_name}
                existing = None
            now = self._clock()
            data = dict(data)
            given = split_headers(data)
            if existing is None:
                hints, values, _ = plan_headers(None, given)
                provider = self._build(uuid.uuid4().hex, data, key, created_at=now, updated_at=now)
                provider = replace(provider, secret_headers=hints)
                if not dry_run:
                    self._insert_with_headers(provider, keys or [], values)
                    self._notify(provider.id)
                report.added.append(provider.name)
                return provider.id
            provider = self._build(
                existing.id, data, key, created_at=existing.created_at, updated_at=now
            )
            hints, values, dropped = plan_headers(existing, given)
            if not _same_routing(existing, provider):
                # Like the key: a stored header value is never sent where it was not given for.
                hints = {n: (h if n in values else None) for n, h in hints.items()}
                dropped = stored_header_names(existing)
            provider = replace(provider, secret_headers=hints)
            if key is None and existing.has_api_key:
                if _same_routing(existing, provider):
                    # Sent to the same place in the same way: the stored keys still belong.
                    provider = replace(
                        provider, has_api_key=True, api_key_hint=existing.api_key_hint
                    )
                    key_change: Sequence[str] | None = None
                else:
                    # A key is never sent anywhere, or in any way, it was not given for.
                    key_change = []
            else:
                key_change = keys or []
            if not dry_run:
                self._write_with_headers(existing, provider, key_change, values, dropped)
                self._notify(provider.id)
            report.updated.append(provider.name)
            return provider.id

    def _import_route(
        self,
        data: dict[str, Any],
        placed: Mapping[str, str],
        on_conflict: str,
        dry_run: bool,
        report: ImportReport,
        taken: set[str],
    ) -> None:
        """Apply one route with the provider conflict rules; its name is shared with them."""
        members = self._member_ids(data["members"], placed)
        name = data["name"]
        with self._lock:
            existing = self._routes.get_route_by_name(name)
            provider_named = self._storage.get_provider_by_name(name) is not None or any(
                added.casefold() == name.casefold() for added in report.added
            )
            if provider_named and on_conflict != "rename":
                raise _taken_by_provider(name)
            if existing is not None and on_conflict == "skip":
                report.routes.skipped.append(name)
                return
            if (existing is not None or provider_named) and on_conflict == "rename":
                new_name = self._free_name(name, taken)
                taken.add(new_name.casefold())
                report.routes.renamed.append({"from": name, "to": new_name})
                name, existing = new_name, None
            now = self._clock()
            route = Route(
                id=uuid.uuid4().hex if existing is None else existing.id,
                name=name,
                display_name=data["displayName"],
                strategy=data["strategy"],
                members=members,
                created_at=now if existing is None else existing.created_at,
                updated_at=now,
            )
            if existing is None:
                if not dry_run:
                    self._routes.insert_route(route)
                report.routes.added.append(name)
                return
            if not dry_run:
                self._routes.update_route(route)
            report.routes.updated.append(name)

    def _member_ids(self, names: Sequence[str], placed: Mapping[str, str]) -> tuple[str, ...]:
        """Each member's provider: the file's one of that name where it was imported (or
        skipped for a saved one), else the saved provider of that name."""
        ids: list[str] = []
        problems: dict[str, list[str]] = {}
        for index, name in enumerate(names):
            provider_id = placed.get(name.casefold())
            if provider_id is None:
                saved = self._storage.get_provider_by_name(name)
                provider_id = None if saved is None else saved.id
            if provider_id is None:
                problems[f"members.{index}"] = [tr("transfer.memberUnknown")]
            elif provider_id in ids:
                problems[f"members.{index}"] = [tr("transfer.memberRepeated")]
            else:
                ids.append(provider_id)
        if problems:
            raise InvalidConfig(tr("transfer.membersUnknown"), fields=problems)
        return tuple(ids)

    def _free_name(self, name: str, taken: set[str]) -> str:
        for n in range(2, 10_000):
            suffix = f"-{n}"
            candidate = name[: 64 - len(suffix)] + suffix
            if (
                candidate.casefold() not in taken
                and self._storage.get_provider_by_name(candidate) is None
                and self._routes.get_route_by_name(candidate) is None
            ):
                return candidate
        raise DuplicateName(tr("transfer.noFreeName", name=name))


def _same_routing(stored: ProviderConfig, imported: ProviderConfig) -> bool:
    """Whether everything that decides where and how a key is sent is unchanged."""
    return (
        stored.type == imported.type
        and stored.base_url == imported.base_url
        and stored.auth == imported.auth
        and dict(stored.endpoints) == dict(imported.endpoints)
    )


def _check_routes(
    raw_routes: Sequence[Any], provider_names: set[str], report: NameReport
) -> list[tuple[int, dict[str, Any]]]:
    """The file's valid routes with their places in it; the others go to `report.errors`."""
    valid: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_routes):
        label = _label(raw, index)
        try:
            data = load_exported_route(raw, what=tr("transfer.routeInFile", label=label))
        except MiaodaError as err:
            report.errors.append(_route_error(label, index, err))
            continue
        key = data["name"].casefold()
        if key in provider_names:
            report.errors.append(_route_error(label, index, _provider_in_file(label)))
            continue
        if key in seen:
            report.errors.append(_route_error(label, index, _dup_in_file(label)))
            continue
        seen.add(key)
        valid.append((index, data))
    return valid


def _route_error(label: str, index: int, err: MiaodaError) -> dict[str, Any]:
    """A route's entry in `errors`; its field names say where in the file: `routes[2].members`."""
    error = err.to_dict()
    if "fields" in error:
        error["fields"] = {
            f"routes[{index}]" if name == "_schema" else f"routes[{index}].{name}": problems
            for name, problems in error["fields"].items()
        }
    return {"name": label, "error": error}


def _provider_in_file(name: str) -> DuplicateName:
    return DuplicateName(
        tr("transfer.routeNamedLikeProvider", name=name),
        fields={"name": [tr("transfer.routeNamedLikeProviderField")]},
    )


def _taken_by_provider(name: str) -> DuplicateName:
    return DuplicateName(
        tr("transfer.routeNameTaken", name=name),
        fields={"name": [tr("transfer.routeNameTakenField")]},
    )


def _label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    if isinstance(name, str) and name and len(name) <= 64 and name.isprintable():
        return name
    return f"#{index + 1}"


def _no_plain_values(data: Mapping[str, Any]) -> None:
    """INVALID_CONFIG if an MCP server of the file gives an `env` or `headers` value in clear:
    values are only imported from the encrypted secrets block."""
    problems = {
        name: [tr("transfer.mcpPlainValueField")]
        for name in ("env", "headers")
        if any(value is not None for value in data[name].values())
    }
    if problems:
        raise InvalidConfig(tr("transfer.mcpPlainValue"), fields=problems)


def _key_in_file() -> InvalidConfig:
    return InvalidConfig(tr("transfer.plainKey"), fields={"apiKey": [tr("transfer.plainKeyField")]})


def _dup_in_file(name: str) -> DuplicateName:
    return DuplicateName(
        tr("transfer.listedTwice", name=name),
        fields={"name": [tr("transfer.listedTwiceField")]},
    )
