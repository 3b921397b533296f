"""Coverage-guided fuzz targets (atheris, i.e. libFuzzer) for the app's byte-level parsers.

Run one target::

    .venv/bin/python -m tests.stress.atheris_targets <target> [CORPUS_DIR] [libFuzzer flags]
    .venv/bin/python -m tests.stress.atheris_targets openai -runs=50000 -seed=1

Targets:

- `sse`: `SSEParser` on arbitrary bytes. It never raises; the same bytes fed in pieces give the
  same events as one read; event types, ids and data hold no line breaks the spec forbids.
- `openai`, `anthropic`: arbitrary bytes through `SSEParser` into `OpenAIStreamDecoder` or
  `AnthropicStreamDecoder`, driven as the runtime drives them (events fed until `done`, then
  `finish()`). A decoder may only fail with an `UpstreamFailure` (the runtime turns anything else
  into an INTERNAL "crashed" error), whose message is a non-empty sentence without the API key;
  the events it emits are contract events whose data is plain JSON.
- `import`: arbitrary bytes imported by the real `CustomProviderManager` (SQLite storage in
  memory, memory secret store, one provider with a key already saved). The result is an
  `ImportReport` or a structured `MiaodaError` (never INTERNAL); a rejected import leaves
  the providers and keys exactly as they were; after a successful one every saved provider
  still validates and the store still exports.

Seed inputs (valid streams from `tests/fakes/upstream.py`, exports made by the real manager) are
written into CORPUS_DIR, created if needed; without one a new temporary folder is used and its
path printed. A broken invariant is an AssertionError; it and any other exception escape, so
libFuzzer prints the traceback, saves the input as `crash-<sha1>` (see `-artifact_prefix`) and
exits with status 1. Reproduce with `... <target> crash-<sha1>`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import atheris

with atheris.instrument_imports(include=["backend"]):
    from backend import transfer
    from backend.errors import ALL_CODES, MiaodaError, UpstreamFailure
    from backend.manager import CustomProviderManager
    from backend.models import ChatEvent
    from backend.providers.wire.anthropic import AnthropicStreamDecoder
    from backend.providers.wire.base import Finish
    from backend.providers.wire.errors import Origin
    from backend.providers.wire.openai import OpenAIStreamDecoder
    from backend.providers.wire.sse import SSEEvent, SSEParser
    from backend.schemas import load_provider
    from backend.secrets import MemorySecretStore
    from backend.storage import KeyStore, Storage

from tests.fakes.upstream import anthropic_event, anthropic_stream, openai_chunk, openai_stream, sse

API_KEY = "sk-fuzz-0123456789abcdef0123456789abcdef"
PASSPHRASE = "fuzz-passphrase"
ORIGIN = Origin.of("https://fuzz.invalid/v1/chat/completions", "fuzz-model", API_KEY)
CONFLICTS = ("replace", "skip", "rename")
STREAM_KINDS = frozenset({"delta", "reasoning", "tool_call"})
FINISH_REASONS = frozenset({"stop", "length", "tool_calls"})
# Nested past the recursion limit, which byte and JSON mutations never build on their own.
DEEP = b"[" * 3000


# --- shared checks -----------------------------------------------------------------------


def check_error(error: MiaodaError, what: object) -> None:
    """A structured error: a contract code other than INTERNAL, a sentence, plain fields."""
    assert error.code in ALL_CODES and error.code != "INTERNAL", (error.code, what)
    assert isinstance(error.message, str) and error.message.strip(), (error, what)
    assert all(
        isinstance(name, str) and all(isinstance(p, str) for p in problems)
        for name, problems in error.fields.items()
    ), (error.fields, what)
    json.dumps(error.to_dict(), allow_nan=False)
    assert API_KEY not in error.message, (error.message, what)


def pieces(data: bytes) -> Iterator[bytes]:
    """`data` cut into reads of 1 to 16 bytes, the sizes taken from the data itself."""
    start = 0
    while start < len(data):
        size = 1 + data[start] % 16
        yield data[start : start + size]
        start += size


# --- SSE parser --------------------------------------------------------------------------


def fuzz_sse(data: bytes) -> None:
    whole = SSEParser()
    events = whole.feed(data) + whole.close()
    split = SSEParser()
    got = [event for piece in pieces(data) for event in split.feed(piece)] + split.close()
    assert got == events, (data, events, got)
    assert whole.retry == split.retry
    for event in events:
        assert isinstance(event, SSEEvent)
        assert event.event and not any(c in event.event for c in "\r\n"), event
        assert not any(c in event.id for c in "\r\n\0"), event
        assert "\r" not in event.data, event
        assert event.retry is None or (type(event.retry) is int and event.retry >= 0), event


# --- stream decoders ---------------------------------------------------------------------


def check_chat_event(event: ChatEvent, kinds: frozenset[str], what: object) -> None:
    assert isinstance(event, ChatEvent) and event.kind in kinds, (event, what)
    json.dumps(event.data, allow_nan=False)  # goes to the page as JSON
    if event.kind in ("delta", "reasoning"):
        assert list(event.data) == ["text"] and isinstance(event.data["text"], str), event
    else:
        call = event.data
        assert type(call["index"]) is int and call["index"] >= 0, event
        assert all(isinstance(call[k], str) for k in ("id", "name", "arguments")), event
        assert call["id"] and call["arguments"], event


def decode(
    make: Callable[[Origin], OpenAIStreamDecoder | AnthropicStreamDecoder],
) -> Callable[[bytes], None]:
    def fuzz(data: bytes) -> None:
        parser = SSEParser()
        decoder = make(ORIGIN)
        try:
            for sse_event in parser.feed(data) + parser.close():
                for event in decoder.feed(sse_event):
                    check_chat_event(event, STREAM_KINDS, data)
                if decoder.done:
                    break
            finish = decoder.finish()
        except MiaodaError as error:
            assert isinstance(error, UpstreamFailure), (type(error), error, data)
            check_error(error, data)
            return
        assert isinstance(finish, Finish)
        for event in finish.events:
            check_chat_event(event, STREAM_KINDS, data)
        assert finish.finish_reason in FINISH_REASONS, finish
        assert finish.usage is None or (
            len(finish.usage) == 2 and all(type(n) is int for n in finish.usage)
        ), finish

    return fuzz


# --- import ------------------------------------------------------------------------------


class ImportHarness:
    """The real manager over an in-memory store, rebuilt whenever an import changed it."""

    def __init__(self) -> None:
        self.manager = self._fresh()

    def _fresh(self) -> CustomProviderManager:
        self.secrets = MemorySecretStore()
        self.storage = Storage(Path(":memory:"))
        manager = CustomProviderManager(self.storage, self.secrets)
        manager.add(seed_provider("keep", apiKey=API_KEY), validate=False)
        return manager

    def state(self) -> tuple[str, str]:
        providers = [p.to_wire() for p in self.storage.list_providers()]
        pools = KeyStore(self.storage).load()  # each key's text is under its own entry
        keys = {pid: [self.secrets.get(entry) for _, entry in pool] for pid, pool in pools.items()}
        return json.dumps(providers, sort_keys=True), json.dumps(keys, sort_keys=True)

    def __call__(self, data: bytes) -> None:
        before = self.state()
        on_conflict = CONFLICTS[len(data) % len(CONFLICTS)]
        try:
            report = self.manager.import_text(
                data, passphrase=PASSPHRASE, on_conflict=on_conflict, dry_run=False
            )
        except MiaodaError as error:
            check_error(error, data)
            assert self.state() == before, data
            return
        wire = report.to_wire(False)
        json.dumps(wire, allow_nan=False)
        for failure in report.errors:
            assert isinstance(failure["name"], str), failure
            code = failure["error"]["code"]
            assert code in ALL_CODES and code != "INTERNAL", (failure, data)
        if self.state() == before:
            return
        for provider in self.storage.list_providers():
            load_provider(provider.to_export())  # what was saved is still a valid provider
        self.manager.export_text(include_keys=False, passphrase=None)  # and still exports
        self.storage.close()
        self.manager = self._fresh()


# --- seeds -------------------------------------------------------------------------------


def seed_provider(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": name.title(),
        "baseURL": f"https://{name}.example/v1",
        "model": "fuzz-model",
        "type": "openai-compatible",
        **extra,
    }


def sse_seeds() -> list[bytes]:
    return [
        b"".join(openai_stream(["Hel", "lo"])),
        b"".join(anthropic_stream(["Hi"])),
        b"\xef\xbb\xbfevent: e\r\nid: 7\r\nretry: 250\r\n: comment\r\ndata: a\r\ndata\r\n\r\n",
        b"data:no space\rdata: \xe4\xbd\xa0\xe5\xa5\xbd\r\rid\nevent\ndata: end",
    ]


def openai_seeds() -> list[bytes]:
    call = {"index": 0, "id": "call_1", "type": "function"}
    return [
        b"".join(openai_stream(["Hello", " world"])),
        b"".join(
            [
                openai_chunk({"reasoning_content": "think"}),
                openai_chunk({"content": "<think>inline</think>answer"}),
                openai_chunk({"content": [{"type": "text", "text": "parts"}]}),
                openai_chunk(
                    {"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]}
                ),
                openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}),
                openai_chunk(
                    {"tool_calls": [{"id": "call_2", "function": {"arguments": {"b": 2}}}]}
                ),
                openai_chunk({}, "tool_calls", x_groq={"usage": {"prompt_tokens": 3}}),
            ]
        ),
        sse({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}),
        sse({"choices": [{"message": {"content": "whole"}, "finish_reason": "length"}]}, "error"),
        b"data: " + DEEP + b"\n\n",
    ]


def anthropic_seeds() -> list[bytes]:
    tool = {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "x"}}
    return [
        b"".join(anthropic_stream(["Hi", " there"])),
        b"".join(
            [
                anthropic_event(
                    {"type": "message_start", "message": {"usage": {"input_tokens": 5}}}
                ),
                anthropic_event(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "thinking"},
                    }
                ),
                anthropic_event(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "thinking_delta", "thinking": "hmm"},
                    }
                ),
                anthropic_event({"type": "content_block_start", "index": 1, "content_block": tool}),
                anthropic_event(
                    {
                        "type": "content_block_delta",
                        "index": 1,
                        "delta": {"type": "input_json_delta", "partial_json": '{"q": "y"}'},
                    }
                ),
                anthropic_event({"type": "content_block_stop", "index": 1}),
                anthropic_event(
                    {
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use"},
                        "usage": {"output_tokens": 9, "cache_read_input_tokens": 2},
                    }
                ),
            ]
        ),
        sse({"type": "error", "error": {"type": "overloaded_error", "message": "Busy"}}, "error"),
        b"event: content_block_delta\ndata: " + DEEP + b"\n\n",
    ]


def import_seeds() -> list[bytes]:
    """Exports made by the real manager: without keys, and with keys encrypted.

    The keyed one is written with the cheapest scrypt parameters the reader accepts (the file
    carries them), so that fuzzing its mutations does not spend most of its time in the KDF.
    """
    manager = CustomProviderManager(Storage(Path(":memory:")), MemorySecretStore())
    manager.add(seed_provider("alpha", apiKey=API_KEY), validate=False)
    manager.add(
        seed_provider(
            "beta",
            type="anthropic-compatible",
            headers={"x-team": "fuzz"},
            parameters={"temperature": 0.5, "maxTokens": 256},
            auth={"scheme": "header", "name": "x-api-key"},
        ),
        validate=False,
    )
    plain, _ = manager.export_text(include_keys=False, passphrase=None)
    saved = transfer.SCRYPT_N, transfer.SCRYPT_R
    transfer.SCRYPT_N, transfer.SCRYPT_R = 2**14, 1
    try:
        keyed, _ = manager.export_text(include_keys=True, passphrase=PASSPHRASE)
    finally:
        transfer.SCRYPT_N, transfer.SCRYPT_R = saved
    return [plain.encode(), keyed.encode(), b'{"format": "miaoda-chat/custom-providers"}', DEEP]


# --- a JSON-aware mutator ------------------------------------------------------------------
# Byte mutations rarely keep JSON valid, so on their own they seldom reach the code that reads
# the decoded values. Half of the mutations of the `openai`, `anthropic` and `import` targets
# are therefore structural: parse the JSON (of one `data:` line of a stream, or the whole
# file), change one value's type, drop or add a member, then serialize it again.

ODD_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 2**64, 0.5, "", "x", " ", "[DONE]", "error", "\ud83d",
    [], {}, [None], [[]], {"": None},
]  # fmt: skip


def slots(root: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) below `root`, breadth first."""
    found: list[tuple[Any, Any]] = []
    queue = [root] if isinstance(root, dict | list) else []
    while queue and len(found) < 500:
        value = queue.pop(0)
        members = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in members:
            found.append((value, key))
            if isinstance(child, dict | list):
                queue.append(child)
    return found


def mutate_json(root: Any, keys: list[str], rng: random.Random) -> Any:
    holder = [root]  # so that the root itself can be replaced like any member
    places = [(holder, 0), *slots(root)]
    container, key = rng.choice(places)
    choice = rng.randrange(5)
    if choice == 0:
        container[key] = copy.deepcopy(rng.choice(ODD_VALUES))
    elif choice == 1:  # another value of the same document in this place
        other, other_key = rng.choice(places)
        container[key] = copy.deepcopy(other[other_key])
    elif choice == 2:
        container[key] = (
            [container[key]] if rng.random() < 0.5 else {rng.choice(keys): container[key]}
        )
    elif choice == 3 and container is not holder:
        del container[key]
    else:
        target = container[key] if isinstance(container[key], dict) else None
        if target is None:
            target = next((c for c, _ in places[1:] if isinstance(c, dict)), None)
        if target is not None:
            target[rng.choice(keys)] = copy.deepcopy(rng.choice([*ODD_VALUES, root]))
    return holder[0]


def json_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(json_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(json_keys(v) for v in value))
    return set()


def json_mutator(seeds: list[bytes], stream: bool) -> Callable[[bytes, int, int], bytes]:
    keys: set[str] = set()
    for seed in seeds:
        lines = [line[5:] for line in seed.split(b"\n") if line.startswith(b"data:")]
        for text in lines if stream else [seed]:
            with contextlib.suppress(ValueError, RecursionError):
                keys |= json_keys(json.loads(text))
    key_list = sorted(keys)

    def structural(data: bytes, rng: random.Random) -> bytes | None:
        if not stream:
            root = json.loads(data)
            return json.dumps(mutate_json(root, key_list, rng), indent=1).encode()
        lines = data.split(b"\n")
        documents = []
        for index, line in enumerate(lines):
            if line.startswith(b"data:"):
                with contextlib.suppress(ValueError, RecursionError):
                    documents.append((index, json.loads(line[5:])))
        if not documents:
            return None
        index, root = rng.choice(documents)
        lines[index] = b"data: " + json.dumps(mutate_json(root, key_list, rng)).encode()
        return b"\n".join(lines)

    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            mutated = None
            with contextlib.suppress(ValueError, RecursionError):
                mutated = structural(data, rng)
            if mutated is not None and len(mutated) <= max_size:
                return mutated
        return bytes(atheris.Mutate(data, max_size))

    return mutator


@dataclass(frozen=True)
class Target:
    make: Callable[[], Callable[[bytes], None]]
    seeds: Callable[[], list[bytes]]
    json: Literal["stream", "file", None]


TARGETS = {
    "sse": Target(lambda: fuzz_sse, sse_seeds, None),
    "openai": Target(lambda: decode(OpenAIStreamDecoder), openai_seeds, "stream"),
    "anthropic": Target(lambda: decode(AnthropicStreamDecoder), anthropic_seeds, "stream"),
    "import": Target(ImportHarness, import_seeds, "file"),
}


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [CORPUS_DIR] [libFuzzer flags]")
    target = TARGETS[argv[1]]
    rest = argv[2:]
    inputs = [arg for arg in rest if not arg.startswith("-")]
    if not inputs:
        folder = tempfile.mkdtemp(prefix=f"miaoda-atheris-{argv[1]}-")
        print(f"corpus: {folder}", file=sys.stderr)
        rest.append(folder)
        inputs.append(folder)
    seeds = target.seeds()
    corpus = Path(inputs[0])
    if not corpus.is_file():  # a file given alone is one input to run again, not a corpus
        corpus.mkdir(parents=True, exist_ok=True)
        for number, seed in enumerate(seeds):
            (corpus / f"seed-{number}").write_bytes(seed)
    options: dict[str, Any] = {}
    if target.json is not None:
        options["custom_mutator"] = json_mutator(seeds, stream=target.json == "stream")
    atheris.Setup([argv[0], *rest], target.make(), **options)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
