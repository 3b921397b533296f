"""textsearch: folding with its map back, the short-token document, queries and snippets."""

from __future__ import annotations

import re
import unicodedata

import pytest

from backend.storage import textsearch
from backend.storage.textsearch import (
    SNIPPET_CHARS,
    fold,
    fold_map,
    parse_query,
    short_document,
    short_tokens,
    snippet,
)


def marked(segments: list[dict[str, object]]) -> list[str]:
    return [str(s["text"]) for s in segments if s["match"]]


def joined(segments: list[dict[str, object]]) -> str:
    return "".join(str(s["text"]) for s in segments)


def query(text: str) -> textsearch.Query:
    parsed = parse_query(text)
    assert parsed is not None
    return parsed


# --- folding --------------------------------------------------------------------------------


def test_every_fast_run_character_folds_to_its_lower_case_self() -> None:
    # The fast path lower-cases whole runs; this holds only if each character of the class
    # folds (NFKC, casefold) to exactly its own lower case.
    ranges = re.findall(r"(.)-(.)", textsearch._FAST_RUN.pattern.strip("[]+"))
    singles = "\t\n\r"
    checked = 0
    for first, last in ranges:
        for code in range(ord(first), ord(last) + 1):
            char = chr(code)
            assert unicodedata.normalize("NFKC", char).casefold() == char.lower(), hex(code)
            checked += 1
    for char in singles:
        assert unicodedata.normalize("NFKC", char).casefold() == char.lower()
    assert checked > 35_000  # the ranges were all found (CJK, kana, Hangul, ASCII)


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("PyThOn", "python"),
        ("ＰＹＴＨＯＮ", "python"),
        ("Straße", "strasse"),
        ("ｶﾀｶﾅ", "カタカナ"),
        ("e\u0301cole", "école"),
        ("ﬁle", "file"),
        ("学习　Python", "学习 python"),
    ],
)
def test_folding_ignores_case_width_and_composition(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert fold_map(text).text == folded


def test_the_map_leads_every_folded_span_back_to_the_original() -> None:
    text = "Ａｂ ﬁne Straße e\u0301t 学习"
    mapped = fold_map(text)
    assert len(mapped.starts) == len(mapped.ends) == len(mapped.text)
    start = mapped.text.index("strasse")
    assert text[slice(*mapped.original(start, start + 7))] == "Straße"
    start = mapped.text.index("fine")
    assert text[slice(*mapped.original(start, start + 4))] == "ﬁne"
    start = mapped.text.index("ét")
    assert text[slice(*mapped.original(start, start + 2))] == "e\u0301t"
    assert text[slice(*mapped.original(0, 2))] == "Ａｂ"


# --- the short document and queries ---------------------------------------------------------


def test_cjk_runs_become_unigrams_and_bigrams() -> None:
    assert short_document("学习了") == "学 习 了 学习 习了"


def test_words_give_their_first_one_and_two_characters() -> None:
    assert short_document("python is a tool") == "p py i is a t to"


def test_symbols_become_their_own_tokens() -> None:
    document = short_document('say "hi" (c#)')
    assert document.split() == ["s", "sa", "p22", "h", "hi", "p22", "p28", "c", "p23", "p29"]


def test_short_terms_become_tokens_of_the_short_document() -> None:
    assert short_tokens("学") == ["学"] and short_tokens("学习") == ["学习"]
    assert short_tokens("py") == ["py"] and short_tokens('"') == ["p22"]
    assert short_tokens("a的") == ["a", "的"]


def test_a_query_routes_each_term_by_length() -> None:
    parsed = query("Python 教程 ａｉ")
    assert parsed.terms == ("python", "教程", "ai")
    assert parsed.trigram_match == '"python"'
    assert parsed.short_match == '"教程" AND "ai"'


def test_fts_syntax_in_a_query_is_quoted_as_text() -> None:
    parsed = query('NEAR( col:x "b" -d ^')
    assert parsed.trigram_match == '"near(" AND "col:x" AND """b"""'
    assert parsed.short_match == '"p2d" AND "d" AND "p5e"'
    assert query('say"hi"').trigram_match == '"say""hi"""'


def test_an_empty_query_is_none() -> None:
    assert parse_query("") is None and parse_query(" \u3000\t") is None


# --- snippets -------------------------------------------------------------------------------


def test_a_snippet_marks_the_match_in_the_original_text() -> None:
    text = "Learn ＰＹＴＨＯＮ today"
    segments = snippet(text, query("python"))
    assert segments == [
        {"text": "Learn ", "match": False},
        {"text": "ＰＹＴＨＯＮ", "match": True},
        {"text": " today", "match": False},
    ]


def test_a_long_text_gives_a_window_of_at_most_200_characters_around_the_first_match() -> None:
    text = "x" * 1000 + " needle " + "y" * 1000 + " needle"
    segments = snippet(text, query("needle"))
    assert len(joined(segments)) <= SNIPPET_CHARS and joined(segments) in text
    assert marked(segments) == ["needle"]


def test_every_occurrence_of_every_term_in_the_window_is_marked() -> None:
    text = "数据 and more 数据, then Data again"
    segments = snippet(text, query("数据 data"))
    assert marked(segments) == ["数据", "数据", "Data"]
    assert joined(segments) == text


def test_short_latin_terms_are_marked_only_at_word_starts() -> None:
    segments = snippet("Go to Django, go!", query("go"))
    assert marked(segments) == ["Go", "go"]


def test_a_text_without_the_match_gives_its_start_unmarked() -> None:
    assert snippet("abc" * 100, query("zzz")) == [{"text": ("abc" * 100)[:200], "match": False}]
    assert snippet("", query("zzz")) == []


def test_snippets_are_plain_text() -> None:
    text = "<script>alert(1)</script> python"
    segments = snippet(text, query("python"))
    assert joined(segments) == text
