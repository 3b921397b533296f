"""Hardening in the UI: the form's hints refuse what the schema refuses (endpoint paths that
leave the base URL, bidi controls in names), and link text in a model's answer is isolated so
it cannot reorder the text around it. Counted in the stress report (tests/stress/report.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.helpers import (
    CHAT_PATH,
    RunningApp,
    chat_reply,
    last_reply,
    open_chat,
    send_message,
)
from tests.stress.test_hardening_input import BAD_ENDPOINTS, BIDI_CONTROLS, GOOD_ENDPOINTS

pytestmark = pytest.mark.browser

FORM_HINTS = """async ({endpoints, controls, marks}) => {
  const { hints } = await import("/js/lib/provider-rules.js");
  return {
    endpoints: endpoints.map((e) => hints.endpoint(e)),
    names: controls.map((c) => hints.name(`pay${c}lapyap`)),
    displayNames: controls.map((c) => hints.displayName(`Groq ${c}txt.exe`)),
    marks: marks.map((m) => hints.displayName(m)),
  };
}"""


def test_the_form_hints_refuse_what_the_schema_refuses(page: Any) -> None:
    good = [path for path, _ in GOOD_ENDPOINTS]
    marks = ["Groq \u200eLRM", "\u200fمرحبا", "שלום (Groq)"]
    found = page.evaluate(
        FORM_HINTS, {"endpoints": BAD_ENDPOINTS + good, "controls": BIDI_CONTROLS, "marks": marks}
    )
    bad_hints = found["endpoints"][: len(BAD_ENDPOINTS)]
    good_hints = found["endpoints"][len(BAD_ENDPOINTS) :]
    assert [p for p, hint in zip(BAD_ENDPOINTS, bad_hints, strict=True) if not hint] == []
    assert good_hints == [None] * len(good)
    assert all(found["names"]), found["names"]
    assert all(found["displayNames"]), found["displayNames"]
    assert found["marks"] == [None] * len(marks)


LINK_LAYOUT = """(reply) => {
  const link = reply.querySelector(".msg-content a[href]");
  const after = link.nextSibling;
  const range = document.createRange();
  range.selectNodeContents(after);
  return {
    bidi: getComputedStyle(link).unicodeBidi,
    afterText: after.textContent,
    linkLeft: link.getBoundingClientRect().left,
    afterLeft: range.getBoundingClientRect().left,
  };
}"""


def test_link_text_in_model_output_cannot_reorder_the_text_around_it(
    page: Any, app: RunningApp
) -> None:
    # An unterminated RIGHT-TO-LEFT OVERRIDE in the link text would, without isolation, run
    # on to the end of the paragraph and draw the words after the link backwards, in front
    # of it ("see exe.txt...").
    app.add_provider()
    text = "Download [\u202eexe.txt](https://example.com/file) right here."
    app.upstream.script(CHAT_PATH, chat_reply([text]))
    open_chat(page)
    send_message(page, "Give me the link")
    reply = last_reply(page)
    reply.locator(".msg-content a[href]").wait_for()
    page.wait_for_function("el => el.dataset.status === 'done'", arg=reply.element_handle())
    layout = reply.evaluate(LINK_LAYOUT)
    assert layout["bidi"] == "isolate", layout
    assert layout["afterText"] == " right here."
    assert layout["afterLeft"] > layout["linkLeft"], layout
