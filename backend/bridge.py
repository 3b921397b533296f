"""The js_api object: window.pywebview.api in the window, `/api/rpc/<method>` in a browser.

Thin on purpose: each public method validates its arguments, calls the manager, the health
monitor, the conversations (store and chat), the usage service or the settings, and returns the
contract's envelope. Its own messages are in the app's language (`tr`; the `window` group of
the catalogues). Nothing raises to the caller: pywebview would hand a Python traceback to
JavaScript. Every attribute is private, because pywebview exposes any public attribute (and
what hangs off it) to the page.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, Protocol, TypeVar

from backend import __version__, foreign, i18n, transfer
from backend.chat import transcript
from backend.chat.conversations import ConversationChat
from backend.chat.routes import RouteManager
from backend.errors import (
    BadRequest,
    Cancelled,
    InternalError,
    InvalidConfig,
    MiaodaError,
    NotFound,
)
from backend.fileio import atomic_write_text
from backend.health.monitor import HealthMonitor, settings_limits
from backend.i18n import tr
from backend.manager import CustomProviderManager
from backend.models import ProviderConfig, utc_now
from backend.providers.proxies import ProxyChoice, is_loopback
from backend.schemas import (
    ConversationExportOptionsSchema,
    CreateConversationSchema,
    ExportOptionsSchema,
    GetConversationOptionsSchema,
    HistoryOptionsSchema,
    ImportOptionsSchema,
    ListConversationsOptionsSchema,
    ProxyTestOptionsSchema,
    SaveOptionsSchema,
    SearchOptionsSchema,
    UpdateConversationSchema,
    load_conversation_fields,
    load_id,
    load_options,
    load_search_query,
    load_tool_approval,
)
from backend.settings import Opener, SettingsService
from backend.storage import ConversationStore
from backend.tools.confirm import Confirm
from backend.tools.service import McpService
from backend.usage import UsageService
from backend.usage.summary import CSV_HEADER

log = logging.getLogger("miaoda.bridge")
P = ParamSpec("P")
R = TypeVar("R")
Envelope = dict[str, Any]
EXPORT_FILENAME = "miaoda-providers.json"


class Dialogs(Protocol):
    """Native dialogs of the desktop window; tests put a seam here that answers without one."""

    def save_path(self, suggested_name: str) -> str | None: ...

    def open_path(self) -> str | None: ...

    def confirm(self, title: str, message: str) -> bool:
        """Ask a yes-or-no question (True: yes). A seam that does not say declines."""
        return False

    def choose_folder(self) -> str | None:
        """A folder the user picks, or None when cancelled. A seam that does not say cancels."""
        return None


class ProviderTools(Protocol):
    """What the bridge needs of the provider layer beyond the manager."""

    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]: ...

    def templates(self) -> list[dict[str, Any]]: ...

    def detect_provider(self, request: Any) -> dict[str, Any]:
        """`{candidates, attempts}` for a pasted `{url, apiKey?}` (docs/API.md, "Detect a
        provider")."""
        ...

    def test_proxy(
        self, config: ProviderConfig, api_key: str | None, proxy: ProxyChoice
    ) -> tuple[int, str | None]:
        """(milliseconds, the proxy used or None) of listing `config`'s models through `proxy`."""
        ...


@dataclass(frozen=True)
class AppInfo:
    """Facts about the running app that `getAppInfo` reports."""

    data_dir: str
    secret_backend: str
    secret_description: Callable[[], str]  # in the language of the moment
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
                    tr(
                        "window.call.arguments",
                        method=method.__name__,
                        count=len(params),
                        names=", ".join(params) or tr("window.call.none"),
                    ),
                    fields={"arguments": [tr("window.call.argumentsField")]},
                )
            )
        try:
            return {"success": True, **method(self, *args)}
        except MiaodaError as err:
            return _failure(err)
        except Exception:
            log.exception("%s failed unexpectedly", method.__name__)
            return _failure(InternalError(tr("window.call.failed")))

    wrapper.__miaoda_rpc__ = True  # type: ignore[attr-defined]
    return wrapper


def _failure(err: MiaodaError) -> Envelope:
    return {"success": False, "error": err.to_dict()}


# An existing file larger than this is not taken for an export (exports hold at most a few MB).
_EXPORT_CHECK_BYTES = 64 * 1024 * 1024
# The proxy test waits this long for the provider's model list.
PROXY_TEST_SECONDS = 15.0


def _form_blanks() -> dict[str, str]:
    return {"name": "unsaved", "displayName": tr("window.form.unsavedProvider"), "model": "unknown"}


# What `_refuse_foreign_file` says a file is not, by the kind of export.
_NOT_OURS = {
    "providers": "window.file.notOurs.providers",
    "conversation": "window.file.notOurs.conversation",
    "usage": "window.file.notOurs.usage",
}


def _refuse_foreign_file(
    target: Path, is_ours: Callable[[str], bool] | None = None, what: str = "providers"
) -> None:
    """Raise unless exporting to `target` is safe: nothing is there yet, or an earlier MiaoDa
    Chat export is (`is_ours` of its text; by default a file whose JSON carries the provider
    export's format marker). Anything else, the user's own file of the same name above all,
    is never replaced."""
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir():
        raise InvalidConfig(
            tr("window.file.folder", name=target.name),
            fields={"path": [tr("window.file.folderField")]},
        )
    if not (target.is_file() and _is_export_file(target, is_ours or _is_provider_export)):
        raise InvalidConfig(
            tr(_NOT_OURS[what], name=target.name),
            fields={"path": [tr("window.file.notOursField")]},
        )


def _is_export_file(target: Path, is_ours: Callable[[str], bool]) -> bool:
    try:
        with target.open("rb") as handle:
            raw = handle.read(_EXPORT_CHECK_BYTES + 1)
    except OSError:
        return False
    if len(raw) > _EXPORT_CHECK_BYTES:
        return False
    try:
        return is_ours(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return False


def _is_provider_export(text: str) -> bool:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or absurdly deep
        return False
    return isinstance(document, dict) and document.get("format") == transfer.FORMAT


def _split_path(options: Any) -> tuple[str | None, Any]:
    """An export's `path` option (ending in .csv) apart from the summary's options."""
    if not isinstance(options, Mapping) or "path" not in options:
        return None, options
    rest = {k: v for k, v in options.items() if k != "path"}
    path = options["path"]
    if path is None:
        return None, rest
    if not isinstance(path, str) or not path.strip() or not path.lower().endswith(".csv"):
        raise InvalidConfig(
            tr("window.file.csvPath"), fields={"path": [tr("window.file.csvPathField")]}
        )
    return path, rest


def _is_usage_csv(text: str) -> bool:
    """Whether a file's text is an earlier usage export (its first line is our header)."""
    return text.split("\r\n", 1)[0] == ",".join(CSV_HEADER)


class Bridge:
    """The methods the frontend calls; documented in docs/API.md ("Bridge")."""

    def __init__(
        self,
        manager: CustomProviderManager,
        health: HealthMonitor,
        tools: ProviderTools,
        info: AppInfo,
        dialogs: Dialogs | None = None,
        *,
        conversations: ConversationChat | None = None,
        routes: RouteManager | None = None,
        usage: UsageService | None = None,
        settings: SettingsService | None = None,
        opener: Opener | None = None,
        mcp: McpService | None = None,
    ) -> None:
        self._manager = manager
        self._health = health
        self._tools = tools
        self._info = info
        self._dialogs = dialogs
        self._conversations = conversations
        self._route_manager = routes
        self._usage_service = usage
        self._settings_service = settings
        self._opener = opener
        self._mcp_service = mcp

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
    def addProviderKey(self, id: Any = None, key: Any = None) -> Envelope:
        return {"provider": self._manager.add_key(id, key).to_wire()}

    @envelope
    def removeProviderKey(self, id: Any = None, keyId: Any = None) -> Envelope:
        return {"provider": self._manager.remove_key(id, keyId).to_wire()}

    @envelope
    def resetProviderKey(self, id: Any = None, keyId: Any = None) -> Envelope:
        return {"provider": self._manager.reset_key(id, keyId).to_wire()}

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
                raise Cancelled(tr("window.file.exportCancelled"))
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
        if opts["contentBase64"] is not None:
            if content is not None:
                problem = tr("foreign.file.twoContents")
                raise InvalidConfig(problem, fields={"contentBase64": [problem]})
            content = foreign.decode_base64(opts["contentBase64"])
        path = opts["path"]
        if content is None and path is None:
            if self._dialogs is None:
                raise InvalidConfig(
                    tr("window.file.choose"), fields={"content": [tr("window.file.chooseField")]}
                )
            path = self._dialogs.open_path()
            if not path:
                raise Cancelled(tr("window.file.importCancelled"))
        how = {
            "passphrase": opts["passphrase"],
            "on_conflict": opts["onConflict"],
            "dry_run": opts["dryRun"],
        }
        if content is not None:
            report = self._manager.import_text(content, **how)
        else:
            report = self._manager.import_path(Path(path), **how)
        return report.to_wire(opts["dryRun"])

    # --- the app's further methods ------------------------------------------------------

    @envelope
    def testProviderConnection(self, configOrId: Any = None) -> Envelope:
        return {"status": self._manager.test_connection(configOrId).to_wire()}

    @envelope
    def listProviderModels(self, configOrId: Any = None) -> Envelope:
        # A form may fetch models before it has a name or a model: placeholders stand in.
        provider, key = self._manager.resolve(configOrId, blanks=_form_blanks())
        models = self._tools.list_models(provider, key)
        return {"models": models, "current": provider.model}

    @envelope
    def detectProvider(self, request: Any = None) -> Envelope:
        return self._tools.detect_provider(request)

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

    # --- routes (docs/API.md, "Routes") ---------------------------------------------------

    def _routes(self) -> RouteManager:
        if self._route_manager is None:
            raise InternalError(tr("window.unavailable.routes"))
        return self._route_manager

    @envelope
    def addRoute(self, config: Any = None) -> Envelope:
        routes = self._routes()
        route = routes.add(config)
        return {"id": route.id, "route": routes.to_wire(route)}

    @envelope
    def updateRoute(self, id: Any = None, updates: Any = None) -> Envelope:
        routes = self._routes()
        return {"route": routes.to_wire(routes.update(id, updates))}

    @envelope
    def removeRoute(self, id: Any = None) -> Envelope:
        return {"id": self._routes().remove(id)}

    @envelope
    def getAllRoutes(self) -> Envelope:
        routes = self._routes()
        return {"routes": [routes.to_wire(r) for r in routes.list()]}

    # --- conversations (docs/API.md, "Conversations") -------------------------------------

    def _chat(self) -> ConversationChat:
        if self._conversations is None:
            raise InternalError(tr("window.unavailable.conversations"))
        return self._conversations

    def _store(self) -> ConversationStore:
        return self._chat().store

    @envelope
    def createConversation(self, options: Any = None) -> Envelope:
        data = load_conversation_fields(CreateConversationSchema, options, "conversation")
        return {"conversation": self._store().create_conversation(**data).to_wire()}

    @envelope
    def listConversations(self, options: Any = None) -> Envelope:
        opts = load_options(ListConversationsOptionsSchema, options)
        found, cursor = self._store().list_conversations(limit=opts["limit"], cursor=opts["cursor"])
        return {"conversations": [c.to_wire() for c in found], "nextCursor": cursor}

    @envelope
    def getConversation(self, id: Any = None, options: Any = None) -> Envelope:
        conversation_id = load_id(id)
        opts = load_options(GetConversationOptionsSchema, options)
        store = self._store()
        conversation = store.get_conversation(conversation_id)
        leaf = opts["leafId"]
        if leaf is not None:
            self._own_message(conversation_id, leaf, "leafId")
        messages = store.path(conversation_id, leaf)
        return {
            "conversation": conversation.to_wire(),
            "messages": [m.to_wire() for m in messages],
        }

    def _own_message(self, conversation_id: str, message_id: str, field: str) -> None:
        wrong = InvalidConfig(
            tr("window.message.notHere"), fields={field: [tr("window.message.notHereField")]}
        )
        try:
            message = self._store().get_message(message_id)
        except NotFound:
            raise wrong from None
        if message.conversation_id != conversation_id:
            raise wrong

    @envelope
    def updateConversation(self, id: Any = None, changes: Any = None) -> Envelope:
        conversation_id = load_id(id)
        data = load_conversation_fields(UpdateConversationSchema, changes, "changes")
        return {"conversation": self._store().update_conversation(conversation_id, data).to_wire()}

    @envelope
    def deleteConversation(self, id: Any = None) -> Envelope:
        conversation_id = load_id(id)
        self._chat().delete_conversation(conversation_id)
        return {"id": conversation_id}

    @envelope
    def deleteMessage(self, id: Any = None) -> Envelope:
        message_id = load_id(id)
        deleted = self._chat().delete_message(message_id)
        return {"id": message_id, "deletedIds": deleted}

    @envelope
    def answerToolApproval(
        self, requestId: Any = None, callId: Any = None, decision: Any = None
    ) -> Envelope:
        """The user's answer to a `tool_approval` event of a chat stream (docs/API.md, "Tools
        in a chat"); NOT_FOUND when that call no longer waits."""
        request_id, call_id, choice = load_tool_approval(requestId, callId, decision)
        self._chat().tool_approvals.answer(request_id, call_id, choice)
        return {"requestId": request_id, "callId": call_id, "decision": choice}

    @envelope
    def searchConversations(self, query: Any = None, options: Any = None) -> Envelope:
        text = load_search_query(query)
        opts = load_options(SearchOptionsSchema, options)
        return {"hits": self._store().search(text, limit=opts["limit"])}

    @envelope
    def exportConversation(self, id: Any = None, options: Any = None) -> Envelope:
        conversation_id = load_id(id)
        opts = load_options(ConversationExportOptionsSchema, options)
        kind = opts["format"]
        store = self._store()
        conversation = store.get_conversation(conversation_id)
        now = utc_now()
        if kind == "json":
            messages = store.all_messages(conversation_id)
            text = transcript.to_json(conversation, messages, exported_at=now)
        else:
            text = transcript.to_markdown(
                conversation, store.path(conversation_id), exported_at=now
            )
        name = transcript.filename(conversation.title, kind)
        path = opts["path"]
        if path is None and self._dialogs is not None:
            path = self._dialogs.save_path(name)
            if not path:
                raise Cancelled(tr("window.file.exportCancelled"))
            if not path.lower().endswith(transcript.SUFFIX[kind]):
                path += transcript.SUFFIX[kind]  # a dialog may leave the suffix off
        if path is None:
            return {"filename": name, "content": text}
        target = Path(path).expanduser()
        _refuse_foreign_file(target, lambda raw: transcript.is_export(raw, kind), "conversation")
        atomic_write_text(target, text)
        return {"path": str(target)}

    # --- usage and cost (docs/API.md, "Usage and cost") ------------------------------------

    def _usage(self) -> UsageService:
        if self._usage_service is None:
            raise InternalError(tr("window.unavailable.usage"))
        return self._usage_service

    @envelope
    def getUsageSummary(self, options: Any = None) -> Envelope:
        return self._usage().summary(options)

    @envelope
    def exportUsageCsv(self, options: Any = None) -> Envelope:
        path, period = _split_path(options)
        text, name = self._usage().export_csv(period)
        if path is None and self._dialogs is not None:
            path = self._dialogs.save_path(name)
            if not path:
                raise Cancelled(tr("window.file.exportCancelled"))
            if not path.lower().endswith(".csv"):
                path += ".csv"  # a dialog may leave the suffix off
        if path is None:
            return {"filename": name, "csv": text}
        target = Path(path).expanduser()
        _refuse_foreign_file(target, _is_usage_csv, "usage")
        atomic_write_text(target, text)
        return {"path": str(target), "csv": text}

    @envelope
    def getPrices(self) -> Envelope:
        return self._usage().prices()

    @envelope
    def setPrice(self, price: Any = None) -> Envelope:
        return {"price": self._usage().set_price(price)}

    @envelope
    def removePrice(self, providerId: Any = None, model: Any = None) -> Envelope:
        self._usage().remove_price(providerId, model)
        return {"removed": True}

    @envelope
    def setBudget(self, providerId: Any = None, budget: Any = None) -> Envelope:
        return {"budget": self._usage().set_budget(providerId, budget)}

    @envelope
    def getBudgets(self) -> Envelope:
        return self._usage().budgets()

    @envelope
    def clearUsage(self) -> Envelope:
        return {"removed": self._usage().clear()}

    # --- tools (docs/API.md, "Tools (MCP)") -------------------------------------------------

    def _mcp(self) -> McpService:
        if self._mcp_service is None:
            raise InternalError(tr("tools.service.unavailable"))
        return self._mcp_service

    def _confirm(self) -> Confirm | None:
        """The window's native yes-or-no dialog; None over HTTP."""
        return None if self._dialogs is None else self._dialogs.confirm

    @envelope
    def addMcpServer(self, config: Any = None) -> Envelope:
        server = self._mcp().add(config, confirm=self._confirm())
        return {"id": server["id"], "server": server}

    @envelope
    def updateMcpServer(self, id: Any = None, updates: Any = None) -> Envelope:
        return {"server": self._mcp().update(id, updates, confirm=self._confirm())}

    @envelope
    def removeMcpServer(self, id: Any = None) -> Envelope:
        return {"id": self._mcp().remove(id)}

    @envelope
    def getAllMcpServers(self) -> Envelope:
        return {"servers": self._mcp().servers()}

    @envelope
    def setMcpToolPolicy(
        self, serverId: Any = None, toolName: Any = None, policy: Any = None
    ) -> Envelope:
        server, tool = self._mcp().set_tool_policy(serverId, toolName, policy)
        return {"server": server, "tool": tool}

    @envelope
    def restartMcpServer(self, id: Any = None) -> Envelope:
        return {"server": self._mcp().restart(id, confirm=self._confirm())}

    @envelope
    def chooseFolder(self) -> Envelope:
        if self._dialogs is None:
            problem = tr("tools.service.noFolderDialogField")
            raise BadRequest(tr("tools.service.noFolderDialog"), fields={"path": [problem]})
        path = self._dialogs.choose_folder()
        if not path:
            raise Cancelled(tr("tools.service.folderCancelled"))
        return {"path": path}

    # --- settings (docs/API.md, "Settings") ----------------------------------------------

    def _settings(self) -> SettingsService:
        if self._settings_service is None:
            raise InternalError(tr("window.unavailable.settings"))
        return self._settings_service

    @envelope
    def getSettings(self) -> Envelope:
        return self._settings().envelope()

    @envelope
    def updateSettings(self, partial: Any = None) -> Envelope:
        return self._settings().update(partial)

    @envelope
    def testProxy(self, options: Any = None) -> Envelope:
        opts = load_options(ProxyTestOptionsSchema, options)
        proxy = self._settings().proxy_with(opts["proxy"])
        provider_id = opts["providerId"] or self._remote_provider_id()
        provider, key = self._manager.resolve(provider_id)
        latency, via = self._tools.test_proxy(provider, key, proxy)
        return {
            "providerId": provider.id,
            "providerName": provider.name,
            "displayName": provider.display_name,
            "latencyMs": latency,
            "via": via,
        }

    def _remote_provider_id(self) -> str:
        """The first provider not on this computer (loopback ones never use a proxy)."""
        for provider in self._manager.list():
            if not is_loopback(provider.base_url):
                return provider.id
        raise InvalidConfig(
            tr("settings.proxy.noProvider"),
            fields={"providerId": [tr("settings.proxy.noProviderField")]},
        )

    @envelope
    def openDataFolder(self) -> Envelope:
        return self._open(Path(self._info.data_dir))

    @envelope
    def openLogFile(self) -> Envelope:
        return self._open(Path(self._info.log_file))

    def _open(self, path: Path) -> Envelope:
        if self._opener is None:
            raise InternalError(tr("window.unavailable.opener"))
        self._opener(path)
        return {"opened": True}

    # --- the app -------------------------------------------------------------------------

    @envelope
    def getAppInfo(self) -> Envelope:
        info = self._info
        return {
            "version": __version__,
            "secretStorage": {
                "backend": info.secret_backend,
                "description": info.secret_description(),
            },
            "dataDir": info.data_dir,
            "logFile": info.log_file,
            "serverURL": info.server_url(),
            "token": info.token,
            "desktop": self._dialogs is not None,
            "language": i18n.current_language(),
        }


RPC_METHODS: frozenset[str] = frozenset(
    name for name, value in vars(Bridge).items() if getattr(value, "__miaoda_rpc__", False)
)


def rpc_methods(bridge: Bridge) -> dict[str, Callable[..., dict[str, Any]]]:
    """The bridge's methods the HTTP API serves at `/api/rpc/<name>`, by name."""
    return {name: getattr(bridge, name) for name in sorted(RPC_METHODS)}
