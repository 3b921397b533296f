"""Inline <think> reasoning at the start of content, however the chunks fall."""

from __future__ import annotations

from backend.providers.wire.think import ThinkSplitter


def split(*pieces: str) -> tuple[str, str]:
    splitter = ThinkSplitter()
    out = [p for piece in pieces for p in splitter.feed(piece)] + splitter.flush()
    return "".join(t for k, t in out if k == "reasoning"), "".join(
        t for k, t in out if k == "delta"
    )


SAMPLE = "\n<think>\nStep one.\nStep two.\n</think>\n\nThe answer is 4."


def test_reasoning_and_answer_are_separated() -> None:
    assert split(SAMPLE) == ("Step one.\nStep two.\n", "The answer is 4.")


def test_every_split_position_gives_the_same_result() -> None:
    for cut in range(len(SAMPLE) + 1):
        assert split(SAMPLE[:cut], SAMPLE[cut:]) == split(SAMPLE), f"split at {cut}"


def test_one_character_pieces() -> None:
    assert split(*SAMPLE) == split(SAMPLE)


def test_text_without_tags_passes_through_unchanged() -> None:
    assert split("  Hello", " <b>world</b>") == ("", "  Hello <b>world</b>")


def test_a_lookalike_tag_is_text() -> None:
    assert split("<thi", "s is not a tag>") == ("", "<this is not a tag>")


def test_think_later_in_the_answer_is_text() -> None:
    assert split("Use <think> tags like <think>this</think>.") == (
        "",
        "Use <think> tags like <think>this</think>.",
    )


def test_unclosed_think_is_all_reasoning() -> None:
    assert split("<think>still thinking", " when cut <") == ("still thinking when cut <", "")


def test_text_is_not_held_back_when_no_tag_can_start() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hi") == [("delta", "Hi")]
    assert splitter.feed(" there") == [("delta", " there")]
