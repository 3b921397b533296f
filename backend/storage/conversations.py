"""Conversations and their message trees (CONTRACT §9), kept in the app's data file.

Messages form a tree: editing a user message or regenerating a reply adds a sibling, and a
conversation remembers its current leaf. Creation order (`seq`, the rowid) orders siblings
and decides the "newest" child that a path follows from a leaf down. Every write is one
transaction of `Storage`, and the search index (searchindex.py) changes in that same
transaction, so a crash never leaves a message found that is gone, or the reverse.

`updatedAt` is the time of the last message added (a user message or a reply started), so
renaming, pinning or moving between siblings does not reorder the sidebar.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from backend.errors import InvalidConfig, NotFound
from backend.i18n import tr
from backend.models import utc_now
from backend.storage import searchindex
from backend.storage.core import Storage
from backend.storage.records import (
    Conversation,
    ConversationRow,
    Message,
    Tree,
    conversation_from_row,
    message_from_row,
)
from backend.storage.textsearch import parse_query, snippet

TITLE_CHARS: Final = 80
ROLES: Final = frozenset({"user", "assistant", "tool"})

# Full literal statements (no string building), so no value ever reaches SQL text.
_SELECT_CONVERSATION = (
    "SELECT c.seq, c.id, c.title, c.title_chosen, c.provider_id, c.model, c.system_prompt, "
    "c.pinned, c.current_leaf_id, c.tool_servers, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM messages AS m WHERE m.conversation_id = c.id) "
    "FROM conversations AS c WHERE c.id = ?"
)
# Pinned on top, then newest activity: conversations_listing read backwards.
_LIST_FIRST = (
    "SELECT c.seq, c.id, c.title, c.title_chosen, c.provider_id, c.model, c.system_prompt, "
    "c.pinned, c.current_leaf_id, c.tool_servers, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM messages AS m WHERE m.conversation_id = c.id) "
    "FROM conversations AS c ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ?"
)
_LIST_AFTER = (
    "SELECT c.seq, c.id, c.title, c.title_chosen, c.provider_id, c.model, c.system_prompt, "
    "c.pinned, c.current_leaf_id, c.tool_servers, c.created_at, c.updated_at, "
    "(SELECT count(*) FROM messages AS m WHERE m.conversation_id = c.id) "
    "FROM conversations AS c WHERE (c.pinned, c.updated_at, c.id) < (?, ?, ?) "
    "ORDER BY c.pinned DESC, c.updated_at DESC, c.id DESC LIMIT ?"
)
_INSERT_CONVERSATION = (
    "INSERT INTO conversations (id, title, title_chosen, provider_id, model, system_prompt, "
    "pinned, current_leaf_id, tool_servers, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, 0, NULL, ?, ?, ?)"
)
_UPDATE_CONVERSATION = (
    "UPDATE conversations SET title = ?, title_chosen = ?, provider_id = ?, model = ?, "
    "system_prompt = ?, pinned = ?, current_leaf_id = ?, tool_servers = ? WHERE id = ?"
)

_SELECT_MESSAGE = (
    "SELECT seq, id, conversation_id, parent_id, role, content, reasoning, tool_calls, "
    "tool_call_id, provider_id, model, usage, finish_reason, status, error, ttft_ms, "
    "elapsed_ms, created_at, route_id, attempts FROM messages WHERE id = ?"
)
_SELECT_MESSAGES = (
    "SELECT seq, id, conversation_id, parent_id, role, content, reasoning, tool_calls, "
    "tool_call_id, provider_id, model, usage, finish_reason, status, error, ttft_ms, "
    "elapsed_ms, created_at, route_id, attempts FROM messages "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_SELECT_ALL_MESSAGES = (
    "SELECT seq, id, conversation_id, parent_id, role, content, reasoning, tool_calls, "
    "tool_call_id, provider_id, model, usage, finish_reason, status, error, ttft_ms, "
    "elapsed_ms, created_at, route_id, attempts FROM messages "
    "WHERE conversation_id = ? ORDER BY seq"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (id, conversation_id, parent_id, role, content, reasoning, tool_calls, "
    "tool_call_id, provider_id, model, usage, finish_reason, status, error, ttft_ms, elapsed_ms, "
    "created_at, route_id) "
    "VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, NULL, NULL, ?, NULL, NULL, NULL, ?, ?)"
)
# Who answered a route's reply: the member, its model, and the members considered.
_SAVE_ANSWERED = "UPDATE messages SET provider_id = ?, model = ?, attempts = ? WHERE seq = ?"
_SAVE_REPLY = (
    "UPDATE messages SET content = ?, reasoning = ?, tool_calls = ?, usage = ?, "
    "finish_reason = ?, status = ?, error = ?, ttft_ms = ?, elapsed_ms = ? WHERE seq = ?"
)
# The oldest question at the root: what a conversation's automatic title comes from.
_FIRST_QUESTION = (
    "SELECT content FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
    "AND role = 'user' ORDER BY seq LIMIT 1"
)
# What a hit shows: a message's text and its conversation's title, or a title alone.
_HIT_ROWS = (
    "SELECT m.seq, m.conversation_id, m.id, c.title, m.content, m.created_at "
    "FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id "
    "WHERE m.seq IN (SELECT value FROM json_each(?)) "
    "UNION ALL SELECT seq, id, NULL, title, title, created_at FROM conversations "
    "WHERE seq IN (SELECT value FROM json_each(?))"
)
_CHILDREN = "SELECT id FROM messages WHERE parent_id = ? ORDER BY seq"
_ROOTS = "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL ORDER BY seq"
_NEWEST_ROOT = (
    "SELECT id FROM messages WHERE conversation_id = ? AND parent_id IS NULL "
    "ORDER BY seq DESC LIMIT 1"
)
_SUBTREE = (
    "WITH RECURSIVE below(id) AS (VALUES (?) UNION ALL "
    "SELECT m.id FROM messages AS m JOIN below ON m.parent_id = below.id) "
    "SELECT m.seq, m.id, m.role, m.status, m.content FROM messages AS m "
    "WHERE m.id IN (SELECT id FROM below) ORDER BY m.seq"
)
# The chain from a message down through the newest child at each step, the message first.
_NEWEST_LINE = (
    "WITH RECURSIVE down(id) AS (VALUES (?) UNION ALL "
    "SELECT (SELECT c.id FROM messages AS c WHERE c.parent_id = down.id "
    "ORDER BY c.seq DESC LIMIT 1) FROM down WHERE down.id IS NOT NULL) "
    "SELECT id FROM down WHERE id IS NOT NULL"
)


def _new_id() -> str:
    return uuid.uuid4().hex


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _dump_or_null(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else _dump(dict(value))


def auto_title(content: str) -> str:
    """The title a first user message gives: its first non-blank line, at most 80 characters."""
    line = next((line.strip() for line in content.splitlines() if line.strip()), "")
    if len(line) <= TITLE_CHARS:
        return line
    return line[: TITLE_CHARS - 1].rstrip() + "…"


# --- cursors ------------------------------------------------------------------------------


def _encode_cursor(conversation: Conversation) -> str:
    key = [int(conversation.pinned), conversation.updated_at, conversation.id]
    return base64.urlsafe_b64encode(_dump(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str, str]:
    bad = InvalidConfig(
        tr("conversations.badCursor"), fields={"cursor": [tr("conversations.badCursorField")]}
    )
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pinned, updated_at, cid = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise bad from exc
    if pinned not in (0, 1) or not isinstance(updated_at, str) or not isinstance(cid, str):
        raise bad
    return pinned, updated_at, cid


# --- the store ----------------------------------------------------------------------------


def _not_in_conversation(field: str, message: str) -> InvalidConfig:
    """`field` names no message of the conversation; `message` says so (a catalogue key)."""
    return InvalidConfig(tr(message), fields={field: [tr("conversations.notInConversation")]})


class ConversationStore:
    """Conversations, message trees and search, on the app's `Storage`."""

    def __init__(self, storage: Storage, *, clock: Callable[[], str] = utc_now) -> None:
        """Use `storage`, rebuilding the search index if other folding rules built it.

        `clock` gives the ISO timestamps written (tests pass one that ticks).
        """
        self._storage = storage
        self._clock = clock
        # Package-internal: the store shares Storage's connection, lock and transactions.
        with storage._writing("storage.action.prepareSearch") as conn:
            if not searchindex.is_current(conn):
                searchindex.rebuild(conn)

    # --- conversations ----------------------------------------------------------------

    def create_conversation(
        self,
        *,
        title: str | None = None,
        system_prompt: str = "",
        provider_id: str | None = None,
        model: str | None = None,
        tool_servers: Sequence[str] = (),
    ) -> Conversation:
        """A new, empty conversation; a given title is the user's and is never replaced."""
        cid, now = _new_id(), self._clock()
        row = (cid, title or "", int(title is not None), provider_id, model, system_prompt,
               _dump(list(tool_servers)), now, now)  # fmt: skip
        with self._storage._writing("storage.action.saveConversation") as conn:
            cursor = conn.execute(_INSERT_CONVERSATION, row)
            assert cursor.lastrowid is not None
            searchindex.add(conn, searchindex.title_rowid(cursor.lastrowid), title or "")
            return self._conversation(conn, cid).conversation

    def get_conversation(self, conversation_id: str) -> Conversation:
        """The conversation with this id; NotFound if there is none."""
        with self._storage._reading("storage.action.readConversation") as conn:
            return self._conversation(conn, conversation_id).conversation

    def list_conversations(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        """A page of conversations, pinned first, then newest activity; and the next cursor."""
        limit = max(1, limit)
        with self._storage._reading("storage.action.readConversations") as conn:
            if cursor is None:
                rows = conn.execute(_LIST_FIRST, (limit + 1,)).fetchall()
            else:
                rows = conn.execute(_LIST_AFTER, (*_decode_cursor(cursor), limit + 1)).fetchall()
            page = [conversation_from_row(row).conversation for row in rows[:limit]]
        return page, (_encode_cursor(page[-1]) if len(rows) > limit else None)

    def update_conversation(self, conversation_id: str, changes: Mapping[str, Any]) -> Conversation:
        """Apply `changes` (snake_case keys of §9's updateConversation) and return the result."""
        allowed = {"title", "pinned", "system_prompt", "provider_id", "model", "tool_servers",
                   "current_leaf_id"}  # fmt: skip
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise InvalidConfig(
                tr("conversations.fixedFields"),
                fields={key: [tr("fields.unknown")] for key in unknown},
            )
        with self._storage._writing("storage.action.saveConversation") as conn:
            found = self._conversation(conn, conversation_id)
            old = found.conversation
            leaf = changes.get("current_leaf_id", old.current_leaf_id)
            if "current_leaf_id" in changes:
                self._check_leaf(conn, conversation_id, leaf, old.message_count)
            chosen = found.title_chosen
            title = old.title
            if "title" in changes and changes["title"] is not None:
                title, chosen = str(changes["title"]), True
            elif "title" in changes:  # null: back to the title the first message gives
                row = conn.execute(_FIRST_QUESTION, (conversation_id,)).fetchone()
                title, chosen = (auto_title(row[0]) if row else ""), False
            conn.execute(
                _UPDATE_CONVERSATION,
                (
                    title,
                    int(chosen),
                    changes.get("provider_id", old.provider_id),
                    changes.get("model", old.model),
                    str(changes.get("system_prompt", old.system_prompt) or ""),
                    int(bool(changes.get("pinned", old.pinned))),
                    leaf,
                    _dump(list(changes.get("tool_servers", old.tool_servers))),
                    conversation_id,
                ),
            )
            self._retitle(conn, found.seq, old.title, title)
            return self._conversation(conn, conversation_id).conversation

    def delete_conversation(self, conversation_id: str) -> None:
        """Delete the conversation and all its messages; NotFound if there is none."""
        with self._storage._writing("storage.action.deleteConversation") as conn:
            found = self._conversation(conn, conversation_id)
            for seq, role, status, content in conn.execute(
                "SELECT seq, role, status, content FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchall():
                if searchindex.is_indexed(role, status):
                    searchindex.drop(conn, seq, content)
            searchindex.drop(conn, searchindex.title_rowid(found.seq), found.conversation.title)
            # ON DELETE CASCADE removes the messages in this same statement.
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # --- messages ---------------------------------------------------------------------

    def get_message(self, message_id: str) -> Message:
        """The message with this id; NotFound if there is none."""
        with self._storage._reading("storage.action.readMessage") as conn:
            row = conn.execute(_SELECT_MESSAGE, (message_id,)).fetchone()
            if row is None:
                raise NotFound(tr("conversations.messageGone"))
            parent_id, cid = row[3], row[2]
            if parent_id is None:
                siblings = [r[0] for r in conn.execute(_ROOTS, (cid,))]
            else:
                siblings = [r[0] for r in conn.execute(_CHILDREN, (parent_id,))]
            return message_from_row(row, siblings)

    def path(self, conversation_id: str, leaf_id: str | None = None) -> list[Message]:
        """Root to leaf (given, or the current one), continued to the leaf's newest descendant."""
        with self._storage._reading("storage.action.readConversation") as conn:
            current = self._conversation(conn, conversation_id).conversation.current_leaf_id
            tree = Tree.load(conn, conversation_id)
            if leaf_id is not None and leaf_id not in tree.parent:
                raise _not_in_conversation("leafId", "conversations.leafNotInConversation")
            leaf = leaf_id or current
            if leaf is None or leaf not in tree.parent:
                roots = tree.children.get(None)
                if not roots:
                    return []
                leaf = roots[-1]
            line = tree.path(leaf)
            rows = {row[1]: row for row in conn.execute(_SELECT_MESSAGES, (_dump(line),))}
            return [message_from_row(rows[mid], tree.siblings(mid)) for mid in line]

    def all_messages(self, conversation_id: str) -> list[Message]:
        """The whole tree in creation order; NotFound if there is no such conversation."""
        with self._storage._reading("storage.action.readConversation") as conn:
            self._conversation(conn, conversation_id)
            tree = Tree.load(conn, conversation_id)
            rows = conn.execute(_SELECT_ALL_MESSAGES, (conversation_id,)).fetchall()
            return [message_from_row(row, tree.siblings(row[1])) for row in rows]

    def add_message(
        self,
        conversation_id: str,
        *,
        parent_id: str | None,
        role: str,
        content: str,
        provider_id: str | None = None,
        model: str | None = None,
        tool_calls: Sequence[Mapping[str, Any]] = (),
        tool_call_id: str | None = None,
    ) -> Message:
        """Save a finished message under `parent_id` (None: a new root); it becomes the leaf."""
        if role not in ROLES:
            raise InvalidConfig(
                tr("conversations.badRole"), fields={"role": [tr("conversations.badRoleField")]}
            )
        calls = [dict(call) for call in tool_calls]
        with self._storage._writing("storage.action.saveMessage") as conn:
            message = self._insert(
                conn, conversation_id, parent_id, role, content, "done",
                calls=calls, tool_call_id=tool_call_id, provider_id=provider_id, model=model,
            )  # fmt: skip
            return message

    def start_reply(
        self,
        conversation_id: str,
        *,
        parent_id: str,
        provider_id: str | None,
        model: str | None,
        route_id: str | None = None,
    ) -> Message:
        """An empty assistant reply under `parent_id`, "streaming", now the current leaf.
        A reply asked through a route starts with `route_id` and no provider or model (see
        `save_answered`)."""
        with self._storage._writing("storage.action.saveReply") as conn:
            return self._insert(
                conn, conversation_id, parent_id, "assistant", "", "streaming",
                calls=[], tool_call_id=None, provider_id=provider_id, model=model,
                route_id=route_id,
            )  # fmt: skip

    def save_answered(
        self,
        message_id: str,
        *,
        provider_id: str | None,
        model: str | None,
        attempts: Sequence[Mapping[str, Any]],
    ) -> None:
        """Record who answered a route's reply and the members considered. Gone: no-op."""
        value = _dump([dict(a) for a in attempts])
        with self._storage._writing("storage.action.saveReply") as conn:
            row = conn.execute("SELECT seq FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is not None:
                conn.execute(_SAVE_ANSWERED, (provider_id, model, value, row[0]))

    def save_reply(
        self,
        message_id: str,
        *,
        content: str,
        reasoning: str = "",
        tool_calls: Sequence[Mapping[str, Any]] = (),
        usage: Mapping[str, Any] | None = None,
        finish_reason: str | None = None,
        error: Mapping[str, Any] | None = None,
        ttft_ms: int | None = None,
        elapsed_ms: int | None = None,
    ) -> None:
        """Save a reply's text so far; a `finish_reason` closes it. Gone meanwhile: no-op."""
        status = "streaming" if finish_reason is None else "done"
        values = (content, reasoning, _dump([dict(call) for call in tool_calls]),
                  _dump_or_null(usage), finish_reason, status, _dump_or_null(error), ttft_ms,
                  elapsed_ms)  # fmt: skip
        with self._storage._writing("storage.action.saveReply") as conn:
            row = conn.execute(
                "SELECT seq, role, status, content FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                return
            seq, role, old_status, old_content = row
            if searchindex.is_indexed(role, old_status):
                searchindex.drop(conn, seq, old_content)
            conn.execute(_SAVE_REPLY, (*values, seq))
            if searchindex.is_indexed(role, status):
                searchindex.add(conn, seq, content)

    def delete_message(self, message_id: str) -> tuple[str, list[str]]:
        """Delete a message and its replies; the leaf moves to what remains under its parent."""
        with self._storage._writing("storage.action.deleteMessage") as conn:
            row = conn.execute(
                "SELECT conversation_id, parent_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFound(tr("conversations.messageGone"))
            cid, parent_id = row
            doomed = conn.execute(_SUBTREE, (message_id,)).fetchall()
            for seq, _, role, status, content in doomed:
                if searchindex.is_indexed(role, status):
                    searchindex.drop(conn, seq, content)
            # ON DELETE CASCADE takes the replies with it.
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            if parent_id is None:
                newest_root = conn.execute(_NEWEST_ROOT, (cid,)).fetchone()
                start = None if newest_root is None else newest_root[0]
            else:
                start = parent_id
            leaf = None if start is None else self._newest_descendant(conn, start)
            conn.execute("UPDATE conversations SET current_leaf_id = ? WHERE id = ?", (leaf, cid))
            return cid, [r[1] for r in doomed]

    def close_interrupted(self) -> int:
        """Close every reply left "streaming" (by a crash) as an error; how many there were."""
        error = _dump({"code": "INTERNAL", "message": tr("conversations.interrupted")})
        with self._storage._writing("storage.action.closeInterruptedReplies") as conn:
            open_rows = conn.execute(
                "SELECT seq, role, content FROM messages WHERE status = 'streaming'"
            ).fetchall()
            for seq, role, content in open_rows:
                conn.execute(
                    "UPDATE messages SET status = 'done', finish_reason = 'error', error = ? "
                    "WHERE seq = ?",
                    (error, seq),
                )
                if searchindex.is_indexed(role, "done"):
                    searchindex.add(conn, seq, content)
            return len(open_rows)

    # --- search -----------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """§9 hits for `query`, best first: one per message, `messageId` None for a title."""
        parsed = parse_query(query)
        if parsed is None:
            return []
        with self._storage._reading("storage.action.searchConversations") as conn:
            rowids = searchindex.rank(conn, parsed, limit)
            messages = [r for r in rowids if searchindex.title_seq(r) is None]
            titles = [seq for r in rowids if (seq := searchindex.title_seq(r)) is not None]
            found = {
                seq if mid else searchindex.title_rowid(seq): (cid, mid, title, text, at)
                for seq, cid, mid, title, text, at in conn.execute(
                    _HIT_ROWS, (_dump(messages), _dump(titles))
                )
            }
        hits = []
        for rowid in rowids:
            cid, mid, title, text, created = found[rowid]
            hits.append({"conversationId": cid, "messageId": mid, "title": title,
                         "snippet": snippet(text, parsed), "createdAt": created})  # fmt: skip
        return hits

    # --- inside a transaction ---------------------------------------------------------

    def _conversation(self, conn: sqlite3.Connection, conversation_id: str) -> ConversationRow:
        row = conn.execute(_SELECT_CONVERSATION, (conversation_id,)).fetchone()
        if row is None:
            raise NotFound(tr("conversations.conversationGone"))
        return conversation_from_row(row)

    def _check_leaf(
        self, conn: sqlite3.Connection, conversation_id: str, leaf: Any, count: int
    ) -> None:
        if leaf is None and count == 0:
            return
        row = None
        if isinstance(leaf, str):
            row = conn.execute(
                "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                (leaf, conversation_id),
            ).fetchone()
        if row is None:
            raise _not_in_conversation("currentLeafId", "conversations.currentNotInConversation")

    def _retitle(self, conn: sqlite3.Connection, seq: int, old: str, new: str) -> None:
        if new != old:
            searchindex.drop(conn, searchindex.title_rowid(seq), old)
            searchindex.add(conn, searchindex.title_rowid(seq), new)

    def _newest_descendant(self, conn: sqlite3.Connection, message_id: str) -> str:
        line = conn.execute(_NEWEST_LINE, (message_id,)).fetchall()
        return str(line[-1][0])

    def _insert(
        self,
        conn: sqlite3.Connection,
        conversation_id: str,
        parent_id: str | None,
        role: str,
        content: str,
        status: str,
        *,
        calls: list[dict[str, Any]],
        tool_call_id: str | None,
        provider_id: str | None,
        model: str | None,
        route_id: str | None = None,
    ) -> Message:
        """Insert a message as the new current leaf, index it, maybe title the conversation."""
        found = self._conversation(conn, conversation_id)
        if parent_id is not None:
            owner = conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (parent_id,)
            ).fetchone()
            if owner is None or owner[0] != conversation_id:
                raise _not_in_conversation("parentId", "conversations.parentNotInConversation")
        mid, now = _new_id(), self._clock()
        cursor = conn.execute(
            _INSERT_MESSAGE,
            (mid, conversation_id, parent_id, role, content, _dump(calls), tool_call_id,
             provider_id, model, status, now, route_id),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        if searchindex.is_indexed(role, status):
            searchindex.add(conn, cursor.lastrowid, content)
        old = found.conversation
        title = old.title
        if role == "user" and not found.title_chosen and not title:
            title = auto_title(content)
        conn.execute(
            "UPDATE conversations SET current_leaf_id = ?, updated_at = ?, title = ? WHERE id = ?",
            (mid, now, title, conversation_id),
        )
        self._retitle(conn, found.seq, old.title, title)
        row = conn.execute(_SELECT_MESSAGE, (mid,)).fetchone()
        siblings = conn.execute(
            _ROOTS if parent_id is None else _CHILDREN,
            (conversation_id if parent_id is None else parent_id,),
        ).fetchall()
        return message_from_row(row, [r[0] for r in siblings])
