"""The backend's translation layer: messages and advice in the language the user chose.

Every sentence the backend produces for a user (an error's message, a field error, advice, a
native dialog's title) is looked up by key with `tr(key, **params)`. The catalogues are
`backend/data/messages.<lang>.json`, one per language of `LANGUAGES`, nested objects whose
paths are the keys (`errors.invalidConfig.default`); a value is text with `{name}` parameters,
or a plural: an object of CLDR plural forms that has `other` (`{"one": "{count} key", "other":
"{count} keys"}`), chosen by the `count` parameter. Error codes never change with the language.

The language is one for the whole app (the `language` setting, CONTRACT §13): `set_language`
switches it at once for every thread, and messages made after that are in the new language.
`"system"` is the operating system's locale (`system_language`). tests/unit/test_i18n.py fails
when a key is missing in a catalogue or never used; docs/TRANSLATION.md has the word list.
"""

from __future__ import annotations

import contextlib
import json
import locale
import os
import threading
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES: tuple[str, ...] = ("en", "zh-CN")
PLURAL_FORMS = frozenset({"zero", "one", "two", "few", "many", "other"})

_lock = threading.Lock()
_language = "en"

Entry = str | dict[str, str]


def system_language(environ: Mapping[str, str] | None = None) -> str:
    """The OS locale as a language the app has: Chinese → zh-CN, anything else → en."""
    env = os.environ if environ is None else environ
    tags = [env.get(name, "") for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")]
    if environ is None:
        with contextlib.suppress(ValueError):
            tags.append(locale.getlocale()[0] or "")
    for tag in tags:
        first = tag.split(":")[0].strip().lower()
        if not first or first in ("c", "posix") or first.startswith("c."):
            continue
        return "zh-CN" if first.startswith("zh") else "en"
    return "en"


def resolve_language(preference: str) -> str:
    """A `language` setting ("system", "en", "zh-CN") as the language messages are in."""
    return preference if preference in LANGUAGES else system_language()


def set_language(language: str) -> None:
    """Messages made from now on are in `language` (one of LANGUAGES; anything else: en)."""
    global _language
    with _lock:
        _language = language if language in LANGUAGES else "en"


def current_language() -> str:
    return _language


def is_plural(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("other"), str)
        and all(form in PLURAL_FORMS for form in value)
    )


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Entry]:
    """A nested catalogue as `{dotted key: text or plural}`."""
    out: dict[str, Entry] = {}
    for name, value in tree.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(value, str) or is_plural(value):
            out[key] = value
        elif isinstance(value, dict):
            out.update(flatten(value, key))
        else:
            raise ValueError(f"catalogue entry {key} is neither text, a plural nor a group")
    return out


@cache
def catalogue(language: str) -> dict[str, Entry]:
    """The messages of `language`, read once from the package."""
    name = f"messages.{language}.json"
    text = resources.files("backend").joinpath("data", name).read_text("utf-8")
    return flatten(json.loads(text))


def _plural_form(language: str, count: Any) -> str:
    if language == "en":
        try:
            return "one" if float(count) == 1 else "other"
        except (TypeError, ValueError):
            return "other"
    return "other"  # Chinese has one form


class _Params(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def tr(key: str, /, **params: Any) -> str:
    """The text of `key` in the app's language, with `{name}` filled from `params`.

    A key missing from the language's catalogue falls back to English, then to the key itself:
    a message is never lost, and the catalogue test catches the gap.
    """
    language = _language
    entry = catalogue(language).get(key) or catalogue("en").get(key)
    if entry is None:
        return key
    if isinstance(entry, dict):
        entry = entry.get(_plural_form(language, params.get("count"))) or entry["other"]
    return entry.format_map(_Params(params))
