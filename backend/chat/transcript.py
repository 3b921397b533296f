"""A conversation as an export file: JSON (the whole tree) or Markdown (the current path).

Pure: text in, text out. The JSON form is `{"format": "miaoda-chat/conversation", "version": 1,
"exportedAt", "conversation", "messages"}` with every message of the tree in creation order, so
an import could rebuild it. The Markdown form is for reading: the title as a heading, then each
turn of the current path under its role (and, for replies, the model that wrote it). Every piece
of stored text in it has `&`, `<` and `>` written as entities, so a title or message holding
HTML stays text in any viewer that renders Markdown. Its first line is a comment naming the
format, which is how an earlier export is told from a user's own file before it is replaced.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Literal

from backend.i18n import tr
from backend.storage import Conversation, Message

FORMAT = "miaoda-chat/conversation"
VERSION = 1
MARKDOWN_MARK = f"<!-- {FORMAT} -->"
ExportFormat = Literal["markdown", "json"]
SUFFIX: dict[str, str] = {"markdown": ".md", "json": ".json"}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')
_RESERVED = frozenset(
    {
        "con",
        "prn",
        "aux",
        "nul",
        *(f"com{i}" for i in range(1, 10)),
        *(f"lpt{i}" for i in range(1, 10)),
    }
)
MAX_STEM = 80


def to_json(conversation: Conversation, messages: Sequence[Message], *, exported_at: str) -> str:
    """The JSON export: the conversation and its whole tree."""
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": exported_at,
        "conversation": conversation.to_wire(),
        "messages": [m.to_wire() for m in messages],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def to_markdown(conversation: Conversation, path: Sequence[Message], *, exported_at: str) -> str:
    """The Markdown export: the title, the system prompt, then the current path turn by turn."""
    title = escape(conversation.title) or tr("conversations.export.untitled")
    lines = [MARKDOWN_MARK, "", f"# {title}", ""]
    lines += [f"_{tr('conversations.export.exportedAt', time=escape(exported_at))}_", ""]
    if conversation.system_prompt:
        system = tr("conversations.export.systemPrompt")
        lines += [f"## {system}", "", escape(conversation.system_prompt), ""]
    for message in path:
        lines += [_heading(message), ""]
        if message.content:
            lines += [escape(message.content), ""]
        for call in message.tool_calls:
            name, arguments = str(call.get("name", "")), str(call.get("arguments", ""))
            text = tr(
                "conversations.export.toolCall", name=escape(name), arguments=escape(arguments)
            )
            lines += [text, ""]
        if message.error:
            said = escape(str(message.error.get("message", "")))
            lines += [f"> {tr('conversations.export.error', message=said)}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# Each role's heading in the Markdown export.
_ROLES = {
    "user": "conversations.export.user",
    "assistant": "conversations.export.assistant",
    "tool": "conversations.export.tool",
}


def _heading(message: Message) -> str:
    role = tr(_ROLES.get(message.role, "conversations.export.message"))
    if message.role == "assistant" and message.model:
        return f"## {role} ({escape(message.model)})"
    return f"## {role}"


def escape(text: str) -> str:
    """`&`, `<` and `>` as HTML entities: stored text stays text when the Markdown is rendered."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def filename(title: str, kind: ExportFormat) -> str:
    """A file name made from the title, safe on every OS (no separators, reserved names or
    control characters, at most 80 characters before the suffix)."""
    stem = unicodedata.normalize("NFC", title)
    stem = _UNSAFE.sub(" ", stem)
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:MAX_STEM].strip(" .")
    if not stem:
        stem = tr("conversations.export.fileName")
    elif stem.split(".")[0].strip().lower() in _RESERVED:  # Windows: "con.txt" is "con" too
        stem = f"_{stem}"
    return stem + SUFFIX[kind]


def is_export(raw: str, kind: ExportFormat) -> bool:
    """Whether a file's text is an earlier export of this kind (safe to replace)."""
    if kind == "markdown":
        return raw.startswith(MARKDOWN_MARK)
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and document.get("format") == FORMAT
