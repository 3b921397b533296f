"""The chat routes' service: a request body becomes a provider stream, relayed and recorded.

It validates the body (`backend.schemas`), resolves its `providerId` to a provider (with its key,
the request's parameters over its own and a `model` override over its model) or a route, opens
the stream through `backend.chat.failover` (which fails a route over to its next member and
reports each provider's outcome to its circuit and the health monitor), relays it as the
contract's SSE bytes (`backend.chat.relay`) and stores one usage record per request, priced by
`backend.usage` (in a route, one more per member that failed). A body in the conversation form (a
`conversationId` key, or a `message`) goes to `backend.chat.conversations`, which keeps the
history and the reply in the store; the stateless form stores no conversation. A request
whose `toolServers` (the body's, or a conversation's) offer tools runs the tool loop of
`backend.chat.tools` against the `ToolCatalog` given as `tools`. Body and
provider errors are raised before any byte is sent, so the server can answer them with an HTTP
error envelope; everything after `start` travels inside the stream.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from backend.chat.conversations import ConversationChat
from backend.chat.failover import FailoverStream, OutcomeCallback, Target, Targets
from backend.chat.relay import collect_chat, sse_events
from backend.chat.tools import ToolApprovals, ToolBox, ToolLoop, complete_loop
from backend.errors import MiaodaError
from backend.manager import CustomProviderManager
from backend.models import ChatRequest
from backend.providers import ProviderService
from backend.providers.circuit import CircuitBreakers
from backend.schemas import is_conversation_form, load_chat_request
from backend.storage import ConversationStore, RouteStore, Storage
from backend.tools.model import ToolCatalog
from backend.usage import UsageService

log = logging.getLogger("miaoda.chat")


class ChatService:
    """`stream()` and `complete()`: the bodies of `/api/chat/stream` and `/api/chat`."""

    def __init__(
        self,
        manager: CustomProviderManager,
        providers: ProviderService,
        storage: Storage,
        *,
        heartbeat: float = 15.0,
        routes: RouteStore | None = None,
        circuits: CircuitBreakers | None = None,
        on_outcome: OutcomeCallback | None = None,
        usage: UsageService | None = None,
        defer: Callable[[Callable[[], None]], None] | None = None,
        tools: ToolCatalog | None = None,
    ) -> None:
        self._storage = storage
        # The MCP tools (None: none are offered and `toolServers` is ignored), the approvals
        # waiting for the user and the loop's limits.
        self.tool_box = ToolBox(tools)
        self._usage = usage or UsageService(storage)
        self._heartbeat = heartbeat
        self.targets = Targets(
            manager,
            providers,
            routes,
            circuits,
            on_outcome=on_outcome,
            on_record=self.record,
            defer=defer,
        )
        self.conversations = ConversationChat(
            ConversationStore(storage),
            self.targets,
            self.record,
            heartbeat=heartbeat,
            tools=self.tool_box,
        )

    @property
    def approvals(self) -> ToolApprovals:
        """The tool calls waiting for the user's answer (answerToolApproval)."""
        return self.tool_box.approvals

    def close(self) -> None:
        """Stop the conversation form's saver thread."""
        self.conversations.close()

    def stream(self, body: Any, is_disconnected: Callable[[], bool]) -> Iterator[bytes]:
        """Validate, find the provider (or route) and key, start the upstream stream and return
        the SSE body (body and provider errors raise before anything is sent)."""
        if is_conversation_form(body):
            return self.conversations.stream(body, is_disconnected)
        target, request = self._prepare(body)
        request_id = new_request_id()
        offer = self.tool_box.offer(request.tool_servers)
        stream: FailoverStream | ToolLoop
        if offer is None:
            stream = self.targets.open_stream(target, request)
        else:
            stream = ToolLoop(
                self.tool_box,
                offer,
                request,
                lambda round_request: self.targets.open_stream(target, round_request),
                request_id=request_id,
            )
        return sse_events(
            stream,
            provider_id=None if target.provider is None else target.provider.id,
            model=target.model,
            request_id=request_id,
            is_disconnected=is_disconnected,
            heartbeat=self._heartbeat,
            on_finish=self.record,
            start_fields=route_start(target),
            answered=lambda: stream.report,
        )

    def complete(self, body: Any) -> dict[str, Any]:
        """One whole answer: `message`, `usage`, `finishReason`."""
        if is_conversation_form(body):
            return self.conversations.complete(body)
        target, request = self._prepare(body)
        report = self.targets.report_for(target)
        offer = self.tool_box.offer(request.tool_servers)

        def send() -> dict[str, Any]:
            if offer is None:
                return self.targets.complete(target, request, report)
            return complete_loop(
                self.tool_box,
                offer,
                request,
                lambda round_request: self.targets.complete(target, round_request, report),
            ).result

        result = collect_chat(
            send,
            report,
            request_id=new_request_id(),
            on_finish=self.record,
        )
        if target.route is not None:
            result["attempts"] = report.attempts
        return result

    def _prepare(self, body: Any) -> tuple[Target, ChatRequest]:
        request = load_chat_request(body)
        target = self.targets.resolve(request.provider_id, model=request.model)
        return target, request

    def record(self, record: dict[str, Any]) -> None:
        """Store one request's usage record with its cost (a failure is logged, not raised)."""
        try:
            self._usage.record(record)
        except MiaodaError:
            log.warning("could not record chat request %s", record.get("requestId"))


def new_request_id() -> str:
    """32 random hex digits naming one chat request (in its `start` event and its record)."""
    return uuid.uuid4().hex


def route_start(target: Target) -> dict[str, Any] | None:
    """What a route's `start` event adds: its id (`providerId` and `model` are null)."""
    return None if target.route is None else {"routeId": target.route.id}
