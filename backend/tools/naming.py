"""The names a model sees for the tools of one request (pure; no I/O).

Models take tool names of `^[A-Za-z0-9_-]{1,64}$` (OpenAI and Anthropic alike), while MCP tool
names are free text and two servers may both have `search`. `exposed_names` gives each tool a
name of that shape, unique within the request: the tool's own name where it is unique, else
`<server name>__<tool name>`, each part with other characters made `_` and cut to fit; a
numbered suffix settles what is still the same. The same servers and tools in the same order
always give the same names; the chat maps a name back through its `OfferedTool`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

MAX_NAME = 64
_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]")
_SEPARATOR = "__"


def sanitize(text: str, limit: int = MAX_NAME) -> str:
    """`text` with every character outside `[A-Za-z0-9_-]` made `_`, cut to `limit`."""
    return _OUTSIDE.sub("_", text)[:limit] or "_"


def prefixed(server: str, tool: str) -> str:
    """`<server>__<tool>` within `MAX_NAME`: the tool's part is kept whole where it can be."""
    tool_part = sanitize(tool, MAX_NAME - len(_SEPARATOR) - 1)
    room = MAX_NAME - len(_SEPARATOR) - len(tool_part)
    return sanitize(server, room) + _SEPARATOR + tool_part


def exposed_names(tools: Sequence[tuple[str, str]]) -> list[str]:
    """One unique name per `(server name, tool name)`, in order (see the module docstring)."""
    plain = [sanitize(tool) for _, tool in tools]
    counts = Counter(plain)
    wanted = [
        name if counts[name] == 1 else prefixed(server, tool)
        for name, (server, tool) in zip(plain, tools, strict=True)
    ]
    taken: set[str] = set()
    out: list[str] = []
    for name in wanted:
        candidate, number = name, 2
        while candidate in taken:
            suffix = f"_{number}"
            candidate = name[: MAX_NAME - len(suffix)] + suffix
            number += 1
        taken.add(candidate)
        out.append(candidate)
    return out
