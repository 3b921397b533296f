"""Chat request validation: the fast path for plain messages agrees with the full schema."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import schemas
from backend.errors import InvalidConfig
from backend.models import ChatMessage, ChatRequest
from backend.schemas import load_chat_request


def through_schema(body: Any) -> ChatRequest:
    """`load_chat_request` with the fast path turned off."""
    original = schemas._plain_messages
    schemas._plain_messages = lambda raw: None  # type: ignore[assignment]
    try:
        return load_chat_request(body)
    finally:
        schemas._plain_messages = original  # type: ignore[assignment]


def outcome(load: Any, body: Any) -> tuple[str, Any]:
    try:
        return "ok", load(body)
    except InvalidConfig as err:
        return "error", (err.message, err.fields)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.sampled_from(["system", "user", "assistant", "tool", "User", ""]),
    st.lists(st.integers(), max_size=2),
)
messages = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=8)}
    ),
    st.dictionaries(
        st.sampled_from(["role", "content", "toolCallId", "toolCalls", "extra"]), values, max_size=4
    ),
    values,
)
bodies = st.fixed_dictionaries(
    {"providerId": st.one_of(st.just("p1"), values)},
    optional={
        "messages": st.one_of(st.lists(messages, max_size=4), values),
        "parameters": st.one_of(st.just({"temperature": 0.5}), st.just({"nope": 1}), values),
        "conversationId": st.text(max_size=3),
    },
)


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_the_fast_path_and_the_schema_agree_on_every_body(body: dict[str, Any]) -> None:
    assert outcome(load_chat_request, body) == outcome(through_schema, body)


def test_a_long_plain_conversation_is_loaded_as_it_was_sent() -> None:
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"message {i} ✓"}
        for i in range(500)
    ]
    request = load_chat_request(
        {"providerId": "p1", "messages": [{"role": "system", "content": "be brief"}, *turns]}
    )
    assert request.messages[0] == ChatMessage("system", "be brief")
    assert [m.content for m in request.messages[1:]] == [t["content"] for t in turns]
    assert request == through_schema(
        {"providerId": "p1", "messages": [{"role": "system", "content": "be brief"}, *turns]}
    )


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"role": "tool", "content": "42"}, "toolCallId"),
        ({"role": "robot", "content": "hi"}, "role"),
        ({"role": "user", "content": 7}, "content"),
        ({"role": "user", "content": "hi", "extra": 1}, "extra"),
    ],
)
def test_a_message_off_the_fast_path_gets_the_schemas_error(
    message: dict[str, Any], field: str
) -> None:
    body = {"providerId": "p1", "messages": [{"role": "user", "content": "ok"}, message]}
    with pytest.raises(InvalidConfig) as caught:
        load_chat_request(body)
    assert any(name.endswith(field) for name in caught.value.fields)
