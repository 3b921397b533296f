"""Keys are masked in text, URLs and httpx's own log lines."""

from __future__ import annotations

import logging

import pytest

from backend.redact import MASK, Redactor, SecretRegistry, install_log_filter, mask, safe_url
from tests.helpers import CANARY_KEY


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
    assert "\n" not in quoted and len(quoted) == 40 and quoted.endswith("…")


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
