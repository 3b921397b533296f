"""The js_api object: `window.pywebview.api` in the window, `/api/rpc/<method>` in a browser.

Thin on purpose: each public method validates its arguments, calls the manager or the health
monitor, and returns the contract's envelope. Nothing raises to the caller: pywebview would
hand a Python traceback to JavaScript. Every attribute is private, because pywebview exposes
any public attribute (and what hangs off it) to the page.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from backend import __version__, transfer
from backend.errors import Cancelled, InternalError, InvalidConfig, MiaodaError
from backend.fileio import atomic_write_text, read_limited
from backend.health.monitor import HealthMonitor, settings_limits
from backend.manager import CustomProviderManager
from backend.models import ProviderConfig
from backend.schemas import (
    ExportOptionsSchema,
    HistoryOptionsSchema,
    ImportOptionsSchema,
    SaveOptionsSchema,
    load_options,
)

log = logging.getLogger("miaoda.bridge")
P = ParamSpec("P")
R = TypeVar("R")
Envelope = dict[str, Any]
EXPORT_FILENAME = "miaoda-providers.json"


class Dialogs(Protocol):
    """Native file dialogs; tests put a seam here that answers without a window."""

    def save_path(self, suggested_name: str) -> str | None: ...

    def open_path(self) -> str | None: ...


class ProviderTools(Protocol):
    """What the bridge needs of the provider layer beyond the manager."""

    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]: ...

    def templates(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class AppInfo:
    """Facts about the running app that `getAppInfo` reports."""

    data_dir: str
    secret_backend: str
    secret_description: str
    log_file: str
    server_url: Callable[[], str | None]
    token: str


def envelope(method: Callable[..., Envelope]) -> Callable[..., Envelope]:
    """Turn a method into one that always returns the contract's envelope."""
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Bridge, *args: Any) -> Envelope:
        try:
            signature.bind(self, *args)
        except TypeError:
            params = [p for p in signature.parameters if p != "self"]
            return _failure(
                InvalidConfig(
                    f"{method.__name__} takes at most {len(params)} argument(s): "
                    f"{', '.join(params) or 'none'}.",
                    fields={"arguments": ["Wrong number of arguments."]},
                )
            )
        try:
            return {"success": True, **method(self, *args)}
        except MiaodaError as err:
            return _failure(err)
        except Exception:
            log.exception("%s failed unexpectedly", method.__name__)
            return _failure(
                InternalError("Something went wrong inside MiaoDa Chat; the log has details.")
            )

    wrapper.__miaoda_rpc__ = True  # type: ignore[attr-defined]
    return wrapper


def _failure(err: MiaodaError) -> Envelope:
    return {"success": False, "error": err.to_dict()}


# An existing file larger than this is not taken for an export (exports hold at most a few MB).
_EXPORT_CHECK_BYTES = 64 * 1024 * 1024


def _refuse_foreign_file(target: Path) -> None:
    """Raise unless exporting to `target` is safe: nothing is there yet, or an earlier MiaoDa
    Chat export is (a file whose JSON carries the export format marker). Anything else, the
    user's own file of the same name above all, is never replaced."""
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir():
        raise InvalidConfig(
            f"{target.name} is a folder. Choose a file name for the export.",
            fields={"path": ["This is a folder, not a file."]},
        )
    if not (target.is_file() and _is_export_file(target)):
        raise InvalidConfig(
            f"{target.name} already exists and is not a MiaoDa Chat provider export, so it was "
            "not replaced. Choose another file name.",
            fields={"path": ["This file exists and is not a MiaoDa Chat export."]},
        )


def _is_export_file(target: Path) -> bool:
    try:
        with target.open("rb") as handle:
            raw = handle.read(_EXPORT_CHECK_BYTES + 1)
    except OSError:
        return False
    if len(raw) > _EXPORT_CHECK_BYTES:
        return False
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurdly deep
        return False
    return isinstance(document, dict) and document.get("format") == transfer.FORMAT


class Bridge:
    """The methods the frontend calls; documented in docs/API.md ("Bridge")."""

    def __init__(
        self,
        manager: CustomProviderManager,
        health: HealthMonitor,
        tools: ProviderTools,
        info: AppInfo,
        dialogs: Dialogs | None = None,
    ) -> None:
        self._manager = manager
        self._health = health
        self._tools = tools
        self._info = info
        self._dialogs = dialogs

    # --- providers and their keys --------------------------------------------------------

    @envelope
    def addCustomProvider(self, config: Any = None, options: Any = None) -> Envelope:
        opts = load_options(SaveOptionsSchema, options)
        provider, check = self._manager.add(config, validate=opts["validate_first"])
        out: Envelope = {"id": provider.id, "provider": provider.to_wire()}
        if check is not None:
            out["check"] = self._health.to_wire(self._health.record_check(check))
        return out

    @envelope
    def updateCustomProvider(
        self, id: Any = None, updates: Any = None, options: Any = None
    ) -> Envelope:
        opts = load_options(SaveOptionsSchema, options)
        provider, check = self._manager.update(id, updates, validate=opts["validate_first"])
        out: Envelope = {"provider": provider.to_wire()}
        if check is not None:
            out["check"] = self._health.to_wire(self._health.record_check(check))
        return out

    @envelope
    def removeCustomProvider(self, id: Any = None) -> Envelope:
        return {"id": self._manager.remove(id)}

    @envelope
    def getAllCustomProviders(self) -> Envelope:
        return {"providers": [p.to_wire() for p in self._manager.list()]}

    @envelope
    def getCustomProvider(self, id: Any = None) -> Envelope:
        return {"provider": self._manager.get(id).to_wire()}

    @envelope
    def checkCustomProviderHealth(self, id: Any = None) -> Envelope:
        return {"status": self._health.to_wire(self._health.check(id))}

    @envelope
    def checkAllCustomProvidersHealth(self) -> Envelope:
        return {"statuses": [self._health.to_wire(s) for s in self._health.check_all()]}

    @envelope
    def getAllProviderHealthStatuses(self) -> Envelope:
        return self._health.snapshot()

    @envelope
    def exportCustomProviders(self, options: Any = None) -> Envelope:
        opts = load_options(ExportOptionsSchema, options)
        text, count = self._manager.export_text(
            include_keys=opts["includeKeys"], passphrase=opts["passphrase"]
        )
        path = opts["path"]
        if path is None and self._dialogs is not None:
            path = self._dialogs.save_path(EXPORT_FILENAME)
            if not path:
                raise Cancelled("Export cancelled; nothing was written.")
        if path is None:
            return {"filename": EXPORT_FILENAME, "content": text, "count": count}
        target = Path(path).expanduser()
        _refuse_foreign_file(target)
        atomic_write_text(target, text)  # a temp file beside it, fsynced, then renamed over it
        return {"path": str(target), "count": count}

    @envelope
    def importCustomProviders(self, options: Any = None) -> Envelope:
        opts = load_options(ImportOptionsSchema, options)
        content: str | bytes | None = opts["content"]
        path = opts["path"]
        if content is None and path is None:
            if self._dialogs is None:
                raise InvalidConfig(
                    "Choose a file to import.",
                    fields={"content": ["Give the file's content or its path."]},
                )
            path = self._dialogs.open_path()
            if not path:
                raise Cancelled("Import cancelled; nothing was changed.")
        if content is None and path is not None:
            content = read_limited(Path(path), transfer.MAX_IMPORT_BYTES)
        assert content is not None
        report = self._manager.import_text(
            content,
            passphrase=opts["passphrase"],
            on_conflict=opts["onConflict"],
            dry_run=opts["dryRun"],
        )
        return report.to_wire(opts["dryRun"])

    # --- the app's further methods ------------------------------------------------------

    @envelope
    def testProviderConnection(self, configOrId: Any = None) -> Envelope:
        return {"status": self._manager.test_connection(configOrId).to_wire()}

    @envelope
    def listProviderModels(self, id: Any = None) -> Envelope:
        provider, key = self._manager.with_key(id)
        models = self._tools.list_models(provider, key)
        return {"models": models, "current": provider.model}

    @envelope
    def getProviderTemplates(self) -> Envelope:
        return {"templates": self._tools.templates()}

    @envelope
    def getHealthHistory(self, id: Any = None, options: Any = None) -> Envelope:
        opts = load_options(HistoryOptionsSchema, options)
        return {"history": self._health.history(id, since=opts["since"], limit=opts["limit"])}

    @envelope
    def getHealthUpdates(self, cursor: Any = None) -> Envelope:
        return self._health.updates(cursor)

    @envelope
    def getHealthSettings(self) -> Envelope:
        return {"settings": self._health.settings.to_wire(), "limits": settings_limits()}

    @envelope
    def setHealthSettings(self, settings: Any = None) -> Envelope:
        updated = self._health.update_settings(settings)
        return {"settings": updated.to_wire(), "limits": settings_limits()}

    @envelope
    def getAppInfo(self) -> Envelope:
        info = self._info
        return {
            "version": __version__,
            "secretStorage": {
                "backend": info.secret_backend,
                "description": info.secret_description,
            },
            "dataDir": info.data_dir,
            "logFile": info.log_file,
            "serverURL": info.server_url(),
            "token": info.token,
            "desktop": self._dialogs is not None,
        }


RPC_METHODS: frozenset[str] = frozenset(
    name for name, value in vars(Bridge).items() if getattr(value, "__miaoda_rpc__", False)
)


def rpc_methods(bridge: Bridge) -> dict[str, Callable[..., dict[str, Any]]]:
    """The bridge's methods the HTTP API serves at `/api/rpc/<name>`, by name."""
    return {name: getattr(bridge, name) for name in sorted(RPC_METHODS)}
