"""Keys are masked in text, URLs and httpx's own log lines."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import pytest

from backend.redact import (
    MASK,
    Redactor,
    SecretRegistry,
    install_log_filter,
    mask,
    safe_url,
    secret_forms,
)
from tests.helpers import CANARY_KEY

ODD = 'odd"key\\é 中/+?>~0123456789abcdef'


def test_redactor_masks_the_key_its_url_form_and_credential_shapes() -> None:
    redact = Redactor(CANARY_KEY + "/+")
    text = f"key {CANARY_KEY}/+ or {CANARY_KEY}%2F%2B; Bearer abc.def; gsk_1234567890abcdef"
    cleaned = redact.text(text)
    assert (
        CANARY_KEY not in cleaned and "abc.def" not in cleaned and "gsk_1234567890" not in cleaned
    )


def test_redactor_without_a_key_still_masks_query_values() -> None:
    assert (
        Redactor(None).text("see https://x.test/v1?key=secret&x=1")
        == "see https://x.test/v1?key=[redacted]&x=[redacted]"
    )


def test_quote_shortens_and_flattens() -> None:
    quoted = Redactor(None).quote("line one\n\n  line two " + "z" * 500, limit=40)
    assert quoted == "line one line two…"  # the long word does not fit: cut before it


def test_quote_keeps_a_word_that_ends_exactly_at_the_limit() -> None:
    assert Redactor(None).quote("aaaa bbbb cccc", limit=10) == "aaaa bbbb…"
    assert Redactor(None).quote("aaaa bbbb", limit=9) == "aaaa bbbb"


def test_safe_url_drops_query_and_user_info() -> None:
    assert (
        safe_url(f"https://user:pw@api.test:8443/v1/chat?key={CANARY_KEY}")
        == "https://api.test:8443/v1/chat"
    )


def test_httpx_log_lines_lose_their_query_values(caplog: pytest.LogCaptureFixture) -> None:
    install_log_filter()
    install_log_filter()  # idempotent
    assert (
        len(
            [
                f
                for f in logging.getLogger("httpx").filters
                if type(f).__name__ == "_QueryRedactingFilter"
            ]
        )
        == 1
    )
    caplog.set_level(logging.INFO, logger="httpx")
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s"', "POST", f"https://x.test/v1?key={CANARY_KEY}", "200 OK"
    )
    assert (
        caplog.records[-1].getMessage()
        == 'HTTP Request: POST https://x.test/v1?key=[redacted] "200 OK"'
    )


def test_the_registry_masks_every_key_it_was_given_as_is_and_url_encoded() -> None:
    registry = SecretRegistry()
    registry.add("opaque/key+value=1")
    line = "sent opaque/key+value=1 and opaque%2Fkey%2Bvalue%3D1 to the provider"
    assert registry.redact(line) == f"sent {MASK} and {MASK} to the provider"


def test_the_registry_ignores_values_too_short_to_mask_safely() -> None:
    registry = SecretRegistry()
    registry.add("abc")
    assert registry.redact("abc def") == "abc def"


def test_logs_and_messages_share_one_set_of_credential_shapes() -> None:
    text = (
        "Authorization: Bearer tok123456789 x-api-key: abcdef123 sk-ant-abcdefgh123 gsk_abc123456"
    )
    expected = mask(text)
    assert SecretRegistry().redact(text) == expected == Redactor(None).text(text)
    assert "tok123456789" not in expected and "abcdef123" not in expected
    assert "sk-ant-abcdefgh123" not in expected and "gsk_abc123456" not in expected


@pytest.mark.parametrize(
    "form",
    [
        json.dumps(ODD)[1:-1],
        json.dumps(ODD, ensure_ascii=False)[1:-1],
        json.dumps(ODD)[1:-1].replace("/", "\\/"),
        repr(ODD)[1:-1],
        ascii(ODD)[1:-1],
        quote(ODD, safe=""),
        quote_plus(ODD),
        base64.b64encode(ODD.encode()).decode(),
        base64.urlsafe_b64encode(ODD.encode()).decode().rstrip("="),
    ],
)
def test_a_key_is_masked_in_every_form_text_carries_it_in(form: str) -> None:
    registry = SecretRegistry()
    registry.add(ODD)
    assert form != ODD
    assert registry.redact(f"<{form}>") == Redactor(ODD).text(f"<{form}>") == f"<{MASK}>"


@pytest.mark.parametrize("before", range(6))
@pytest.mark.parametrize("after", range(4))
def test_a_key_inside_a_longer_base64_text_is_masked_at_any_alignment(
    before: int, after: int
) -> None:
    redact = Redactor(ODD)
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        blob = encode(b"u" * before + ODD.encode() + b"v" * after).decode()
        masked = redact.text(f"Basic {blob}")
        assert MASK in masked
        # What is left of the blob is a few characters on each side of the mask.
        left, _, right = masked.removeprefix("Basic ").partition(MASK)
        assert len(left) <= (before * 4 + 2) // 3 + 3 and len(right) <= (after * 4 + 2) // 3 + 4


def test_forms_too_short_to_mask_safely_are_left_out() -> None:
    assert all(len(form) >= 6 for form in secret_forms("abcdefg"))
    assert secret_forms("abcde") == frozenset()
    # The same rule for a request's key as for the registry: text and model ids stay whole.
    assert Redactor("k").text("bad key") == "bad key"
    assert Redactor("EMPTY").drop_leaks(["EMPTY-model", "fake-model"]) == [
        "EMPTY-model",
        "fake-model",
    ]


def test_a_form_holding_another_is_masked_whole() -> None:
    registry = SecretRegistry()
    registry.add("abcdef")
    registry.add("xabcdefx")  # holds the first key: masked first, whole
    assert registry.redact("see xabcdefx") == f"see {MASK}"


def test_model_ids_that_need_masking_are_dropped_not_masked() -> None:
    ids = ["gpt-4o", f"Bearer {CANARY_KEY}", CANARY_KEY, "gsk_abcdef123456", "a?b=c", "llama"]
    assert Redactor(CANARY_KEY).drop_leaks(ids) == ["gpt-4o", "llama"]
    assert Redactor(None).drop_leaks(["gpt-4o", "sk-ant-abcdefgh123"]) == ["gpt-4o"]
