"""What a reader of another app's file gives the import: providers in our shape, their keys,
and every entry it could not bring over with the reason.

A reader (`backend.foreign.cherry`, `.chatbox`, `.lobechat`) exposes::

    SOURCE: str                      # "cherry-studio" | "chatbox" | "lobechat"
    APP_NAME: str                    # the product's own name, shown as is ("Cherry Studio")
    def recognizes(document: Any) -> bool
    def read(document: Any) -> ForeignImport   # raises ImportInvalid naming the problem

`document` is the parsed JSON (for a zip backup: the parsed JSON member the reader names in
`ZIP_MEMBERS`, when it has that attribute). Readers do no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backend.transfer import ProviderSecrets

NAME_MAX = 64
_NOT_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Unsupported:
    """An entry of the file that is not brought over: its name there, and why (translated)."""

    name: str
    reason: str

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "reason": self.reason}


@dataclass
class ForeignImport:
    """A foreign file read into our terms.

    `providers` hold our writable provider fields (name, displayName, type, baseURL, model and,
    when needed, headers, auth, endpoints, checkKind); they are validated by the manager like an
    export file's. `secrets` maps each provider's `name` to its keys (and credential header
    values), which go to the secret store, never the database.
    """

    source: str
    app_name: str
    format_version: str | None = None
    providers: list[dict[str, Any]] = field(default_factory=list)
    secrets: dict[str, ProviderSecrets] = field(default_factory=dict)
    unsupported: list[Unsupported] = field(default_factory=list)


def provider_name(*candidates: object, taken: Iterable[str] = ()) -> str:
    """A name that fits our rule (ASCII letters, digits, `-`, `_`, `.`; starts with a letter or
    digit; ≤ 64 characters) made from the first candidate that yields one (an id is often a
    better source than a display name in Chinese), made unique against `taken` (ignoring case)
    with `-2`, `-3`, … The fallback is `imported`."""
    base = "imported"
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = unicodedata.normalize("NFKD", candidate).encode("ascii", "ignore").decode()
        text = _NOT_NAME.sub("-", text).strip("-._")[:NAME_MAX].strip("-._")
        if text:
            base = text.lower()
            break
    used = {name.casefold() for name in taken}
    name, number = base, 2
    while name.casefold() in used:
        suffix = f"-{number}"
        name = base[: NAME_MAX - len(suffix)] + suffix
        number += 1
    return name


def display_name(*candidates: object, fallback: str) -> str:
    """The first non-empty text candidate, cut to 80 characters (our displayName's limit)."""
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:80]
    return fallback[:80]
