"""Keys are masked in text, URLs and httpx's own log lines."""

from __future__ import annotations

import logging

import pytest

from backend.providers.redact import Redactor, install_log_filter, safe_url
from tests.conftest import CANARY_KEY


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
