"""The records of conversations (CONTRACT §9) and how rows of the data file become them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_SKELETON = "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY seq"


def _load_or_none(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class Conversation:
    """One conversation, as §9 describes it."""

    id: str
    title: str
    provider_id: str | None
    model: str | None
    system_prompt: str
    pinned: bool
    message_count: int
    current_leaf_id: str | None
    tool_servers: tuple[str, ...]
    created_at: str
    updated_at: str

    def to_wire(self) -> dict[str, Any]:
        """The §9 `conversation` object."""
        return {
            "id": self.id,
            "title": self.title,
            "providerId": self.provider_id,
            "model": self.model,
            "systemPrompt": self.system_prompt,
            "pinned": self.pinned,
            "messageCount": self.message_count,
            "currentLeafId": self.current_leaf_id,
            "toolServers": list(self.tool_servers),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@dataclass(frozen=True)
class Message:
    """One message of a conversation's tree, as §9 describes it, with its status."""

    id: str
    conversation_id: str
    parent_id: str | None
    role: str
    content: str
    reasoning: str
    tool_calls: tuple[dict[str, Any], ...]
    tool_call_id: str | None
    provider_id: str | None
    model: str | None
    usage: dict[str, Any] | None
    finish_reason: str | None
    status: str
    error: dict[str, Any] | None
    ttft_ms: int | None
    elapsed_ms: int | None
    created_at: str
    sibling_ids: tuple[str, ...]
    route_id: str | None = None
    attempts: tuple[dict[str, Any], ...] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The §9 `message` object, plus `status` ("streaming" | "done"), and for a reply
        `routeId` and `attempts` (§10: the route it was asked through and the members
        considered; its `providerId` and `model` say who answered)."""
        return {
            "id": self.id,
            "conversationId": self.conversation_id,
            "parentId": self.parent_id,
            "role": self.role,
            "content": self.content,
            "reasoning": self.reasoning,
            "toolCalls": [dict(call) for call in self.tool_calls],
            "toolCallId": self.tool_call_id,
            "providerId": self.provider_id,
            "model": self.model,
            "usage": self.usage,
            "finishReason": self.finish_reason,
            "error": self.error,
            "ttftMs": self.ttft_ms,
            "elapsedMs": self.elapsed_ms,
            "createdAt": self.created_at,
            "siblingIds": list(self.sibling_ids),
            "status": self.status,
            "routeId": self.route_id,
            "attempts": None if self.attempts is None else [dict(a) for a in self.attempts],
        }


@dataclass(frozen=True)
class ConversationRow:
    """A conversations row: the record plus what only the store needs."""

    seq: int
    title_chosen: bool
    conversation: Conversation


def conversation_from_row(row: tuple[Any, ...]) -> ConversationRow:
    (seq, cid, title, chosen, provider_id, model, system_prompt, pinned, leaf, tools, created,
     updated, count) = row  # fmt: skip
    conversation = Conversation(
        id=cid,
        title=title,
        provider_id=provider_id,
        model=model,
        system_prompt=system_prompt,
        pinned=bool(pinned),
        message_count=int(count),
        current_leaf_id=leaf,
        tool_servers=tuple(json.loads(tools)),
        created_at=created,
        updated_at=updated,
    )
    return ConversationRow(seq, bool(chosen), conversation)


def message_from_row(row: tuple[Any, ...], sibling_ids: Sequence[str]) -> Message:
    (_, mid, cid, parent_id, role, content, reasoning, tool_calls, tool_call_id, provider_id,
     model, usage, finish_reason, status, error, ttft_ms, elapsed_ms, created, route_id,
     attempts) = row  # fmt: skip
    return Message(
        id=mid,
        conversation_id=cid,
        parent_id=parent_id,
        role=role,
        content=content,
        reasoning=reasoning,
        tool_calls=tuple(json.loads(tool_calls)),
        tool_call_id=tool_call_id,
        provider_id=provider_id,
        model=model,
        usage=_load_or_none(usage),
        finish_reason=finish_reason,
        status=status,
        error=_load_or_none(error),
        ttft_ms=ttft_ms,
        elapsed_ms=elapsed_ms,
        created_at=created,
        sibling_ids=tuple(sibling_ids),
        route_id=route_id,
        attempts=None if attempts is None else tuple(json.loads(attempts)),
    )


@dataclass(frozen=True)
class Tree:
    """A conversation's shape: each message's parent, and children in creation order."""

    parent: dict[str, str | None]
    children: dict[str | None, list[str]]

    @classmethod
    def load(cls, conn: sqlite3.Connection, conversation_id: str) -> Tree:
        parent: dict[str, str | None] = {}
        children: dict[str | None, list[str]] = {}
        for mid, parent_id in conn.execute(_SKELETON, (conversation_id,)):
            parent[mid] = parent_id
            children.setdefault(parent_id, []).append(mid)
        return cls(parent, children)

    def path(self, leaf: str) -> list[str]:
        """Root -> leaf -> on through the newest child at each step."""
        up = [leaf]
        while (parent := self.parent[up[-1]]) is not None:
            up.append(parent)
        line = up[::-1]
        while kids := self.children.get(line[-1]):
            line.append(kids[-1])
        return line

    def siblings(self, message_id: str) -> list[str]:
        return self.children[self.parent[message_id]]
