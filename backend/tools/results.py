"""What a server's answers become: tool listings as `ToolInfo`, call results as text.

A call result's text is its text blocks joined by blank lines; an image, audio clip or binary
resource becomes a short description in brackets (`[image: image/png, 12 KB]`), since what goes
back to a model is text; a text resource is given whole under its URI; `structuredContent` is
given as JSON when the result has no text block. These descriptions are what the model reads and
what the conversation stores, so they stay English whatever the UI language (docs/TRANSLATION.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from mcp import types

from backend.tools.model import ToolInfo


def tool_info(tool: types.Tool) -> ToolInfo:
    """One listed tool, with its fingerprint."""
    description = tool.description or ""
    schema = dict(tool.input_schema or {})
    return ToolInfo(tool.name, description, schema, fingerprint(description, schema))


def fingerprint(description: str, input_schema: Mapping[str, Any]) -> str:
    """sha256 of the description and the canonical JSON of the input schema."""
    canonical = json.dumps(input_schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{description}\n{canonical}".encode()).hexdigest()


def result_text(result: types.CallToolResult) -> str:
    """The result as one text, as described in the module docstring."""
    parts = [_block_text(block) for block in result.content]
    has_text = any(isinstance(block, types.TextContent) for block in result.content)
    if result.structured_content is not None and not has_text:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True))
    return "\n\n".join(part for part in parts if part)


def _block_text(block: types.ContentBlock) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent):
        return f"[image: {block.mime_type}, {size_of(block.data)}]"
    if isinstance(block, types.AudioContent):
        return f"[audio: {block.mime_type}, {size_of(block.data)}]"
    if isinstance(block, types.ResourceLink):
        return f"[resource link: {block.name}, {block.uri}]"
    if isinstance(block, types.EmbeddedResource):
        contents = block.resource
        if isinstance(contents, types.TextResourceContents):
            return f"[resource: {contents.uri}]\n{contents.text}"
        mime = contents.mime_type or "application/octet-stream"
        return f"[resource: {contents.uri}, {mime}, {size_of(contents.blob)}]"
    return f"[{getattr(block, 'type', 'content')}]"


def size_of(data: str) -> str:
    """The decoded size of base64 `data`, as people write it (`512 B`, `12 KB`, `1.5 MB`)."""
    try:
        size = len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        size = len(data) * 3 // 4
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def tools_of(pages: Iterable[types.ListToolsResult]) -> tuple[ToolInfo, ...]:
    """Every tool of a paged listing, first listing of a name winning."""
    seen: dict[str, ToolInfo] = {}
    for page in pages:
        for tool in page.tools:
            seen.setdefault(tool.name, tool_info(tool))
    return tuple(seen.values())
