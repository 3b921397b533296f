"""The two full-text indexes of search: kept in step with messages and titles, and queried.

Both are contentless FTS5 tables (migration 3): they hold tokens, not text, so the database
does not carry a second copy of every message. The price is that removing an entry takes the
exact text it was indexed with; it is always recomputed from the stored message or title,
which never changes while indexed (a reply is taken out before it is saved again), and the
folding rules are stamped (`INDEX_VERSION`): a build that folds differently rebuilds both.

What is indexed: the content of user and assistant messages once they are "done" (a reply
joins when it closes, so a streaming reply is not re-indexed every second), and every
conversation's title. Tool output and reasoning are not (docs/SEARCH.md says why). Entry
rowids: a message's `seq`; a title's TITLE_BASE + its conversation's `seq`.

Every function here runs on a connection that `Storage` holds for its caller, inside the
caller's write transaction for changes, so the index moves with the data or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Final

from backend.storage.textsearch import INDEX_VERSION, Query, fold, short_document

VERSION_SETTING: Final = "search.indexVersion"
INDEXED_ROLES: Final = frozenset({"user", "assistant"})

_ADD_TRIGRAM = "INSERT INTO search_trigram (rowid, body) VALUES (?, ?)"
_ADD_SHORT = "INSERT INTO search_short (rowid, body) VALUES (?, ?)"
_DROP_TRIGRAM = "INSERT INTO search_trigram (search_trigram, rowid, body) VALUES ('delete', ?, ?)"
_DROP_SHORT = "INSERT INTO search_short (search_short, rowid, body) VALUES ('delete', ?, ?)"

RANKED_MATCHES: Final = 1000
"""bm25 ranks at most the newest this many matching messages (docs/SEARCH.md says why)."""

TITLE_BASE: Final = 1 << 62
"""A title's entry is TITLE_BASE + its conversation's seq: above every message's rowid."""

# For each kind of query, two statements: the rowid of the RANKED_MATCHES-th newest matching
# message; then the best entries from there up (those messages and every matching title) by
# bm25. A query with both long and short terms is ranked by the long ones (the more telling)
# and filtered by the short ones. The unary `+` keeps that filter out of the trigram table's
# plan: handed to FTS5 as a rowid constraint, it ran the trigram query once per short-index
# row (seconds instead of a millisecond). And `rank + 0` has SQLite sort, so only rows that
# pass the filter are scored: FTS5 sorts a plain `ORDER BY rank` itself, scoring every match.
_LONG = (
    "SELECT rowid FROM search_trigram WHERE search_trigram MATCH ? AND rowid < ? "
    "ORDER BY rowid DESC LIMIT 1 OFFSET ?",
    "SELECT rowid FROM search_trigram WHERE search_trigram MATCH ? AND rowid >= ? "
    "ORDER BY rank LIMIT ?",
)
_SHORT = (
    "SELECT rowid FROM search_short WHERE search_short MATCH ? AND rowid < ? "
    "ORDER BY rowid DESC LIMIT 1 OFFSET ?",
    "SELECT rowid FROM search_short WHERE search_short MATCH ? AND rowid >= ? "
    "ORDER BY rank LIMIT ?",
)
_BOTH = (
    "SELECT rowid FROM search_trigram WHERE search_trigram MATCH ? AND rowid < ? "
    "AND +rowid IN (SELECT rowid FROM search_short WHERE search_short MATCH ?) "
    "ORDER BY rowid DESC LIMIT 1 OFFSET ?",
    "SELECT rowid FROM search_trigram WHERE search_trigram MATCH ? AND rowid >= ? "
    "AND +rowid IN (SELECT rowid FROM search_short WHERE search_short MATCH ?) "
    "ORDER BY rank + 0 LIMIT ?",
)


def is_indexed(role: str, status: str) -> bool:
    """Whether a message with this role and status has entries in the indexes."""
    return role in INDEXED_ROLES and status == "done"


def add(conn: sqlite3.Connection, rowid: int, text: str) -> None:
    """Index `text` under `rowid`."""
    folded = fold(text)
    conn.execute(_ADD_TRIGRAM, (rowid, folded))
    conn.execute(_ADD_SHORT, (rowid, short_document(folded)))


def drop(conn: sqlite3.Connection, rowid: int, text: str) -> None:
    """Remove the entry `add(conn, rowid, text)` made (the same text, or the index breaks)."""
    folded = fold(text)
    conn.execute(_DROP_TRIGRAM, (rowid, folded))
    conn.execute(_DROP_SHORT, (rowid, short_document(folded)))


def title_rowid(conversation_seq: int) -> int:
    """The rowid of a conversation's title entry."""
    return TITLE_BASE + conversation_seq


def title_seq(rowid: int) -> int | None:
    """The conversation seq of a title entry's rowid; None for a message's."""
    return rowid - TITLE_BASE if rowid >= TITLE_BASE else None


def rank(conn: sqlite3.Connection, query: Query, limit: int) -> list[int]:
    """Rowids of up to `limit` entries holding every term, best first (bm25).

    Every matching title takes part, and every matching message when there are at most
    RANKED_MATCHES of them, else the newest RANKED_MATCHES: bm25's statistics cost a scan of
    every match once, but scoring the 40,000 matches of a common word took 50-160 ms.
    """
    also: tuple[str, ...] = ()
    if query.trigram_match and query.short_match:
        floor_sql, best_sql = _BOTH
        match, also = query.trigram_match, (query.short_match,)
    else:
        floor_sql, best_sql = _LONG if query.trigram_match else _SHORT
        match = query.trigram_match or query.short_match or ""
    row = conn.execute(floor_sql, (match, TITLE_BASE, *also, RANKED_MATCHES - 1)).fetchone()
    floor = 1 if row is None else row[0]
    return [row[0] for row in conn.execute(best_sql, (match, floor, *also, limit))]


def rebuild(conn: sqlite3.Connection) -> None:
    """Empty both indexes and index every message and title again, then stamp the version."""
    conn.execute("INSERT INTO search_trigram (search_trigram) VALUES ('delete-all')")
    conn.execute("INSERT INTO search_short (search_short) VALUES ('delete-all')")
    # Read a row at a time: the indexes are other tables, so writing them does not upset it.
    for seq, content in conn.execute(
        "SELECT seq, content FROM messages WHERE status = 'done' AND role IN ('user', 'assistant')"
    ):
        add(conn, seq, content)
    for seq, title in conn.execute("SELECT seq, title FROM conversations"):
        add(conn, title_rowid(seq), title)
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?, json_quote(?)) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (VERSION_SETTING, INDEX_VERSION),
    )


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the indexes were built by these folding rules."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (VERSION_SETTING,)).fetchone()
    return row is not None and json.loads(row[0]) == INDEX_VERSION
