"""Static rules that keep the CSP holding and untrusted text as text (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

FRONTEND = Path(__file__).resolve().parents[2] / "frontend"
OWN_JS = sorted((FRONTEND / "js").rglob("*.js"))
HTML_SINKS = re.compile(
    r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|srcdoc"
)
CODE_FROM_TEXT = re.compile(
    r"\beval\s*\(|new\s+Function\s*\(|setTimeout\s*\(\s*[\"'`]|setInterval\s*\(\s*[\"'`]"
)


def test_no_script_builds_html_from_strings() -> None:
    offenders = [
        f"{p.name}:{n}"
        for p in OWN_JS
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if HTML_SINKS.search(line)
    ]
    assert offenders == []


def test_no_script_runs_text_as_code() -> None:
    offenders = [
        f"{p.name}:{n}"
        for p in OWN_JS
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if CODE_FROM_TEXT.search(line)
    ]
    assert offenders == []


def test_no_inline_script_style_handlers_or_javascript_urls() -> None:
    html = (FRONTEND / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.findall(r"\sstyle=|<style|\son[a-z]+=|javascript:", html) == []
    literals = [
        f"{p.name}:{n}"
        for p in OWN_JS
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"[\"'`]javascript:", line)
    ]
    assert literals == []


def test_only_bridge_js_talks_to_the_backend() -> None:
    talkers = sorted(
        p.name
        for p in OWN_JS
        if re.search(r"\bfetch\s*\(|pywebview\.api|XMLHttpRequest|EventSource", p.read_text())
    )
    assert talkers == ["bridge.js"]
