"""The catalogues are complete and used: every key in both languages, every used key present,
no key that nothing uses (frontend: frontend/locales/<lang>/<area>.json; backend:
backend/data/messages.<lang>.json). Keys are found in the code as quoted literals, so a key
built at run time (`t(`usage.${x}`)`) is refused: map values to whole keys instead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from backend import i18n

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
LOCALES = FRONTEND / "locales"
AREAS_RE = re.compile(r"export const AREAS = \[([^\]]*)\]")
PARAM_RE = re.compile(r"\{(\w+)\}")
FILE_EXTENSIONS = {"css", "csv", "html", "js", "json", "md", "png", "svg", "txt"}


def frontend_areas() -> list[str]:
    source = (FRONTEND / "js" / "lib" / "i18n.js").read_text("utf-8")
    match = AREAS_RE.search(source)
    assert match, "AREAS not found in frontend/js/lib/i18n.js"
    return re.findall(r'"([\w-]+)"', match.group(1))


def frontend_catalogue(language: str) -> dict[str, i18n.Entry]:
    out: dict[str, i18n.Entry] = {}
    for area in frontend_areas():
        tree = json.loads((LOCALES / language / f"{area}.json").read_text("utf-8"))
        out.update(i18n.flatten(tree, area))
    return out


def backend_catalogue(language: str) -> dict[str, i18n.Entry]:
    path = ROOT / "backend" / "data" / f"messages.{language}.json"
    return i18n.flatten(json.loads(path.read_text("utf-8")))


def frontend_sources() -> list[Path]:
    files = [p for p in (FRONTEND / "js").rglob("*.js")]
    return [*files, FRONTEND / "index.html"]


def backend_sources() -> list[Path]:
    return [p for p in (ROOT / "backend").rglob("*.py")]


def literals(paths: list[Path], prefixes: set[str]) -> dict[str, list[str]]:
    """Quoted dotted words whose first part is one of `prefixes`, with where they appear."""
    alternatives = "|".join(prefixes)
    pattern = re.compile(r"""["'`]((?:""" + alternatives + r""")(?:\.[A-Za-z0-9_-]+)+)["'`]""")
    found: dict[str, list[str]] = {}
    for path in paths:
        for match in pattern.finditer(path.read_text("utf-8")):
            if match.group(1).rsplit(".", 1)[1] in FILE_EXTENSIONS:
                continue  # a file name ("usage.csv"), not a key
            found.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    return found


def params(entry: i18n.Entry) -> set[str]:
    texts = [entry] if isinstance(entry, str) else list(entry.values())
    return {name for text in texts for name in PARAM_RE.findall(text)}


SIDES = {
    "frontend": (frontend_catalogue, frontend_sources),
    "backend": (backend_catalogue, backend_sources),
}


@pytest.mark.parametrize("side", SIDES)
def test_both_languages_have_the_same_keys_and_parameters(side: str) -> None:
    load, _ = SIDES[side]
    en, zh = load("en"), load("zh-CN")
    assert sorted(set(en) - set(zh)) == [], "missing in zh-CN"
    assert sorted(set(zh) - set(en)) == [], "missing in en"
    mismatched = [k for k in en if params(en[k]) != params(zh[k])]
    assert mismatched == [], "parameters differ between en and zh-CN"
    plural_mismatch = [k for k in en if isinstance(en[k], dict) != isinstance(zh[k], dict)]
    assert plural_mismatch == [], "a plural in one language only"
    empty = [k for k, v in {**en, **zh}.items() if isinstance(v, str) and not v.strip()]
    assert empty == []


@pytest.mark.parametrize("side", SIDES)
def test_every_key_the_code_uses_exists_and_every_key_is_used(side: str) -> None:
    load, sources = SIDES[side]
    en = load("en")
    prefixes = {key.split(".")[0] for key in en} | (
        set(frontend_areas()) if side == "frontend" else set()
    )
    if not prefixes:
        return
    used = literals(sources(), prefixes)
    missing = {k: v for k, v in used.items() if k not in en}
    assert missing == {}, "used in the code but not in the catalogue"
    unused = sorted(k for k in en if k not in used and k not in ALWAYS_USED.get(side, set()))
    assert unused == [], "in the catalogue but used nowhere"


# Keys the code reaches without quoting them whole (none yet).
ALWAYS_USED: dict[str, set[str]] = {"frontend": set(), "backend": set()}


def test_no_key_is_built_at_run_time() -> None:
    built = re.compile(r"\bt\(\s*`[^`]*\$\{")
    offenders = [
        str(p.relative_to(ROOT)) for p in frontend_sources() if built.search(p.read_text("utf-8"))
    ]
    assert offenders == [], "t() with a template literal: map values to whole keys"


def test_tr_fills_parameters_and_plurals() -> None:
    try:
        i18n.set_language("en")
        assert i18n.tr("no.such.key") == "no.such.key"
    finally:
        i18n.set_language("en")


def test_system_language_follows_the_environment() -> None:
    assert i18n.system_language({"LANG": "zh_CN.UTF-8"}) == "zh-CN"
    assert i18n.system_language({"LANGUAGE": "zh_TW:en", "LANG": "en_US.UTF-8"}) == "zh-CN"
    assert i18n.system_language({"LC_ALL": "C", "LANG": "en_GB.UTF-8"}) == "en"
    assert i18n.system_language({"LANG": "de_DE.UTF-8"}) == "en"
    assert i18n.system_language({}) == "en"
