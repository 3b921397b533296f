"""The chat relay turns a provider stream into the event stream (docs/API.md, "Event stream")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backend.chat.failover import Report
from backend.chat.relay import collect_chat
from backend.errors import AuthFailed
from backend.providers import ProviderService
from tests.fakes.upstream import (
    FakeUpstream,
    Reply,
    SleepRecorder,
    anthropic_stream,
    fake_config,
    openai_chunk,
    openai_stream,
    sse,
    user_request,
)
from tests.relay import RelayRun

PATH = "/v1/chat/completions"


@pytest.fixture
def retry_sleep(sleeps: SleepRecorder) -> SleepRecorder:
    """Here `service` records its retry delays in `sleeps` instead of waiting them (the other
    integration tests really wait)."""
    return sleeps


def frames(chunks: list[bytes]) -> list[tuple[str, Any]]:
    """(event, data) pairs of the SSE bytes; comments come out as ("comment", text)."""
    out: list[tuple[str, Any]] = []
    for block in b"".join(chunks).decode().split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            out.append(("comment", block[1:].strip()))
            continue
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def relay(
    service: ProviderService,
    upstream: FakeUpstream,
    *replies: Reply,
    heartbeat: float = 15.0,
    records: list[dict[str, Any]] | None = None,
    anthropic: bool = False,
) -> list[bytes]:
    if anthropic:
        upstream.script("/v1/messages", *replies)
        config = fake_config(upstream.url, type="anthropic-compatible")
    else:
        upstream.script(PATH, *replies)
        config = fake_config(upstream.url + "/v1")
    stream = service.open_stream(config, "sk-test", user_request())
    run = RelayRun(
        service,
        stream,
        heartbeat=heartbeat,
        on_finish=records.append if records is not None else None,
        ids=(config.id, config.model, "req-1"),
    )
    return run.wait()


def test_event_order_for_a_normal_answer(service: ProviderService, upstream: FakeUpstream) -> None:
    got = frames(
        relay(service, upstream, Reply.stream(openai_stream(["Hi", " there"]), delay=0.01))
    )
    kinds = [kind for kind, _ in got]
    assert kinds[0] == "start" and kinds[-2:] == ["usage", "done"]
    assert set(kinds[1:-2]) == {"delta"}
    assert got[0][1] == {"requestId": "req-1", "providerId": "prov-1", "model": "fake-model"}
    assert "".join(d["text"] for k, d in got if k == "delta") == "Hi there"
    assert got[-2][1] == {"inputTokens": 12, "outputTokens": 40, "source": "reported"}
    done = got[-1][1]
    assert done["finishReason"] == "stop"
    assert isinstance(done["ttftMs"], int) and isinstance(done["elapsedMs"], int)
    assert 0 <= done["ttftMs"] <= done["elapsedMs"]


def test_anthropic_answer_has_the_same_shape(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    got = frames(
        relay(service, upstream, Reply.stream(anthropic_stream(["Bon", "jour"])), anthropic=True)
    )
    assert [kind for kind, _ in got if kind != "delta"] == ["start", "usage", "done"]
    assert "".join(d["text"] for k, d in got if k == "delta") == "Bonjour"


def test_a_burst_arrives_whole_and_in_order_merged_into_few_writes(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    # A burst of 300 events sent at once: what waited together is merged, a few events and
    # writes instead of one per event. (The burst is one HTTP chunk of ~45 KB; a busy machine
    # may deliver it in a few reads, and the first token may go out on its own.)
    pieces = [f"t{i} " for i in range(300)]
    chunks = relay(service, upstream, Reply.stream([b"".join(openai_stream(pieces))]))
    events = frames(chunks)
    kinds = [kind for kind, _ in events]
    deltas = [data["text"] for kind, data in events if kind == "delta"]
    assert kinds[0] == "start" and kinds[-2:] == ["usage", "done"]
    assert deltas[0].startswith("t0 ") and "".join(deltas) == "".join(pieces)
    assert len(deltas) <= 6 and len(chunks) <= 8  # not one per event


def test_error_before_output_is_error_then_done(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    got = frames(
        relay(service, upstream, Reply.json({"error": {"message": "Invalid API key"}}, 401))
    )
    assert [kind for kind, _ in got] == ["start", "error", "done"]
    assert got[1][1]["code"] == "AUTH_FAILED" and got[1][1]["httpStatus"] == 401
    assert got[2][1]["finishReason"] == "error" and got[2][1]["ttftMs"] is None


def test_failure_after_first_token_is_not_retried_and_ends_error_then_done(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    broken = Reply.stream(
        [openai_chunk({"content": "Hal"}), openai_chunk({"content": "f"})], close_after=1
    )
    records: list[dict[str, Any]] = []
    got = frames(
        relay(service, upstream, broken, Reply.stream(openai_stream(["retried"])), records=records)
    )
    assert [kind for kind, _ in got] == ["start", "delta", "error", "done"]
    assert got[2][1]["code"] == "CONNECTION_FAILED"
    assert got[3][1]["finishReason"] == "error"
    assert len(upstream.requests) == 1
    assert records[0]["finishReason"] == "error" and records[0]["errorCode"] == "CONNECTION_FAILED"


def test_in_stream_error_after_first_token_ends_error_then_done(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    chunks = [
        openai_chunk({"content": "Hal"}),
        sse({"error": {"message": "overloaded", "type": "server_error"}}),
    ]
    got = frames(relay(service, upstream, Reply.stream(chunks)))
    assert [kind for kind, _ in got] == ["start", "delta", "error", "done"]
    assert len(upstream.requests) == 1


def test_heartbeat_comments_while_waiting(service: ProviderService, upstream: FakeUpstream) -> None:
    slow = Reply.stream(openai_stream(["late"]), hang_before_headers=0.6)
    got = frames(relay(service, upstream, slow, heartbeat=0.1))
    kinds = [kind for kind, _ in got]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("comment") >= 2
    assert kinds.index("comment") < kinds.index("delta")
    assert all(text == "ping" for kind, text in got if kind == "comment")


def test_no_heartbeat_when_events_keep_coming(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    got = frames(
        relay(
            service,
            upstream,
            Reply.stream(openai_stream(["a", "b", "c"]), delay=0.02),
            heartbeat=0.5,
        )
    )
    assert "comment" not in [kind for kind, _ in got]


def test_on_finish_gets_one_record(service: ProviderService, upstream: FakeUpstream) -> None:
    records: list[dict[str, Any]] = []
    relay(service, upstream, Reply.stream(openai_stream(["a"], usage=(3, 1))), records=records)
    assert len(records) == 1
    record = records[0]
    assert {
        k: record[k]
        for k in (
            "requestId",
            "providerId",
            "model",
            "inputTokens",
            "outputTokens",
            "usageSource",
            "finishReason",
            "errorCode",
        )
    } == {
        "requestId": "req-1",
        "providerId": "prov-1",
        "model": "fake-model",
        "inputTokens": 3,
        "outputTokens": 1,
        "usageSource": "reported",
        "finishReason": "stop",
        "errorCode": None,
    }
    assert isinstance(record["ttftMs"], int) and isinstance(record["elapsedMs"], int)


def test_a_failing_on_finish_does_not_break_the_stream(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    upstream.script(PATH, Reply.stream(openai_stream(["a"])))
    stream = service.open_stream(fake_config(upstream.url + "/v1"), None, user_request())

    def broken(record: dict[str, Any]) -> None:
        raise RuntimeError("database is locked")

    body = RelayRun(service, stream, on_finish=broken).wait()
    assert frames(body)[-1][0] == "done"


def test_collect_chat_returns_the_answer_and_records_it(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    body = {
        "choices": [{"message": {"content": "Fine."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2},
    }
    upstream.script(PATH, Reply.json(body))
    records: list[dict[str, Any]] = []
    config = fake_config(upstream.url + "/v1")
    result = collect_chat(
        lambda: service.chat(config, None, user_request()),
        Report(None, config.id, config.model, []),
        request_id="r-2",
        on_finish=records.append,
    )
    assert result["message"]["content"] == "Fine." and result["finishReason"] == "stop"
    assert result["providerId"] == config.id and result["routeId"] is None
    assert (
        records[0]["requestId"] == "r-2"
        and records[0]["outputTokens"] == 2
        and records[0]["finishReason"] == "stop"
    )


def test_collect_chat_records_failures(service: ProviderService, upstream: FakeUpstream) -> None:
    upstream.script(PATH, Reply.json({"error": {"message": "nope"}}, 401))
    records: list[dict[str, Any]] = []
    config = fake_config(upstream.url + "/v1")
    with pytest.raises(AuthFailed):
        collect_chat(
            lambda: service.chat(config, None, user_request()),
            Report(None, config.id, config.model, []),
            request_id="r-3",
            on_finish=records.append,
        )
    assert (records[0]["finishReason"], records[0]["errorCode"]) == ("error", "AUTH_FAILED")


def test_a_finished_stream_leaves_its_connection_to_the_next_message(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    """Closing the body after `done` must not cancel the upstream read that empties the
    connection: that would throw it away, and with TLS every message would pay a handshake."""
    import threading
    import time

    accepted: list[object] = []
    server = upstream._server
    original = server.process_request

    def counting(request: Any, address: Any) -> None:
        accepted.append(address)
        original(request, address)

    server.process_request = counting  # type: ignore[method-assign]
    for _ in range(4):
        # A keep-alive comment after [DONE]: the body ends 0.1 s after the answer did.
        reply = Reply.stream([*openai_stream(["a", "b"]), b": bye\n\n"], delay=0.1)
        events = frames(relay(service, upstream, reply))
        assert events[-1][0] == "done"
        time.sleep(0.3)  # the finished stream reads the body's end in the background
    assert len(accepted) == 1, f"{len(accepted)} connections for 4 messages"
    assert threading.active_count() < 50


def test_an_emoji_split_into_lone_surrogates_reaches_the_client_whole(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    """Some providers split a UTF-16 surrogate pair across chunks ("\\ud83d" then "\\ude00").
    Neither half can be UTF-8; the relay must not crash and the client must get the pair."""
    pieces = ["Hi ", "\ud83d", "\ude00", " and a lone \udc00 too"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return sse(json.dumps({"choices": [choice]}))  # ASCII: surrogates travel as escapes

    body = [chunk({"content": p}) for p in pieces] + [chunk({}, "stop"), sse("[DONE]")]
    chunks = relay(service, upstream, Reply.stream(body, delay=0.01))
    raw = b"".join(chunks)
    raw.decode("utf-8")  # valid UTF-8 on the wire
    got = frames(chunks)
    assert [k for k, _ in got if k == "error"] == []
    text = "".join(d["text"] for k, d in got if k == "delta")
    # JSON.parse in the browser joins the halves, as json.loads does for an adjacent pair.
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    assert joined == "Hi 😀 and a lone \udc00 too"
    assert got[-1][1]["finishReason"] == "stop"


def test_json_responses_carry_lone_surrogates_as_escapes() -> None:
    """The same for /api/chat and RPC answers: one JSON document, valid UTF-8."""
    from backend.server.app import json_bytes

    assert json_bytes({"text": "héllo"}) == '{"text": "héllo"}'.encode()
    body = json_bytes({"text": "half \ud83d", "name": "ünï"})
    assert json.loads(body.decode("utf-8")) == {"text": "half \ud83d", "name": "ünï"}


def test_a_retry_before_the_first_token_is_announced_as_a_comment(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    """A rate limit can mean a minute of silence before the reply starts: the stream says why
    in an SSE comment (the contract's events are unchanged; clients may ignore comments)."""
    limited = Reply.json({"error": {"message": "Slow down"}}, 429, {"retry-after": "20"})
    got = frames(relay(service, upstream, limited, Reply.stream(openai_stream(["ok"]))))
    kinds = [k for k, _ in got]
    assert kinds[:2] == ["start", "comment"] and kinds[-1] == "done"
    label, _, notice = got[1][1].partition(" ")
    assert label == "retrying"
    assert json.loads(notice) == {
        "code": "RATE_LIMITED",
        "message": json.loads(notice)["message"],
        "retryIn": 20,
        "attempt": 1,
        "attempts": 2,
    }
    assert "".join(d["text"] for k, d in got if k == "delta") == "ok"
    assert got[-1][1]["finishReason"] == "stop"


def test_an_event_over_the_size_limit_ends_the_stream_as_an_invalid_response(
    service: ProviderService, upstream: FakeUpstream
) -> None:
    huge = b"data: " + b"x" * (9 * 1024 * 1024) + b"\n\n"
    got = frames(relay(service, upstream, Reply.stream([huge])))
    assert [kind for kind, _ in got] == ["start", "error", "done"]
    assert got[1][1]["code"] == "INVALID_RESPONSE"
    assert "8 MB" in got[1][1]["message"]
    assert got[2][1]["finishReason"] == "error"
