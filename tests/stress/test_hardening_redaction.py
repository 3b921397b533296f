"""Redaction hardening: every upstream text the app passes on goes through `backend.redact`.

- model ids an upstream lists are dropped when they hold the key (in any form) or look like a
  credential, so `listProviderModels` cannot hand back an echoed Authorization header;
- a key with `"`, `\\` or non-ASCII characters is masked however the text carries it: as is,
  JSON-escaped, URL-encoded or base64-encoded, in the RPC reply, the SSE stream, the health
  history and the log;
- the log's own redactor (the backstop in `backend.logsetup`) is tested on its own, with a
  plain handler beside it to show the key really reached the logging system;
- long upstream messages quoted in our messages are cut at a word boundary.

These run the real app (waitress, file secret store) against a real local fake upstream.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from backend.app import MiaodaApp
from backend.logsetup import configure_logging
from backend.redact import MASK, REDACTOR, Redactor
from tests.fakes.upstream import FakeUpstream, Reply
from tests.helpers import CANARY_KEY
from tests.stress.helpers import CHAT_PATH, add_provider, stream_chat

MODELS_PATH = "/v1/models"
# A key with every character that changes when text is escaped or encoded: a quote and a
# backslash (JSON, repr), non-ASCII (JSON's \u escapes, UTF-8 percent escapes), a space
# (quote vs quote_plus), a slash (PHP's \/), and `?>~`, whose base64 holds `+` and `/` at
# every alignment (so standard and URL-safe base64 differ). No vendor prefix, so no credential
# *shape* can hide a miss: only matching the key itself masks it.
ODD_KEY = 'Canary"Key\\é 中/+?>~7f3e9b1c4d2a8e6f0b5c9d3e1a7f4b2c'
LOG_KEY = 'Log"Canary\\ü 日/+?>~5d1c9e7a3b2f8046c1d9e7a3b2f80461'
# httpx cannot put non-ASCII into a header: the odd key travels in the query string.
QUERY_AUTH = {"scheme": "query", "name": "key"}


def key_forms(key: str) -> dict[str, str]:
    """Every way `key` could be written into text, by name (base64: the part the key alone
    decides, at each of the three byte alignments)."""
    escaped = json.dumps(key)[1:-1]
    forms = {
        "raw": key,
        "json": escaped,
        "json-unicode": json.dumps(key, ensure_ascii=False)[1:-1],
        "json-slashes": escaped.replace("/", "\\/"),
        "repr": repr(key)[1:-1],
        "url": quote(key, safe=""),
        "url-plus": quote_plus(key),
        "tail": key[-16:],  # a fragment left behind by a partial mask
    }
    data = key.encode()
    for name, encode in (("base64", base64.b64encode), ("base64-url", base64.urlsafe_b64encode)):
        for shift, skip in ((0, 0), (1, 2), (2, 3)):
            text = encode(b"\0" * shift + data).decode().rstrip("=")
            forms[f"{name}@{shift}"] = text[skip:-1]
    return forms


def leaked(text: str, key: str) -> list[str]:
    """The names of the forms of `key` found in `text`."""
    return sorted(name for name, form in key_forms(key).items() if form in text)


def dumped(value: Any) -> str:
    """A reply as JSON both ways (escaped and raw non-ASCII), for scanning."""
    return json.dumps(value) + json.dumps(value, ensure_ascii=False)


def b64(data: str, encode: Callable[[bytes], bytes] = base64.b64encode, pad: bool = True) -> str:
    text = encode(data.encode()).decode()
    return text if pad else text.rstrip("=")


# --- 1. model ids ---------------------------------------------------------------------------


def test_model_ids_that_echo_the_key_or_look_like_credentials_are_dropped(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = add_provider(app, upstream.url + "/v1")  # bearer auth with CANARY_KEY
    listed = [
        f"Bearer {CANARY_KEY}",  # an upstream echoing the Authorization header
        "gpt-4o",
        CANARY_KEY,  # an id that is the key
        f"x-api-key: {CANARY_KEY}",
        quote(f"Bearer {CANARY_KEY}", safe=""),
        b64(CANARY_KEY),
        json.dumps({"auth": f"Bearer {CANARY_KEY}"}),
        "Bearer someone-elses-token-123456",  # credential-shaped, not our key
        "gsk_0123456789abcdefghij",
        "llama-3.3-70b-versatile",
    ]
    upstream.script(MODELS_PATH, Reply.json({"data": [{"id": i} for i in listed]}))

    reply = app.bridge().listProviderModels(pid)

    assert upstream.requests_to(MODELS_PATH)[-1].headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert reply["success"], reply
    # Dropped, not masked: a model named "[redacted]" could only be chosen by mistake.
    assert reply["models"] == ["gpt-4o", "llama-3.3-70b-versatile"]
    assert not leaked(dumped(reply), CANARY_KEY)
    assert "someone-elses" not in dumped(reply) and "gsk_" not in dumped(reply)


def test_model_ids_holding_an_odd_key_in_any_encoding_are_dropped(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = add_provider(app, upstream.url + "/v1", apiKey=ODD_KEY, auth=QUERY_AUTH)
    forms = key_forms(ODD_KEY)
    listed = [f"id-{forms[name]}-x" for name in sorted(forms) if name != "tail"]
    upstream.script(MODELS_PATH, Reply.json({"data": [{"id": i} for i in [*listed, "fake-model"]]}))

    reply = app.bridge().listProviderModels(pid)

    assert upstream.requests_to(MODELS_PATH)[-1].query["key"] == ODD_KEY
    assert reply["success"], reply
    assert reply["models"] == ["fake-model"]


# --- 2. an odd key echoed in an upstream error, in every form -------------------------------

_WRAPPED = {"error": {"message": f"bad key {ODD_KEY}"}}
_PHP_WRAPPED = json.dumps(_WRAPPED).replace("/", "\\/")  # PHP's json_encode escapes slashes
ECHOES: dict[str, str | dict[str, Any]] = {
    # The upstream's JSON escapes the key; the app parses it back, so this one is plain text.
    "as is": f"Incorrect API key provided: {ODD_KEY}",
    # A message that is an object: the app quotes it as JSON, the key escaped.
    "json (object message)": {"detail": f"Incorrect API key provided: {ODD_KEY}"},
    # A gateway quoting the body it got: the key stays escaped after one parse.
    "json (wrapped body)": f"upstream said: {json.dumps(_WRAPPED)}",
    "json (wrapped, unicode)": f"upstream said: {json.dumps(_WRAPPED, ensure_ascii=False)}",
    "json (wrapped, php slashes)": f"upstream said: {_PHP_WRAPPED}",
    "url-encoded": f"The token {quote(ODD_KEY, safe='')} is not valid",
    "url-encoded (plus)": f"The token {quote_plus(ODD_KEY)} is not valid",
    "base64": f"Credential {b64(ODD_KEY)} refused",
    "base64 (unpadded)": f"Credential {b64(ODD_KEY, pad=False)} refused",
    "base64 (urlsafe)": f"Credential {b64(ODD_KEY, base64.urlsafe_b64encode)} refused",
    "basic auth (key as password)": f"Authorization: Basic {b64('user:' + ODD_KEY)} refused",
    "basic auth (key as user)": f"Authorization: Basic {b64(ODD_KEY + ':')} refused",
}


@pytest.mark.parametrize("echo", list(ECHOES))
def test_an_odd_key_echoed_in_an_upstream_error_is_masked_everywhere(
    app: MiaodaApp, upstream: FakeUpstream, echo: str
) -> None:
    pid = add_provider(app, upstream.url + "/v1", apiKey=ODD_KEY, auth=QUERY_AUTH)
    body = Reply.json({"error": {"message": ECHOES[echo], "type": "invalid_api_key"}}, status=401)
    upstream.script(CHAT_PATH, body)
    upstream.script(MODELS_PATH, body)
    bridge = app.bridge()

    tested = bridge.testProviderConnection(pid)
    models = bridge.listProviderModels(pid)
    checked = bridge.checkCustomProviderHealth(pid)
    history = bridge.getHealthHistory(pid)
    raw_sse, events, _ = stream_chat(str(app.server_url), pid)

    # The upstream really got the key, and every path really saw the 401.
    assert all(r.query.get("key") == ODD_KEY for r in upstream.requests)
    assert tested["error"]["code"] == models["error"]["code"] == "AUTH_FAILED"
    assert checked["status"]["errorCode"] == "AUTH_FAILED"
    assert [p["errorCode"] for p in history["history"]["points"]] == ["AUTH_FAILED"]
    assert ("error", "AUTH_FAILED") in [(kind, data.get("code")) for kind, data in events]
    log_text = app.log_file.read_text(encoding="utf-8")
    assert "AUTH_FAILED" in log_text
    found = {
        "testProviderConnection": leaked(dumped(tested), ODD_KEY),
        "listProviderModels": leaked(dumped(models), ODD_KEY),
        "checkCustomProviderHealth": leaked(dumped(checked), ODD_KEY),
        "getHealthHistory": leaked(dumped(history), ODD_KEY),
        "SSE stream": leaked(raw_sse, ODD_KEY),
        "log file": leaked(log_text, ODD_KEY),
    }
    assert not {where: forms for where, forms in found.items() if forms}
    assert MASK in tested["error"]["message"]  # masked in place, the rest of the words kept


# --- 3. the log's backstop on its own -------------------------------------------------------


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The app's log set up in a temporary folder; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    path = configure_logging(tmp_path)
    yield path
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def _log_every_form(log: logging.Logger, key: str) -> None:
    log.warning("plain message with %s in it", key)
    log.warning("Authorization: Bearer %s", key)
    log.warning("x-api-key: %s", key)
    try:
        raise RuntimeError(f"the upstream refused {key}")
    except RuntimeError:
        log.exception("a call failed")
    try:
        {}[key]
    except KeyError:  # str(KeyError) is the repr of the key
        log.exception("a lookup failed")
    log.warning("headers %r", {"authorization": key})
    log.warning("body %s", json.dumps({"key": key}))
    log.warning("body %s", json.dumps({"key": key}, ensure_ascii=False))
    log.warning("body %s", json.dumps({"key": key}).replace("/", "\\/"))
    log.warning("url-encoded %s and %s", quote(key, safe=""), quote_plus(key))
    log.warning("Authorization: Basic %s", b64("u:" + key))
    log.warning("basic %s", b64(":" + key, base64.urlsafe_b64encode))
    log.warning("token %s", b64(key, base64.urlsafe_b64encode, pad=False))


def test_the_log_backstop_alone_masks_the_key_in_every_form(log_file: Path) -> None:
    REDACTOR.add(LOG_KEY)
    log = logging.getLogger("miaoda.test.backstop")
    # A witness beside the app's handler, without redaction: shows the key really reached
    # the logging system, so a clean log file is the redacting formatter's work.
    witness = io.StringIO()
    plain = logging.StreamHandler(witness)
    plain.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(plain)
    try:
        _log_every_form(log, LOG_KEY)
    finally:
        log.removeHandler(plain)
    for handler in logging.getLogger().handlers:
        handler.flush()

    written = log_file.read_text(encoding="utf-8")
    assert written.count("miaoda.test.backstop") == 13, written  # every record is there
    assert "Traceback" in written and "RuntimeError: the upstream refused" in written
    assert {
        "raw",
        "json",
        "json-unicode",
        "json-slashes",
        "repr",
        "url",
        "url-plus",
        "base64@2",
        "base64-url@0",
        "base64-url@1",
    } <= set(leaked(witness.getvalue(), LOG_KEY))
    assert not leaked(written, LOG_KEY), written


def test_a_log_call_that_cannot_be_formatted_writes_no_key_anywhere(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    REDACTOR.add(LOG_KEY)
    # Straight to the app's handler: pytest's own capture handler fails a test on such a call.
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_miaoda", False))
    bad = logging.LogRecord(
        "miaoda.test.backstop", logging.WARNING, __file__, 1, "two values %s %s", (LOG_KEY,), None
    )
    handler.handle(bad)
    handler.flush()
    written = log_file.read_text(encoding="utf-8")
    # The line is there, redacted, instead of logging's own report on stderr with the args.
    assert "two values" in written and MASK in written, written
    assert not leaked(written, LOG_KEY), written
    assert not leaked(capsys.readouterr().err, LOG_KEY)


# --- 4. long upstream messages are cut between words -----------------------------------------

LONG_MESSAGE = " ".join(
    f"{word}{i}" for i, word in enumerate(["Requested", "capacity", "unavailable", "region"] * 40)
)


def test_a_long_quote_is_cut_at_a_word_boundary() -> None:
    words = set(LONG_MESSAGE.split())
    for limit in range(20, 220, 7):
        quoted = Redactor(None).quote(LONG_MESSAGE, limit)
        assert len(quoted) <= limit and quoted.endswith("…"), (limit, quoted)
        kept = quoted[:-1].split()
        assert kept and set(kept) <= words, (limit, quoted)  # whole words only
        assert LONG_MESSAGE.startswith(" ".join(kept) + " ")


def test_a_masked_key_is_never_cut_in_half_by_a_quote() -> None:
    text = "x" * 37 + f" the key {CANARY_KEY} is not valid here at all"
    for limit in range(40, 70):
        quoted = Redactor(CANARY_KEY).quote(text, limit)
        assert quoted.endswith("…") and ("[red" not in quoted or MASK in quoted), quoted


def test_one_word_longer_than_the_limit_is_cut_as_there_is_no_boundary() -> None:
    quoted = Redactor(None).quote("z" * 300 + " end", 40)
    assert quoted == "z" * 39 + "…"


def test_a_long_upstream_message_reaches_the_user_cut_between_words(
    app: MiaodaApp, upstream: FakeUpstream
) -> None:
    pid = add_provider(app, upstream.url + "/v1")
    upstream.script(CHAT_PATH, Reply.json({"error": {"message": LONG_MESSAGE}}, status=400))

    reply = app.bridge().testProviderConnection(pid)

    said = reply["error"]["message"].split("“", 1)[1].split("”", 1)[0]
    assert said.endswith("…") and len(said) <= 200
    assert LONG_MESSAGE.startswith(said[:-1].rstrip() + " "), said
