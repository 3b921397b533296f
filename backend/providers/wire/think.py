"""Inline reasoning: `<think>…</think>` at the start of a model's text, split across chunks.

Models such as DeepSeek-R1 served by Ollama, vLLM or llama.cpp put their reasoning in the
content itself. Only a block that opens the answer (after optional whitespace) is treated as
reasoning: a `<think>` later in the text is most likely the model writing about tags, and
stays text. Text that could be the start of a tag is held back until the next chunk decides.
"""

from __future__ import annotations

from typing import Literal

OPEN, CLOSE = "<think>", "</think>"
Piece = tuple[Literal["delta", "reasoning"], str]


class ThinkSplitter:
    """Feed content pieces; get `("delta" | "reasoning", text)` pieces back."""

    def __init__(self) -> None:
        self._state: Literal["probe", "inside", "after", "text"] = "probe"
        self._held = ""
        self._trim = False  # drop whitespace right after a tag

    @property
    def passthrough(self) -> bool:
        """True once the answer has begun: from here on every piece is plain text."""
        return self._state == "text"

    def feed(self, text: str) -> list[Piece]:
        """Split one content piece."""
        if self._state == "text":
            return [("delta", text)] if text else []
        out: list[Piece] = []
        buffer, self._held = self._held + text, ""
        if self._state == "probe":
            stripped = buffer.lstrip()
            if stripped.startswith(OPEN):
                self._state, self._trim, buffer = "inside", True, stripped[len(OPEN) :]
            elif OPEN.startswith(stripped):
                self._held = buffer  # whitespace or a partial "<think"
                return out
            else:
                self._state = "text"
                return [("delta", buffer)]
        if self._state == "inside":
            buffer = self._trimmed(buffer)
            end = buffer.find(CLOSE)
            if end < 0:
                keep = _partial_suffix(buffer, CLOSE)
                self._held = buffer[len(buffer) - keep :]
                if buffer[: len(buffer) - keep]:
                    out.append(("reasoning", buffer[: len(buffer) - keep]))
                return out
            if buffer[:end]:
                out.append(("reasoning", buffer[:end]))
            self._state, self._trim, buffer = "after", True, buffer[end + len(CLOSE) :]
        buffer = self._trimmed(buffer)
        if buffer:
            self._state = "text"
            out.append(("delta", buffer))
        return out

    def flush(self) -> list[Piece]:
        """End of content: whatever was held back, as what it turned out to be."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [("reasoning" if self._state == "inside" else "delta", held)]

    def _trimmed(self, buffer: str) -> str:
        if self._trim:
            buffer = buffer.lstrip()
            self._trim = not buffer
        return buffer


def _partial_suffix(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a proper beginning of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0
