"""Composition root: builds storage, secrets, provider layer, manager, health and server.

Nothing imports this module; `__main__` and the tests do. Collaborators that tests replace
(the HTTP transport to upstreams, the secret backend, the data folder, the token) come in as
arguments, so tests run the real app with real parts.
"""

from __future__ import annotations

import logging
import secrets as stdlib_secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backend import __version__
from backend.background import BackgroundWrites
from backend.bridge import PROXY_TEST_SECONDS, AppInfo, Bridge, Dialogs, rpc_methods
from backend.chat.routes import RouteManager, StoredCircuits
from backend.chat.service import ChatService
from backend.fileio import make_private_dir
from backend.health.monitor import HealthMonitor
from backend.health.schedule import HealthScheduler
from backend.logsetup import configure_logging
from backend.manager import CustomProviderManager
from backend.models import ProviderConfig
from backend.paths import frontend_dir
from backend.providers import ProviderService, Transport
from backend.providers.circuit import CircuitBreakers
from backend.providers.proxies import ProxyChoice
from backend.providers.templates import get_templates
from backend.secrets import SecretStore, open_secret_store
from backend.server.app import create_app
from backend.server.wsgi import LocalServer
from backend.settings import Opener, SettingsService, open_with_os
from backend.storage import McpStore, RouteStore, Storage
from backend.tools.host import ToolHost
from backend.tools.service import McpService
from backend.usage import Clock, UsageService, Zone

log = logging.getLogger("miaoda.app")
DB_NAME = "miaoda.db"


class ProviderTools:
    """Adapts the provider layer to what the bridge needs (models list, templates)."""

    def __init__(self, service: ProviderService) -> None:
        self._service = service

    def list_models(self, config: ProviderConfig, api_key: str | None) -> list[str]:
        return self._service.list_models(config, api_key)

    def templates(self) -> list[dict[str, Any]]:
        return get_templates()

    def detect_provider(self, request: Any) -> dict[str, Any]:
        return self._service.detect_provider(request)

    def test_proxy(
        self, config: ProviderConfig, api_key: str | None, proxy: ProxyChoice
    ) -> tuple[int, str | None]:
        return self._service.test_proxy(config, api_key, proxy, timeout=PROXY_TEST_SECONDS)


class MiaodaApp:
    """One running instance of the app's backend."""

    def __init__(
        self,
        data_dir: Path,
        *,
        secret_backend: str | None = None,
        token: str | None = None,
        transport: Transport | None = None,
        secret_store: SecretStore | None = None,
        chat_heartbeat: float = 15.0,
        clock: Clock | None = None,
        zone: Zone | None = None,
        opener: Opener = open_with_os,
        allow_stdio_tools: bool = False,
    ) -> None:
        # Private: 0700 on POSIX, and a folder an older version left open is tightened.
        make_private_dir(data_dir)
        self.data_dir = data_dir
        self.log_file = configure_logging(data_dir)
        self.storage = Storage(data_dir / DB_NAME)
        try:
            self.secrets = secret_store or open_secret_store(data_dir, secret_backend)
        except BaseException:
            self.storage.close()
            raise
        self.providers = ProviderService(transport=transport)
        self.manager = CustomProviderManager(
            self.storage, self.secrets, check=self.providers.test_connection
        )
        route_store = RouteStore(self.storage)
        # Saves no request should wait for (circuits, real chats' health, failed members).
        self.writes = BackgroundWrites()
        self.circuits = CircuitBreakers(StoredCircuits(route_store), defer=self.writes.submit)
        self.manager.add_listener(self._forget_circuit)
        self.routes = RouteManager(route_store, self.circuits)
        self.health = HealthMonitor(
            self.manager,
            self.storage,
            self.providers,
            circuits=self.circuits,
            defer=self.writes.submit,
        )
        # The settings (CONTRACT §13): the language of messages from here on, the proxy of
        # provider requests (the client is rebuilt only when it is not the system's).
        self.settings = SettingsService(self.storage, self.secrets, self.health)
        self.providers.set_proxy(self.settings.proxy())
        self.settings.on_proxy_change(self.providers.set_proxy)
        self.health_schedule = HealthScheduler(self.health)
        # The clock and time zone of usage records, budgets and "this month" (tests set them).
        self.usage = UsageService(self.storage, clock=clock, zone=zone)
        # MCP servers (CONTRACT §12): started in the background by `start_background`, stopped
        # by `close`; over HTTP, stdio servers can be added only with `allow_stdio_tools`.
        self.mcp = McpService(
            McpStore(self.storage),
            self.secrets,
            ToolHost,
            allow_stdio_over_http=allow_stdio_tools,
        )
        self.manager.attach_mcp(self.mcp)  # the export file carries the MCP servers too
        self.chat = ChatService(
            self.manager,
            self.providers,
            self.storage,
            heartbeat=chat_heartbeat,
            routes=route_store,
            circuits=self.circuits,
            on_outcome=self.health.chat_outcome,
            defer=self.writes.submit,
            usage=self.usage,
            tools=self.mcp,
        )
        # Replies a crash (or a kill) left "streaming" are closed as error/INTERNAL, before any
        # new stream can start.
        closed = self.chat.conversations.store.close_interrupted()
        if closed:
            log.warning("closed %d reply(ies) interrupted when the app last stopped", closed)
        self.token = token or stdlib_secrets.token_urlsafe(32)
        self._server: LocalServer | None = None
        self._tools = ProviderTools(self.providers)
        self._opener = opener
        log.info(
            "MiaoDa Chat %s started; data in %s; secrets: %s",
            __version__,
            data_dir,
            self.secrets.backend_name,
        )

    def _forget_circuit(self, provider_id: str, removed: bool) -> None:
        if removed:
            self.circuits.forget(provider_id)

    @property
    def server_url(self) -> str | None:
        return self._server.url if self._server else None

    def bridge(self, dialogs: Dialogs | None = None) -> Bridge:
        """A bridge for the window (with dialogs) or the HTTP API (without)."""
        info = AppInfo(
            data_dir=str(self.data_dir),
            secret_backend=self.secrets.backend_name,
            secret_description=lambda: self.secrets.description,
            log_file=str(self.log_file),
            server_url=lambda: self.server_url,
            token=self.token,
        )
        return Bridge(
            self.manager,
            self.health,
            self._tools,
            info,
            dialogs,
            conversations=self.chat.conversations,
            routes=self.routes,
            usage=self.usage,
            settings=self.settings,
            opener=self._opener,
            mcp=self.mcp,
        )

    def on_language_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(language)` whenever the language in effect changes (the window's
        title follows it)."""
        self.settings.on_language_change(listener)

    def start_server(self, port: int = 0) -> LocalServer:
        """Serve the frontend and the API on 127.0.0.1."""
        rpc = rpc_methods(self.bridge())
        app = create_app(rpc, token=self.token, frontend_dir=frontend_dir(), chat=self.chat)
        server = LocalServer(app, port=port)
        server.start()
        self._server = server
        log.info("serving on %s", server.url)
        return server

    def start_background(self) -> None:
        """Start the background health schedule and the enabled MCP servers (call once the
        server is up; neither holds up the window)."""
        self.health_schedule.start()
        self.mcp.start_enabled()

    def close(self) -> None:
        """Stop everything in order: health schedule, streams, server, MCP servers, provider
        layer, reply saver, storage."""
        if not self.health_schedule.stop(timeout=1.0):
            log.warning("the health schedule did not stop within a second")
        self.health.close()
        if self._server is not None:
            self._server.stop()
        self.chat.close()
        self.mcp.close()  # after the chats: their running calls end with the servers
        self.providers.close()
        self.writes.close()
        self.storage.close()
        log.info("MiaoDa Chat stopped")
