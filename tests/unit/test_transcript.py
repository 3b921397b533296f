"""File names for conversation exports: safe on every OS, made from the title."""

from __future__ import annotations

import pytest

from backend.chat.transcript import filename


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Sorting lists", "Sorting lists.md"),
        ("a/b\\c:d*e?f", "a b c d e f.md"),
        ("  ..  ", "conversation.md"),
        ("", "conversation.md"),
        ("CON", "_CON.md"),
        ("con.txt", "_con.txt.md"),
        ("lpt1 . notes", "_lpt1 . notes.md"),
        ("console", "console.md"),
        ("如何排序", "如何排序.md"),
    ],
)
def test_a_title_becomes_a_safe_file_name(title: str, expected: str) -> None:
    assert filename(title, "markdown") == expected


def test_a_long_title_is_cut_to_80_characters_before_the_suffix() -> None:
    assert filename("x" * 300, "json") == "x" * 80 + ".json"
