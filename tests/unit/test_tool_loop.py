"""The tool loop's parts on their own: approvals, the result cap, usage over rounds, the chat
request's `toolServers`, answerToolApproval's arguments, the stored history replayed, and each
protocol's shape of a call and its result."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from backend.chat.conversations import TOOL_NOT_RUN, history_messages
from backend.chat.tools import CUT, ToolApprovals, add_usage, cap
from backend.errors import InvalidConfig, NotFound
from backend.models import ChatMessage, ChatRequest, ToolCall
from backend.providers.wire.anthropic import AnthropicAdapter
from backend.providers.wire.openai import OpenAIAdapter
from backend.schemas import load_chat_request, load_conversation_turn, load_tool_approval
from backend.storage import Message
from tests.fakes.upstream import fake_config

# --- approvals ------------------------------------------------------------------------------


def test_an_answer_reaches_the_waiting_call_once() -> None:
    approvals = ToolApprovals()
    woken = threading.Event()
    pending = approvals.ask("r1", "c1", woken.set)
    assert (
        approvals.waiting() == 1 and approvals.waiting("r1") == 1 and approvals.waiting("r2") == 0
    )
    approvals.answer("r1", "c1", "allow")
    assert pending.decision == "allow" and woken.is_set()
    with pytest.raises(NotFound) as raised:
        approvals.answer("r1", "c1", "deny")
    assert "callId" in (raised.value.fields or {})
    assert approvals.waiting() == 0


def test_withdrawn_calls_are_not_found() -> None:
    approvals = ToolApprovals()
    for call_id in ("a", "b"):
        approvals.ask("r1", call_id, lambda: None)
    approvals.ask("r2", "a", lambda: None)
    approvals.withdraw("r1", "a")
    with pytest.raises(NotFound):
        approvals.answer("r1", "a", "allow")
    approvals.withdraw_all("r1")
    with pytest.raises(NotFound):
        approvals.answer("r1", "b", "allow")
    assert approvals.waiting() == 1  # another request's call still waits
    approvals.answer("r2", "a", "deny")


# --- the result cap and usage -------------------------------------------------------------------


def test_cap_keeps_short_text_and_says_what_it_cut() -> None:
    assert cap("short", 10) == ("short", 0)
    text, cut = cap("a" * 12_355, 10)
    assert cut == 12_345 and text == "a" * 10 + "\n[… 12,345 characters cut]"
    assert CUT.format(count=1) == "[… 1 characters cut]"


def test_usage_is_summed_and_reported_only_when_every_round_was() -> None:
    first = {"inputTokens": 10, "outputTokens": 5, "source": "reported", "cachedInputTokens": 4}
    second = {"inputTokens": 20, "outputTokens": 2, "source": "reported"}
    assert add_usage(None, first) == first
    assert add_usage(first, second) == {
        "inputTokens": 30,
        "outputTokens": 7,
        "source": "reported",
        "cachedInputTokens": 4,
    }
    guessed = {"inputTokens": 1, "outputTokens": 1, "source": "estimated"}
    assert add_usage(first, guessed)["source"] == "estimated"


# --- the request's fields -----------------------------------------------------------------------


def body(**fields: Any) -> dict[str, Any]:
    return {"providerId": "p", "messages": [{"role": "user", "content": "hi"}], **fields}


def test_tool_servers_are_read_without_repeats() -> None:
    request = load_chat_request(body(toolServers=["s1", "s2", "s1"]))
    assert request.tool_servers == ("s1", "s2") and request.tools == ()
    assert load_chat_request(body()).tool_servers == ()


@pytest.mark.parametrize(
    "servers",
    [["s1"] * 65, [""], "s1", [3]],
)
def test_bad_tool_servers_are_refused_naming_the_field(servers: Any) -> None:
    with pytest.raises(InvalidConfig) as raised:
        load_chat_request(body(toolServers=servers))
    assert any(name.startswith("toolServers") for name in raised.value.fields or {})


def test_own_tools_and_tool_servers_do_not_mix() -> None:
    with pytest.raises(InvalidConfig) as raised:
        load_chat_request(body(toolServers=["s1"], tools=[{"name": "own"}]))
    assert "toolServers" in (raised.value.fields or {})


def test_the_conversation_form_may_set_its_tool_servers() -> None:
    turn = load_conversation_turn(
        {"conversationId": None, "message": {"role": "user", "content": "x"}, "toolServers": []}
    )
    assert turn.tool_servers == ()
    kept = load_conversation_turn({"conversationId": "c1"})
    assert kept.tool_servers is None


def test_answer_tool_approval_arguments() -> None:
    assert load_tool_approval("r", "c", "deny") == ("r", "c", "deny")
    for args, field in (
        (("r", "c", "yes"), "decision"),
        (("r", "c", None), "decision"),
        ((None, "c", "allow"), "requestId"),
        (("r", "", "allow"), "callId"),
    ):
        with pytest.raises(InvalidConfig) as raised:
            load_tool_approval(*args)
        assert field in (raised.value.fields or {})


# --- the stored history --------------------------------------------------------------------------


def message(role: str, content: str = "", **fields: Any) -> Message:
    values: dict[str, Any] = {
        "id": fields.pop("id", content or role),
        "conversation_id": "c",
        "parent_id": None,
        "role": role,
        "content": content,
        "reasoning": "",
        "tool_calls": (),
        "tool_call_id": None,
        "provider_id": None,
        "model": None,
        "usage": None,
        "finish_reason": "stop",
        "status": "done",
        "error": None,
        "ttft_ms": None,
        "elapsed_ms": None,
        "created_at": "",
        "sibling_ids": (),
    }
    values.update(fields)
    return Message(**values)


def test_stored_results_answer_their_calls_and_the_others_are_not_run() -> None:
    calls = (
        {"id": "c1", "name": "echo", "arguments": "{}"},
        {"id": "c2", "name": "echo", "arguments": "{}"},
        {"id": "c3", "name": "guarded", "arguments": "{}"},
    )
    path = [
        message("user", "Go"),
        message("assistant", id="a1", tool_calls=calls),
        message("tool", "ok", id="t1", tool_call_id="c1"),
        message("tool", "declined", id="t2", tool_call_id="c2", error={"code": "TOOL_DECLINED"}),
    ]
    assert history_messages("Be brief.", path) == (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Go"),
        ChatMessage(
            "assistant",
            "",
            tool_calls=tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in calls),
        ),
        ChatMessage("tool", TOOL_NOT_RUN, tool_call_id="c3"),
        ChatMessage("tool", "ok", tool_call_id="c1"),
        ChatMessage("tool", "declined", tool_call_id="c2", is_error=True),
    )


# --- each protocol's shape ------------------------------------------------------------------------


def history() -> ChatRequest:
    return ChatRequest(
        "p",
        (
            ChatMessage("user", "Go"),
            ChatMessage("assistant", "", tool_calls=(ToolCall("call_1", "echo", '{"a": 1}'),)),
            ChatMessage("tool", "fine", tool_call_id="call_1"),
            ChatMessage("tool", "broke", tool_call_id="call_2", is_error=True),
        ),
    )


def test_openai_sends_tool_messages_with_their_call_ids() -> None:
    call = OpenAIAdapter().chat_call(fake_config("http://x/v1"), "k", history(), stream=True)
    assert call.body is not None
    assert call.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "echo", "arguments": '{"a": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "fine"},
        {"role": "tool", "tool_call_id": "call_2", "content": "broke"},
    ]


def test_anthropic_sends_tool_result_blocks_and_marks_errors() -> None:
    config = fake_config("http://x", type="anthropic-compatible")
    call = AnthropicAdapter().chat_call(config, "k", history(), stream=True)
    assert call.body is not None
    assert call.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "echo", "input": {"a": 1}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "fine"},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_2",
                    "content": "broke",
                    "is_error": True,
                },
            ],
        },
    ]
