"""Tool approvals under load: 16 chat streams open at once through the real server, 10 of
them waiting for the user to approve a tool call and 6 running a tool that holds on, while
RPC calls come in. A stream that waits holds one of the server's worker threads (it is still
sending pings), so this checks that waiting never starves the rest of the API: every RPC call
made meanwhile is answered within its bounded wait (1 s, the contract's figure), the answers
to the approvals too, and then every stream finishes with its tool's result and the model's
answer. Nothing is left waiting afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import httpx

from backend.app import MiaodaApp
from tests.fakes.upstream import FakeUpstream, Reply, openai_stream
from tests.integration.test_tool_loop import SERVER, FakeCatalog, FakeTool, openai_calls
from tests.stress.helpers import TOKEN, add_provider, api_headers, parse_events

ASKING, HOLDING = 10, 6
RPC_WAIT = 1.0  # seconds an RPC call may take while the streams wait (CONTRACT §12)


class Stream:
    """One `/api/chat/stream` read on a thread of its own; its events as they come."""

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        self.events: list[tuple[str, Any]] = []
        self.changed = threading.Condition()
        self.ended = threading.Event()
        self._url, self._body = url, body
        threading.Thread(target=self._run, name="stress-stream", daemon=True).start()

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=60) as client,
                client.stream(
                    "POST", f"{self._url}/api/chat/stream", json=self._body, headers=api_headers()
                ) as response,
            ):
                buffer = ""
                for text in response.iter_text():
                    buffer += text
                    if "\n\n" in buffer:
                        whole, buffer = buffer.rsplit("\n\n", 1)
                        with self.changed:
                            self.events += parse_events(whole + "\n\n")
                            self.changed.notify_all()
        finally:
            self.ended.set()
            with self.changed:
                self.changed.notify_all()

    def first(self, kind: str, timeout: float = 30.0) -> dict[str, Any]:
        with self.changed:
            found = self.changed.wait_for(
                lambda: self.ended.is_set() or any(k == kind for k, _ in self.events), timeout
            )
            for k, data in self.events:
                if k == kind:
                    return dict(data)
        raise AssertionError(f"no {kind} event (ended: {self.ended.is_set()}, found: {found})")


def rpc_within(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    """An RPC call that must be answered within RPC_WAIT (httpx raises a timeout if not)."""
    response = httpx.post(
        f"{app.server_url}/api/rpc/{method}",
        json=list(args),
        headers=api_headers(TOKEN),
        timeout=RPC_WAIT,
    )
    result: dict[str, Any] = response.json()
    return result


def test_rpc_calls_are_answered_while_sixteen_streams_wait_on_tools(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    app.chat.tool_box.approval_seconds = 120.0
    release = threading.Event()
    holding = threading.Semaphore(0)

    def held(arguments: Mapping[str, Any], stop: threading.Event) -> str:
        holding.release()
        release.wait(60)
        return "held and let go"

    def echo(arguments: Mapping[str, Any], stop: threading.Event) -> str:
        return "approved and run"

    catalog = FakeCatalog({"guarded": FakeTool(echo, approval="ask"), "held": FakeTool(held)})
    app.chat.tool_box.catalog = catalog
    asking_provider = add_provider(app, upstream.url + "/ask/v1", name="asking")
    holding_provider = add_provider(app, upstream.url + "/hold/v1", name="holding")
    answer = Reply.stream(openai_stream(["done"]))
    asks = Reply.stream(openai_calls(("c", "guarded", {})))
    holds = Reply.stream(openai_calls(("c", "held", {})))
    upstream.script("/ask/v1/chat/completions", *[asks] * ASKING, answer)
    upstream.script("/hold/v1/chat/completions", *[holds] * HOLDING, answer)

    def body(provider_id: str, n: int) -> dict[str, Any]:
        return {
            "providerId": provider_id,
            "messages": [{"role": "user", "content": f"request {n}"}],
            "toolServers": [SERVER],
        }

    asking = [Stream(app.server_url or "", body(asking_provider, n)) for n in range(ASKING)]
    approvals = [
        (s.first("start")["requestId"], s.first("tool_approval")["callId"]) for s in asking
    ]
    holders = [Stream(app.server_url or "", body(holding_provider, n)) for n in range(HOLDING)]
    for _ in range(HOLDING):
        assert holding.acquire(timeout=30), "a held tool never started"
    assert app.chat.approvals.waiting() == ASKING

    try:
        # Sixteen streams are open and waiting: the rest of the API still answers.
        for method, args in (
            ("getAllCustomProviders", ()),
            ("listConversations", ()),
            ("getAllProviderHealthStatuses", ()),
            ("getAppInfo", ()),
            ("answerToolApproval", ("no-such-request", "no-such-call", "allow")),
        ):
            result = rpc_within(app, method, *args)
            assert "success" in result, result
        for request_id, call_id in approvals:
            assert rpc_within(app, "answerToolApproval", request_id, call_id, "allow")["success"]
    finally:
        release.set()

    for stream in [*asking, *holders]:
        assert stream.ended.wait(30), "a stream did not finish"
        kinds = [k for k, _ in stream.events]
        assert kinds[-1] == "done" and stream.events[-1][1]["finishReason"] == "stop", kinds
        results = [data["content"] for k, data in stream.events if k == "tool_result"]
        assert results in (["approved and run"], ["held and let go"])
    assert app.chat.approvals.waiting() == 0
    assert len(catalog.calls) == ASKING + HOLDING
    assert len(upstream.requests_to("/ask/v1/chat/completions")) == 2 * ASKING
    assert len(upstream.requests_to("/hold/v1/chat/completions")) == 2 * HOLDING
