"""Search text rules: folding, the short-token document, query terms and snippets (pure, no I/O).

Matching is done on *folded* text: NFKC then `str.casefold()`, so case and full/half width do
not matter (`ＰＹＴＨＯＮ` finds `python`). Folding works on clusters (a character and the
combining marks after it), so a decomposed `é` folds like a precomposed one, and it records
for every folded character the cluster of the original it came from: a match found in folded
text maps back to the ORIGINAL text for its snippet.

Two indexes are fed from here (see docs/SEARCH.md):
- the trigram index gets `fold(text)` and serves query terms of 3 or more folded characters;
- the short index gets `short_document(fold(text))`: every CJK character as a unigram and
  every adjacent CJK pair as a bigram, the first one and two characters of every other word,
  and every other symbol as a `p<hex>` token. A term of 1–2 characters becomes exact tokens
  of that index (`short_tokens`), so it is found through the index, never by a scan.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

INDEX_VERSION: Final = f"1/{unicodedata.unidata_version}"
"""Stamped beside the index: text folded by another Unicode version needs a rebuild."""

SNIPPET_CHARS: Final = 200
LONG_TERM: Final = 3  # folded characters a trigram can match

# Characters that fold to themselves, lower-cased one for one: a run of them needs no
# per-character work. tests/unit/test_textsearch.py proves this for every character listed.
_FAST_RUN = re.compile(
    "[\t\n\r -~\u3001-\u3002\u300c-\u300f\u3041-\u3096\u30a1-\u30fa\u30fc-\u30fe"
    "\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7a3]+"
)
# Han, Hiragana, Katakana, Hangul: scripts written without spaces between words.
_CJK_CHARS = (
    "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff\U00020000-\U0003134f"
)
# The short index's view of folded text: CJK runs, words (letters and digits of any other
# script) and single symbols (anything else but spaces, `_` included).
_RUNS = re.compile(f"([{_CJK_CHARS}]+)|([^\\W_{_CJK_CHARS}]+)|(\\S)")
_WORD_CHAR = re.compile(f"[^\\W_{_CJK_CHARS}]")


# --- folding ------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _fold_cluster(cluster: str) -> str:
    return unicodedata.normalize("NFKC", cluster).casefold()


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _pieces(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """(start, end, folded piece, one-for-one) over `text`, in order, covering all of it."""
    position, size = 0, len(text)
    while position < size:
        fast = _FAST_RUN.match(text, position)
        if fast is not None:
            end = fast.end()
            # A mark after the run composes with the run's last character: leave that one.
            if end < size and _is_mark(text[end]):
                end -= 1
            if end > position:
                yield position, end, text[position:end].lower(), True
                position = end
                continue
        end = position + 1
        while end < size and _is_mark(text[end]):
            end += 1
        yield position, end, _fold_cluster(text[position:end]), False
        position = end


def fold(text: str) -> str:
    """The text as the index holds it: NFKC, then case-folded, cluster by cluster."""
    if text.isascii():
        return text.lower()
    return "".join(piece for _, _, piece, _ in _pieces(text))


@dataclass(frozen=True)
class Folded:
    """Folded text with, for each folded character, the original span it came from."""

    text: str
    starts: Sequence[int]
    ends: Sequence[int]

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the folded span [start, end) (end > start)."""
        return self.starts[start], self.ends[end - 1]


def fold_map(text: str) -> Folded:
    """`fold(text)` together with its map back to `text`."""
    if text.isascii():
        return Folded(text.lower(), range(len(text)), range(1, len(text) + 1))
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for start, end, piece, one_for_one in _pieces(text):
        parts.append(piece)
        if one_for_one:
            starts.extend(range(start, end))
            ends.extend(range(start + 1, end + 1))
        else:
            starts.extend([start] * len(piece))
            ends.extend([end] * len(piece))
    return Folded("".join(parts), starts, ends)


# --- the short-token document -------------------------------------------------------------

_Kind = Literal["cjk", "word", "symbol"]
_KINDS: Final[tuple[_Kind, ...]] = ("cjk", "word", "symbol")


def _runs(folded: str) -> Iterator[tuple[_Kind, str]]:
    """CJK runs, words and single symbols, in order; spaces separate them."""
    for match in _RUNS.finditer(folded):
        index = match.lastindex
        assert index is not None
        yield _KINDS[index - 1], match.group(index)


def _symbol_token(char: str) -> str:
    # Plain letters and digits, so the index's tokenizer keeps it whole; 3+ characters, so
    # it never equals a word's 1–2 character prefix.
    return f"p{ord(char):x}"


def short_document(folded: str) -> str:
    """What the short index holds for a folded text: the tokens 1–2 character terms match."""
    tokens: list[str] = []
    for cjk, word, symbol in _RUNS.findall(folded):
        if cjk:
            tokens.extend(cjk)
            tokens.extend(map(str.__add__, cjk, cjk[1:]))
        elif word:
            tokens.append(word[:1])
            if len(word) > 1:
                tokens.append(word[:2])
        else:
            tokens.append(_symbol_token(symbol))
    return " ".join(tokens)


def short_tokens(term: str) -> list[str]:
    """The short-index tokens a folded term of 1–2 characters must all match."""
    tokens = []
    for kind, run in _runs(term):
        tokens.append(_symbol_token(run) if kind == "symbol" else run)
    return tokens


# --- queries ------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    """One FTS5 string literal: the text is searched as text, whatever FTS syntax it holds."""
    return '"' + text.replace('"', '""') + '"'


@dataclass(frozen=True)
class Query:
    """A parsed search: every term must appear. Each match expression is None when unused."""

    terms: tuple[str, ...]  # folded, distinct, in the order typed
    trigram_match: str | None  # for the trigram index: terms of 3+ characters
    short_match: str | None  # for the short index: terms of 1–2 characters

    @property
    def word_starts(self) -> frozenset[str]:
        """Terms matched only at the start of a word (1–2 characters that are a word)."""
        return frozenset(
            term
            for term in self.terms
            if len(term) < LONG_TERM and all(kind == "word" for kind, _ in _runs(term))
        )


def parse_query(query: str) -> Query | None:
    """The search for what the user typed, or None when it holds no term."""
    terms = tuple(dict.fromkeys(fold(query).split()))
    if not terms:
        return None
    long_terms = [term for term in terms if len(term) >= LONG_TERM]
    short = [token for term in terms if len(term) < LONG_TERM for token in short_tokens(term)]
    return Query(
        terms=terms,
        trigram_match=" AND ".join(map(_quoted, long_terms)) or None,
        short_match=" AND ".join(map(_quoted, dict.fromkeys(short))) or None,
    )


# --- snippets -----------------------------------------------------------------------------


def _find_all(folded: str, term: str, word_start: bool) -> Iterator[tuple[int, int]]:
    start = folded.find(term)
    while start >= 0:
        if not word_start or start == 0 or not _WORD_CHAR.match(folded, start - 1):
            yield start, start + len(term)
        start = folded.find(term, start + 1)


def _match_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Original-text spans of every occurrence of every term, sorted and merged."""
    folded = fold_map(text)
    starts = query.word_starts
    spans = sorted(
        folded.original(start, end)
        for term in query.terms
        for start, end in _find_all(folded.text, term, term in starts)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _window(size: int, first: tuple[int, int], width: int) -> tuple[int, int]:
    """[start, end) of at most `width` characters, the first match a third of the way in."""
    match_start, match_end = first
    room = width - (match_end - match_start)
    if room <= 0:
        return match_start, match_start + width
    start = max(0, match_start - room // 3)
    start = max(0, min(start, size - width))
    return start, min(size, start + width)


def snippet(text: str, query: Query, width: int = SNIPPET_CHARS) -> list[dict[str, object]]:
    """At most `width` characters of `text` around its first match, as marked segments.

    The segments joined are a substring of `text`; every occurrence of a term inside the
    window is a `match: True` segment. Plain text: the UI escapes it.
    """
    spans = _match_spans(text, query)
    if not spans:
        return [{"text": text[:width], "match": False}] if text else []
    start, end = _window(len(text), spans[0], width)
    segments: list[dict[str, object]] = []
    position = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > position:
            segments.append({"text": text[position:span_start], "match": False})
        segments.append({"text": text[span_start:span_end], "match": True})
        position = span_end
    if position < end:
        segments.append({"text": text[position:end], "match": False})
    return segments
