"""The tool loop of a chat request through the real app and its HTTP server, against a fake
upstream scripted to call a tool and then answer, for both protocols: what the second upstream
request carries (the assistant's call and the result, in each protocol's shape), parallel
calls, approvals (allow, deny, no answer in time), the round cap, a client that goes away,
the conversation's stored chain and its replay by regenerate and edit, secrets in a tool's
result, and the size cap.

The tools are an in-test catalogue (`FakeCatalog`, a `ToolCatalog` running Python callables
on threads of its own); the last test runs the loop through the real MCP layer against the
stdio server of tests/fakes/mcp (its own tests cover the servers in depth).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.chat.conversations import TOOL_NOT_RUN
from backend.chat.tools import (
    DECLINED,
    NOT_ANSWERED,
    NOT_ASKED,
    UNKNOWN_TOOL,
)
from backend.redact import REDACTOR
from backend.tools.model import OfferedTool, ToolOutcome
from tests.fakes.mcp import script
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    anthropic_stream,
    openai_chunk,
    openai_stream,
    openai_usage,
    sse,
)
from tests.helpers import CANARY_KEY, files_containing, require
from tests.integration.test_chat_http import add_provider, headers, parse_events

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
SERVER = "srv-1"
Events = list[tuple[str, Any]]
ToolFunction = Callable[[Mapping[str, Any], threading.Event], "str | ToolOutcome"]


# --- the catalogue double ----------------------------------------------------------------


@dataclass
class FakeTool:
    """One tool: what it does with its arguments (`stop` is set when its call is cancelled)."""

    run: ToolFunction
    approval: str = "always"
    description: str = "A test tool."
    schema: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {"text": {"type": "string"}}}
    )


class FakeCatalog:
    """A `ToolCatalog` of Python callables on one server, each call on a thread of its own; a
    cancelled call's future is cancelled and its `stop` event set (as an MCP call is)."""

    def __init__(self, tools: Mapping[str, FakeTool], server_id: str = SERVER) -> None:
        self.tools = dict(tools)
        self.server_id = server_id
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.started: dict[str, threading.Event] = {name: threading.Event() for name in tools}
        self.stopped: dict[str, threading.Event] = {name: threading.Event() for name in tools}

    def offered(self, server_ids: Sequence[str]) -> list[OfferedTool]:
        if self.server_id not in server_ids:
            return []
        return [
            OfferedTool(
                server_id=self.server_id,
                server_name="Test server",
                name=name,
                exposed_name=name,
                description=tool.description,
                input_schema=tool.schema,
                approval="ask" if tool.approval == "ask" else "always",
            )
            for name, tool in self.tools.items()
        ]

    def call(self, tool: OfferedTool, arguments: Mapping[str, Any]) -> Future[ToolOutcome]:
        future: Future[ToolOutcome] = Future()
        stop = self.stopped[tool.name]
        self.calls.append((tool.name, dict(arguments)))
        future.add_done_callback(lambda f: stop.set() if f.cancelled() else None)

        def work() -> None:
            started = time.perf_counter()
            self.started[tool.name].set()
            try:
                value = self.tools[tool.name].run(arguments, stop)
            except Exception as error:  # the tool failed: the loop says so
                outcome = ToolOutcome(f"the tool broke: {error}", True, 1)
            else:
                elapsed = round((time.perf_counter() - started) * 1000)
                outcome = (
                    value if isinstance(value, ToolOutcome) else ToolOutcome(value, False, elapsed)
                )
            if not future.cancelled():
                future.set_result(outcome)

        threading.Thread(target=work, name=f"tool-{tool.name}", daemon=True).start()
        return future


def echo(arguments: Mapping[str, Any], stop: threading.Event) -> str:
    return f"echo: {arguments.get('text', '')}"


def hang(arguments: Mapping[str, Any], stop: threading.Event) -> str:
    stop.wait(30)
    return "stopped"


# --- protocol builders ---------------------------------------------------------------------


def openai_calls(*calls: tuple[str, str, dict[str, Any]], text: str = "") -> list[bytes]:
    """A Chat Completions stream that calls tools: `(id, name, arguments)` each."""
    chunks = [openai_chunk({"role": "assistant", "content": text})]
    for index, (call_id, name, arguments) in enumerate(calls):
        delta = {
            "tool_calls": [
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(arguments)},
                }
            ]
        }
        chunks.append(openai_chunk(delta))
    chunks += [openai_chunk({}, "tool_calls"), openai_usage(10, 5), b"data: [DONE]\n\n"]
    return chunks


def anthropic_calls(*calls: tuple[str, str, dict[str, Any]]) -> list[bytes]:
    """A Messages stream whose blocks are tool calls: `(id, name, input)` each."""
    start = {"type": "message", "role": "assistant", "content": [], "model": "fake"}
    start["usage"] = {"input_tokens": 10, "output_tokens": 1}
    chunks = [sse({"type": "message_start", "message": start}, "message_start")]
    for index, (call_id, name, arguments) in enumerate(calls):
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        chunks.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": block},
                "content_block_start",
            )
        )
        delta = {"type": "input_json_delta", "partial_json": json.dumps(arguments)}
        chunks.append(
            sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        )
        chunks.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    chunks += [
        sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 5},
            },
            "message_delta",
        ),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return chunks


# --- the app and its client ------------------------------------------------------------------


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    """The real app serving on a loopback port (token "tok"), with 0.3 s heartbeats."""
    instance = MiaodaApp(data_dir, secret_backend="file", token="tok", chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


def use_tools(app: MiaodaApp, **tools: FakeTool) -> FakeCatalog:
    catalog = FakeCatalog(tools)
    app.chat.tool_box.catalog = catalog
    return catalog


@pytest.fixture
def openai_provider(app: MiaodaApp, upstream: FakeUpstream) -> str:
    return add_provider(app, upstream.url + "/v1", apiKey=CANARY_KEY)


@pytest.fixture
def anthropic_provider(app: MiaodaApp, upstream: FakeUpstream) -> str:
    return add_provider(app, upstream.url, type="anthropic-compatible", apiKey=CANARY_KEY)


def stream(app: MiaodaApp, body: dict[str, Any]) -> Events:
    """One whole `/api/chat/stream` exchange, as events."""
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body, headers=headers(), timeout=30
    )
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def ask(provider_id: str, text: str = "Use the tool", **fields: Any) -> dict[str, Any]:
    """A stateless request offering the test server's tools."""
    return {
        "providerId": provider_id,
        "messages": [{"role": "user", "content": text}],
        "toolServers": [SERVER],
        **fields,
    }


def rpc(app: MiaodaApp, method: str, *args: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{app.server_url}/api/rpc/{method}", json=list(args), headers=headers(), timeout=10
    )
    result: dict[str, Any] = response.json()
    return result


def kinds(events: Events) -> list[str]:
    return [kind for kind, _ in events]


def shape(events: Events) -> list[str]:
    """The kinds of the events, a run of `delta` events as one: the relay sends text as it comes,
    so how many pieces one upstream answer arrives in depends on timing."""
    out: list[str] = []
    for kind in kinds(events):
        if not (kind == "delta" and out and out[-1] == "delta"):
            out.append(kind)
    return out


def of(events: Events, kind: str) -> list[dict[str, Any]]:
    return [data for k, data in events if k == kind]


class Reader:
    """A stream read on a thread of its own, so the test can act on events as they come
    (answer an approval) or leave (close the connection) part way."""

    def __init__(self, app: MiaodaApp, body: dict[str, Any]) -> None:
        self.events: Events = []
        self._changed = threading.Condition()
        self._leave = threading.Event()
        self.left = threading.Event()
        self.ended = threading.Event()
        self._url = f"{app.server_url}/api/chat/stream"
        self._body = body
        self._thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with (
                httpx.Client(timeout=30) as client,
                client.stream("POST", self._url, json=self._body, headers=headers()) as response,
            ):
                buffer = ""
                for text in response.iter_text():
                    buffer += text
                    if "\n\n" in buffer:
                        whole, buffer = buffer.rsplit("\n\n", 1)
                        with self._changed:
                            self.events += parse_events(whole + "\n\n")
                            self._changed.notify_all()
                    if self._leave.is_set():
                        break  # the pings (0.3 s) bring us here while the stream waits
            if self._leave.is_set():
                self.left.set()
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, kind: str, count: int = 1, timeout: float = 15.0) -> dict[str, Any]:
        """The `count`-th event of this kind, waiting for it (bounded)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = of(self.events, kind)
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    raise AssertionError(f"no {kind} event; got {kinds(self.events)}")
                self._changed.wait(left)

    def finish(self, timeout: float = 20.0) -> Events:
        assert self.ended.wait(timeout), "the stream did not end"
        return self.events

    def leave(self, timeout: float = 5.0) -> None:
        """Close the connection (as a client that goes away)."""
        self._leave.set()
        assert self.left.wait(timeout), "the reader could not leave"


def bodies(upstream: FakeUpstream, path: str) -> list[dict[str, Any]]:
    return [seen.json for seen in upstream.requests_to(path)]


# --- one round trip, each protocol ---------------------------------------------------------------


def test_openai_a_tool_call_runs_and_its_result_goes_back_as_a_tool_message(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("model-id-1", "echo", {"text": "hi"}), text="Let me see.")),
        Reply.stream(openai_stream(["It says ", "hi."])),
    )
    events = stream(app, ask(openai_provider))
    assert shape(events) == [
        "start", "delta", "tool_call", "tool_result", "delta", "usage", "done"
    ]  # fmt: skip
    call = of(events, "tool_call")[0]
    result = of(events, "tool_result")[0]
    call_id = call["id"]
    assert call_id.startswith("call_") and call_id != "model-id-1"  # the app's own id
    assert call["name"] == "echo" and json.loads(call["arguments"]) == {"text": "hi"}
    assert result == {
        "callId": call_id,
        "serverId": SERVER,
        "name": "echo",
        "content": "echo: hi",
        "isError": False,
        "elapsedMs": result["elapsedMs"],
        "declined": False,
        "cutChars": 0,
    }
    assert of(events, "usage") == [{"inputTokens": 22, "outputTokens": 45, "source": "reported"}]
    assert of(events, "done")[0]["finishReason"] == "stop"
    assert catalog.calls == [("echo", {"text": "hi"})]

    first, second = bodies(upstream, OPENAI)
    offered = [{"type": "function", "function": {
        "name": "echo", "description": "A test tool.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    }}]  # fmt: skip
    assert first["tools"] == offered and second["tools"] == offered
    assert second["messages"] == [
        {"role": "user", "content": "Use the tool"},
        {
            "role": "assistant",
            "content": "Let me see.",
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "echo", "arguments": '{"text": "hi"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "echo: hi"},
    ]


def test_anthropic_a_tool_call_runs_and_its_result_goes_back_as_a_tool_result_block(
    app: MiaodaApp, upstream: FakeUpstream, anthropic_provider: str
) -> None:
    def broken(arguments: Mapping[str, Any], stop: threading.Event) -> ToolOutcome:
        return ToolOutcome("no such city", True, 3)

    use_tools(app, echo=FakeTool(echo), weather=FakeTool(broken))
    upstream.script(
        ANTHROPIC,
        Reply.stream(
            anthropic_calls(("toolu_1", "echo", {"text": "hi"}), ("toolu_2", "weather", {}))
        ),
        Reply.stream(anthropic_stream(["Done."])),
    )
    events = stream(app, ask(anthropic_provider))
    assert of(events, "done")[0]["finishReason"] == "stop"
    calls = {c["name"]: c["id"] for c in of(events, "tool_call")}
    results = {r["name"]: r for r in of(events, "tool_result")}
    assert results["weather"]["isError"] and results["weather"]["content"] == "no such city"
    assert results["weather"]["elapsedMs"] == 3

    first, second = bodies(upstream, ANTHROPIC)
    assert [t["name"] for t in first["tools"]] == ["echo", "weather"]
    assert second["tools"] == first["tools"]
    assert second["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Use the tool"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": calls["echo"], "name": "echo", "input": {"text": "hi"}},
                {"type": "tool_use", "id": calls["weather"], "name": "weather", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": calls["echo"], "content": "echo: hi"},
                {
                    "type": "tool_result",
                    "tool_use_id": calls["weather"],
                    "content": "no such city",
                    "is_error": True,
                },
            ],
        },
    ]


def test_calls_of_one_round_run_in_parallel(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    both = threading.Barrier(2, timeout=10)  # passes only when both calls run at once

    def meet(arguments: Mapping[str, Any], stop: threading.Event) -> str:
        both.wait()
        return f"met {arguments['text']}"

    use_tools(app, meet=FakeTool(meet))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("a", "meet", {"text": "one"}), ("b", "meet", {"text": "two"}))),
        Reply.stream(openai_stream(["ok"])),
    )
    events = stream(app, ask(openai_provider))
    assert sorted(r["content"] for r in of(events, "tool_result")) == ["met one", "met two"]
    ids = [c["id"] for c in of(events, "tool_call")]
    assert len(set(ids)) == 2
    tool_messages = bodies(upstream, OPENAI)[1]["messages"][2:]
    assert [m["tool_call_id"] for m in tool_messages] == ids  # in the order of the calls
    assert [m["content"] for m in tool_messages] == ["met one", "met two"]


def test_a_call_to_a_tool_not_offered_is_answered_with_an_error(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("x", "rm_rf", {}))),
        Reply.stream(openai_stream(["sorry"])),
    )
    events = stream(app, ask(openai_provider))
    result = of(events, "tool_result")[0]
    assert result["isError"] and result["content"] == UNKNOWN_TOOL.format(name="rm_rf")
    assert result["serverId"] is None and catalog.calls == []
    assert of(events, "done")[0]["finishReason"] == "stop"


# --- approvals ----------------------------------------------------------------------------------


def test_an_ask_tool_waits_for_approval_and_runs_when_allowed(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo, approval="ask"))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "echo", {"text": "hi"}))),
        Reply.stream(openai_stream(["ok"])),
    )
    reader = Reader(app, ask(openai_provider))
    approval = reader.wait_for("tool_approval")
    call = reader.wait_for("tool_call")
    start = reader.wait_for("start")
    assert approval == {
        "callId": call["id"],
        "serverId": SERVER,
        "serverName": "Test server",
        "name": "echo",
        "arguments": '{"text": "hi"}',
    }
    assert catalog.calls == []  # nothing runs before the answer
    assert len(upstream.requests_to(OPENAI)) == 1
    answer = rpc(app, "answerToolApproval", start["requestId"], call["id"], "allow")
    assert answer == {
        "success": True,
        "requestId": start["requestId"],
        "callId": call["id"],
        "decision": "allow",
    }
    events = reader.finish()
    assert shape(events)[-4:] == ["tool_result", "delta", "usage", "done"]
    assert of(events, "tool_result")[0]["content"] == "echo: hi"
    assert catalog.calls == [("echo", {"text": "hi"})]
    # Answered once: a second answer finds nothing waiting.
    again = rpc(app, "answerToolApproval", start["requestId"], call["id"], "deny")
    assert again["success"] is False and again["error"]["code"] == "NOT_FOUND"
    assert "callId" in again["error"]["fields"]


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_denied_call_tells_the_model_the_user_declined(
    app: MiaodaApp, upstream: FakeUpstream, protocol: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo, approval="ask"))
    if protocol == "openai":
        provider, path = add_provider(app, upstream.url + "/v1"), OPENAI
        upstream.script(
            path,
            Reply.stream(openai_calls(("c1", "echo", {"text": "hi"}))),
            Reply.stream(openai_stream(["ok"])),
        )
    else:
        provider = add_provider(app, upstream.url, type="anthropic-compatible")
        path = ANTHROPIC
        upstream.script(
            path,
            Reply.stream(anthropic_calls(("toolu_1", "echo", {"text": "hi"}))),
            Reply.stream(anthropic_stream(["ok"])),
        )
    reader = Reader(app, ask(provider))
    approval = reader.wait_for("tool_approval")
    request_id = reader.wait_for("start")["requestId"]
    assert rpc(app, "answerToolApproval", request_id, approval["callId"], "deny")["success"]
    events = reader.finish()
    result = of(events, "tool_result")[0]
    assert result["declined"] and result["isError"] and result["content"] == DECLINED
    assert catalog.calls == []
    last = bodies(upstream, path)[1]["messages"][-1]
    if protocol == "openai":
        assert last == {"role": "tool", "tool_call_id": approval["callId"], "content": DECLINED}
    else:
        assert last["content"] == [
            {
                "type": "tool_result",
                "tool_use_id": approval["callId"],
                "content": DECLINED,
                "is_error": True,
            }
        ]


def test_no_answer_in_time_denies(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo, approval="ask"))
    app.chat.tool_box.approval_seconds = 0.3  # the 5 minutes, shortened
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "echo", {"text": "hi"}))),
        Reply.stream(openai_stream(["ok"])),
    )
    events = stream(app, ask(openai_provider))
    request_id = of(events, "start")[0]["requestId"]
    call_id = of(events, "tool_approval")[0]["callId"]
    result = of(events, "tool_result")[0]
    assert result["declined"] and result["content"] == NOT_ANSWERED
    assert catalog.calls == []
    assert bodies(upstream, OPENAI)[1]["messages"][-1]["content"] == NOT_ANSWERED
    late = rpc(app, "answerToolApproval", request_id, call_id, "allow")
    assert late["error"]["code"] == "NOT_FOUND"
    assert app.chat.approvals.waiting() == 0


def test_answer_tool_approval_refuses_a_bad_decision_naming_it(app: MiaodaApp) -> None:
    for call in (
        lambda *a: rpc(app, "answerToolApproval", *a),
        lambda *a: app.bridge().answerToolApproval(*a),
    ):
        wrong = call("r", "c", "maybe")
        assert wrong["error"]["code"] == "INVALID_CONFIG" and "decision" in wrong["error"]["fields"]
        missing = call("r", None, "allow")
        assert "callId" in missing["error"]["fields"]
        unknown = call("r", "c", "allow")
        assert unknown["error"]["code"] == "NOT_FOUND"


def test_the_non_streamed_form_declines_ask_tools_at_once(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo), guarded=FakeTool(echo, approval="ask"))
    completion = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "a",
                            "type": "function",
                            "function": {"name": "echo", "arguments": '{"text": "one"}'},
                        },
                        {
                            "id": "b",
                            "type": "function",
                            "function": {"name": "guarded", "arguments": '{"text": "two"}'},
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }
    answer = {
        "id": "y",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Done"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2},
    }
    upstream.script(OPENAI, Reply.json(completion), Reply.json(answer))
    response = httpx.post(
        f"{app.server_url}/api/chat", json=ask(openai_provider), headers=headers(), timeout=30
    )
    result = response.json()
    assert result["success"], result
    assert result["message"]["content"] == "Done" and result["finishReason"] == "stop"
    assert result["usage"] == {"inputTokens": 30, "outputTokens": 7, "source": "reported"}
    assert catalog.calls == [("echo", {"text": "one"})]
    by_name = {r["name"]: r for r in result["toolResults"]}
    assert by_name["echo"]["content"] == "echo: one" and not by_name["echo"]["isError"]
    assert by_name["guarded"]["declined"] and by_name["guarded"]["content"] == NOT_ASKED
    sent = bodies(upstream, OPENAI)[1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert sent[3]["content"] == NOT_ASKED
    assert [m["role"] for m in result["toolMessages"]] == ["assistant", "tool", "tool"]


def test_the_non_streamed_conversation_form_stores_the_chain(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    use_tools(app, echo=FakeTool(echo))
    call = {"id": "m1", "type": "function", "function": {"name": "echo", "arguments": "{}"}}
    asking = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Checking.", "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5},
    }
    answer = {
        "id": "y",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Done"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 2},
    }
    upstream.script(OPENAI, Reply.json(asking), Reply.json(answer))
    conversation_id = conversation_with_tools(app)
    body = {
        "conversationId": conversation_id,
        "providerId": openai_provider,
        "message": {"role": "user", "content": "Go"},
    }
    response = httpx.post(f"{app.server_url}/api/chat", json=body, headers=headers(), timeout=30)
    result = response.json()
    assert result["success"], result
    assert result["usage"] == {"inputTokens": 30, "outputTokens": 7, "source": "reported"}
    conversation, messages = path_of(app, conversation_id)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    first, tool, final = messages[1:]
    call_id = first["toolCalls"][0]["id"]
    assert call_id.startswith("call_") and first["finishReason"] == "tool_calls"
    assert first["content"] == "Checking." and first["usage"]["inputTokens"] == 10
    assert tool["toolCallId"] == call_id and tool["content"] == "echo: "
    assert final["content"] == "Done" and final["usage"]["inputTokens"] == 20
    assert result["messageId"] == final["id"] == conversation["currentLeafId"]
    sent = bodies(upstream, OPENAI)[1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call_id and sent[2]["tool_call_id"] == call_id


# --- the round cap -------------------------------------------------------------------------------


def test_ten_rounds_then_done_with_tool_limit(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo))
    upstream.script(OPENAI, Reply.stream(openai_calls(("c", "echo", {"text": "again"}))))
    events = stream(app, ask(openai_provider))
    assert len(upstream.requests_to(OPENAI)) == 10
    assert len(of(events, "tool_call")) == 10 and len(of(events, "tool_result")) == 9
    assert len(catalog.calls) == 9  # the tenth round's call is shown, not run
    assert kinds(events)[-2:] == ["usage", "done"]
    assert of(events, "done")[0]["finishReason"] == "tool_limit"
    assert of(events, "usage") == [{"inputTokens": 100, "outputTokens": 50, "source": "reported"}]
    assert len({c["id"] for c in of(events, "tool_call")}) == 10  # unique within the request
    assert of(events, "delta") == []  # no final text is made up


# --- a client that goes away --------------------------------------------------------------------


def test_a_client_that_goes_away_cancels_a_running_call(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, hang=FakeTool(hang))
    upstream.script(OPENAI, Reply.stream(openai_calls(("c1", "hang", {}))))
    reader = Reader(app, ask(openai_provider))
    reader.wait_for("tool_call")
    assert catalog.started["hang"].wait(10)
    reader.leave()
    assert catalog.stopped["hang"].wait(1.0), "the running call was not cancelled within 1 s"
    assert len(upstream.requests_to(OPENAI)) == 1  # no next round


def test_a_client_that_goes_away_denies_its_pending_approvals(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo, approval="ask"))
    upstream.script(OPENAI, Reply.stream(openai_calls(("c1", "echo", {}), ("c2", "echo", {}))))
    reader = Reader(app, ask(openai_provider))
    approval = reader.wait_for("tool_approval", count=2)
    request_id = reader.wait_for("start")["requestId"]
    assert app.chat.approvals.waiting(request_id) == 2
    reader.leave()
    gone = threading.Event()

    def watch() -> None:
        while app.chat.approvals.waiting(request_id):
            time.sleep(0.01)
        gone.set()

    threading.Thread(target=watch, daemon=True).start()
    assert gone.wait(1.0), "pending approvals were not denied within 1 s"
    late = rpc(app, "answerToolApproval", request_id, approval["callId"], "allow")
    assert late["error"]["code"] == "NOT_FOUND"
    assert catalog.calls == []


# --- results: secrets and size -------------------------------------------------------------


MCP_CANARY = "mcp-env-canary-5b8e2f7a91c3d4e6"


def test_secrets_in_a_result_are_masked_everywhere(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str, data_dir: Path
) -> None:
    REDACTOR.add(MCP_CANARY)  # as the MCP layer does with a server's env and header values

    def leaky(arguments: Mapping[str, Any], stop: threading.Event) -> str:
        return f"env says {MCP_CANARY}; key {CANARY_KEY}"

    use_tools(app, leaky=FakeTool(leaky))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "leaky", {}))),
        Reply.stream(openai_stream(["ok"])),
    )
    conversation = app.bridge().createConversation({"toolServers": [SERVER]})["conversation"]
    body = {
        "conversationId": conversation["id"],
        "providerId": openai_provider,
        "message": {"role": "user", "content": "Leak"},
    }
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body, headers=headers(), timeout=30
    )
    events = parse_events(response.text)
    assert of(events, "tool_result")[0]["content"] == "env says [redacted]; key [redacted]"
    for secret in (MCP_CANARY, CANARY_KEY):
        assert secret not in response.text
        assert all(secret not in seen.body.decode() for seen in upstream.requests_to(OPENAI))
        stored = json.dumps(app.bridge().getConversation(conversation["id"]))
        assert secret not in stored
    app.close()  # everything written, then look at every file of the data folder
    assert files_containing(data_dir, MCP_CANARY) == []
    assert files_containing(data_dir, CANARY_KEY) == []


def test_a_long_result_is_cut_and_says_how_much(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    def long(arguments: Mapping[str, Any], stop: threading.Event) -> str:
        return "x" * 70_000

    use_tools(app, long=FakeTool(long))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "long", {}))),
        Reply.stream(openai_stream(["ok"])),
    )
    events = stream(app, ask(openai_provider))
    result = of(events, "tool_result")[0]
    expected = "x" * 64_000 + "\n[… 6,000 characters cut]"
    assert result["content"] == expected and result["cutChars"] == 6_000
    assert bodies(upstream, OPENAI)[1]["messages"][-1]["content"] == expected


# --- conversations: the chain, regenerate and edit ------------------------------------------------


def conversation_with_tools(app: MiaodaApp) -> str:
    created = app.bridge().createConversation({"toolServers": [SERVER]})
    assert created["success"], created
    return str(created["conversation"]["id"])


def path_of(app: MiaodaApp, conversation_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    found = app.bridge().getConversation(conversation_id)
    assert found["success"], found
    return found["conversation"], found["messages"]


def test_a_conversation_stores_the_chain_and_replays_it(
    app: MiaodaApp, upstream: FakeUpstream, anthropic_provider: str
) -> None:
    use_tools(app, echo=FakeTool(echo))
    conversation_id = conversation_with_tools(app)
    upstream.script(
        ANTHROPIC,
        Reply.stream(anthropic_calls(("toolu_1", "echo", {"text": "a"}))),
        Reply.stream(anthropic_calls(("toolu_2", "echo", {"text": "b"}))),
        Reply.stream(anthropic_stream(["All done."])),
    )
    body = {
        "conversationId": conversation_id,
        "providerId": anthropic_provider,
        "message": {"role": "user", "content": "Go"},
    }
    events = stream(app, body)
    assert of(events, "done")[0]["finishReason"] == "stop"
    start = of(events, "start")[0]
    calls = [c["id"] for c in of(events, "tool_call")]

    conversation, messages = path_of(app, conversation_id)
    assert [m["role"] for m in messages] == [
        "user", "assistant", "tool", "assistant", "tool", "assistant"
    ]  # fmt: skip
    user, first, result_a, second, result_b, final = messages
    assert result_b["toolCallId"] == calls[1] and result_b["content"] == "echo: b"
    assert first["id"] == start["messageId"] and first["finishReason"] == "tool_calls"
    assert [c["id"] for c in first["toolCalls"]] == [calls[0]]
    assert result_a["toolCallId"] == calls[0] and result_a["content"] == "echo: a"
    assert result_a["error"] is None and result_a["elapsedMs"] is not None
    assert result_a["parentId"] == first["id"] and second["parentId"] == result_a["id"]
    assert [c["id"] for c in second["toolCalls"]] == [calls[1]]
    assert final["content"] == "All done." and final["finishReason"] == "stop"
    assert final["usage"] == {"inputTokens": 12, "outputTokens": 40, "source": "reported"}
    assert all(m["status"] == "done" for m in messages)
    assert conversation["currentLeafId"] == final["id"]
    assert conversation["messageCount"] == 6

    # A follow-up sends the stored chain, each call with its stored result.
    upstream.script(ANTHROPIC, Reply.stream(anthropic_stream(["Sure."])))
    follow = {"conversationId": conversation_id, "message": {"role": "user", "content": "More"}}
    stream(app, follow)
    chain = [
        {"role": "user", "content": [{"type": "text", "text": "Go"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": calls[0], "name": "echo", "input": {"text": "a"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": calls[0], "content": "echo: a"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": calls[1], "name": "echo", "input": {"text": "b"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": calls[1], "content": "echo: b"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "All done."}]},
    ]  # fmt: skip
    more = {"role": "user", "content": [{"type": "text", "text": "More"}]}
    assert bodies(upstream, ANTHROPIC)[-1]["messages"] == [*chain, more]

    # Editing that follow-up (a sibling under the same parent) replays the same chain.
    upstream.script(ANTHROPIC, Reply.stream(anthropic_stream(["Edited."])))
    edit = {
        "conversationId": conversation_id,
        "parentId": final["id"],
        "message": {"role": "user", "content": "Other"},
    }
    stream(app, edit)
    other = {"role": "user", "content": [{"type": "text", "text": "Other"}]}
    assert bodies(upstream, ANTHROPIC)[-1]["messages"] == [*chain, other]

    # Regenerating the first answer starts again from its user message.
    upstream.script(ANTHROPIC, Reply.stream(anthropic_stream(["Again."])))
    again = stream(app, {"conversationId": conversation_id, "parentId": user["id"]})
    assert bodies(upstream, ANTHROPIC)[-1]["messages"] == [chain[0]]
    regenerated = path_of(app, conversation_id)[1]
    assert [m["role"] for m in regenerated] == ["user", "assistant"]
    assert regenerated[1]["id"] == of(again, "start")[0]["messageId"]
    assert regenerated[1]["siblingIds"] == [first["id"], regenerated[1]["id"]]


def test_regenerate_without_a_parent_answers_the_user_message_of_the_chain(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    use_tools(app, echo=FakeTool(echo))
    conversation_id = conversation_with_tools(app)
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "echo", {"text": "a"}))),
        Reply.stream(openai_stream(["Answer"])),
    )
    stream(
        app,
        {
            "conversationId": conversation_id,
            "providerId": openai_provider,
            "message": {"role": "user", "content": "Go"},
        },
    )
    upstream.script(OPENAI, Reply.stream(openai_stream(["Second try"])))
    events = stream(app, {"conversationId": conversation_id})
    assert of(events, "done")[0]["finishReason"] == "stop"
    assert bodies(upstream, OPENAI)[-1]["messages"] == [{"role": "user", "content": "Go"}]
    assert [m["content"] for m in path_of(app, conversation_id)[1]] == ["Go", "Second try"]


def test_a_stopped_loop_is_stored_and_its_unrun_call_replays_as_not_run(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo), guarded=FakeTool(echo, approval="ask"))
    conversation_id = conversation_with_tools(app)
    upstream.script(
        OPENAI, Reply.stream(openai_calls(("a", "echo", {"text": "1"}), ("b", "guarded", {})))
    )
    reader = Reader(
        app,
        {
            "conversationId": conversation_id,
            "providerId": openai_provider,
            "message": {"role": "user", "content": "Go"},
        },
    )
    approval = reader.wait_for("tool_approval")
    reader.wait_for("tool_result")  # the call that needs no approval has run
    reader.leave()

    def stored() -> list[dict[str, Any]] | None:
        messages = path_of(app, conversation_id)[1]
        reply = messages[1]
        return messages if reply["finishReason"] == "cancelled" else None

    messages = wait_until(stored)
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]
    assert messages[2]["content"] == "echo: 1"
    assert catalog.calls == [("echo", {"text": "1"})]
    # The busy claim is released: the next turn goes through and replays both calls.
    upstream.script(OPENAI, Reply.stream(openai_stream(["ok"])))
    stream(app, {"conversationId": conversation_id, "message": {"role": "user", "content": "Next"}})
    sent = bodies(upstream, OPENAI)[-1]["messages"]
    ids = [c["id"] for c in sent[1]["tool_calls"]]
    assert approval["callId"] == ids[1]
    answers = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    assert answers == {ids[0]: "echo: 1", ids[1]: TOOL_NOT_RUN}


def test_tool_servers_in_the_conversation_form_are_stored(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    catalog = use_tools(app, echo=FakeTool(echo))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "echo", {"text": "a"}))),
        Reply.stream(openai_stream(["ok"])),
    )
    events = stream(
        app,
        {
            "conversationId": None,
            "providerId": openai_provider,
            "toolServers": [SERVER],
            "message": {"role": "user", "content": "Go"},
        },
    )
    conversation_id = of(events, "start")[0]["conversationId"]
    assert path_of(app, conversation_id)[0]["toolServers"] == [SERVER]
    assert catalog.calls == [("echo", {"text": "a"})]
    refused = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json={**ask(openai_provider), "tools": [{"name": "own"}]},
        headers=headers(),
        timeout=10,
    )
    assert refused.status_code == 400
    assert "toolServers" in refused.json()["error"]["fields"]


# --- a route, every round ------------------------------------------------------------------------


def test_a_route_is_the_target_of_every_round(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    use_tools(app, echo=FakeTool(echo))
    broken = add_provider(app, upstream.url + "/down/v1", name="down", displayName="Down")
    route = app.bridge().addRoute(
        {"name": "pair", "displayName": "Pair", "members": [broken, openai_provider]}
    )
    assert route["success"], route
    upstream.script("/down/v1/chat/completions", Reply.json({"error": {"message": "x"}}, 503))
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(("c1", "echo", {"text": "a"}))),
        Reply.stream(openai_stream(["ok"])),
    )
    events = stream(app, ask(str(route["id"])))
    order = kinds(events)
    assert order[:3] == ["start", "attempt", "attempt"]
    assert "attempt" not in order[3:]  # later rounds' members are not streamed again
    assert len(upstream.requests_to("/down/v1/chat/completions")) == 2  # tried in each round
    assert len(upstream.requests_to(OPENAI)) == 2
    done = of(events, "done")[0]
    assert done["finishReason"] == "stop" and done["providerId"] == openai_provider
    assert of(events, "tool_result")[0]["content"] == "echo: a"


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the condition never held")


# --- the real MCP layer ------------------------------------------------------------------------


class Confirming:
    """The window's dialogs, confirming every stdio command line."""

    def save_path(self, suggested_name: str) -> str | None:
        return None

    def open_path(self) -> str | None:
        return None

    def confirm(self, title: str, message: str) -> bool:
        return True

    def choose_folder(self) -> str | None:
        return None


REAL_ENV_CANARY = "mcp-loop-env-canary-8d2c4f6a0e1b"


def test_the_loop_runs_the_tools_of_a_real_stdio_mcp_server(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str, tmp_path: Path
) -> None:
    calls_file = tmp_path / "calls.txt"
    window = app.bridge(dialogs=Confirming())
    added = window.addMcpServer(
        {
            "name": "fake",
            "displayName": "Fake",
            "transport": "stdio",
            "command": sys.executable,
            "args": [script("stdio_server.py"), "--calls", str(calls_file)],
            "env": {"SECRET_VALUE": REAL_ENV_CANARY},
        }
    )
    assert added["success"], added
    server_id = added["id"]

    def connected() -> bool:
        servers = window.getAllMcpServers()["servers"]
        return any(s["id"] == server_id and s["status"] == "connected" for s in servers)

    wait_until(connected, timeout=30)
    for tool in ("echo", "fail", "slow"):
        assert window.setMcpToolPolicy(server_id, tool, {"approval": "always"})["success"]
    upstream.script(
        OPENAI,
        Reply.stream(
            openai_calls(
                ("a", "echo", {"message": "hi"}),
                ("b", "env", {"name": "SECRET_VALUE"}),
                ("c", "fail", {"reason": "on purpose"}),
            )
        ),
        Reply.stream(openai_stream(["All three done."])),
        Reply.stream(openai_calls(("d", "slow", {"seconds": 60}))),
    )
    body = {
        "providerId": openai_provider,
        "messages": [{"role": "user", "content": "Use them"}],
        "toolServers": [server_id],
    }
    reader = Reader(app, body)
    approval = reader.wait_for("tool_approval")  # `env` is still `ask`
    assert approval["name"] == "env" and approval["serverId"] == server_id
    request_id = reader.wait_for("start")["requestId"]
    assert rpc(app, "answerToolApproval", request_id, approval["callId"], "allow")["success"]
    events = reader.finish()
    assert of(events, "done")[0]["finishReason"] == "stop"
    results = {r["name"]: r for r in of(events, "tool_result")}
    assert results["echo"]["content"] == "echo: hi" and not results["echo"]["isError"]
    assert results["env"]["content"] == "[redacted]"  # the server's own env value, masked
    assert results["fail"]["isError"] and "on purpose" in results["fail"]["content"]
    sent = bodies(upstream, OPENAI)[1]["messages"]
    assert {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"} == {
        results[name]["callId"]: results[name]["content"] for name in ("echo", "env", "fail")
    }
    assert all(REAL_ENV_CANARY not in seen.body.decode() for seen in upstream.requests_to(OPENAI))
    assert REAL_ENV_CANARY not in json.dumps(events)

    # A long call, stopped by the client going away: the server hears the cancellation.
    reader = Reader(app, body)
    reader.wait_for("tool_call")
    wait_until(lambda: calls_file.exists() and "started" in calls_file.read_text())
    reader.leave()
    wait_until(lambda: "cancelled" in calls_file.read_text(), timeout=5)


def test_stopping_the_chat_cancels_a_long_call_of_the_reference_server(
    app: MiaodaApp, upstream: FakeUpstream, openai_provider: str
) -> None:
    """The issue's case end to end: the model calls the reference server's long-running tool,
    the user stops the chat (the client goes away), and the conversation is free again at once:
    the call was cancelled, not waited out, and the server answers the next chat's call."""
    window = app.bridge(dialogs=Confirming())
    added = window.addMcpServer(
        {
            "name": "everything",
            "displayName": "Everything",
            "transport": "stdio",
            "command": "node",
            "args": [str(reference_server()), "stdio"],
        }
    )
    assert added["success"], added
    server_id = added["id"]

    def connected() -> bool:
        servers = window.getAllMcpServers()["servers"]
        return any(s["id"] == server_id and s["status"] == "connected" for s in servers)

    wait_until(connected, timeout=30)
    for tool in ("trigger-long-running-operation", "echo"):
        assert window.setMcpToolPolicy(server_id, tool, {"approval": "always"})["success"]
    long_call = ("a", "trigger-long-running-operation", {"duration": 60, "steps": 60})
    upstream.script(
        OPENAI,
        Reply.stream(openai_calls(long_call)),
        Reply.stream(openai_calls(("b", "echo", {"message": "after the stop"}))),
        Reply.stream(openai_stream(["Done."])),
    )
    created = window.createConversation({"toolServers": [server_id]})
    assert created["success"], created
    turn = {
        "conversationId": created["conversation"]["id"],
        "providerId": openai_provider,
        "message": {"role": "user", "content": "Take your time"},
    }

    reader = Reader(app, turn)
    reader.wait_for("tool_call")
    reader.leave()
    stopped_at = time.monotonic()

    def next_turn_accepted() -> list[tuple[str, Any]] | None:
        # One stream at a time per conversation: this is refused while the call still runs.
        response = httpx.post(
            f"{app.server_url}/api/chat/stream",
            json={**turn, "message": {"role": "user", "content": "Now echo"}},
            headers=headers(),
            timeout=30,
        )
        return parse_events(response.text) if response.status_code == 200 else None

    events = wait_until(next_turn_accepted, timeout=10)
    assert time.monotonic() - stopped_at < 5, "the stopped call was waited out"
    results = of(events, "tool_result")
    assert [(r["name"], r["content"], r["isError"]) for r in results] == [
        ("echo", "Echo: after the stop", False)
    ]
    assert of(events, "done")[0]["finishReason"] == "stop"


def reference_server() -> Path:
    """`@modelcontextprotocol/server-everything`'s entry point, installed by `npm ci`."""
    entry = (
        Path(__file__).resolve().parents[2]
        / "node_modules"
        / "@modelcontextprotocol"
        / "server-everything"
        / "dist"
        / "index.js"
    )
    require(entry.is_file(), "needs @modelcontextprotocol/server-everything: run ./dev test")
    return entry
