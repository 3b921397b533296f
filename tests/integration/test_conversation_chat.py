"""Chat in the conversation form through the real app and its HTTP server, against a fake
upstream: the history and system prompt sent, the reply saved as it streams and at every end,
branches (edit, regenerate), the model override, one stream per conversation, and a key an
upstream echoes never reaching the database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.app import MiaodaApp
from backend.chat.conversations import TOOL_NOT_RUN
from tests.fakes.upstream import FakeUpstream, Reply, openai_chunk, openai_stream
from tests.helpers import CANARY_KEY
from tests.integration.test_chat_http import add_provider, headers, parse_events

PATH = "/v1/chat/completions"
Events = list[tuple[str, Any]]


@pytest.fixture
def app(data_dir: Path) -> Iterator[MiaodaApp]:
    """The real app serving on a loopback port with the token "tok"."""
    instance = MiaodaApp(data_dir, secret_backend="file", token="tok", chat_heartbeat=0.3)
    instance.start_server(0)
    yield instance
    instance.close()


@pytest.fixture
def provider_id(app: MiaodaApp, upstream: FakeUpstream) -> str:
    """A provider (canary key) on the fake upstream's /v1."""
    return add_provider(app, upstream.url + "/v1", apiKey=CANARY_KEY)


def stream(app: MiaodaApp, body: dict[str, Any]) -> Events:
    """One whole `/api/chat/stream` exchange, as events (fails on an HTTP error)."""
    response = httpx.post(
        f"{app.server_url}/api/chat/stream", json=body, headers=headers(), timeout=20
    )
    assert response.status_code == 200, response.text
    return parse_events(response.text)


def send(app: MiaodaApp, provider_id: str, text: str, **fields: Any) -> Events:
    """A user message in the conversation form (a new conversation unless one is named)."""
    body = {"conversationId": None, "providerId": provider_id, **fields}
    body["message"] = {"role": "user", "content": text}
    return stream(app, body)


def start_of(events: Events) -> dict[str, Any]:
    assert events[0][0] == "start"
    return dict(events[0][1])


def conversation(app: MiaodaApp, conversation_id: str, **options: Any) -> dict[str, Any]:
    result = app.bridge().getConversation(conversation_id, options or None)
    assert result["success"], result
    return result


def sent_messages(upstream: FakeUpstream, index: int = -1) -> list[dict[str, Any]]:
    """The `messages` of a request the upstream received."""
    return list(upstream.requests_to(PATH)[index].json["messages"])


def wait_until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` until it returns something truthy (which is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("the condition never held")


# --- a turn and what is stored ------------------------------------------------------------


def test_a_first_message_starts_a_conversation_and_stores_both_turns(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["Hi ", "there"])))
    events = send(app, provider_id, "Hello\nsecond line")
    start = start_of(events)
    assert {"conversationId", "userMessageId", "messageId", "requestId"} <= set(start)
    assert start["providerId"] == provider_id and start["model"] == "fake-model"
    assert events[-1] == ("done", events[-1][1]) and events[-1][1]["finishReason"] == "stop"

    found = conversation(app, start["conversationId"])
    user, reply = found["messages"]
    assert user["id"] == start["userMessageId"] and user["role"] == "user"
    assert user["content"] == "Hello\nsecond line" and user["parentId"] is None
    assert reply["id"] == start["messageId"] and reply["parentId"] == user["id"]
    assert reply["content"] == "Hi there" and reply["finishReason"] == "stop"
    assert reply["usage"]["outputTokens"] == 40 and reply["ttftMs"] is not None
    assert reply["model"] == "fake-model" and reply["providerId"] == provider_id
    assert found["conversation"]["title"] == "Hello"
    assert found["conversation"]["currentLeafId"] == reply["id"]
    assert found["conversation"]["providerId"] == provider_id


def test_the_non_streamed_form_answers_with_the_ids_and_stores_the_reply(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    completion = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Whole"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    upstream.script(PATH, Reply.json(completion))
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": "Once"},
    }
    result = httpx.post(f"{app.server_url}/api/chat", json=body, headers=headers()).json()
    assert result["success"] is True and result["message"]["content"] == "Whole"
    found = conversation(app, result["conversationId"])
    assert [m["id"] for m in found["messages"]] == [result["userMessageId"], result["messageId"]]
    assert found["messages"][1]["content"] == "Whole"
    assert found["messages"][1]["finishReason"] == "stop"


def test_a_failure_answered_as_an_envelope_names_the_turn_it_stored(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "Incorrect API key"}}, status=401))
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": "Once"},
    }
    response = httpx.post(f"{app.server_url}/api/chat", json=body, headers=headers())
    error = response.json()["error"]
    assert response.status_code == 502 and error["code"] == "AUTH_FAILED"
    found = conversation(app, error["conversationId"])
    assert [m["id"] for m in found["messages"]] == [error["userMessageId"], error["messageId"]]
    assert found["messages"][1]["finishReason"] == "error"
    assert CANARY_KEY not in response.text


def test_a_follow_up_sends_the_stored_history_with_the_system_prompt_first(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    created = app.bridge().createConversation(
        {"systemPrompt": "You are terse.", "providerId": provider_id}
    )
    conversation_id = created["conversation"]["id"]
    upstream.script(PATH, Reply.stream(openai_stream(["One"])))
    stream(app, {"conversationId": conversation_id, "message": {"role": "user", "content": "A"}})
    upstream.script(PATH, Reply.stream(openai_stream(["Two"])))
    stream(app, {"conversationId": conversation_id, "message": {"role": "user", "content": "B"}})

    assert sent_messages(upstream, 0) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "A"},
    ]
    assert sent_messages(upstream, 1) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "A"},
        {"role": "assistant", "content": "One"},
        {"role": "user", "content": "B"},
    ]


def test_the_stateless_form_stores_no_conversation(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    events = stream(
        app, {"providerId": provider_id, "messages": [{"role": "user", "content": "Hi"}]}
    )
    assert "conversationId" not in start_of(events)
    listed = app.bridge().listConversations()
    assert listed["success"] and listed["conversations"] == []


# --- the model override --------------------------------------------------------------------


def test_a_model_override_is_sent_and_named_in_start_in_the_stateless_form(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    body = {
        "providerId": provider_id,
        "model": "other-model",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    events = stream(app, body)
    assert start_of(events)["model"] == "other-model"
    assert upstream.requests_to(PATH)[0].json["model"] == "other-model"


@pytest.mark.parametrize("form", ["stateless", "conversation"])
def test_the_requests_parameters_go_over_the_providers_own(
    app: MiaodaApp, upstream: FakeUpstream, form: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    provider = add_provider(app, upstream.url + "/v1", parameters={"temperature": 0.2, "topP": 0.5})
    body: dict[str, Any] = {"providerId": provider, "parameters": {"temperature": 0.9}}
    if form == "stateless":
        body["messages"] = [{"role": "user", "content": "Hi"}]
    else:
        body.update(conversationId=None, message={"role": "user", "content": "Hi"})
    stream(app, body)
    sent = upstream.requests_to(PATH)[0].json
    assert (sent["temperature"], sent["top_p"]) == (0.9, 0.5)


def test_a_conversation_uses_and_remembers_the_model_last_chosen(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["ok"])))
    first = start_of(send(app, provider_id, "Hi", model="big-model"))
    assert first["model"] == "big-model"
    stream(
        app,
        {
            "conversationId": first["conversationId"],
            "message": {"role": "user", "content": "Again"},
        },
    )
    assert [r.json["model"] for r in upstream.requests_to(PATH)] == ["big-model", "big-model"]
    found = conversation(app, first["conversationId"])
    assert found["conversation"]["model"] == "big-model"
    assert found["messages"][-1]["model"] == "big-model"


@pytest.mark.parametrize("form", ["stateless", "conversation"])
def test_a_bad_model_is_a_field_error_naming_model(
    app: MiaodaApp, provider_id: str, form: str
) -> None:
    body: dict[str, Any] = {"providerId": provider_id, "model": "bad\nmodel"}
    if form == "stateless":
        body["messages"] = [{"role": "user", "content": "Hi"}]
    else:
        body |= {"conversationId": None, "message": {"role": "user", "content": "Hi"}}
    response = httpx.post(f"{app.server_url}/api/chat/stream", json=body, headers=headers())
    assert response.status_code == 400
    assert "model" in response.json()["error"]["fields"]
    assert app.bridge().listConversations()["conversations"] == []


# --- branches --------------------------------------------------------------------------------


def test_editing_the_first_message_adds_a_root_sibling_and_moves_the_leaf(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["first answer"])))
    first = start_of(send(app, provider_id, "Original"))
    conversation_id = first["conversationId"]
    upstream.script(PATH, Reply.stream(openai_stream(["second answer"])))
    edited = start_of(
        stream(
            app,
            {
                "conversationId": conversation_id,
                "parentId": None,
                "message": {"role": "user", "content": "Edited"},
            },
        )
    )
    assert sent_messages(upstream) == [{"role": "user", "content": "Edited"}]
    found = conversation(app, conversation_id)
    user, reply = found["messages"]
    assert user["id"] == edited["userMessageId"] and user["parentId"] is None
    assert user["siblingIds"] == [first["userMessageId"], edited["userMessageId"]]
    assert reply["content"] == "second answer"
    assert found["conversation"]["currentLeafId"] == edited["messageId"]
    assert found["conversation"]["messageCount"] == 4
    # The older branch is still there, reachable by naming its leaf.
    old = conversation(app, conversation_id, leafId=first["userMessageId"])
    assert [m["content"] for m in old["messages"]] == ["Original", "first answer"]


def test_regenerating_adds_an_assistant_sibling_and_sends_the_history_up_to_the_question(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["take one"])))
    first = start_of(send(app, provider_id, "Question"))
    upstream.script(PATH, Reply.stream(openai_stream(["take two"])))
    again = start_of(
        stream(app, {"conversationId": first["conversationId"], "parentId": first["userMessageId"]})
    )
    assert again["userMessageId"] == first["userMessageId"]
    assert again["messageId"] != first["messageId"]
    assert sent_messages(upstream) == [{"role": "user", "content": "Question"}]
    found = conversation(app, first["conversationId"])
    reply = found["messages"][-1]
    assert reply["content"] == "take two"
    assert reply["siblingIds"] == [first["messageId"], again["messageId"]]
    assert found["conversation"]["currentLeafId"] == again["messageId"]


def test_regenerating_without_a_parent_answers_the_current_leafs_question(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["a"])))
    first = start_of(send(app, provider_id, "Q"))
    again = start_of(stream(app, {"conversationId": first["conversationId"]}))
    assert again["userMessageId"] == first["userMessageId"]


def test_regenerating_from_a_reply_is_a_field_error_and_saves_nothing(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["a"])))
    first = start_of(send(app, provider_id, "Q"))
    response = httpx.post(
        f"{app.server_url}/api/chat/stream",
        json={"conversationId": first["conversationId"], "parentId": first["messageId"]},
        headers=headers(),
    )
    assert response.status_code == 400 and "parentId" in response.json()["error"]["fields"]
    assert conversation(app, first["conversationId"])["conversation"]["messageCount"] == 2


def test_a_conversation_body_may_not_carry_messages_or_tools(
    app: MiaodaApp, provider_id: str
) -> None:
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": "Hi"},
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"name": "t"}],
    }
    response = httpx.post(f"{app.server_url}/api/chat/stream", json=body, headers=headers())
    assert response.status_code == 400
    assert {"messages", "tools"} <= set(response.json()["error"]["fields"])
    assert app.bridge().listConversations()["conversations"] == []


def test_tool_calls_go_back_answered_and_failed_turns_are_left_out(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    call = {"index": 0, "id": "call_1", "type": "function"}
    call["function"] = {"name": "lookup", "arguments": '{"q":"x"}'}
    tool_stream = [
        openai_chunk({"role": "assistant", "content": ""}),
        openai_chunk({"tool_calls": [call]}),
        openai_chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    upstream.script(PATH, Reply.stream(tool_stream))
    first = start_of(send(app, provider_id, "Use a tool"))
    conversation_id = first["conversationId"]
    upstream.script(PATH, Reply.json({"error": {"message": "overloaded"}}, status=400))
    failed = stream(
        app, {"conversationId": conversation_id, "message": {"role": "user", "content": "Next"}}
    )
    assert failed[-1][1]["finishReason"] == "error"
    upstream.script(PATH, Reply.stream(openai_stream(["done"])))
    stream(app, {"conversationId": conversation_id, "message": {"role": "user", "content": "Last"}})
    assert sent_messages(upstream) == [
        {"role": "user", "content": "Use a tool"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q":"x"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": TOOL_NOT_RUN},
        {"role": "user", "content": "Next"},
        {"role": "user", "content": "Last"},
    ]


# --- saving as it streams, and every end -----------------------------------------------------


def test_the_reply_is_saved_while_it_streams(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["word "] * 40), delay=0.1))
    with httpx.stream(
        "POST",
        f"{app.server_url}/api/chat/stream",
        json={
            "conversationId": None,
            "providerId": provider_id,
            "message": {"role": "user", "content": "Long"},
        },
        headers=headers(),
        timeout=20,
    ) as response:
        chunks = response.iter_text()
        head = next(chunks)
        start = parse_events(head)[0][1]

        def partial() -> dict[str, Any] | None:
            reply = conversation(app, start["conversationId"])["messages"][-1]
            return reply if reply["content"] and reply["status"] == "streaming" else None

        reply = wait_until(partial, timeout=3)
        assert reply["finishReason"] is None and reply["content"].startswith("word ")
        for _ in chunks:
            pass
    final = conversation(app, start["conversationId"])["messages"][-1]
    assert final["content"] == "word " * 40 and final["finishReason"] == "stop"


def test_a_client_that_goes_away_leaves_the_partial_reply_cancelled(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["part "] * 50), delay=0.1))
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": "Stop me"},
    }
    seen = ""
    with httpx.stream(
        "POST", f"{app.server_url}/api/chat/stream", json=body, headers=headers()
    ) as response:
        chunks = response.iter_text()
        for chunk in chunks:
            seen += chunk
            if seen.count("part") >= 3:
                break
    start = parse_events(seen.rsplit("\n\n", 1)[0] + "\n\n")[0][1]

    def closed() -> dict[str, Any] | None:
        reply = conversation(app, start["conversationId"])["messages"][-1]
        return reply if reply["finishReason"] else None

    reply = wait_until(closed)
    assert reply["finishReason"] == "cancelled" and reply["status"] == "done"
    assert reply["content"].startswith("part part part")
    assert reply["error"] is None


def test_an_upstream_error_leaves_the_reply_with_error(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "Incorrect API key"}}, status=401))
    events = send(app, provider_id, "Hi")
    assert events[-1][1]["finishReason"] == "error"
    reply = conversation(app, start_of(events)["conversationId"])["messages"][-1]
    assert reply["finishReason"] == "error" and reply["error"]["code"] == "AUTH_FAILED"
    assert reply["error"]["message"] and CANARY_KEY not in reply["error"]["message"]


def test_an_error_mid_stream_keeps_the_text_that_came_before_it(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["kept ", "text"]), close_after=3))
    events = send(app, provider_id, "Hi")
    assert events[-1][1]["finishReason"] == "error"
    reply = conversation(app, start_of(events)["conversationId"])["messages"][-1]
    assert reply["content"] == "kept text" and reply["finishReason"] == "error"
    assert reply["error"]["code"]


# --- one stream per conversation, and deletes that stop it -------------------------------------


def open_slow_stream(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> tuple[httpx.Client, httpx.Response, Iterator[str], dict[str, Any], str]:
    """A stream that keeps going (200 pieces at 0.05 s), read up to its `start` event; also
    the text read so far."""
    upstream.script(PATH, Reply.stream(openai_stream(["slow "] * 200), delay=0.05))
    client = httpx.Client(timeout=20)
    body = {
        "conversationId": None,
        "providerId": provider_id,
        "message": {"role": "user", "content": "Slow"},
    }
    request = client.build_request(
        "POST", f"{app.server_url}/api/chat/stream", json=body, headers=headers()
    )
    response = client.send(request, stream=True)
    chunks = response.iter_text()
    seen = ""
    while "event: start" not in seen or "\n\n" not in seen:
        seen += next(chunks)
    start = parse_events(seen.split("\n\n", 1)[0] + "\n\n")[0][1]
    # `start` is sent before the upstream has the request: wait until it does, so what the
    # test does next meets a stream that is really running upstream.
    assert upstream.wait_for_requests(1, 10)
    return client, response, chunks, start, seen


def test_a_second_stream_for_the_same_conversation_is_refused_before_saving(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str
) -> None:
    client, response, chunks, start, seen = open_slow_stream(app, upstream, provider_id)
    try:
        count = conversation(app, start["conversationId"])["conversation"]["messageCount"]
        second = httpx.post(
            f"{app.server_url}/api/chat/stream",
            json={
                "conversationId": start["conversationId"],
                "message": {"role": "user", "content": "Me too"},
            },
            headers=headers(),
        )
        if second.status_code != 409:  # say what the first stream did meanwhile
            pytest.fail(f"second stream accepted; the first: {(seen + ''.join(chunks))[-800:]}")
        assert second.json()["error"]["code"] == "BAD_REQUEST"
        after = conversation(app, start["conversationId"])["conversation"]["messageCount"]
        assert after == count == 2
    finally:
        response.close()
        client.close()


@pytest.mark.parametrize("what", ["message", "conversation"])
def test_deleting_a_streaming_reply_cancels_its_stream(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str, what: str
) -> None:
    client, response, chunks, start, seen = open_slow_stream(app, upstream, provider_id)
    try:
        if what == "message":
            result = app.bridge().deleteMessage(start["messageId"])
        else:
            result = app.bridge().deleteConversation(start["conversationId"])
        assert result["success"], result
        events = parse_events(seen + "".join(chunks))
    finally:
        response.close()
        client.close()
    assert events[-1][0] == "done" and events[-1][1]["finishReason"] == "cancelled"
    assert upstream.wait_for_disconnect(3) is not None
    if what == "message":
        found = conversation(app, start["conversationId"])
        assert [m["id"] for m in found["messages"]] == [start["userMessageId"]]
    else:
        gone = app.bridge().getConversation(start["conversationId"])
        assert gone["error"]["code"] == "NOT_FOUND"


# --- keys echoed by an upstream ----------------------------------------------------------------


def test_a_key_an_upstream_echoes_never_reaches_the_database_or_an_export(
    app: MiaodaApp, upstream: FakeUpstream, provider_id: str, data_dir: Path
) -> None:
    upstream.script(
        PATH,
        Reply.stream(openai_stream(["Your key is ", CANARY_KEY[:20], CANARY_KEY[20:], " ok"])),
    )
    events = send(app, provider_id, f"My key is {CANARY_KEY}")
    conversation_id = start_of(events)["conversationId"]
    found = conversation(app, conversation_id)
    assert found["messages"][-1]["content"].startswith("Your key is ")
    for kind in ("json", "markdown"):
        exported = app.bridge().exportConversation(conversation_id, {"format": kind})
        assert exported["success"] and CANARY_KEY not in exported["content"]
    # Whatever was written is in the database file or still in its write-ahead log.
    for path in data_dir.glob("miaoda.db*"):
        assert CANARY_KEY.encode() not in path.read_bytes(), path.name
